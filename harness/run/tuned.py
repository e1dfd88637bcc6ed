"""Settings found by a grid search, kept where a comparison study reads them.

A search (``experiments/seg_lr_search.yaml``: a fixed log grid of learning rates, a few seeds
each, on a validation split carved from the training images) ends with ``BestGrid``: per key (a
scaling and a head, ``raw/identity``) every value's score, the median over seeds of the primary
metric on the study's verdict window (``harness.report.windows``), and the best value, in one
small YAML file; beside it ``grid.md``, the same as a table, and ``grid.png``. A study reads the
best back with the ``tuned`` resolver:

    model.module.lr: ${tuned:results/seg_lr_search/best.yaml,raw/identity,model.module.lr}

A grid, not a sampler: a sampler's few draws can leave part of the range unexplored (8 seeded
TPE draws never went below 1.12e-3 of 1e-4..3e-2), and one run per value cannot tell values
apart when neighbouring rates differ by less than one run's noise.
"""
from __future__ import annotations

import math
import os
import statistics
from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig, OmegaConf

# the ``tuned`` resolver is registered in every process: the report's modules (torch) are
# imported where a search has ended, not here


def finite(x) -> bool:
    return isinstance(x, (int, float)) and math.isfinite(x)


def grid_scores(records: list[dict], param: str, keys: list[str], window: int
                ) -> dict[str, dict[float, list[float]]]:
    """key ("raw/identity") -> value of ``param`` -> each seed's score, lowest first: the
    primary metric of ok runs on the last ``window`` evaluations."""
    from harness.report.windows import per_seed

    cells: dict[tuple, list[dict]] = {}
    for r in records:
        config = r.get("config") or {}
        value = OmegaConf.select(OmegaConf.create(config), param)
        if r.get("status") == "ok" and value is not None:
            cells.setdefault(("/".join(str(r.get(k)) for k in keys), float(value)), []).append(r)
    out: dict[str, dict[float, list[float]]] = {}
    for (key, value), runs in sorted(cells.items()):
        scores = per_seed(runs, runs[0]["primary_metric"], window).values()
        out.setdefault(key, {})[value] = sorted(x for x in scores if finite(x))
    return out


def median(seeds: list[float]) -> float:
    return statistics.median(seeds) if seeds else math.nan


def best_of(scores: dict[float, list[float]], direction: str) -> float:
    """The value whose median score over seeds is best (the smaller value on a tie)."""
    sign = -1 if direction == "max" else 1
    finite_ = {v: median(s) for v, s in scores.items() if s}
    return min(finite_, key=lambda v: (sign * finite_[v], v))


def grid_table(found: dict[str, dict], param: str, metric: str, window: int) -> str:
    """``grid.md``: a row per key, a column per value, the best in bold. Each cell gives the
    lowest and highest seed beside the median: where a neighbour's range overlaps the chosen
    value's, the seeds do not tell the two apart."""
    values = sorted({v for f in found.values() for v in f["scores"]})
    lines = [f"Median over seeds of {metric} on the mean of the last {window} evaluations, "
             f"[lowest, highest seed] (seeds), per {param}; **bold**: the value chosen.\n",
             "| key | " + " | ".join(f"{v:.2g}" for v in values) + " |",
             "|---|" + "---|" * len(values)]
    for key, f in found.items():
        cells = []
        for v in values:
            seeds = f["scores"].get(v, [])
            text = (f"{median(seeds):.3f} [{seeds[0]:.3f}, {seeds[-1]:.3f}] ({len(seeds)})"
                    if seeds else "–")
            cells.append(f"**{text}**" if v == f[param] else text)
        lines.append(f"| {key} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


class BestGrid(Callback):
    """After a grid sweep: ``<file>[<key>] = {<param>: best value, value: its score, scores:
    {value: score}}`` per key (a score: the median over seeds), and beside ``file`` the same as
    a table, ``grid.md``, and a figure with every seed, ``grid.png``."""

    def __init__(self, file: str, param: str, keys: list[str], window: int,
                 direction: str) -> None:
        self.file, self.param, self.keys = Path(file), param, list(keys)
        self.window, self.direction = int(window), direction

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        from harness.report.cells import load_records

        records = load_records(config.hydra.sweep.dir)
        scores = {k: s for k, s in grid_scores(records, self.param, self.keys,
                                               self.window).items() if any(s.values())}
        if not scores:
            return
        metric = next(r["primary_metric"] for r in records if r.get("primary_metric"))
        best = {key: best_of(s, self.direction) for key, s in scores.items()}
        found = {key: {self.param: best[key], "value": median(s[best[key]]),
                       "scores": {v: median(seeds) for v, seeds in s.items()}}
                 for key, s in scores.items()}
        kept = OmegaConf.to_container(OmegaConf.load(self.file)) if self.file.exists() else {}
        kept.update(found)
        self.file.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.file.with_name(f".{self.file.name}.{os.getpid()}.tmp")
        OmegaConf.save(OmegaConf.create(kept), tmp)
        os.replace(tmp, self.file)
        table = {k: {**found[k], "scores": scores[k]} for k in found}
        (self.file.parent / "grid.md").write_text(grid_table(table, self.param, metric,
                                                             self.window))
        from harness.report.grid import plot_grid  # matplotlib only where a search has ended

        plot_grid(table, self.param, metric, self.window, self.file.parent / "grid.png")


def tuned(file: str, key: str, param: str) -> Any:
    """The searched ``param`` for ``key``: one clear error where the search has not run."""
    path = Path(file)
    kept = OmegaConf.to_container(OmegaConf.load(path)) if path.exists() else {}
    value = (kept.get(key) or {}).get(param)  # param names hold dots: not a config path
    if value is None:
        raise ValueError(f"no searched {param} for {key!r} in {file}: run the search first "
                         f"(experiments/seg_lr_search.yaml)")
    return value
