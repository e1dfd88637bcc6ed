"""A sweeper that finishes every job and says how each one ended.

Hydra's basic sweeper re-raises the first job exception once its batch ends, so later batches
never run and the other failures go unreported. This one runs the usual grid (``params`` and
command-line sweeps) times the study's ``records`` (one dict per pairing, e.g. scaling/head/
steps of one run), hands how every job ended to the command that started it
(``harness.core.outcome``) for the end-of-sweep summary, and launches in batches of ``max_batch_size`` through whatever launcher is configured (basic,
joblib, submitit). Only Hydra's public plugin API is used.
"""

import itertools
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence

from omegaconf import DictConfig, OmegaConf

from hydra.core.config_store import ConfigStore
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.override_parser.types import Override
from hydra.core.plugins import Plugins
from hydra.core.utils import JobReturn
from hydra.errors import CompactHydraException
from hydra.plugins.sweeper import Sweeper
from hydra.types import HydraContext, TaskFunction

log = logging.getLogger("harness")

TOTAL_ENV = "HARNESS_SWEEP_TOTAL"  # lets each job print "[i/N]"
SCALARS = (str, int, float, bool, type(None))


@dataclass
class HarnessSweeperConf:
    _target_: str = "hydra_plugins.harness_sweeper.harness_sweeper.HarnessSweeper"
    max_batch_size: Optional[int] = None
    params: Optional[Dict[str, Any]] = None
    records: Optional[List[Any]] = None  # one dict per run (x the grid); checked in `check_records`


class SweepError(CompactHydraException):
    """A study that cannot become jobs; Hydra prints a compact error as its message alone."""


# No `from __future__ import annotations` here: Hydra executes plugin modules outside
# sys.modules, where dataclasses cannot resolve string annotations.
ConfigStore.instance().store(group="hydra/sweeper", name="harness", node=HarnessSweeperConf)


def grid(overrides: Sequence[Override]) -> list[list[str]]:
    """Every combination of the overrides, as Hydra's basic sweeper builds it: a key given twice
    keeps its first position and its last value, so the command line wins over ``params``."""
    axes: dict[str, list[str]] = {}
    for o in overrides:
        key = o.get_key_element()
        sweep = o.is_sweep_override()
        if sweep and not o.is_discrete_sweep():
            raise SweepError(f"{o.input_line}: the harness sweeper can only enumerate choice, "
                             "range and glob sweeps")
        values = o.sweep_string_iterator() if sweep else [o.get_value_element_as_str()]
        axes[key] = [f"{key}={v}" for v in values]
    return [list(job) for job in itertools.product(*axes.values())]


def check_records(records: Any) -> list[dict]:
    """The study's records as plain dicts, or one clear line saying why they cannot be runs."""
    records = OmegaConf.to_container(records) if OmegaConf.is_config(records) else records or []
    for i, r in enumerate(records):
        if not isinstance(r, dict):
            raise SweepError(f"hydra.sweeper.records[{i}] must be a dict of key: value, got {r!r}")
        if set(r) != set(records[0]):
            raise SweepError(f"hydra.sweeper.records[{i}] sets {', '.join(r)} but records[0] sets "
                             f"{', '.join(records[0])}: every record must set the same keys")
        bad = [k for k, v in r.items() if not isinstance(v, SCALARS) and not (
            isinstance(v, list) and v and all(isinstance(x, SCALARS) for x in v))]
        if bad:
            raise SweepError(f"hydra.sweeper.records[{i}].{bad[0]} must be a single value or a "
                             f"non-empty list of them (one run each), got {r[bad[0]]!r}")
    return records


def expand(record: dict) -> list[dict]:
    """A record with list values (e.g. ``seed: [0, 1, 2, 3, 4]``) as one record per
    combination of them, in order: a study can give its decisive pairing more seeds. A key whose
    value is itself a list is given as a string (``betas: "[0.5, 0.9]"``): one run."""
    axes = [v if isinstance(v, list) else [v] for v in record.values()]
    return [dict(zip(record, combo)) for combo in itertools.product(*axes)]


def _as_override(key: str, value: Any) -> str:
    text = "null" if value is None else str(value).lower() if isinstance(value, bool) else value
    return f"{key}={text}"


def job_overrides(grid_jobs: list[list[str]], records: list[dict],
                  command_line: dict[str, str]) -> tuple[list[list[str]], str]:
    """Each job's overrides (the grid times the records) and a note, empty or one line.

    A key given on the command line (``command_line``: key -> the argument as typed) means what
    it says: it is dropped from every record, and the records that become identical run once
    (first occurrence, in order). The note names what the command line replaced."""
    keys = [k for k in (records[0] if records else {}) if k in command_line]
    kept = [tuple((k, v) for k, v in one.items() if k not in keys)
            for r in records for one in expand({k: v for k, v in r.items() if k not in keys})]
    rows = list(dict.fromkeys(kept))  # dicts keep the first occurrence, in order
    was = {k: ", ".join(map(str, dict.fromkeys(str(r[k]) for r in records))) for k in keys}
    notes = [f"{command_line[k]} (command line) replaces the study's per-record {k} ({was[k]})"
             for k in keys]
    runs = sum(len(expand(r)) for r in records)
    if len(rows) < runs:
        notes.append(f"{runs} runs -> {len(rows)} distinct")
    jobs = [[*g, *(_as_override(k, v) for k, v in row)]
            for g, row in itertools.product(grid_jobs, rows or [()])]
    return jobs, "; ".join(notes)


