"""A sweep's run.json records -> one summary row per combination, ranked within its family.

The numbers of a report live here, apart from how they are drawn, so they can be checked
without writing a file. Design section 4: per (family, model, scaling, head) the mean and 95%
interval over seeds; failed, diverged and skipped runs are counted, never dropped. Each family
is ranked on the primary metric its records declare (``primary_metric``/``primary_direction``),
and scalings and heads are ordered as ``harness.pixels`` defines them.
"""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from harness import pixels
from harness.record import STATUSES, read_record

COMBO = ("family", "model", "scaling", "head")
IDENTITY = ("study", *COMBO, "seed")
# Student t 0.975 quantiles for df = 1..30 (no scipy needed); 1.96 beyond.
T975 = (12.7062, 4.3027, 3.1824, 2.7764, 2.5706, 2.4469, 2.3646, 2.3060, 2.2622, 2.2281,
        2.2010, 2.1788, 2.1604, 2.1448, 2.1314, 2.1199, 2.1098, 2.1009, 2.0930, 2.0860,
        2.0796, 2.0739, 2.0687, 2.0639, 2.0595, 2.0555, 2.0518, 2.0484, 2.0452, 2.0423)


# --------------------------------------------------------------------------- records


def load_records(sweep_dir) -> list[dict]:
    """Every run.json under ``sweep_dir`` (any depth), sorted, each with its ``run_dir``.

    An unreadable run.json (corrupt, or not JSON) becomes a ``failed`` record so it is
    counted rather than silently dropped.
    """
    root = Path(sweep_dir)
    if not root.is_dir():
        raise FileNotFoundError(f"sweep directory not found: {root}")
    return sorted((_read_run(p) for p in root.rglob("run.json")), key=_sort_key)


def _read_run(path: Path) -> dict:
    record = read_record(path) or {"status": "failed", "message": "unreadable run.json"}
    return {**record, "run_dir": str(path.parent)}


def _combo(record: dict) -> tuple[str, ...]:
    return tuple(str(record.get(k, "")) for k in COMBO)


def design_order(value: str, known) -> tuple[int, str]:
    """Sort key: position in ``known`` (e.g. ``pixels.HEADS``, whose key order is the design's),
    names it lacks after, alphabetically."""
    names = list(known)
    return (names.index(value) if value in names else len(names), value)


def head_order(head: str) -> tuple[int, str]:
    return design_order(head, pixels.HEADS)


def _sort_key(record: dict) -> tuple:
    family, model, scaling, head = _combo(record)
    seed = record.get("seed")
    return (family, model, design_order(scaling, pixels.SCALINGS), head_order(head),
            seed if isinstance(seed, (int, float)) else math.inf)


def by_combo(records: list[dict]) -> dict[tuple, list[dict]]:
    """Runs grouped by (family, model, scaling, head), in sort order."""
    groups: dict[tuple, list[dict]] = {}
    for r in sorted(records, key=_sort_key):
        groups.setdefault(_combo(r), []).append(r)
    return groups


def metrics_of(record: dict) -> dict:
    return record.get("metrics") or {}


def finite(x) -> bool:
    return isinstance(x, (int, float)) and math.isfinite(x)


def config_value(records: list[dict], key: str, default=None):
    """First value of ``key`` in the records' resolved configs, else at the record's top level."""
    for r in records:
        value = (r.get("config") or {}).get(key, r.get(key))
        if value not in (None, ""):
            return value
    return default


def study_name(records: list[dict]) -> str:
    return str(config_value(records, "study", "unknown"))


# --------------------------------------------------------------------------- statistics


def mean_ci95(values) -> tuple[float, float]:
    """Mean and Student-t 95% half-width of the finite values; half-width NaN below 2 values."""
    v = np.array([x for x in values if finite(x)], dtype=float)
    if v.size == 0:
        return math.nan, math.nan
    if v.size == 1:
        return float(v[0]), math.nan
    t = T975[v.size - 2] if v.size - 1 <= len(T975) else 1.96
    return float(v.mean()), float(t * v.std(ddof=1) / math.sqrt(v.size))


