"""Entry point: one combination per call, a sweep with ``-m``.

    python -m harness.train model=gan scaling=raw head=identity
    python -m harness.train -m scaling=raw,unit,symmetric head=identity,tanh,tanh_fit
    python -m harness.train -m experiment=raw_pixel_gan

``train`` builds the run from its config and fits it; ``harness.runs`` keeps the books (every
run ends with a ``run.json`` whatever happens, so a failed run never stops a sweep; a single run
that fails prints one line and exits non-zero).
"""
from __future__ import annotations

import logging
import os
import sys
from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig, OmegaConf, open_dict

from .choices import check_choices

log = logging.getLogger("harness")
CONF_DIR = str(Path(__file__).resolve().parent.parent / "conf")



def job_threads(cfg: DictConfig) -> int:
    """``threads``, or the machine's cores shared evenly among the launcher's parallel jobs
    (a SLURM job's cores: the CPUs it was given, not the node's)."""
    if cfg.threads:
        return int(cfg.threads)
    cores = int(os.environ.get("SLURM_CPUS_PER_TASK") or 0) or os.cpu_count() or 1
    n_jobs = OmegaConf.select(HydraConfig.get(), "launcher.n_jobs") if HydraConfig.initialized() else None
    if not n_jobs:
        return cores
    return max(1, cores // joblib_jobs(n_jobs, cores))


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
    from .pixels import get_head, make_scaling

    return make_scaling(cfg.scaling.name, cfg.data.channels), get_head(cfg.head.name)


def callbacks(cfg: DictConfig, run_dir: Path) -> list:
    """The configured callbacks, plus epoch-end checkpoints when ``checkpoint_every`` is set."""
    from hydra.utils import instantiate
    from pytorch_lightning.callbacks import ModelCheckpoint

    from .runs import CKPT_DIR

    from .console import bar_wanted

    bar, leave = bar_wanted(bool(cfg.trainer.enable_progress_bar))
    out = [instantiate(c, **({"leave": leave} if name == "progress" else {}))
           for name, c in (cfg.callbacks or {}).items() if c and (name != "progress" or bar)]
    if cfg.checkpoint_every:
        out.append(ModelCheckpoint(dirpath=run_dir / CKPT_DIR, filename="last", save_top_k=1,
                                   enable_version_counter=False, every_n_epochs=1))
    return out


def build_run(cfg: DictConfig, pixels=None):
    """(module, data module) of a run, seeded; the data module is checked against what the
    family needs before anything is loaded. ``pixels``: the run's (scaling, head), if resolved."""
    import pytorch_lightning as pl
    import torch

    pl.seed_everything(cfg.seed, workers=True, verbose=False)  # the networks' initial weights
    torch.set_num_threads(job_threads(cfg))
    scaling, head = pixels or pixels_of(cfg)
    # partial, then called: the scaling and head objects reach the module as they are
    model = build(cfg.model.module, _partial_=True)(
        scaling=scaling, head=head, seed=cfg.seed, eval_every=cfg.eval_every,
        log_every=cfg.log_every)
    if cfg.channels_last:
        model = model.to(memory_format=torch.channels_last)
    data = build(cfg.data, steps=cfg.steps, seed=cfg.seed, chunk=cfg.checkpoint_every)
    model.check_data(data)
    data.setup()
    return model, data


def train(cfg: DictConfig, run_dir: Path, logger=None, resume_from: Path | None = None,
          pixels=None) -> tuple[dict[str, float], dict[str, float]]:
    """Train one combination; returns its final metrics and where its time went (seconds per
    phase; the process's start-up and the record are the rest of its wall time). Writes the
    final sample grids to ``run_dir``."""
    import time

    from torchvision.io import write_png

    from .history import HISTORY

    marks = [time.perf_counter()]
    model, data = build_run(cfg, pixels)
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

    calls = [*callbacks(cfg, run_dir), *extra]
    bar = any(isinstance(c, ProgressBar) for c in calls)  # none: Lightning must not add its own
    return instantiate(cfg.trainer, logger=logger or False, callbacks=calls,
                       enable_progress_bar=bar,
                       max_epochs=data.epochs, reload_dataloaders_every_n_epochs=1,
                       enable_checkpointing=bool(cfg.checkpoint_every))


@hydra.main(version_base="1.3", config_path=CONF_DIR, config_name="train")
def hydra_main(cfg: DictConfig) -> dict:
    from .runs import run
    from .settings import problems

    from .console import quiet

    quiet(bool(cfg.get("verbose")))  # a job may be its own process (joblib, SLURM)
    hc = HydraConfig.get()
    bad = problems(cfg)  # a sweep's jobs were checked by the sweeper, before any started
    if bad:
        print("\n".join(f"error: {line}" for line in bad), file=sys.stderr)
        sys.exit(2)
    rec = run(cfg, Path(hc.runtime.output_dir))
    if hc.mode != RunMode.MULTIRUN and rec["status"] in ("failed", "diverged"):
        print(f"error: {rec['message']}", file=sys.stderr)
        sys.exit(1)
    if "optuna" in str(OmegaConf.select(hc, "sweeper._target_") or ""):
        return objective(rec)  # a search's sweeper reads one number per trial
    return rec


def objective(rec: dict) -> float:
    """A trial's value for a search: the run's primary metric, NaN (a failed trial) where the
    run did not finish."""
    value = rec.get("metrics", {}).get(rec.get("primary_metric"))
    return float(value) if rec["status"] == "ok" and value is not None else float("nan")


def before_single_run(argv: list[str]) -> None:
    """A single run's settings, checked before Hydra creates anything; a finished run of another
    config in its directory set aside before Hydra opens its log there."""
    from hydra import compose, initialize_config_dir

    from .runs import prepare
    from .settings import problems

    overrides = [a for a in argv if "=" in a and not a.startswith("-")]
    try:
        with initialize_config_dir(config_dir=CONF_DIR, version_base="1.3"):
            cfg = compose("train", overrides=overrides, return_hydra_config=True)
    except Exception:  # noqa: BLE001 - a malformed override: Hydra says so in its own words
        return
    run_dir = Path(cfg.hydra.run.dir)
    with open_dict(cfg):
        del cfg["hydra"]
    bad = problems(cfg)
    if bad:
        print("\n".join(f"error: {line}" for line in bad), file=sys.stderr)
        sys.exit(2)
    prepare(run_dir, OmegaConf.to_container(cfg, resolve=True))


def main() -> None:
    from hydra_plugins.harness_sweeper import harness_sweeper as sweeper

    from .runs import sweep_summary

    from .console import quiet, verbose_from

    argv, verbose = verbose_from(sys.argv[1:])
    sys.argv[1:] = argv
    check_choices(CONF_DIR, argv)  # before quiet(): a bad choice exits before torch is imported
    quiet(verbose)
    if not {"-m", "--multirun"} & set(argv) and not any(a.startswith("-") for a in argv):
        before_single_run(argv)
    try:
        hydra_main()
    except KeyboardInterrupt as e:  # the run has its record and said how to resume
        print(f"error: {e}" if str(e) else "interrupted", file=sys.stderr)
        sys.exit(130)
    if sweeper.LAST_SWEEP:  # an attribute read: Hydra's plugin scan may re-execute the module
        text, failed = sweep_summary(sweeper.LAST_SWEEP)
        # the report callback's one-line error, if it could not write (read, not imported)
        report_error = getattr(sys.modules.get("harness.report"), "LAST_REPORT_ERROR", None)
        print(text + ("\nreport: not written (the error above); the runs are intact"
                      if report_error else ""))
        sys.exit(1 if failed or report_error else 0)


if __name__ == "__main__":
    main()
