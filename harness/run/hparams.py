"""TensorBoard for a run: its own log folder, and one HParams row that says how it ended.

The folder is ``<log root>/<study>/<model>/<scaling>/<head>/seed<N>-<config key>-<dir>`` (the
study is the logger's name, the rest its version; ``<dir>`` names the run directory): two
configs that can give different numbers or curves never share a folder, nor do two run
directories, and a re-run in the same directory (reuse, resume) keeps its own. A resumed run
appends to it; a run that starts from step 0 first removes the events an earlier start in the
same directory left there (a failed or interrupted attempt without a checkpoint), so no curve
is drawn twice.

A run's final metrics go to ``<family>/final/<metric>``, its primary metric's to
``<family>/primary/<metric>``: one card per family, on its own scale (SWD near 1000, mIoU
below 1 and a style loss near 2 once shared one axis).

The HParams row is written once the run's record is settled, for every status, so the table
lists failed and skipped runs too. Its metric columns are the same for every run of every
family (each family's primary first, then each family's declared ``hparam_metrics``), so the
table never depends on which run TensorBoard happens to read first; a run carries the final
scalars of its own family only, so other families' columns are empty, never NaN.
"""
from __future__ import annotations

import hashlib
import logging
import math
from pathlib import Path

from omegaconf import DictConfig

from harness.models import families

log = logging.getLogger("harness")
HPARAMS = ("study", "family", "model", "scaling", "head", "seed", "steps", "status",
           "range_mismatch", "primary")


def log_version(cfg: DictConfig, key: str, run_dir: Path) -> str:
    where = hashlib.sha1(str(Path(run_dir).resolve()).encode()).hexdigest()[:4]
    return f"{cfg.model.name}/{cfg.scaling.name}/{cfg.head.name}/seed{cfg.seed}-{key}-{where}"


def make_logger(cfg: DictConfig, key: str, run_dir: Path, fresh: bool = True):
    """The configured logger in the run's own folder, or None for ``logger=none``; ``fresh``
    (a run from step 0) clears events an earlier start of this config left there."""
    from hydra.utils import instantiate

    if not cfg.logger:
        return None
    logger = instantiate(cfg.logger, version=log_version(cfg, key, run_dir))
    stale = sorted(Path(logger.log_dir).glob("events.out.tfevents.*")) if fresh else []
    if stale:
        log.warning("replacing %d TensorBoard event file(s) of an earlier start of this run "
                    "in %s", len(stale), logger.log_dir)
        for f in stale:
            f.unlink()
    return logger


def primary_tag(family: str, metric: str) -> str:
    return f"{family}/primary/{metric}"


def metric_columns() -> list[str]:
    """Every family's HParams columns: the primaries first, then the rest."""
    found = sorted(families().items())
    return ([primary_tag(name, cls.primary[0]) for name, cls in found]
            + [f"{name}/final/{m}" for name, cls in found for m in cls.hparam_metrics])


def log_record(logger, rec: dict) -> None:
    """Final scalars and the HParams row of a finished record; closes the logger."""
    from pytorch_lightning.loggers import TensorBoardLogger
    from torch.utils.tensorboard.summary import hparams

    if logger is None:
        return
    metrics, family, step = rec.get("metrics") or {}, rec.get("family"), rec.get("steps", 0)
    primary = rec.get("primary_metric")  # its own card: <family>/primary/<metric>
    final = {primary_tag(family, k) if k == primary else f"{family}/final/{k}": v
             for k, v in metrics.items()}
    logger.log_metrics({k: v for k, v in final.items()
                        if isinstance(v, (int, float)) and math.isfinite(v)}, step=step)
    if isinstance(logger, TensorBoardLogger):
        better = {"min": "lower", "max": "higher"}.get(rec.get("primary_direction"), "?")
        params = {**{k: str(rec.get(k)) for k in HPARAMS},
                  "primary": f"{rec.get('primary_metric')} ({better} is better)"}
        writer = logger.experiment._get_file_writer()  # as Lightning does: reopens after close
        for summary in hparams(params, dict.fromkeys(metric_columns(), 0.0)):
            writer.add_summary(summary)
    logger.finalize("success" if rec["status"] == "ok" else rec["status"])
