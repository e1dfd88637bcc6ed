"""A cell's numbers and its rank: the median and interquartile range of every metric over the
cell's ok runs, its status counts, and its place in its family on the family's primary metric.

Apart from the cells themselves (``harness.report.cells``), so the statistics can be checked on
hand-made records without reading a sweep. A rank orders; only the paired difference to the
reference (``harness.report.paired``) says whether two pairings differ.
"""
from __future__ import annotations

import math
from collections import Counter

import numpy as np

from harness.core.record import STATUSES
from harness.report.cells import by_cell, cell_fields, combo_of, finite, metrics_of
from harness.report.rows import Row


def median_iqr(values) -> tuple[float, float, float]:
    """(median, 25th, 75th percentile) of the finite values (linear interpolation, numpy's
    default); NaN for none. A seed's heavy tail moves neither much, and they never leave the
    metric's range, unlike a t interval on three seeds."""
    v = np.array([x for x in values if finite(x)], dtype=float)
    if v.size == 0:
        return math.nan, math.nan, math.nan
    q25, median, q75 = np.percentile(v, [25, 50, 75])
    return float(median), float(q25), float(q75)


STATS = ("median", "q25", "q75")  # a summary row's columns per metric: <metric>_<stat>


def cell_rows(records: list[dict], cells: dict[tuple, list[dict]] | None = None,
              primary: dict | None = None) -> list[dict]:
    """One row per cell (``by_cell``): run and status counts, each metric's median and
    interquartile range, the family's primary metric and its rank.

    Metrics are summarised over the finite values of ``ok`` runs only, so a diverged run cannot
    drag a median and a failed one cannot fake a value; the status counts show what was left
    out. Columns: the combination, the setting columns, ``n``, the status counts,
    ``range_mismatch``, ``<metric>_median``, ``<metric>_q25`` and ``<metric>_q75``
    (``median_iqr``), plus per family the ``primary`` metric, its ``direction`` and ``rank``,
    and ``units``. ``cells``: ``by_cell(records)``, where the caller has it. ``primary`` maps a family to ``(metric, "min" | "max")`` and overrides what
    the records declare. ``harness.report.summary`` adds the comparisons to the study's
    reference and target.
    """
    cells = by_cell(records) if cells is None else cells
    rows = [_summarise_cell(cell, runs) for cell, runs in cells.items()]
    choices = {**declared_primary(records), **(primary or {})}
    units: dict[str, str] = {}
    for r in records:  # the first record of the family that declares them
        if r.get("primary_units"):
            units.setdefault(combo_of(r)[0], str(r["primary_units"]))
    for family in dict.fromkeys(r["family"] for r in rows):
        frows = [r for r in rows if r["family"] == family]
        _rank(frows, *choices.get(family, (None, "min")))
        for r in frows:
            r["units"] = units.get(family, "")
    return rows


def declared_primary(records: list[dict]) -> dict[str, tuple[str, str]]:
    """family -> (metric, direction) from the first of its records that declares a metric."""
    found: dict[str, tuple[str, str]] = {}
    for r in records:
        family = combo_of(r)[0]
        if family not in found and r.get("primary_metric"):
            found[family] = (str(r["primary_metric"]), str(r.get("primary_direction") or "min"))
    return found


def _summarise_cell(cell: tuple, runs: list[dict]) -> Row:
    statuses = [str(r.get("status", "failed")) for r in runs]
    ok = [r for r in runs if r.get("status") == "ok"]
    stats = {}
    for name in dict.fromkeys(k for r in runs for k in metrics_of(r)):
        values = median_iqr(metrics_of(r).get(name) for r in ok)
        stats.update({f"{name}_{s}": v for s, v in zip(STATS, values)})
    added = {"first_error": first_error(runs)}
    codes = codes_of(runs)
    if len(codes) > 1:
        added["code_mix"] = ", ".join(f"{code} ({n} run{'' if n == 1 else 's'})"
                                      for code, n in codes.items())
    return Row(cell_fields(cell), n=len(runs),
               statuses={s: statuses.count(s) for s in dict.fromkeys([*STATUSES, *statuses])},
               range_mismatch=any(bool(r.get("range_mismatch")) for r in runs), stats=stats,
               added=added)


def code_of(record: dict) -> str:
    """The code that made a record: ``<commit>/<code_digest>`` (the digest of the harness's
    sources, beside the commit since a dirty tree's commit does not say its code), each
    ``unknown`` where the record lacks it."""
    return f"{record.get('commit') or 'unknown'}/{record.get('code_digest') or 'unknown'}"


def codes_of(runs: list[dict]) -> dict[str, int]:
    """The codes of a cell's records that ended (an unreadable run.json or a run still going or
    killed says none), each with its count: more than one and the cell pools other code."""
    return Counter(code_of(r) for r in runs if r.get("status") in STATUSES and r.get("config"))


def first_error(runs: list[dict]) -> str:
    """The first line of the first message of a run that did not end ok, else ""."""
    for r in runs:
        message = str(r.get("message") or "").strip()
        if r.get("status") != "ok" and message:
            line = message.splitlines()[0]
            return line if len(line) <= 200 else line[:199] + "…"
    return ""


def metric_names(rows: list[dict]) -> list[str]:
    return list(dict.fromkeys(k[: -len("_median")] for r in rows for k in r
                              if k.endswith("_median") and f"{k[:-len('_median')]}_q25" in r))


def rerank(rows: list[dict], apart: list[dict]) -> None:
    """Rank ``rows`` again on their own primary metric, the ``apart`` ones unranked."""
    if rows:
        _rank(rows, rows[0]["primary"], rows[0]["direction"])
    for r in apart:
        r["rank"] = None


def _rank(rows: list[dict], metric: str | None, direction: str) -> None:
    """Rank one family's rows on the median of its primary metric (1: best). A rank orders;
    it does not separate: only the paired difference to the reference says whether two
    pairings differ (``harness.report.paired``). Rows without a finite median get no rank."""
    names = metric_names(rows)
    if metric not in names:  # the family's records do not report it: fall back to the first one
        metric = names[0] if names else metric  # no numbers at all: still the declared one
    sign = -1 if direction == "max" else 1
    ranked = sorted((r for r in rows if finite(r.get(f"{metric}_median"))),
                    key=lambda r: sign * r[f"{metric}_median"])
    for r in rows:
        r["primary"], r["direction"], r["rank"] = metric, direction, None
    for i, r in enumerate(ranked, 1):
        r["rank"] = i
