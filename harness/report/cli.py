"""Turn a sweep's run.json records into its report: ``write_report`` and the command line.

    python -m harness.report multirun/raw_pixel_gan [--out results/raw_pixel_gan]

The numbers are in ``harness.report.cells`` and ``stats``, the tables in ``tables``, the pictures in
``figures``, ``curves`` and ``montage``, the README in ``readme``; a multirun ends with
``harness.report.callback.ReportCallback``, which calls ``write_report`` here.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from omegaconf import OmegaConf

from harness.core.record import NOT_RESULT, STUDY_KEYS, code_commit, read_record
from harness.report.cells import by_cell, study_settings
from harness.report.contrasts import paired_rows, section, worth_a_section, write_paired_csv
from harness.report.coverage import (Covered, covered, duplicates_line, not_started_line,
                                     statuses_line)
from harness.report.paired import noise_floors
from harness.report.readme import readme_text
from harness.report.summary import summarise
from harness.report.tables import markdown_table, write_runs_csv, write_summary_csv
from harness.report.windows import study_window

# in the sweep folder: the last sweep's command, wall time, runs and report folder, so a
# re-report covers and says the same
SWEEP_INFO = "sweep.json"


def write_report(sweep_dir, out_dir, *, command=None, wall_time_s=None, started=None,
                 study=None, only=None, planned=None) -> Path:
    """Write the report files into ``out_dir`` and return it; other files there are left alone.
    ``command``, ``wall_time_s`` and ``started`` (ISO time) describe the last sweep, ``study``
    its ``reference``, ``target`` and ``noise_floor`` (default: the newest record's); ``only``:
    the run folders (relative to ``sweep_dir``) to report, None for all; ``planned``: the run
    folders the last sweep asked for, those not started counted as such."""
    return _write(records_of(sweep_dir, only, planned), sweep_dir, Path(out_dir),
                  command=command, wall_time_s=wall_time_s, started=started, study=study)


def records_of(sweep_dir, only=None, planned=None) -> Covered:
    """The runs a report covers (``harness.report.coverage``): every run under ``sweep_dir``,
    or those in ``only``, each once; and those of ``planned`` not started."""
    runs = covered(sweep_dir, only, planned)
    if not runs.records:
        raise FileNotFoundError(f"no run.json under {sweep_dir}"
                                + (f" ({len(runs.not_started)} runs of its sweep not started)"
                                   if runs.not_started else ""))
    return runs


def sweep_runs(sweep: dict) -> tuple[list[str] | None, list[str] | None]:
    """(``only``, ``planned``) from a sweep folder's ``sweep.json``: the run folders its report
    covers (None: all) and those its last sweep asked for. The sweeper writes ``runs`` as a
    sweep starts and the report's callback ``only`` as it ends, so after a sweep that was killed
    ``only`` is the sweep's before: where it is not None (not a named study), the last sweep's
    ``runs`` are the ones to cover."""
    planned = sweep.get("runs")
    only = sweep.get("only")
    return (planned if only is not None and planned is not None else only), planned


def write_or_say(runs: Covered, sweep_dir, out: Path, **info) -> str | None:
    """Write the report; where ``out`` cannot be written, the one line that says so instead of
    a traceback (the records it reads are never touched)."""
    try:
        _write(runs, sweep_dir, out, **info)
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


def _write(runs: Covered, sweep_dir, out: Path, *, command, wall_time_s, started=None,
           study=None) -> Path:
    # matplotlib here, not at import: every run's process loads this module (Hydra builds its
    # callbacks for single runs and sweep workers too) and draws nothing
    from harness.report.curves import plot_curves
    from harness.report.figures import build_montage, plot_metrics
    from harness.report.widths import plot_widths, width_rows, width_section

    records = runs.records
    out.mkdir(parents=True, exist_ok=True)
    commits = sorted({str(r["commit"]) for r in records if r.get("commit")})
    commit = ", ".join(commits) or code_commit()
    study = study_settings(records, study)
    rows = summarise(records, study=study)
    cells = by_cell(records)
    paired, problems = paired_rows(records, cells, rows, study)
    families = list(dict.fromkeys(r["family"] for r in rows))
    windows = {f: study_window(study, f) for f in families}
    sections = {f: section(paired, problems, f, study) for f in families
                if worth_a_section(paired, f, windows[f], study)}
    widths = width_rows(records, study)
    table = (statuses_line(runs) + "\n\n"
             + markdown_table(rows, noise_floors(rows, cells, study, windows), study.get("shown"),
                              windows, sections) + ("\n" + width_section(widths) if widths else ""))
    plot_widths(widths, out / "widths.png")
    write_runs_csv(records, sweep_dir, out / "runs.csv", study)
    write_summary_csv(rows, out / "summary.csv")
    write_paired_csv(paired, out / "paired.csv")
    (out / "summary.md").write_text(table)
    plot_metrics(rows, out / "metrics.png")
    curves = plot_curves(records, rows, out / "curves.png")
    build_montage(records, out / "montage.png")
    (out / "README.md").write_text(readme_text(records, table, out, commit=commit,
                                               command=command, wall_time_s=wall_time_s,
                                               started=started, curves=curves,
                                               notes=notes(runs, sweep_dir), rows=rows,
                                               answers=study.get("answer")))
    return out


def notes(runs: Covered, sweep_dir) -> list[str]:
    """What the report left out or could not count, a line each: the copies of a counted run,
    the runs of the sweep not started."""
    return [line for line in (duplicates_line(runs, sweep_dir), not_started_line(runs)) if line]


def experiment_study(name: str, records: list[dict]) -> tuple[dict, str | None]:
    """The reporting keys (``STUDY_KEYS``) of ``experiments/<name>.yaml`` as committed now, so a
    finished sweep is read again with a corrected contrast or window without re-running it
    (none of them changes a run); and the one line that says why not, where the file is not
    there or is another study's."""
    from hydra import compose, initialize_config_dir

    from harness.core.choices import group_options
    from harness.core.repo import CONF_DIR

    names = group_options(CONF_DIR, "experiment") or []
    accepted = f"give one of experiments/: {', '.join(names)}"
    if name not in names:
        return {}, f"--experiment={name} is not accepted: no experiments/{name}.yaml; {accepted}"
    studies = sorted({str(r.get("study")) for r in records})
    if not all(is_experiments_study(s, name) for s in studies):
        return {}, (f"--experiment={name} is not accepted: these runs are study "
                    f"{', '.join(repr(s) for s in studies)}; {accepted}")
    with initialize_config_dir(config_dir=CONF_DIR, version_base="1.3"):
        config = compose("train", overrides=[f"experiment={name}"])
    return {k: OmegaConf.to_container(config[k], resolve=True) for k in STUDY_KEYS
            if k in config}, None


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m harness.report",
                                     description="Summarise a sweep directory into a report.")
    parser.add_argument("sweep_dir", help="e.g. multirun/raw_pixel_gan")
    parser.add_argument("--out", help="output folder (default: where the sweep wrote its report, "
                        "named in its sweep.json; else <sweep_dir>/report)")
    parser.add_argument("--experiment", help="read the study's reporting keys (reference, "
                        "target, window, contrasts, ...) from experiments/<EXPERIMENT>.yaml as "
                        "it is now, not from the sweep's own command; they change no run")
    args = parser.parse_args(argv)
    sweep = read_record(Path(args.sweep_dir) / SWEEP_INFO) or {}
    try:
        runs = records_of(args.sweep_dir, *sweep_runs(sweep))
    except FileNotFoundError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    study = sweep.get("study")
    if args.experiment:
        study, problem = experiment_study(args.experiment, runs.records)
        if problem:
            print(f"error: {problem}", file=sys.stderr)
            return 2
    out = Path(args.out or sweep.get("report_dir") or Path(args.sweep_dir) / "report")
    error = write_or_say(runs, args.sweep_dir, out, command=sweep.get("command"),
                          wall_time_s=sweep.get("wall_time_s"), started=sweep.get("started"),
                          study=study)
    if error:
        print(error, file=sys.stderr)
        return 1
    written = [f for f in ("README.md", "summary.md", "summary.csv", "paired.csv", "runs.csv",
                           "metrics.png", "widths.png",
                           "curves.png", "montage.png") if (out / f).is_file()]
    print(f"wrote {out}/: {' '.join(written)}")  # curves.png only where a run has a history
    for line in notes(runs, args.sweep_dir):
        print(f"note: {line}")
    print()
    print((out / "summary.md").read_text())
    return 0


