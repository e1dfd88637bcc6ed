"""What a sweep prints: an opening line, one line per finished run with the sweep's progress
and time left, the summary, and every warning the harness itself gives; nothing else.

Third-party chatter is silenced by name (its loggers) or by category and message (its
warnings), never by a blanket filter that would also hide the harness's own warnings.
``-v`` (or ``verbose=true``) brings all of it back.
"""
from __future__ import annotations

import json
import logging
import os
import socket
import time
import warnings
from pathlib import Path

from harness.core.lock import alive

# Loggers whose INFO lines repeat per run and say nothing a run's record does not: Lightning's
# "GPU available", "TPU available", the litlogger "Tip" and "`Trainer.fit` stopped"; the
# launchers' "Launching jobs" with one line per job (the opening line says it once).
NOISY_LOGGERS = ("pytorch_lightning", "lightning.pytorch", "lightning_fabric",
                 "lightning.fabric", "hydra_plugins.hydra_joblib_launcher",
                 "hydra_plugins.hydra_submitit_launcher",
                 "hydra._internal.core_plugins.basic_launcher")
# (category name, module the category lives in, message regex): warnings about other code
NOISY_WARNINGS = (
    # torch deprecates a class Lightning's _pytree still uses: nothing a user can act on
    ("FutureWarning", "builtins", r"`isinstance\(treespec, LeafSpec\)` is deprecated"),
    # the frozen VGG loss network and the rulers stay in eval mode on purpose
    ("PossibleUserWarning", "lightning_fabric.utilities.warnings",
     r"Found \d+ module\(s\) in eval mode"),
    # on a SLURM machine Lightning suggests srun; the harness's launchers start the jobs
    ("PossibleUserWarning", "lightning_fabric.utilities.warnings",
     r"The `srun` command is available"),
    # a resumed run's checkpoint folder holds its last checkpoint: the run says it resumes
    ("UserWarning", "builtins", r"Checkpoint directory .* exists and is not empty"),
)
# in the sweep folder, one per sweep (two sweeps may share a folder): <PROGRESS><sweep>.jsonl,
# the plan (each job's model and steps, by job number) then a line per finished job, for the
# count and the ETA
PROGRESS = ".progress-"
WARNED = ".warned"  # in the sweep folder: the warnings said once per sweep, one key a line
STARTED_ENV, PARALLEL_ENV = "HARNESS_SWEEP_STARTED", "HARNESS_SWEEP_PARALLEL"
SWEEP_ENV = "HARNESS_SWEEP_ID"  # <host>-<pid> of the sweep's process: its progress file


def quiet(verbose: bool = False) -> None:
    """Silence the known third-party noise in this process (a sweep's and each job's), and
    print warnings on one line each; ``verbose`` leaves everything as the libraries made it."""
    if verbose:
        return
    for name in NOISY_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)
    import importlib

    for category, module, message in NOISY_WARNINGS:
        try:
            cls = getattr(importlib.import_module(module), category)
        except (ImportError, AttributeError):  # that library is not installed: nothing to hide
            continue
        warnings.filterwarnings("ignore", message=message, category=cls)
    warnings.formatwarning = _one_line


def _one_line(message, category, filename, lineno, line=None) -> str:
    return f"warning: {message} ({category.__name__}, {Path(filename).name}:{lineno})\n"


def verbose_from(argv: list[str]) -> tuple[list[str], bool]:
    """``-v`` / ``--verbose`` taken out of the command line as the override ``verbose=true``."""
    flags = {"-v", "--verbose"}
    rest = [a for a in argv if a not in flags]
    asked = len(rest) < len(argv) or any(a.replace(" ", "") in ("verbose=true", "verbose=True")
                                         for a in rest)
    return ([*rest, "verbose=true"] if len(rest) < len(argv) else rest), asked


def start_sweep(sweep_dir: Path, parallel: int, plan: list[dict]) -> None:
    """Before the first job: this sweep's own fresh progress file, holding its ``plan`` (each
    job's ``model`` and ``steps``, by job number: what the time left is made of), the progress
    files of this host's sweeps that are gone removed (another sweep in the same folder keeps
    its own, and counts only its jobs), and the clock the ETA counts from."""
    host, sweep = socket.gethostname(), f"{socket.gethostname()}-{os.getpid()}"
    for old in sweep_dir.glob(f"{PROGRESS}*.jsonl"):
        owner = old.name[len(PROGRESS):-len(".jsonl")]
        name, _, pid = owner.rpartition("-")
        if owner == sweep or (name == host and pid.isdigit() and not alive(int(pid))):
            old.unlink(missing_ok=True)
    (sweep_dir / ".progress.jsonl").unlink(missing_ok=True)  # the one file of older versions
    (sweep_dir / WARNED).unlink(missing_ok=True)
    os.environ[STARTED_ENV], os.environ[PARALLEL_ENV] = str(time.time()), str(parallel)
    os.environ[SWEEP_ENV] = sweep
    _progress_file(sweep_dir).write_text(json.dumps({"plan": plan}) + "\n")


