"""A sweeper that finishes every job and says how each one ended.

Hydra's basic sweeper re-raises the first job exception once its batch ends, so later batches
never run and the other failures go unreported. This one extends it with two things a study
needs: ``list_params`` (keys swept together, zipped, e.g. the pairs scaling/head of a study)
besides the usual grid ``params``, and an end-of-sweep summary. Jobs are launched in batches
of ``max_batch_size`` by whatever launcher is configured (basic, joblib, submitit).
"""

import itertools
import logging
import os
from dataclasses import dataclass
from typing import Any, Optional

from hydra.core.config_store import ConfigStore
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.utils import JobStatus
from hydra._internal.core_plugins.basic_sweeper import BasicSweeper

log = logging.getLogger("harness")

TOTAL_ENV = "HARNESS_SWEEP_TOTAL"  # lets each job print "[i/N]"
LAST_SWEEP: list[dict] = []  # records of the last sweep in this process, for the exit code


@dataclass
class HarnessSweeperConf:
    _target_: str = "hydra_plugins.harness_sweeper.harness_sweeper.HarnessSweeper"
    max_batch_size: Optional[int] = None
    params: Optional[dict] = None
    list_params: Optional[dict] = None


# No `from __future__ import annotations` here: Hydra executes plugin modules outside
# sys.modules, where dataclasses cannot resolve string annotations.
ConfigStore.instance().store(group="hydra/sweeper", name="harness", node=HarnessSweeperConf)


def _values(key: str, value: Any) -> list[str]:
    """A list-param value as override strings: a YAML list or a comma-separated string."""
    if isinstance(value, str):
        return [v.strip() for v in value.split(",")]
    try:
        return [str(v) for v in value]
    except TypeError:
        return [str(value)]


class HarnessSweeper(BasicSweeper):
    def __init__(self, max_batch_size: Optional[int] = None, params: Optional[dict] = None,
                 list_params: Optional[dict] = None):
        super().__init__(max_batch_size=max_batch_size, params=params)
        self.list_params = dict(list_params or {})

    def job_overrides(self, arguments: list[str]) -> list[list[str]]:
        """Every job's overrides: the grid (params + command line) times the zipped lists."""
        parser = OverridesParser.create(config_loader=self.hydra_context.config_loader)
        grid = self.split_arguments(parser.parse_overrides([*self._parse_config(), *arguments]),
                                    None)[0]
        if not self.list_params:
            return grid
        columns = {k: _values(k, v) for k, v in self.list_params.items()}
        lengths = {len(v) for v in columns.values()}
        if len(lengths) != 1:
            raise ValueError(f"hydra.sweeper.list_params must all have the same length, got "
                             f"{ {k: len(v) for k, v in columns.items()} }")
        rows = [[f"{k}={v[i]}" for k, v in columns.items()] for i in range(lengths.pop())]
        return [[*g, *row] for g, row in itertools.product(grid, rows)]

    def sweep(self, arguments: list[str]) -> Any:
        jobs = self.job_overrides(arguments)
        n = self.max_batch_size or len(jobs)
        self.overrides = [jobs[i:i + n] for i in range(0, len(jobs), n)]
        os.environ[TOTAL_ENV] = str(len(jobs))
        LAST_SWEEP.clear()
        returns, start = [], 0
        while not self.is_done():
            batch = self.get_job_batch()
            self.validate_batch_is_legal(batch)
            results = self.launcher.launch(batch, initial_job_idx=start)
            for overrides, r in zip(batch, results):
                LAST_SWEEP.append(self._record(overrides, r))
            start += len(batch)
            returns.append(results)
        return returns

    @staticmethod
    def _record(overrides, r) -> dict:
        """The job's run record; a job that raised past ``run`` still gets a failed entry."""
        if r.status == JobStatus.COMPLETED and isinstance(r.return_value, dict):
            return r.return_value
        err = r._return_value
        return {"status": "failed", "message": f"{type(err).__name__}: {err}",
                "overrides": " ".join(overrides)}
