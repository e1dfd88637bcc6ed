"""Steps to quality: the first evaluated step at which a run's primary metric reaches the
study's target (``target`` in its file, per family), read from the run's ``history.csv``.

A final value says where a run ended; this says how soon it got somewhere, which is what
tells "does not train" from "trains slowly" in one number. A run that never reached the target
reads ``>N``, N its last evaluated step: it says how far it was watched, never that it would
not have got there later.
"""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from harness.core.history import HISTORY, read_history
from harness.report.cells import finite


STILL = 0.1  # a last interval that made more than this part of the gain: not flattened
GAINED = 0.05  # a gain below this part of the untrained value is no gain to have a last part of


def targets(study: dict) -> dict[str, float]:
    """family -> the primary metric's target value (``study_settings``' ``target``)."""
    return {str(f): float(v) for f, v in (study.get("target") or {}).items()}


def reached(value: float, target: float, direction: str) -> bool:
    return value <= target if direction == "min" else value >= target


def _primary_history(record: dict, metric: str) -> list[dict]:
    """An ok run's history rows with a finite ``metric``, by step."""
    if record.get("status") != "ok" or not record.get("run_dir"):
        return []
    rows = read_history(Path(record["run_dir"]) / HISTORY)
    return sorted((h for h in rows if finite(h.get(metric))), key=lambda h: h["step"])


def _metric(record: dict, metric: str | None, direction: str | None) -> tuple[str, str]:
    """The given metric and direction, else the record's declared primary ones."""
    return (metric or record.get("primary_metric"),
            direction or record.get("primary_direction") or "min")


def run_steps(record: dict, target: float, metric: str | None = None,
              direction: str | None = None) -> tuple[float, float]:
    """(first step reaching ``target``, or inf; last evaluated step, or NaN without history)
    of one ok run's ``metric`` (default: its primary one)."""
    metric, direction = _metric(record, metric, direction)
    return _steps(_primary_history(record, metric), metric, direction, target)


def last_gain(record: dict, metric: str | None = None, direction: str | None = None) -> float:
    """The part of a run's whole improvement (untrained to last evaluation) made in its last
    evaluation interval; NaN below three evaluations or without an improvement of at least
    ``GAINED`` of the untrained value (a curve that barely moved has not "still improved"). A
    curve that has flattened gives about 0; one still climbing, a large part."""
    metric, direction = _metric(record, metric, direction)
    return _gain(_primary_history(record, metric), metric, direction)


def _steps(rows: list[dict], metric: str, direction: str, target: float
           ) -> tuple[float, float]:
    if not rows:
        return math.nan, math.nan
    first = next((h["step"] for h in rows if reached(h[metric], target, direction)), math.inf)
    return first, rows[-1]["step"]


def _gain(rows: list[dict], metric: str, direction: str) -> float:
    if len(rows) < 3:
        return math.nan
    sign = 1 if direction == "min" else -1
    total = sign * (rows[0][metric] - rows[-1][metric])
    if not total > GAINED * abs(rows[0][metric]):
        return math.nan
    return sign * (rows[-2][metric] - rows[-1][metric]) / total


def steps_text(first: float, last: float) -> str:
    """``150``, ``>300`` (never within 300 evaluated steps), or "" (nothing to say)."""
    if not finite(last):
        return ""
    return f">{last:.0f}" if math.isinf(first) else f"{first:.0f}"


def add_quality(rows: list[dict], cells: dict[tuple, list[dict]], goal: dict[str, float]
                ) -> None:
    """Each summary row (in the order of ``cells``) gets, for its ``primary`` metric,
    ``last_step`` (the last step its ok seeds evaluated), ``last_gain`` (median over seeds of
    ``last_gain``) and ``still_improving`` (it is above ``STILL``), and in a family with a
    target: ``target``, ``quality_reached`` (seeds that reached it, of those with a history)
    and ``steps_to_quality``, the evaluated step by which half of those seeds had reached it
    (the upper median: a seed that never did counts as later than all), ``>N`` where half
    never did."""
    for row, runs in zip(rows, cells.values()):
        metric, direction = row["primary"], row["direction"]
        target = goal.get(row["family"], math.nan)
        histories = [_primary_history(r, metric) for r in runs]  # each file read once
        pairs = [(f, last) for f, last in (_steps(h, metric, direction, target)
                                           for h in histories) if finite(last)]
        row["last_step"] = max((last for _, last in pairs), default=math.nan)
        gains = [g for g in (_gain(h, metric, direction) for h in histories) if finite(g)]
        row["last_gain"] = float(np.median(gains)) if gains else math.nan
        row["still_improving"] = bool(gains) and row["last_gain"] > STILL
        if row["family"] not in goal:
            continue
        row["target"] = target
        firsts = sorted(f for f, _ in pairs)
        n = len(firsts)
        row["quality_reached"] = f"{sum(map(math.isfinite, firsts))}/{n}" if n else ""
        row["steps_to_quality"] = steps_text(firsts[n // 2], row["last_step"]) if n else ""