def _progress_file(sweep_dir: Path) -> Path:
    return sweep_dir / f"{PROGRESS}{os.environ.get(SWEEP_ENV, 'unknown')}.jsonl"


def progress(sweep_dir: Path, total: int, finished: dict, job: int | None = None) -> str:
    """Note this job (``job``: its number in the sweep, by default Hydra's) as finished and
    say where the sweep stands: ``3/12 done in 1:05, about 3:10 left``. ``finished``: the run's
    ``model``, ``steps`` and ``wall_s`` (None for a reused run: done, at no cost). The time left
    is ``time_left`` over the jobs that run at once. Only this sweep's jobs count, each once
    (a job run again, e.g. requeued on a cluster, is one job): never more than ``total``."""
    started = os.environ.get(STARTED_ENV)
    if not started:
        return ""
    if job is None:
        job = _job_number()
    path = _progress_file(sweep_dir)
    with open(path, "a") as f:  # one short append per job: whole lines
        f.write(json.dumps({"job": job, **finished}) + "\n")
    lines = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    plan = next((d["plan"] for d in lines if "plan" in d), None)
    done = {(d.get("job") if d.get("job") is not None else -i): d  # the last line of each job
            for i, d in enumerate(lines, 1) if "plan" not in d}
    text = f"{min(len(done), total)}/{total} done in {clock(time.time() - float(started))}"
    left = time_left(plan if plan is not None else [{}] * total, done)
    if left:
        parallel = max(1, int(os.environ.get(PARALLEL_ENV) or 1))
        text += f", about {clock(left / parallel)} left"
    return text


def time_left(plan: list[dict], done: dict[int, dict]) -> float | None:
    """Seconds the planned jobs not done yet take one after another, each the mean wall time
    of the trained runs most like it: of its model and steps, else of its model, else of all,
    scaled to its steps. None before any run has trained.

    One mean over every run ran 30-50% high through the default study: its GAN runs finish
    first and took 48-78 s each, its segmentation runs, last, 19-23 s (results/default/
    runs.csv). The model, not the family: the article's DCGAN and the small one take different
    times per step; scaled to the steps: a study may give one pairing 4 times the steps."""
    trained = [d for d in done.values() if d.get("wall_s") is not None]
    if not trained:
        return None
    left = 0.0
    for run in (r for j, r in enumerate(plan) if j not in done):
        for same in (("model", "steps"), ("model",), ()):
            like = [d for d in trained if all(d.get(k) == run.get(k) for k in same)]
            if like:
                break
        left += sum(d["wall_s"] * _steps_ratio(run, d) for d in like) / len(like)
    return left


def _steps_ratio(run: dict, trained: dict) -> float:
    steps, took = run.get("steps"), trained.get("steps")
    return steps / took if isinstance(steps, int) and isinstance(took, int) and took > 0 else 1.0


def _job_number() -> int | None:
    from hydra.core.hydra_config import HydraConfig

    return HydraConfig.get().job.num if HydraConfig.initialized() else None


def in_sweep() -> bool:
    """Whether this process runs a job of a multirun."""
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    return HydraConfig.initialized() and HydraConfig.get().mode == RunMode.MULTIRUN


def first_in_sweep(key: str) -> bool:
    """Whether this is the sweep's first job to give the warning ``key`` (every time outside a
    sweep): a warning that holds for every run of a sweep is said once, not once per run."""
    from hydra.core.hydra_config import HydraConfig

    if not (in_sweep() and os.environ.get(STARTED_ENV)):
        return True
    said = Path(HydraConfig.get().sweep.dir) / WARNED
    if said.exists() and key in said.read_text().split():
        return False
    with open(said, "a") as f:
        f.write(key + "\n")
    return True


def clock(seconds: float) -> str:
    """``1:05``, ``1:02:05``: a duration as the sweep's and the run's progress lines say it."""
    s = int(round(seconds))
    return f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}" if s >= 3600 else f"{s // 60}:{s % 60:02d}"


def bar_wanted(enabled: bool) -> tuple[bool, bool]:
    """(show a step bar, leave it when done): a single run's bar stays (without a terminal,
    plain lines instead: ``harness.run.stepbar``); a sweep running one job at a time shows each
    run's bar while it runs; jobs running at once, or on a cluster, show none (their bars would
    overwrite each other's line, or go to a file)."""
    from hydra.core.hydra_config import HydraConfig

    if not enabled:
        return False, False
    if not in_sweep():
        return True, True
    launcher = HydraConfig.get().launcher
    target = str(launcher.get("_target_", ""))
    one_at_a_time = "basic_launcher" in target or ("joblib" in target
                                                   and launcher.get("n_jobs") == 1)
    return one_at_a_time, False