def summarise(records: list[dict], primary: dict | None = None) -> list[dict]:
    """One row per (family, model, scaling, head): run and status counts, metric means and CIs.

    Metrics are averaged over the finite values of ``ok`` runs only, so a diverged run cannot
    drag a mean and a failed one cannot fake a value; the status counts show what was left out.
    Columns: ``<metric>_mean`` and ``<metric>_ci95`` (the 95% half-width), plus per family the
    ``primary`` metric, its ``rank`` and ``group`` (see ``_rank``). ``primary`` maps a family to
    ``(metric, "min" | "max")`` and overrides what the records declare.
    """
    rows = [_summarise_combo(combo, runs) for combo, runs in by_combo(records).items()]
    choices = {**declared_primary(records), **(primary or {})}
    for family in dict.fromkeys(r["family"] for r in rows):
        _rank([r for r in rows if r["family"] == family], *choices.get(family, (None, "min")))
    return rows


def declared_primary(records: list[dict]) -> dict[str, tuple[str, str]]:
    """family -> (metric, direction) from the first of its records that declares a metric."""
    found: dict[str, tuple[str, str]] = {}
    for r in records:
        family = _combo(r)[0]
        if family not in found and r.get("primary_metric"):
            found[family] = (str(r["primary_metric"]), str(r.get("primary_direction") or "min"))
    return found


def _summarise_combo(combo: tuple[str, ...], runs: list[dict]) -> dict:
    row: dict = dict(zip(COMBO, combo))
    row["n"] = len(runs)
    statuses = [str(r.get("status", "failed")) for r in runs]
    for status in dict.fromkeys([*STATUSES, *statuses]):
        row[status] = statuses.count(status)
    row["range_mismatch"] = any(bool(r.get("range_mismatch")) for r in runs)
    ok = [r for r in runs if r.get("status") == "ok"]
    for name in dict.fromkeys(k for r in runs for k in metrics_of(r)):
        row[f"{name}_mean"], row[f"{name}_ci95"] = mean_ci95(metrics_of(r).get(name) for r in ok)
    return row


def status_columns(row: dict) -> list[str]:
    """The status counts: ``_summarise_combo`` puts them between "n" and "range_mismatch"."""
    keys = list(row)
    return keys[keys.index("n") + 1: keys.index("range_mismatch")]


def status_text(row: dict) -> str:
    """E.g. "3 ok, 1 failed"."""
    return ", ".join(f"{row[s]} {s}" for s in status_columns(row) if row[s])


def metric_names(rows: list[dict]) -> list[str]:
    return list(dict.fromkeys(k[: -len("_mean")] for r in rows for k in r if k.endswith("_mean")))


def _rank(rows: list[dict], metric: str | None, direction: str) -> None:
    """Rank one family's rows on its primary metric and label the groups.

    Group "a": the best combination and every one whose 95% interval overlaps the best's, i.e.
    not distinguishable from it with these seeds. "b": interval entirely on the worse side.
    "?": a single finite seed, so no interval. Overlap is a conservative eyeball test (two
    intervals can overlap while a proper test still separates them), which is fine for a
    "which combinations are worth a closer look" label. Rows without a finite mean get no rank.
    """
    names = metric_names(rows)
    if metric not in names:  # the family's records do not report it: fall back to the first one
        metric = names[0] if names else None
    sign = -1 if direction == "max" else 1
    ranked = sorted((r for r in rows if finite(r.get(f"{metric}_mean"))),
                    key=lambda r: sign * r[f"{metric}_mean"])
    for r in rows:
        r["primary"], r["direction"], r["rank"], r["group"] = metric, direction, None, ""
    for i, r in enumerate(ranked, 1):
        r["rank"] = i
        r["group"] = _group(r, ranked[0], metric)


def _group(row: dict, best: dict, metric: str) -> str:
    if row is best:
        return "a"
    (m, h), (bm, bh) = ((r[f"{metric}_mean"], r[f"{metric}_ci95"]) for r in (row, best))
    if not (finite(h) and finite(bh)):
        return "?"
    return "a" if abs(m - bm) <= h + bh else "b"