def report_dir(config, out_root: str = "results") -> Path:
    """Where a sweep's report goes (``config``: the command's, not a job's): a named study run
    as committed (``named_study``) to ``<out_root>/<study>/``; any other sweep's beside its
    runs, ``<sweep dir>/report/``, so trying things out (an ad-hoc grid, a named study renamed
    with ``study=...`` or changed with ``steps=50`` or ``target.gan=200``) never writes into the
    tracked ``results/``."""
    if named_study(config):
        return Path(out_root) / str(config.study)
    return Path(str(config.hydra.sweep.dir)) / "report"


def named_study(config) -> bool:
    """Whether a sweep runs a study of ``experiments/`` under its own name and as committed:
    no override of the command changes a number of its report (``changed_by``)."""
    experiment = OmegaConf.select(config, "hydra.runtime.choices.experiment")
    study = str(config.study)
    return (bool(experiment) and is_experiments_study(study, experiment)
            and not changed_by(config))


def is_experiments_study(study: str, experiment: str) -> bool:
    """Whether ``study`` is ``experiments/<experiment>.yaml``'s own name, or one of the studies
    its name is made of (``seg_lr_search/raw``)."""
    return study == experiment or study.startswith(f"{experiment}/")


def changed_by(config) -> list[str]:
    """The command's overrides that make a study other than its committed file: any but the
    experiment's choice, the keys that change neither a run nor its report (``NOT_RESULT``
    less how a study is reported and its question), and the keys its ``study`` name is made of
    (``seg_lr_search/${scaling.name}``: each scaling is a study of its own)."""
    from harness.core.keys import REFERENCE

    raw = OmegaConf.to_container(config, resolve=False).get("study")
    named = {ref.split(".")[0] for ref in REFERENCE.findall(str(raw))} | {"study", "experiment"}
    free = set(NOT_RESULT) - set(STUDY_KEYS) - {"question"}
    out = []
    for override in OmegaConf.select(config, "hydra.overrides.task", default=None) or []:
        key = str(override).split("=", 1)[0].lstrip("+~")
        if not (key.split(".")[0] in named or any(key == k or key.startswith(f"{k}.")
                                                   for k in free)):
            out.append(str(override))
    return out


if __name__ == "__main__":
    raise SystemExit(main())
