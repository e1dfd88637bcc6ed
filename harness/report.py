"""Turn a sweep's run.json records into ``results/<study>/``: the command line and the Hydra
callback that every multirun ends with.

Only the entry points live here; the numbers are in ``harness.stats``, the tables in
``harness.tables``, the pictures in ``harness.figures`` and the README in ``harness.readme``.
The names other code uses (``load_records``, ``summarise``, ``median_iqr``, ``markdown_table``)
stay reachable as ``harness.report.<name>``; conf/hydra/default.yaml names ``ReportCallback``.

    python -m harness.report multirun/raw_pixel_gan [--out results/raw_pixel_gan]
"""

from __future__ import annotations

import argparse
import logging
import shlex
import sys
import time
from datetime import datetime
from pathlib import Path

from hydra.experimental.callback import Callback
from omegaconf import OmegaConf

from harness.paired import noise_floors
from harness.readme import readme_text
from harness.record import STUDY_KEYS, code_commit, read_record, write_json
from harness.stats import (by_cell, load_records, median_iqr, study_name, study_settings,
                           summarise)
from harness.tables import markdown_table, write_runs_csv, write_summary_csv

__all__ = ["load_records", "summarise", "median_iqr", "markdown_table", "write_report", "main",
           "ReportCallback", "LAST_REPORT_ERROR"]

log = logging.getLogger(__name__)

SWEEP_INFO = "sweep.json"  # the last sweep's command and wall time, so a re-report keeps them
# Why the last multirun's report was not written (one line), None once one was: the callback
# must not raise, so ``harness.train`` reads this to exit non-zero.
LAST_REPORT_ERROR: str | None = None


def write_report(sweep_dir, out_dir, *, command=None, wall_time_s=None, started=None,
                 study=None) -> Path:
    """Write the report files into ``out_dir`` and return it; other files there are left alone.
    ``command``, ``wall_time_s`` and ``started`` (ISO time) describe the last sweep, ``study``
    its ``reference``, ``target`` and ``noise_floor`` (default: the newest record's)."""
    return _write(_records(sweep_dir), sweep_dir, Path(out_dir), command=command,
                  wall_time_s=wall_time_s, started=started, study=study)


def _records(sweep_dir) -> list[dict]:
    records = load_records(sweep_dir)
    if not records:
        raise FileNotFoundError(f"no run.json under {sweep_dir}")
    return records


def _write_or_say(records, sweep_dir, out: Path, **info) -> str | None:
    """Write the report; where ``out`` cannot be written, the one line that says so instead of
    a traceback (the records it reads are never touched)."""
    try:
        _write(records, sweep_dir, out, **info)
    except OSError as err:
        return cannot_write(out, err)
    return None


def cannot_write(out: Path, err: OSError) -> str:
    """``error: cannot write the report to 'results/x': [Errno 13] Permission denied``, naming
    the file too when it is not the folder itself."""
    reason = f"[Errno {err.errno}] {err.strerror}" if err.strerror else str(err)
    if err.filename and Path(err.filename) != Path(out):
        reason += f": '{err.filename}'"
    return f"error: cannot write the report to '{out}': {reason}"


def _write(records, sweep_dir, out: Path, *, command, wall_time_s, started=None,
           study=None) -> Path:
    # matplotlib here, not at import: every run's process loads this module (Hydra builds its
    # callbacks for single runs and sweep workers too) and draws nothing
    from harness.curves import plot_curves
    from harness.figures import build_montage, plot_metrics

    out.mkdir(parents=True, exist_ok=True)
    commits = sorted({str(r["commit"]) for r in records if r.get("commit")})
    commit = ", ".join(commits) or code_commit()
    study = study_settings(records, study)
    rows = summarise(records, study=study)
    table = markdown_table(rows, noise_floors(rows, by_cell(records), study), study.get("shown"))
    write_runs_csv(records, sweep_dir, out / "runs.csv", study)
    write_summary_csv(rows, out / "summary.csv")
    (out / "summary.md").write_text(table)
    plot_metrics(rows, out / "metrics.png")
    curves = plot_curves(records, rows, out / "curves.png")
    build_montage(records, out / "montage.png")
    (out / "README.md").write_text(readme_text(records, table, out, commit=commit,
                                               command=command, wall_time_s=wall_time_s,
                                               started=started, curves=curves))
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
    error = _write_or_say(records, args.sweep_dir, out, command=sweep.get("command"),
                          wall_time_s=sweep.get("wall_time_s"), started=sweep.get("started"),
                          study=sweep.get("study"))
    if error:
        print(error, file=sys.stderr)
        return 1
    print(f"wrote {out}/: README.md summary.md summary.csv runs.csv metrics.png curves.png "
          "montage.png\n")
    print((out / "summary.md").read_text())
    return 0


def report_dir(config, out_root: str = "results") -> Path:
    """Where a sweep's report goes: a named study's (``experiment=<study>``) to the tracked
    ``<out_root>/<study>/``; an ad-hoc sweep's beside its runs, ``<sweep dir>/report/``, so
    trying things out never writes into ``results/``."""
    if OmegaConf.select(config, "hydra.runtime.choices.experiment"):
        return Path(out_root) / str(config.study)
    return Path(str(config.hydra.sweep.dir)) / "report"


class ReportCallback(Callback):
    """Writes ``<out_root>/<study>/`` when a Hydra multirun ends.

    Enable it in a config with ``hydra.callbacks.report._target_: harness.report.ReportCallback``.
    It never raises: a bug in the report must not fail, or hide, a sweep whose runs are on disk.
    Where the report is not written it says why in ``LAST_REPORT_ERROR``: one logged line for an
    output folder that cannot be written, a traceback for anything else (a bug).
    """

    def __init__(self, out_root: str = "results"):
        self.out_root = out_root
        self.start: float | None = None
        self.started: str | None = None  # ISO time: a run that started before was reused

    def on_multirun_start(self, config, **kwargs) -> None:
        global LAST_REPORT_ERROR
        LAST_REPORT_ERROR = None
        self.start = time.monotonic()
        self.started = datetime.now().isoformat(timespec="seconds")

    def on_multirun_end(self, config, **kwargs) -> None:
        global LAST_REPORT_ERROR
        try:
            LAST_REPORT_ERROR = self._report(config)
        except Exception as err:  # noqa: BLE001 - a bug in the report, never the sweep's end
            log.exception("report failed; the runs themselves are intact in the sweep directory")
            LAST_REPORT_ERROR = f"report failed: {type(err).__name__}: {err}"

    def _report(self, config) -> str | None:
        """Write the report; return the line that says why not, having logged it."""
        elapsed = None if self.start is None else time.monotonic() - self.start
        command = "python -m harness.train " + shlex.join(sys.argv[1:])
        sweep_dir = Path(str(config.hydra.sweep.dir))
        # this command's reference, target and noise floor: runs are reused across changes of
        # them, so their records may hold an earlier command's
        study = {k: OmegaConf.to_container(config[k], resolve=True) if k in config else {}
                 for k in STUDY_KEYS}
        write_json(sweep_dir / SWEEP_INFO, {"command": command, "wall_time_s": elapsed,
                                            "started": self.started, "study": study})
        out = report_dir(config, self.out_root)
        error = _write_or_say(_records(sweep_dir), sweep_dir, out, command=command,
                              wall_time_s=elapsed, started=self.started, study=study)
        if error:
            log.error(error)
        else:
            log.info("report written to %s", out)
        return error


if __name__ == "__main__":
    raise SystemExit(main())
