"""Building and fitting one run from its config: seeded networks, the data stream, the Trainer.

``train`` returns the run's final metrics and where its time went; the books around it (record,
reuse, resume, set-aside) are ``harness.run.runs``, the entry point ``harness.train``.
"""
from __future__ import annotations

import os
import warnings
from pathlib import Path

from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, OmegaConf

from harness.run.console import bar_wanted, first_in_sweep

# a run's checkpoints, in its run directory: removed once it has its record, kept by a failed or
# interrupted run to resume from (harness.run.runs; harness.run.checkpoints writes and reads them)
CKPT_DIR = "checkpoints"


def available_cores() -> int:
    """The cores this process may use: a SLURM job's CPUs, else ``OMP_NUM_THREADS`` where the
    user set it (a shared machine, or test workers side by side: threads beyond a process's share
    make every step several times slower), else the machine's."""
    for name in ("SLURM_CPUS_PER_TASK", "OMP_NUM_THREADS"):
        value = os.environ.get(name, "")
        if value.isdigit() and int(value) > 0:
            return int(value)
    return os.cpu_count() or 1


def job_threads(cfg: DictConfig, launcher=None) -> int:
    """``threads`` up to the cores (more only slow every step down: 999 on 2 cores took
    minutes a step, against 0.2 s), or with ``threads=0`` the cores shared evenly among the
    launcher's parallel jobs (a SLURM job's cores: the CPUs it asks for, not the node's).
    ``launcher``: the ``hydra.launcher`` node the run is launched with; default: this job's, or
    none outside Hydra. The count it returns is the one the run uses and its record keeps."""
    if launcher is None and HydraConfig.initialized():
        launcher = HydraConfig.get().launcher
    launcher = launcher or {}
    cores = available_cores()
    if "SlurmLauncher" in str(launcher.get("_target_", "")):  # as its jobs will see it
        cores = int(launcher.get("cpus_per_task") or cores)
    if cfg.threads:
        if cfg.threads > cores:
            _more_threads_than_cores(int(cfg.threads), cores)
        return min(int(cfg.threads), cores)
    n_jobs = launcher.get("n_jobs")
    if not n_jobs:
        return cores
    return max(1, cores // joblib_jobs(n_jobs, cores))


_SAID: set[tuple[int, int]] = set()


def _more_threads_than_cores(threads: int, cores: int) -> None:
    """One warning per command: the sweep's process says it before its first job (whose own
    processes then keep quiet), a single run when its settings are checked."""
    from harness.run.console import STARTED_ENV, in_sweep

    if (threads, cores) in _SAID or (in_sweep() and os.environ.get(STARTED_ENV)):
        return
    _SAID.add((threads, cores))
    warnings.warn(f"threads={threads} is more than the {cores} cores this run may use: each run "
                  f"uses {cores} (and its record says so)", UserWarning, stacklevel=3)


def result_config(cfg: DictConfig, launcher=None) -> dict:
    """The resolved config a run's record keeps and its config key is computed from, with
    ``threads`` as the count the run uses (0 only says "the cores, shared"; threads change the
    float sums): runs computed with other thread counts are never taken for one another. Where
    the data is the user's own files, ``data_digest`` names what they were (harness.data.digest)."""
    from harness.data.digest import data_digest

    config = {**OmegaConf.to_container(cfg, resolve=True), "threads": job_threads(cfg, launcher)}
    digest = data_digest(config.get("data") or {})
    return {**config, "data_digest": digest} if digest else config


def joblib_jobs(n_jobs: int, cores: int) -> int:
    """How many jobs joblib's ``n_jobs`` runs at once on ``cores`` (-1: all of them)."""
    return n_jobs if n_jobs > 0 else max(1, cores + 1 + n_jobs)


def build(node, **kwargs):
    """``instantiate``, but re-raising the object's own error (a one-line ``DataError``, a
    ``Skipped``) instead of Hydra's wrapper around it."""
    from hydra.errors import InstantiationException
    from hydra.utils import instantiate

    try:
        return instantiate(node, **kwargs)
    except InstantiationException as e:
        raise (e.__cause__ or e) from None


def family_of(cfg: DictConfig):
    """The family class the model config names: its declarations, before anything is built."""
    from hydra.utils import get_class

    return get_class(cfg.model.module._target_)


def pixels_of(cfg: DictConfig):
    """The run's scaling and head, resolved once and passed on as objects."""
    from harness.core.pixels import get_head, make_scaling

    return make_scaling(cfg.scaling.name, cfg.data.channels), get_head(cfg.head.name)


def callbacks(cfg: DictConfig, run_dir: Path) -> list:
    """The configured callbacks, plus epoch-end checkpoints when ``checkpoint_every`` is set."""
    from hydra.utils import instantiate
    from pytorch_lightning.callbacks import ModelCheckpoint

    bar, leave = bar_wanted(bool(cfg.trainer.enable_progress_bar))
    out = [instantiate(c, **({"leave": leave} if name == "progress" else {}))
           for name, c in (cfg.callbacks or {}).items() if c and (name != "progress" or bar)]
    if cfg.checkpoint_every:
        out.append(ModelCheckpoint(dirpath=run_dir / CKPT_DIR, filename="last", save_top_k=1,
                                   enable_version_counter=False, every_n_epochs=1))
    return out


def build_run(cfg: DictConfig, pixels=None, resume_at: tuple[int, int] = (0, 0)):
    """(module, data module) of a run, seeded; the data module is checked against what the
    family needs before anything is loaded. ``pixels``: the run's (scaling, head), if resolved;
    ``resume_at``: (batches, epochs) a resumed run has done."""
    import pytorch_lightning as pl
    import torch

    pl.seed_everything(cfg.seed, workers=True, verbose=False)  # the networks' initial weights
    torch.set_num_threads(job_threads(cfg))
    scaling, head = pixels or pixels_of(cfg)
    # partial, then called: the scaling and head objects reach the module as they are
    model = build(cfg.model.module, _partial_=True)(
        scaling=scaling, head=head, seed=cfg.seed, eval_every=cfg.eval_every,
        eval_early=(cfg.eval_early.every, cfg.eval_early.until), log_every=cfg.log_every)
    if cfg.channels_last:
        model = model.to(memory_format=torch.channels_last)
    data = build(cfg.data, steps=cfg.steps, seed=cfg.seed, chunk=cfg.checkpoint_every)
    model.check_data(data)
    data.resume_at(*resume_at)
    data.setup()
    for key, text in model.notes.items():
        if first_in_sweep(key):  # a warning that holds for every run of a sweep, said once
            warnings.warn(text, UserWarning, stacklevel=2)
    return model, data


def train(cfg: DictConfig, run_dir: Path, logger=None, resume_from: Path | None = None,
          pixels=None, resume_at: tuple[int, int] = (0, 0)
          ) -> tuple[dict[str, float], dict[str, float]]:
    """Train one combination; returns its final metrics and where its time went (seconds per
    phase; the process's start-up and the record are the rest of its wall time). Writes the
    final sample grids to ``run_dir``."""
    import time

    from torchvision.io import write_png

    from harness.core.history import HISTORY

    marks = [time.perf_counter()]
    model, data = build_run(cfg, pixels, resume_at)
    model.keep_history(run_dir / HISTORY)
    trainer = trainer_for(cfg, data, run_dir, logger)
    marks.append(time.perf_counter())
    trainer.fit(model, datamodule=data, ckpt_path=resume_from)
    metrics = {**model.initial_metrics, **model.finish()}
    marks.append(time.perf_counter())
    for name, grid in model.final.grids.items():
        write_png(grid, str(run_dir / f"samples_{name}.png"))
    marks.append(time.perf_counter())
    build, fit, grids = (b - a for a, b in zip(marks, marks[1:]))
    phases = {"build": build, **model.seconds,
              "training_loop": fit - sum(model.seconds.values()), "grids": grids}
    return metrics, {k: round(v, 3) for k, v in phases.items()}


def trainer_for(cfg: DictConfig, data, run_dir: Path, logger=None, extra=()):
    """The run's Trainer: its callbacks (and ``extra``, e.g. the bench's), its logger, one
    epoch per checkpoint chunk of the data module."""
    from hydra.utils import instantiate
    from pytorch_lightning.callbacks.progress import ProgressBar

    from harness.run.checkpoints import WholeFileIO

    calls = [*callbacks(cfg, run_dir), *extra]
    bar = any(isinstance(c, ProgressBar) for c in calls)  # none: Lightning must not add its own
    return instantiate(cfg.trainer, logger=logger or False, callbacks=calls,
                       enable_progress_bar=bar, plugins=[WholeFileIO()],
                       max_epochs=data.epochs, reload_dataloaders_every_n_epochs=1,
                       enable_checkpointing=bool(cfg.checkpoint_every),
                       log_every_n_steps=1)  # unused: the run logs itself; 1 keeps Lightning quiet
