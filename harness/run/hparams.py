"""TensorBoard for a run: its own log folder, its final scalars, and one HParams row that says
how it ended.

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
lists failed and skipped runs too. What the table opens on is TensorBoard's choice (2.21): its
backend serves the hyperparameters with ``differs`` set first, each group by name, whatever the
order written (``_sort_and_reduce_to_hparams_limit``, tensorboard/plugins/hparams/
backend_context.py); its dashboard ticks the first five of them and the first five metrics in
the order written (``_computeHParams``, ``_computeMetrics`` of tf-hparams-query-pane in
tensorboard/webfiles.zip's index.js), and heads a column with its ``display_name``. So
``AXES``, what a study varies and how a run ended, carry ``differs`` and open first (head,
scaling, seed, status, then ``family``, the first of the rest by name), and the metric columns
open on each family's primary, headed with its direction. The columns are read from the
family classes, the same for every run of every family: TensorBoard takes them from whichever
run it reads first. A run carries its own family's scalars only, so other families' cells stay
empty, never NaN or a made-up value.

Not Lightning's ``TensorBoardLogger.log_hyperparams(params, metrics)``: it logs every metric
column as a scalar of the run (a value in every other family's columns), and torch's
``hparams()`` it calls writes no ``differs`` and ends every session as a success. The row is
made of TensorBoard's own protos and written by a ``FileWriter`` of its own in the run's folder.
"""
from __future__ import annotations

import hashlib
import logging
import math
from pathlib import Path

from omegaconf import DictConfig

from harness.models import families

log = logging.getLogger("harness")
AXES = ("scaling", "head", "seed", "status")  # the table opens on these and on ``family``
OTHERS = ("family", "study", "model", "steps", "range_mismatch")
BETTER = {"min": "lower", "max": "higher"}
# a record's status -> TensorBoard's session status (the dashboard's status filter)
SESSION_STATUS = {"ok": "STATUS_SUCCESS", "failed": "STATUS_FAILURE",
                  "diverged": "STATUS_FAILURE"}  # skipped, interrupted: STATUS_UNKNOWN


def log_version(cfg: DictConfig, key: str, run_dir: Path) -> str:
    where = hashlib.sha1(str(Path(run_dir).resolve()).encode()).hexdigest()[:4]
    return f"{cfg.model.name}/{cfg.scaling.name}/{cfg.head.name}/seed{cfg.seed}-{key}-{where}"


def trial_id(version: str) -> str:
    """The HParams table's Trial ID: the run folder's ``<config key>-<dir>``, short enough for
    the table's fixed 10em column, where the whole folder is cut after its study and model (the
    seed, model, scaling and head are columns). The table lists rows in Trial ID order until a
    sort is chosen in its left pane: no longer grouped by family. Rows with one ID are merged
    into one: two run folders share it only for one config run from one directory under two
    studies, or from two directories whose 4 hex digits coincide (1 in 65536)."""
    return Path(version).name.partition("-")[2]


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


def metric_columns() -> dict[str, str]:
    """Every family's HParams columns, tag -> header: the primaries first, then the rest."""
    found = sorted(families().items())
    primaries = {primary_tag(name, cls.primary[0]):
                 f"{name} {cls.primary[0]} ({BETTER[cls.primary[1]]} is better)"
                 for name, cls in found}
    return {**primaries, **{f"{name}/final/{m}": "" for name, cls in found
                            for m in cls.hparam_metrics}}


def log_record(logger, rec: dict) -> None:
    """Final scalars and the HParams row of a finished record; closes the logger."""
    from pytorch_lightning.loggers import TensorBoardLogger

    if logger is None:
        return
    metrics, family = rec.get("metrics") or {}, rec.get("family")
    primary = rec.get("primary_metric")  # its own card: <family>/primary/<metric>
    final = {primary_tag(family, k) if k == primary else f"{family}/final/{k}": v
             for k, v in metrics.items()}
    logger.log_metrics({k: v for k, v in final.items()
                        if isinstance(v, (int, float)) and math.isfinite(v)},
                       step=rec.get("steps", 0))
    if isinstance(logger, TensorBoardLogger):
        write_row(logger.log_dir, rec)
    logger.finalize("success" if rec["status"] == "ok" else rec["status"])


def write_row(log_dir: str, rec: dict) -> None:
    """The experiment (columns), the session's hyperparameters and its end, in one event file."""
    from tensorboard.compat.proto.summary_pb2 import Summary
    from tensorboard.plugins.hparams import api_pb2, metadata
    from tensorboard.plugins.hparams.plugin_data_pb2 import (HParamsPluginData, SessionEndInfo,
                                                              SessionStartInfo)
    from torch.utils.tensorboard.writer import FileWriter

    experiment = api_pb2.Experiment(
        hparam_infos=[api_pb2.HParamInfo(name=k, type=api_pb2.DATA_TYPE_STRING, differs=k in AXES)
                      for k in AXES + OTHERS],
        metric_infos=[api_pb2.MetricInfo(name=api_pb2.MetricName(tag=tag), display_name=header)
                      for tag, header in metric_columns().items()])
    start = SessionStartInfo(group_name=trial_id(rec.get("log_version") or ""))
    for k in AXES + OTHERS:
        start.hparams[k].string_value = str(rec.get(k))
    end = SessionEndInfo(status=api_pb2.Status.Value(SESSION_STATUS.get(rec["status"],
                                                                        "STATUS_UNKNOWN")))
    writer = FileWriter(log_dir, filename_suffix=".hparams")
    try:
        for tag, data in ((metadata.EXPERIMENT_TAG, {"experiment": experiment}),
                          (metadata.SESSION_START_INFO_TAG, {"session_start_info": start}),
                          (metadata.SESSION_END_INFO_TAG, {"session_end_info": end})):
            meta = metadata.create_summary_metadata(HParamsPluginData(**data))
            writer.add_summary(Summary(value=[Summary.Value(tag=tag, metadata=meta)]))
    finally:
        writer.close()
