"""Entry point: one combination per call, a sweep with ``-m``.

    python -m harness.train model=gan scaling=raw head=identity
    python -m harness.train -m scaling=raw,unit,symmetric head=identity,tanh,tanh_fit
    python -m harness.train -m experiment=raw_pixel_gan

Checks the command line, then leaves the run to ``harness.run``: ``fit`` builds and trains it,
``runs`` keeps the books (every run ends with a ``run.json`` whatever happens, so a failed run
never stops a sweep; a single run that fails prints one line and exits non-zero).
"""
from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig

from harness.core.choices import check_choices
from harness.core.lock import release
from harness.core.record import read_record
from harness.core.repo import CONF_DIR
from harness.run.console import quiet, verbose_from
from harness.run.orphans import exit_if_orphaned, watch_parent
from harness.core.outcome import OUTCOME_ENV, sweep_summary
from harness.run.precheck import check_command, refuse


@hydra.main(version_base="1.3", config_path=CONF_DIR, config_name="train")
def hydra_main(cfg: DictConfig) -> dict:
    from harness.run.runs import run

    quiet(bool(cfg.get("verbose")))  # a job may be its own process (joblib, SLURM)
    watch_parent()  # such a job stops when its sweep is gone
    hc = HydraConfig.get()
    refuse(cfg)  # a sweep's jobs were checked by the sweeper, before any started
    try:
        rec = run(cfg, Path(hc.runtime.output_dir))
    finally:
        exit_if_orphaned()
    if hc.mode != RunMode.MULTIRUN and rec["status"] in ("failed", "diverged"):
        print(f"error: {rec['message']}", file=sys.stderr)
        sys.exit(1)
    return rec


def main() -> None:
    argv, verbose = verbose_from(sys.argv[1:])
    sys.argv[1:] = argv
    check_choices(CONF_DIR, argv)  # before quiet(): a bad choice exits before torch is imported
    quiet(verbose)
    multirun = bool({"-m", "--multirun"} & set(argv))
    held = None  # a single run's directory, locked by this process from here on
    if multirun or not any(a.startswith("-") for a in argv):  # not --help, --cfg, ...
        held = check_command(argv, multirun)
    # the sweeper and the report callback write how the sweep ended to the file named here
    fd, outcome = tempfile.mkstemp(prefix="harness-sweep-", suffix=".json")
    os.close(fd)
    os.environ[OUTCOME_ENV] = outcome
    try:
        hydra_main()
    except KeyboardInterrupt as e:  # the run has its record and said how to resume
        print(f"error: {e}" if str(e) else "interrupted", file=sys.stderr)
        sys.exit(130)
    finally:
        if held is not None:
            release(held)
        ended = read_record(Path(outcome))
        Path(outcome).unlink(missing_ok=True)
    if ended and "records" in ended:  # a sweep ran
        text, failed = sweep_summary(ended["records"])
        report_error = ended.get("report_error")
        print(text + ("\nreport: not written (the error above); the runs are intact"
                      if report_error else ""))
        sys.exit(1 if failed or report_error else 0)


if __name__ == "__main__":
    main()
