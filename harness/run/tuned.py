"""Settings found by a search, kept where a comparison study reads them.

A search (``experiments/seg_lr_search.yaml``: Hydra's Optuna sweeper over one learning rate, on
a validation split carved from the training images) ends with Optuna's
``optimization_results.yaml`` in its sweep folder; ``BestParams`` copies the best value into
one small YAML file, under a key that names what was searched for (the scaling), and a study
reads it back with the ``tuned`` resolver:

    model.module.lr: ${tuned:results/seg_lr_search/best.yaml,raw,model.module.lr}
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig, OmegaConf


class BestParams(Callback):
    """After a search: ``<file>[<key>] = {<param>: best value, ..., value: its metric}``."""

    def __init__(self, file: str, key: str) -> None:
        self.file, self.key = Path(file), str(key)

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        found = Path(config.hydra.sweep.dir) / "optimization_results.yaml"
        if not found.exists():  # not an Optuna sweep, or it stopped before its end
            return
        best = OmegaConf.load(found)
        kept = OmegaConf.to_container(OmegaConf.load(self.file)) if self.file.exists() else {}
        kept[self.key] = {**OmegaConf.to_container(best.best_params),
                          "value": float(best.best_value), "from": str(found.parent)}
        self.file.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.file.with_name(f".{self.file.name}.{os.getpid()}.tmp")
        OmegaConf.save(OmegaConf.create(kept), tmp)
        os.replace(tmp, self.file)


def tuned(file: str, key: str, param: str) -> Any:
    """The searched ``param`` for ``key``: one clear error where the search has not run."""
    path = Path(file)
    kept = OmegaConf.to_container(OmegaConf.load(path)) if path.exists() else {}
    value = (kept.get(key) or {}).get(param)  # param names hold dots: not a config path
    if value is None:
        raise ValueError(f"no searched {param} for {key!r} in {file}: run the search first "
                         f"(experiments/seg_lr_search.yaml, scaling={key})")
    return value
