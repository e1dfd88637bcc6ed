"""Turn a sweep's run.json records into ``results/<study>/``: the command line and the Hydra
callback that every multirun ends with.

Only the entry points live here; the numbers are in ``harness.stats``, the tables in
``harness.tables``, the pictures in ``harness.figures`` and the README in ``harness.readme``.
The names other code uses (``load_records``, ``summarise``, ``mean_ci95``, ``markdown_table``)
stay reachable as ``harness.report.<name>``; conf/hydra/default.yaml names ``ReportCallback``.

    python -m harness.report multirun/raw_pixel_gan [--out results/raw_pixel_gan]
"""

from __future__ import annotations

import argparse
import logging
import shlex
import sys
import time
from pathlib import Path

from hydra.experimental.callback import Callback

from harness.figures import build_montage, plot_metrics
from harness.readme import readme_text
from harness.record import code_commit, read_record, write_json
from harness.stats import load_records, mean_ci95, study_name, summarise
from harness.tables import markdown_table, write_runs_csv, write_summary_csv

__all__ = ["load_records", "summarise", "mean_ci95", "markdown_table", "write_report", "main",
           "ReportCallback"]

log = logging.getLogger(__name__)

SWEEP_INFO = "sweep.json"  # the last sweep's command and wall time, so a re-report keeps them


def write_report(sweep_dir, out_dir, *, command=None, wall_time_s=None) -> Path:
    """Write the report files into ``out_dir`` and return it; other files there are left alone."""
    return _write(_records(sweep_dir), sweep_dir, Path(out_dir), command=command,
                  wall_time_s=wall_time_s)


def _records(sweep_dir) -> list[dict]:
    records = load_records(sweep_dir)
    if not records:
        raise FileNotFoundError(f"no run.json under {sweep_dir}")
    return records


def _write(records, sweep_dir, out: Path, *, command, wall_time_s) -> Path:
    out.mkdir(parents=True, exist_ok=True)
    commits = sorted({str(r["commit"]) for r in records if r.get("commit")})
    commit = ", ".join(commits) or code_commit()
    rows = summarise(records)
    table = markdown_table(rows)
    write_runs_csv(records, sweep_dir, out / "runs.csv")
    write_summary_csv(rows, out / "summary.csv")
    (out / "summary.md").write_text(table)
    plot_metrics(rows, out / "metrics.png")
    build_montage(records, out / "montage.png")
    (out / "README.md").write_text(readme_text(records, table, out, commit=commit,
                                               command=command, wall_time_s=wall_time_s))
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m harness.report",
                                     description="Summarise a sweep directory into a report.")
    parser.add_argument("sweep_dir", help="e.g. multirun/raw_pixel_gan")
    parser.add_argument("--out", help="output folder (default: results/<study>)")
    args = parser.parse_args(argv)
    try:
        records = _records(args.sweep_dir)
    except FileNotFoundError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    out = Path(args.out) if args.out else Path("results") / study_name(records)
    sweep = read_record(Path(args.sweep_dir) / SWEEP_INFO) or {}
    _write(records, args.sweep_dir, out, command=sweep.get("command"),
           wall_time_s=sweep.get("wall_time_s"))
    print(f"wrote {out}/: README.md summary.md summary.csv runs.csv metrics.png montage.png\n")
    print((out / "summary.md").read_text())
    return 0


class ReportCallback(Callback):
    """Writes ``<out_root>/<study>/`` when a Hydra multirun ends.

    Enable it in a config with ``hydra.callbacks.report._target_: harness.report.ReportCallback``.
    It never raises: a bug in the report must not fail, or hide, a sweep whose runs are on disk.
    """

    def __init__(self, out_root: str = "results"):
        self.out_root = out_root
        self.start: float | None = None

    def on_multirun_start(self, config, **kwargs) -> None:
        self.start = time.monotonic()

    def on_multirun_end(self, config, **kwargs) -> None:
        try:
            elapsed = None if self.start is None else time.monotonic() - self.start
            command = "python -m harness.train " + shlex.join(sys.argv[1:])
            sweep_dir = Path(str(config.hydra.sweep.dir))
            write_json(sweep_dir / SWEEP_INFO, {"command": command, "wall_time_s": elapsed})
            out = write_report(sweep_dir, Path(self.out_root) / str(config.study),
                               command=command, wall_time_s=elapsed)
            log.info("report written to %s", out)
        except Exception:
            log.exception("report failed; the runs themselves are intact in the sweep directory")


if __name__ == "__main__":
    raise SystemExit(main())
