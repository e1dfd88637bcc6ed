"""A run's value on a verdict window: the mean of its last few evaluations, not one snapshot.

A GAN's metric moves from one evaluation to the next by as much as two pairings differ (a seed
of the long digit study read +20 at its last evaluation and -5.8 three evaluations before), so
a verdict read off the final evaluation alone can turn on one seed's last wobble. A study names
its window (``window: {gan: 3}``: the mean of the last 3 evaluations), and the report computes
every paired difference on it and on the last evaluation beside it.

``at`` reads a run as it was at an earlier step: the window ending at its last evaluation at or
before ``at``. A same-seed run sees the same batches at any budget, so a 12000-step run read at
step 3000 is the 3000-step run of that seed.
"""
from __future__ import annotations

import math
from pathlib import Path

from harness.core.history import HISTORY, read_history
from harness.report.cells import finite


def study_window(study: dict, family: str) -> int:
    """The family's verdict window in evaluations (``window`` in the study file); 1, the last
    evaluation alone, where the study names none."""
    return int((study.get("window") or {}).get(family, 1))


def history_of(record: dict, cache: dict | None = None) -> list[dict]:
    """An ok run's history rows by step ([] for any other run, or none kept); ``cache``: run
    folder -> rows, so a report reads each file once."""
    if record.get("status") != "ok" or not record.get("run_dir"):
        return []
    key = record["run_dir"]
    if cache is not None and key in cache:
        return cache[key]
    rows = sorted(read_history(Path(key) / HISTORY), key=lambda h: h["step"])
    if cache is not None:
        cache[key] = rows
    return rows


def window_value(rows: list[dict], metric: str, window: int, at: int | None = None,
                 steps: int | None = None) -> float:
    """The mean of ``metric`` over the last ``window`` evaluations with a finite value, at or
    before step ``at`` (all of them where None). NaN where there are fewer than ``window`` of
    them, or where ``at`` is past the run's own ``steps`` (it was never there)."""
    if at is not None and steps is not None and at > steps:
        return math.nan
    values = [h[metric] for h in rows if finite(h.get(metric))
              and (at is None or h["step"] <= at)]
    if len(values) < window:
        return math.nan
    return float(sum(values[-window:]) / window)


def per_seed(runs: list[dict], metric: str, window: int = 1, at: int | None = None,
             cache: dict | None = None) -> dict[int, float]:
    """seed -> the metric of that seed's ok run on the window (``window_value``). The last
    evaluation of a run read at its end is its final metric, which a run without a history
    (``eval_every=0``) still has."""
    out = {}
    for r in runs:
        if r.get("status") != "ok":
            continue
        final = (r.get("metrics") or {}).get(metric)
        if window == 1 and at is None and finite(final):
            out[int(r["seed"])] = float(final)
            continue
        value = window_value(history_of(r, cache), metric, window, at, r.get("steps"))
        if finite(value):
            out[int(r["seed"])] = value
    return out


def window_words(window: int, at: int | None = None) -> str:
    """E.g. "the mean of the last 3 evaluations (to step 3000)"."""
    what = "the last evaluation" if window == 1 else f"the mean of the last {window} evaluations"
    return what + (f" (to step {at})" if at is not None else "")