def run_record(overrides: Sequence[str], result: JobReturn, who: Optional[dict] = None) -> dict:
    """The job's run record; a job that raised past the task function gets a failed entry,
    named by ``who`` (its model, scaling, head and seed) and its overrides."""
    try:
        rec = result.return_value  # re-raises the job's exception
        if not isinstance(rec, dict):
            raise TypeError(f"the job returned {type(rec).__name__}, not a run record")
        return rec
    except Exception as err:
        return {**(who or {}), "status": "failed", "message": f"{type(err).__name__}: {err}",
                "overrides": " ".join(overrides)}


def busy(i: int, jobs: list[list[str]], who: list[dict], sweep_dir: Path) -> dict | None:
    """The skipped record of job ``i`` when its run directory is held by another live process:
    then it is not launched at all (Hydra would write its config and log there first), and a
    line says so, naming the folder inside ``sweep_dir`` as a run's line does; None when it is
    free."""
    from harness.core.lock import holder

    pid = holder(who[i]["run_dir"])
    if pid is None:
        return None
    rec = {**who[i], "status": "skipped", "message": f"in use by PID {pid}: left to it",
           "overrides": " ".join(jobs[i])}
    log.warning("[%d/%d] %s %s %s seed=%s skipped: in use by PID %d  -> %s", i + 1, len(jobs),
                rec["model"], rec["scaling"], rec["head"], rec["seed"], pid,
                os.path.relpath(rec["run_dir"], sweep_dir))
    return rec


def contiguous(indices: list[int]) -> list[list[int]]:
    """``[0, 1, 3, 4]`` -> ``[[0, 1], [3, 4]]``: a launcher numbers a batch's jobs from its
    first index on, so a gap (a job left to another process) starts a new launch."""
    runs: list[list[int]] = []
    for i in indices:
        if runs and runs[-1][-1] == i - 1:
            runs[-1].append(i)
        else:
            runs.append([i])
    return runs


def sweep_info(sweep_dir: Path, runs: list[str]) -> None:
    """This sweep's run folders in the sweep folder's ``sweep.json``: its report covers them."""
    from harness.core.record import read_record, write_json
    from harness.report.cli import SWEEP_INFO

    info = read_record(sweep_dir / SWEEP_INFO) or {}
    write_json(sweep_dir / SWEEP_INFO, {**info, "runs": runs})


def folders_to_write(command: DictConfig, tasks: list[DictConfig],
                     runs: list[Path]) -> list[tuple]:
    """Every folder a sweep writes, as ``harness.run.precheck.unwritable`` takes them: the
    sweep's, each run folder already there, TensorBoard's and the report's (``command``: the
    sweep's own config, whose overrides say where its report goes)."""
    from harness.report.cli import named_study, report_dir
    from harness.run.precheck import log_folder

    out_root = OmegaConf.select(command, "hydra.callbacks.report.out_root")
    report = [(report_dir(command, out_root), "the sweep's report and its figures",
               "paths.results_dir=<folder>" if named_study(command) else
               "hydra.sweep.dir=<folder> (an ad-hoc sweep reports beside its runs)")] \
        if out_root else []
    return [*((d, "the runs' records, checkpoints and logs", "hydra.sweep.dir=<folder>")
              for d in dict.fromkeys(d.parent for d in runs)),
            *((d, "a run's record, checkpoints and log", "hydra.sweep.dir=<folder>")
              for d in runs if d.exists()),  # a run's own folder, made read-only
            *dict.fromkeys(f for task in tasks for f in log_folder(task)),
            *report]


