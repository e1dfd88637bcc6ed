"""A sweep's run.json records -> one summary row per cell, ranked within its family.

The numbers of a report live here, apart from how they are drawn, so they can be checked
without writing a file. Design section 4: per cell, i.e. (family, model, scaling, head) and the
value of every *setting column* (a config key that differs between runs of one combination, see
``varying_settings``), the mean and 95% interval over seeds: runs that differ in more than their
seed are never averaged together. Failed, diverged and skipped runs are counted, never dropped.
Each family is ranked on the primary metric its records declare (``primary_metric`` and
``primary_direction``), and scalings and heads are ordered as ``harness.pixels`` defines them.
"""
from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np

from harness import pixels
from harness import record as run_record
from harness.record import STATUSES, read_record

COMBO = ("family", "model", "scaling", "head")
IDENTITY = ("study", *COMBO, "seed")
# Config keys that a cell's own fields or its seeds already say: never a setting column.
RESTATED = ("seed", "study", "model.name", "scaling.name", "head.name")
MISSING = "–"  # the value of a key a record's config lacks: a value of its own, not a wildcard
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


def _sort_key(record: dict, settings: tuple[str, ...] = ()) -> tuple:
    """Combination in design order, then the values of ``settings`` (numbers by value), then
    seed."""
    family, model, scaling, head = _combo(record)
    seed = record.get("seed")
    return (family, model, design_order(scaling, pixels.SCALINGS), head_order(head),
            tuple(map(value_order, values_of(record, settings).values())),
            seed if isinstance(seed, (int, float)) else math.inf)


def value_order(text: str) -> tuple:
    """Sort key of a setting's value: numbers by value (300 before 1000), then text, then
    MISSING."""
    if text == MISSING:
        return (2, 0.0, "")
    try:
        return (0, float(text), text)
    except ValueError:
        return (1, 0.0, text)


# --------------------------------------------------------------------------- cells


def _flatten(node: dict, prefix: str = "") -> dict:
    """``{"model": {"lr": 1}}`` -> ``{"model.lr": 1}``; lists and empty dicts are leaves."""
    flat: dict = {}
    for key, value in node.items():
        dotted = f"{prefix}{key}"
        flat.update(_flatten(value, dotted + ".") if isinstance(value, dict) and value
                     else {dotted: value})
    return flat


def _restated_or_not_result(key: str) -> bool:
    """Keys that cannot change a run's numbers (``harness.record.NOT_RESULT``, read each time so
    it stays the one list) or that the cell already names, and everything under them."""
    return any(key == k or key.startswith(k + ".")
               for k in (*run_record.NOT_RESULT, *RESTATED))


def settings_of(record: dict) -> dict[str, str]:
    """The record's resolved config as dotted key -> value text (``json`` spelling, as on the
    command line: ``true``, ``0.0002``), less the keys that cannot tell two runs apart.

    ``threads`` is the count the run actually used (the record's top level), since the config's
    0 only means "the cores shared among parallel jobs" and threads change float sums; an older
    record without it is MISSING unless its config named a count.
    """
    flat = _flatten(record.get("config") or {})
    flat["threads"] = record.get("threads") or flat.get("threads") or MISSING
    return {k: v if isinstance(v, str) else json.dumps(v, sort_keys=True)
            for k, v in flat.items() if not _restated_or_not_result(k)}


def varying_settings(records: list[dict]) -> dict[str, list[str]]:
    """The setting columns, each with its values in order: every config key (``settings_of``)
    whose value differs between two records of one (family, model, scaling, head).

    A key missing from some records counts as its own value, MISSING. A record without a config
    (an unreadable run.json) cannot say what it ran, so it takes no part here.
    """
    seen: dict[str, dict[tuple, set]] = {}
    configured = [(_combo(r), settings_of(r)) for r in records if r.get("config")]
    keys = dict.fromkeys(k for _, values in configured for k in values)
    for combo, values in configured:
        for k in keys:
            seen.setdefault(k, {}).setdefault(combo, set()).add(values.get(k, MISSING))
    return {k: sorted(set().union(*per_combo.values()), key=value_order)
            for k, per_combo in seen.items() if any(len(v) > 1 for v in per_combo.values())}


