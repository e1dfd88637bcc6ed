"""Entry point: one combination per call, a sweep with ``-m``.

    python -m harness.train model=gan scaling=raw head=identity
    python -m harness.train -m scaling=raw,unit,symmetric head=identity,tanh,tanh_fit
    python -m harness.train -m experiment=raw_pixel_gan

Every run ends with a ``run.json`` whatever happens, so a failed or diverged run never stops a
sweep; a single run that fails prints one line and exits non-zero.
"""
from __future__ import annotations

import logging
import math
import os
import shutil
import sys
import time
import traceback
from datetime import datetime
from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig, OmegaConf

from .choices import check_choices
from .record import (HPARAM_METRICS, PRIMARY, STATUSES, code_commit, read_record, same_config,
                     write_json)

log = logging.getLogger("harness")
CONF_DIR = str(Path(__file__).resolve().parent.parent / "conf")
CKPT_DIR, RUNNING = "checkpoints", "running.json"  # removed once a run has its record


def job_threads(cfg: DictConfig) -> int:
    """``threads``, or the machine's cores shared evenly among the launcher's parallel jobs."""
    if cfg.threads:
        return int(cfg.threads)
    cores = os.cpu_count() or 1
    n_jobs = OmegaConf.select(HydraConfig.get(), "launcher.n_jobs") if HydraConfig.initialized() else None
    if not n_jobs:
        return cores
    jobs = n_jobs if n_jobs > 0 else max(1, cores + 1 + n_jobs)  # joblib: -1 = all cores
    return max(1, cores // jobs)


def callbacks(cfg: DictConfig, run_dir: Path) -> list:
    """The configured callbacks, plus epoch-end checkpoints when ``checkpoint_every`` is set."""
    from hydra.utils import instantiate
    from pytorch_lightning.callbacks import ModelCheckpoint

    out = [instantiate(c) for name, c in (cfg.callbacks or {}).items()
           if c and (name != "progress" or cfg.trainer.enable_progress_bar)]
    if cfg.checkpoint_every:
        out.append(ModelCheckpoint(dirpath=run_dir / CKPT_DIR, filename="last", save_top_k=1,
                                   enable_version_counter=False, every_n_epochs=1))
    return out


def build(node, **kwargs):
    """``instantiate``, but re-raising the object's own error (a one-line ``DataError``, a
    ``Skipped``) instead of Hydra's wrapper around it."""
    from hydra.errors import InstantiationException
    from hydra.utils import instantiate

    try:
        return instantiate(node, **kwargs)
    except InstantiationException as e:
        raise (e.__cause__ or e) from None


def train(cfg: DictConfig, run_dir: Path, resume_from: Path | None = None,
          mismatch: bool = False) -> dict[str, float]:
    """Train one combination and return its final metrics; writes sample PNGs to ``run_dir``."""
    import pytorch_lightning as pl
    import torch
    from hydra.utils import instantiate
    from torchvision.io import write_png

    pl.seed_everything(cfg.seed, workers=True, verbose=False)
    torch.set_num_threads(job_threads(cfg))
    model = build(cfg.model.module, scaling=cfg.scaling.name, head=cfg.head.name,
                  channels=cfg.data.channels)
    if cfg.channels_last:
        model = model.to(memory_format=torch.channels_last)
    data = build(cfg.data, steps=cfg.steps, seed=cfg.seed, chunk=cfg.checkpoint_every)
    data.setup()
    logger = instantiate(cfg.logger) if cfg.logger else False
    trainer = instantiate(cfg.trainer, logger=logger, callbacks=callbacks(cfg, run_dir),
                          max_epochs=data.epochs, reload_dataloaders_every_n_epochs=1,
                          enable_checkpointing=bool(cfg.checkpoint_every))
    trainer.fit(model, datamodule=data, ckpt_path=resume_from)
    metrics = {**model.initial_metrics, **model.evaluate(log_step=cfg.steps)}
    for name, grid in model.sample_grids().items():
        write_png(grid, str(run_dir / f"samples_{name}.png"))
    if logger:
        params = {k: str(OmegaConf.select(cfg, k)) for k in
                  ("study", "model.name", "scaling.name", "head.name", "seed", "steps")}
        params["range_mismatch"] = str(mismatch)
        logger.log_hyperparams(params, {f"final/{k}": metrics.get(k, math.nan)
                                        for k in HPARAM_METRICS})
        logger.finalize("success")
    return metrics


def range_mismatch_of(cfg: DictConfig) -> bool:
    """Whether the head cannot reach the scaling's pixel interval; false for a family whose
    head acts on something else (segmentation's class scores)."""
    from .pixels import get_head, make_scaling, range_mismatch

    if not cfg.model.get("pixel_output", True):
        return False
    return range_mismatch(get_head(cfg.head.name), make_scaling(cfg.scaling.name, cfg.data.channels))


def progress_line(rec: dict, run_dir: Path, reused: bool = False) -> str:
    """``[7/27] gan raw identity seed=1 ok swd=123.4`` (model, scaling, head) and where the
    run's files are."""
    where = ""
    if HydraConfig.initialized() and HydraConfig.get().mode == RunMode.MULTIRUN:
        where = f"[{HydraConfig.get().job.num + 1}/{os.environ.get('HARNESS_SWEEP_TOTAL', '?')}] "
    metric = PRIMARY.get(rec["family"], ("", ""))[0]
    value = rec["metrics"].get(metric)
    shown = f" {metric}={value:.4g}" if isinstance(value, (int, float)) else ""
    note = " (already done)" if reused else (f": {rec['message']}" if rec["message"] else "")
    return (f"{where}{rec['model']} {rec['scaling']} {rec['head']} seed={rec['seed']} "
            f"{rec['status']}{shown}{note}  -> {run_dir}")


def run(cfg: DictConfig, run_dir: Path) -> dict:
    """Train and record; never raises, so the sweep goes on. A finished ``ok`` run of the
    identical config is reused, not re-run."""
    from .models.base import Diverged, Skipped

    config = OmegaConf.to_container(cfg, resolve=True)
    previous = read_record(run_dir / "run.json")
    if same_config(previous, config):
        log.info(progress_line(previous, run_dir, reused=True))
        return previous
    if previous and previous.get("status") == "ok":
        set_aside(run_dir, previous)
    run_dir.mkdir(parents=True, exist_ok=True)
    resume_from = checkpoint_to_resume(run_dir, config)
    write_json(run_dir / RUNNING, {"config": config})
    started = time.time()
    rec = {"status": "ok", "message": "", "study": cfg.study, "family": cfg.model.family,
           "model": cfg.model.name, "scaling": cfg.scaling.name, "head": cfg.head.name,
           "seed": cfg.seed, "range_mismatch": None, "metrics": {},
           "started": datetime.now().isoformat(timespec="seconds"), "commit": code_commit(),
           "command": "python -m harness.train " + " ".join(sys.argv[1:]),
           "overrides": " ".join(HydraConfig.get().overrides.task) if HydraConfig.initialized() else ""}
    try:
        rec["range_mismatch"] = range_mismatch_of(cfg)
        rec["threads"] = job_threads(cfg)
        rec["metrics"] = train(cfg, run_dir, resume_from, rec["range_mismatch"])
        rec["resumed_from"] = str(resume_from) if resume_from else None
    except Skipped as e:
        rec.update(status="skipped", message=str(e))
    except Diverged as e:
        rec.update(status="diverged", message=str(e))
    except Exception as e:  # noqa: BLE001 - any failure is recorded, never lost
        rec.update(status="failed", message=f"{type(e).__name__}: {e}")
        (run_dir / "error.log").write_text(traceback.format_exc())
    rec["wall_time_s"] = round(time.time() - started, 2)
    rec["config"] = config
    write_json(run_dir / "run.json", rec)
    if rec["status"] != "failed":  # a failed run keeps its checkpoint: fix the cause, re-run
        shutil.rmtree(run_dir / CKPT_DIR, ignore_errors=True)
    (run_dir / RUNNING).unlink(missing_ok=True)
    log.info(progress_line(rec, run_dir))
    return rec


def checkpoint_to_resume(run_dir: Path, config: dict) -> Path | None:
    """The last checkpoint of an interrupted run of exactly this config, if there is one."""
    ckpt = run_dir / CKPT_DIR / "last.ckpt"
    running = read_record(run_dir / RUNNING)
    return ckpt if ckpt.is_file() and same_config({"status": "ok", **(running or {})}, config) else None


def set_aside(run_dir: Path, previous: dict) -> None:
    """Move a finished run of another config out of the way instead of overwriting it."""
    stamp = str(previous.get("started", "earlier")).replace(":", "-")
    keep = run_dir / f"superseded-{stamp}"
    keep.mkdir(parents=True, exist_ok=True)
    for f in run_dir.iterdir():
        if f.is_file():
            f.rename(keep / ("record.json" if f.name == "run.json" else f.name))
    log.warning("config changed since the finished run in %s: kept it in %s", run_dir, keep)


@hydra.main(version_base="1.3", config_path=CONF_DIR, config_name="train")
def hydra_main(cfg: DictConfig) -> dict:
    hc = HydraConfig.get()
    rec = run(cfg, Path(hc.runtime.output_dir))
    if hc.mode != RunMode.MULTIRUN and rec["status"] in ("failed", "diverged"):
        print(f"error: {rec['message']}", file=sys.stderr)
        sys.exit(1)
    return rec


def sweep_summary(records: list[dict]) -> tuple[str, bool]:
    """One summary of a sweep's statuses, every unsuccessful run named with its message."""
    counts = {s: sum(r.get("status") == s for r in records) for s in STATUSES}
    lines = [f"sweep finished: {len(records)} runs: "
             + ", ".join(f"{n} {s}" for s, n in counts.items() if n)]
    for r in records:
        if r.get("status") != "ok":
            who = " ".join(f"{k}={r.get(k)}" for k in ("model", "scaling", "head", "seed") if k in r)
            lines.append(f"  {r['status']}: {who} [{r.get('overrides', '')}]: {r.get('message', '')}")
    return "\n".join(lines), counts["failed"] > 0


def main() -> None:
    from hydra_plugins.harness_sweeper import harness_sweeper as sweeper

    check_choices(CONF_DIR, sys.argv[1:])
    hydra_main()
    if sweeper.LAST_SWEEP:  # an attribute read: Hydra's plugin scan may re-execute the module
        text, failed = sweep_summary(sweeper.LAST_SWEEP)
        print(text)
        sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