class HarnessSweeper(Sweeper):
    def __init__(self, max_batch_size: Optional[int] = None, params: Optional[dict] = None,
                 records: Optional[list] = None):
        self.max_batch_size = max_batch_size
        self.params = dict(params or {})
        self.records = records
        self.hydra_context: Optional[HydraContext] = None
        self.config: Optional[DictConfig] = None
        self.launcher = None

    def setup(self, *, hydra_context: HydraContext, task_function: TaskFunction,
              config: DictConfig) -> None:
        self.hydra_context, self.config = hydra_context, config
        self.launcher = Plugins.instance().instantiate_launcher(
            hydra_context=hydra_context, task_function=task_function, config=config)

    def jobs(self, arguments: list[str]) -> list[list[str]]:
        """Every job's overrides; logs what the command line replaced in the records."""
        parser = OverridesParser.create(config_loader=self.hydra_context.config_loader)
        given = parser.parse_overrides(arguments)
        params = parser.parse_overrides([f"{k}={v}" for k, v in self.params.items()])
        jobs, note = job_overrides(grid([*params, *given]), check_records(self.records),
                                   {o.key_or_group: o.input_line for o in given})
        if note:
            log.info(note)
        return jobs

    def job_configs(self, jobs: list[list[str]]) -> list[DictConfig]:
        """Every job's composed config (with its ``hydra`` node), as its launcher will see it; a
        job that cannot be composed stops the sweep before any starts, in one line."""
        from harness.core.keys import override_error
        from harness.run.precheck import say

        configs = []
        for job in jobs:
            try:
                configs.append(self.hydra_context.config_loader.load_sweep_config(self.config,
                                                                                  list(job)))
            except Exception as e:  # noqa: BLE001 - Hydra's own words where it is not ours
                line = override_error(e)
                if line is None:
                    raise
                say([f"{line} (in the job {' '.join(job)})"])  # as a single run's check
        return configs

    def before_launch(self, configs: list[DictConfig]) -> list[dict]:
        """Before any job starts: every job's settings and its launcher's checked (one line per
        distinct problem, exit 2), finished runs of another config set aside before Hydra opens
        anything in their directory; returns each job's names for the summary, its steps (the
        time left is made of them) and its run folder."""
        from harness.core.lock import holder
        from harness.core.settings import launcher_problems
        from harness.run.fit import result_config
        from harness.run.precheck import problems_of, say, task_config, unwritable
        from harness.run.runs import names, prepare

        tasks = [task_config(cfg) for cfg in configs]
        say([*(line for cfg in configs for line in launcher_problems(cfg.hydra.launcher)),
             *(line for task in tasks for line in problems_of(task))])  # as a single run's check
        runs = [Path(cfg.hydra.sweep.dir) / str(cfg.hydra.sweep.subdir) for cfg in configs]
        say(unwritable(folders_to_write(self.config, tasks, runs)))  # before any is touched
        who = []
        for cfg, task, run_dir in zip(configs, tasks, runs):
            if holder(run_dir) is None:  # a live run there is left to its process
                prepare(run_dir, result_config(task, cfg.hydra.launcher))
            who.append({**names(task), "steps": task.steps, "run_dir": str(run_dir)})
        return who

    def opening(self, who: list[dict], sweep_dir: Path) -> None:
        """The sweep's first line: study, runs, launcher, where the records and the report go;
        and the clock and the plan (each job's model and steps) its progress lines count
        from."""
        from harness.report.cli import report_dir
        from harness.run.console import start_sweep
        from harness.run.fit import joblib_jobs

        cfg, n = self.config, len(who)
        launcher = str(OmegaConf.select(cfg, "hydra.runtime.choices.hydra/launcher") or "basic")
        at_once = OmegaConf.select(cfg, "hydra.launcher.n_jobs")
        if at_once is not None:  # joblib
            at_once = joblib_jobs(at_once, os.cpu_count() or 1)
        else:  # submitit: as many as the array allows; basic: one
            at_once = OmegaConf.select(cfg, "hydra.launcher.array_parallelism") or 1
        at_once = max(1, min(int(at_once), n))
        out_root = OmegaConf.select(cfg, "hydra.callbacks.report.out_root")
        report = f"report to {report_dir(cfg, out_root)}" if out_root else "no report"
        log.info("study %s: %d run%s, launcher %s (%d at a time); records in %s, %s",
                 cfg.study, n, "" if n == 1 else "s", launcher, at_once, sweep_dir, report)
        start_sweep(sweep_dir, at_once, [{k: w[k] for k in ("model", "steps")} for w in who])

    def sweep(self, arguments: list[str]) -> list[Sequence[JobReturn]]:
        from harness.core.outcome import add_outcome, sweep_records
        from harness.run.orphans import SWEEP_PID

        jobs = self.jobs(arguments)
        who = self.before_launch(self.job_configs(jobs))
        sweep_dir = Path(self.config.hydra.sweep.dir)  # the sweep's config, as Hydra's own sweeper
        sweep_dir.mkdir(parents=True, exist_ok=True)
        OmegaConf.save(self.config, sweep_dir / "multirun.yaml")
        sweep_info(sweep_dir, [os.path.relpath(w["run_dir"], sweep_dir) for w in who])
        os.environ[TOTAL_ENV] = str(len(jobs))
        os.environ[SWEEP_PID] = str(os.getpid())  # a job in its own process watches this one
        self.opening(who, sweep_dir)
        n, returns, records = self.max_batch_size or max(1, len(jobs)), [], []
        for start in range(0, len(jobs), n):
            batch = []
            for i in range(start, min(start + n, len(jobs))):
                skipped = busy(i, jobs, who, sweep_dir)
                records.append(skipped) if skipped else batch.append(i)
            for part in contiguous(batch):
                self.validate_batch_is_legal([jobs[i] for i in part])
                results = self.launcher.launch([jobs[i] for i in part], initial_job_idx=part[0])
                records.extend(run_record(jobs[i], r, who[i]) for i, r in zip(part, results))
                returns.append(results)
        add_outcome(records=sweep_records(records))
        return returns