def by_cell(records: list[dict]) -> dict[tuple, list[dict]]:
    """Runs grouped into cells, in sort order: ``(family, model, scaling, head, settings)`` with
    ``settings`` the ``(key, value)`` of every setting column, so that only runs that differ in
    seed alone share a cell (and a mean)."""
    keys = tuple(varying_settings(records))
    cells: dict[tuple, list[dict]] = {}
    for r in sorted(records, key=lambda r: _sort_key(r, keys)):
        cells.setdefault((*_combo(r), tuple(values_of(r, keys).items())), []).append(r)
    return cells


def values_of(record: dict, keys) -> dict[str, str]:
    """The record's value of each setting column in ``keys``, MISSING where it has none."""
    values = settings_of(record) if keys else {}
    return {k: values.get(k, MISSING) for k in keys}


def cell_fields(cell: tuple) -> dict:
    """A cell's key as a row's first columns: the combination, then each setting column."""
    *combo, settings = cell
    return {**dict(zip(COMBO, combo)), **dict(settings)}


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
    """One row per cell (``by_cell``): run and status counts, metric means and CIs.

    Metrics are averaged over the finite values of ``ok`` runs only, so a diverged run cannot
    drag a mean and a failed one cannot fake a value; the status counts show what was left out.
    Columns: the combination, the setting columns, ``n``, the status counts, ``range_mismatch``,
    ``<metric>_mean`` and ``<metric>_ci95`` (the 95% half-width), plus per family the
    ``primary`` metric, its ``rank`` and ``group`` (see ``_rank``), and where the study names a
    reference pairing, the paired per-seed difference to it (``harness.paired.add_paired``). ``primary`` maps a family to
    ``(metric, "min" | "max")`` and overrides what the records declare.
    """
    from harness.paired import add_paired, references

    cells = by_cell(records)
    rows = [_summarise_cell(cell, runs) for cell, runs in cells.items()]
    choices = {**declared_primary(records), **(primary or {})}
    for family in dict.fromkeys(r["family"] for r in rows):
        _rank([r for r in rows if r["family"] == family], *choices.get(family, (None, "min")))
    add_paired(rows, cells, references(records))
    return rows


def declared_primary(records: list[dict]) -> dict[str, tuple[str, str]]:
    """family -> (metric, direction) from the first of its records that declares a metric."""
    found: dict[str, tuple[str, str]] = {}
    for r in records:
        family = _combo(r)[0]
        if family not in found and r.get("primary_metric"):
            found[family] = (str(r["primary_metric"]), str(r.get("primary_direction") or "min"))
    return found


def _summarise_cell(cell: tuple, runs: list[dict]) -> dict:
    row = cell_fields(cell)
    row["n"] = len(runs)
    statuses = [str(r.get("status", "failed")) for r in runs]
    for status in dict.fromkeys([*STATUSES, *statuses]):
        row[status] = statuses.count(status)
    row["range_mismatch"] = any(bool(r.get("range_mismatch")) for r in runs)
    ok = [r for r in runs if r.get("status") == "ok"]
    for name in dict.fromkeys(k for r in runs for k in metrics_of(r)):
        row[f"{name}_mean"], row[f"{name}_ci95"] = mean_ci95(metrics_of(r).get(name) for r in ok)
    return row


def _between(row: dict, first: str, last: str) -> list[str]:
    """The keys after ``first`` and before ``last`` (or the end: a cell's fields have no "n")."""
    keys = list(row)
    return keys[keys.index(first) + 1: keys.index(last) if last in keys else len(keys)]


def status_columns(row: dict) -> list[str]:
    """The status counts: ``_summarise_cell`` puts them between "n" and "range_mismatch"."""
    return _between(row, "n", "range_mismatch")


def setting_columns(row: dict) -> list[str]:
    """The setting columns: ``cell_fields`` puts them after "head", ``summarise`` then "n"."""
    return _between(row, "head", "n")


def columns_of(rows: list[dict], columns) -> list[str]:
    """Every column ``columns(row)`` names for some row, in first-seen order."""
    return list(dict.fromkeys(c for r in rows for c in columns(r)))


def shown_settings(rows: list[dict]) -> list[str]:
    """The setting columns worth a column or a label among ``rows`` (one family's): those whose
    value differs between them; one every row shares says nothing there."""
    return [k for k in columns_of(rows, setting_columns)
            if len({r.get(k, MISSING) for r in rows}) > 1]


def with_settings(label: str, row: dict, shown: list[str]) -> str:
    """E.g. ``raw + identity, steps=301``: a label that tells apart rows split by settings."""
    return label + "".join(f", {k}={row.get(k, MISSING)}" for k in shown)


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
