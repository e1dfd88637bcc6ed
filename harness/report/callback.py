"""The report every multirun ends with: a Hydra callback (``conf/hydra/default.yaml``).

It never raises: a bug in the report must not fail, or hide, a sweep whose runs are on disk.
Where the report is not written it hands the reason to the command that started the sweep
(``harness.core.outcome``), which exits non-zero: one logged line for an output folder that
cannot be written, a traceback for anything else (a bug).
"""
from __future__ import annotations

import logging
import shlex
import sys
import time
from datetime import datetime
from pathlib import Path

from hydra.experimental.callback import Callback
from omegaconf import OmegaConf

from harness.core.outcome import add_outcome
from harness.core.record import STUDY_KEYS, read_record, write_json
from harness.report.cli import SWEEP_INFO, named_study, records_of, report_dir, write_or_say

log = logging.getLogger(__name__)


class ReportCallback(Callback):
    """Writes the sweep's report (``report_dir``) when a Hydra multirun ends. A named study's
    report covers every run in its folder; any other sweep's only the runs it was asked for
    (``runs`` in the folder's ``sweep.json``, written by the sweeper), never earlier ones."""

    def __init__(self, out_root: str = "results"):
        self.out_root = out_root
        self.start: float | None = None
        self.started: str | None = None  # ISO time: a run that started before was reused

    def on_multirun_start(self, config, **kwargs) -> None:
        self.start = time.monotonic()
        self.started = datetime.now().isoformat(timespec="seconds")

    def on_multirun_end(self, config, **kwargs) -> None:
        try:
            error = self._report(config)
        except Exception as err:  # noqa: BLE001 - a bug in the report, never the sweep's end
            log.exception("report failed; the runs themselves are intact in the sweep directory")
            error = f"report failed: {type(err).__name__}: {err}"
        add_outcome(report_error=error)

    def _report(self, config) -> str | None:
        """Write the report; return the line that says why not, having logged it."""
        elapsed = None if self.start is None else time.monotonic() - self.start
        command = "python -m harness.train " + shlex.join(sys.argv[1:])
        sweep_dir = Path(str(config.hydra.sweep.dir))
        # this command's reference, target and noise floor: runs are reused across changes of
        # them, so their records may hold an earlier command's
        study = {k: OmegaConf.to_container(config[k], resolve=True) if k in config else {}
                 for k in STUDY_KEYS}
        out = report_dir(config, self.out_root)
        info = read_record(sweep_dir / SWEEP_INFO) or {}
        only = None if named_study(config) else info.get("runs")
        write_json(sweep_dir / SWEEP_INFO, {**info, "command": command, "wall_time_s": elapsed,
                                            "started": self.started, "study": study,
                                            "report_dir": str(out.resolve()), "only": only})
        error = write_or_say(records_of(sweep_dir, only, info.get("runs")), sweep_dir, out,
                             command=command, wall_time_s=elapsed, started=self.started,
                             study=study)
        if error:
            log.error(error)
        else:
            log.info("report written to %s", out)
        return error
