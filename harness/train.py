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
from .record import write_json

log = logging.getLogger("harness")
CONF_DIR = str(Path(__file__).resolve().parent.parent / "conf")

# One flat key set for TensorBoard's HParams table: it drops columns when runs disagree.
HPARAM_METRICS = ("swd", "swd_init", "swd_real", "mean_gap", "std_gap", "out_of_range", "out_excess")


class Skipped(Exception):
    """The combination has no meaning for its family; recorded as ``skipped``."""


def train(cfg: DictConfig, run_dir: Path) -> dict[str, float]:
    """Train one combination and return its final metrics; writes sample PNGs to ``run_dir``."""
    import pytorch_lightning as pl
    import torch
    from hydra.utils import instantiate
    from torchvision.io import write_png

    from .data import ImageData

    pl.seed_everything(cfg.seed, workers=True, verbose=False)
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    data = ImageData(**cfg.data, steps=cfg.steps, seed=cfg.seed)
    data.setup()
    model = instantiate(cfg.model.module, scaling=cfg.scaling.name, head=cfg.head.name,
                        channels=cfg.data.channels)
    model.eval_real = data.eval_images
    logger = instantiate(cfg.logger) if cfg.logger else False
    trainer = instantiate(cfg.trainer, logger=logger)
    trainer.fit(model, datamodule=data)
    metrics = {**model.initial_metrics, **model.evaluate(log_step=cfg.steps)}
    decoded, stretched = model.sample_grids()
    write_png(decoded, str(run_dir / "samples_decoded.png"))
    write_png(stretched, str(run_dir / "samples_stretched.png"))
    if logger:
        params = {k: str(OmegaConf.select(cfg, k)) for k in
                  ("study", "model.name", "scaling.name", "head.name", "seed", "steps")}
        params["range_mismatch"] = str(range_mismatch_of(cfg))
        logger.log_hyperparams(params, {f"final/{k}": metrics.get(k, math.nan)
                                        for k in HPARAM_METRICS})
        logger.finalize("success")
    return metrics


def range_mismatch_of(cfg: DictConfig) -> bool:
    from .pixels import get_head, make_scaling, range_mismatch

    return range_mismatch(get_head(cfg.head.name), make_scaling(cfg.scaling.name, cfg.data.channels))


def run(cfg: DictConfig, run_dir: Path) -> dict:
    """Train and record; never raises, so the sweep goes on."""
    from .models.gan import Diverged

    run_dir.mkdir(parents=True, exist_ok=True)
    started = time.time()
    rec = {"status": "ok", "message": "", "study": cfg.study, "family": cfg.model.family,
           "model": cfg.model.name, "scaling": cfg.scaling.name, "head": cfg.head.name,
           "seed": cfg.seed, "range_mismatch": None, "metrics": {},
           "started": datetime.now().isoformat(timespec="seconds"),
           "command": "python -m harness.train " + " ".join(sys.argv[1:])}
    try:
        rec["range_mismatch"] = range_mismatch_of(cfg)
        rec["metrics"] = train(cfg, run_dir)
    except Skipped as e:
        rec.update(status="skipped", message=str(e))
    except Diverged as e:
        rec.update(status="diverged", message=str(e))
    except Exception as e:  # noqa: BLE001 - any failure is recorded, never lost
        rec.update(status="failed", message=f"{type(e).__name__}: {e}")
        (run_dir / "error.log").write_text(traceback.format_exc())
    rec["wall_time_s"] = round(time.time() - started, 2)
    rec["config"] = OmegaConf.to_container(cfg, resolve=True)
    write_json(run_dir / "run.json", rec)
    swd = rec["metrics"].get("swd")
    log.info("%s %s %s seed=%s %s%s  (%s)", rec["model"], rec["scaling"], rec["head"], rec["seed"],
             rec["status"], f" swd={swd:.2f}" if swd is not None else "", run_dir)
    return rec


@hydra.main(version_base="1.3", config_path=CONF_DIR, config_name="train")
def hydra_main(cfg: DictConfig) -> dict:
    hc = HydraConfig.get()
    rec = run(cfg, Path(hc.runtime.output_dir))
    if hc.mode != RunMode.MULTIRUN and rec["status"] in ("failed", "diverged"):
        print(f"error: {rec['message']}", file=sys.stderr)
        sys.exit(1)
    return rec


def main() -> None:
    check_choices(CONF_DIR, sys.argv[1:])
    hydra_main()


if __name__ == "__main__":
    main()
