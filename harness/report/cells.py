"""A sweep's run.json records -> its cells, and the labels that tell cells apart.

Design section 4: a cell is (family, model, scaling, head) and the value of every *setting
column* (a config key that differs between runs of one combination, see ``varying_settings``):
runs that differ in more than their seed are never summarised together. Unreadable records are
counted as failed, never dropped. Scalings and heads are ordered as ``harness.core.pixels``
defines them; a cell's statistics and rank are ``harness.report.stats``.
"""
from __future__ import annotations

import functools
import json
import math
from collections import Counter
from pathlib import Path

from harness.core import pixels
from harness.core import record as run_record
from harness.core.record import STATUSES, STUDY_KEYS, read_record
from harness.report.rows import Cell, Row

COMBO = ("family", "model", "scaling", "head")
IDENTITY = ("study", *COMBO, "seed")
# Config keys that a cell's own fields or its seeds already say: never a setting column.
RESTATED = ("seed", "study", "model.name", "scaling.name", "head.name")
MACHINE_KEYS = ("cpu_capability", "onednn_max_isa", "mkl_cbwr", "gpu")  # change the float order
MISSING = "–"  # the value of a key a record's config lacks: a value of its own, not a wildcard


# --------------------------------------------------------------------------- records


def load_records(sweep_dir) -> list[dict]:
    """Every run.json under ``sweep_dir`` (any depth), sorted, each with its ``run_dir``.

    An unreadable run.json (corrupt, or not JSON) becomes a ``failed`` record so it is
    counted rather than silently dropped.
    """
    root = Path(sweep_dir)
    if not root.is_dir():
        raise FileNotFoundError(f"sweep directory not found: {root}")
    return sorted((_read_run(p) for p in root.rglob("run.json")), key=sort_key)


def _read_run(path: Path) -> dict:
    record = read_record(path) or {"status": "failed", "message": "unreadable run.json"}
    return {**record, "run_dir": str(path.parent)}


def combo_of(record: dict) -> tuple[str, ...]:
    return tuple(str(record.get(k, "")) for k in COMBO)


def design_order(value: str, known) -> tuple[int, str]:
    """Sort key: position in ``known`` (e.g. ``pixels.HEADS``, whose key order is the design's),
    names it lacks after, alphabetically."""
    names = list(known)
    return (names.index(value) if value in names else len(names), value)


def head_order(head: str) -> tuple[int, str]:
    return design_order(head, pixels.HEADS)


def sort_key(record: dict, settings: tuple[str, ...] = ()) -> tuple:
    """Combination in design order, then the values of ``settings`` (numbers by value), then
    seed."""
    family, model, scaling, head = combo_of(record)
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
    """Keys that cannot change a run's numbers (``harness.core.record.NOT_RESULT``, read each time so
    it stays the one list) or that the cell already names, and everything under them."""
    return any(key == k or key.startswith(k + ".")
               for k in (*run_record.NOT_RESULT, *RESTATED))


@functools.lru_cache(maxsize=1)
def this_machine() -> dict:
    from harness.core.machine import machine

    return machine(None)


def with_machines(records: list[dict]) -> list[dict]:
    """The records, a run still going (or killed) given the processor its record is yet to
    name: the one the sweep's ended runs name most (or none, where they name none), else this
    machine's, so an interim report keeps it in its cell."""
    ended = Counter(json.dumps(r.get("machine"), sort_keys=True) for r in records
                    if r.get("status") in STATUSES and r.get("config"))
    usual = json.loads(ended.most_common(1)[0][0]) if ended else this_machine()
    return [r if r.get("status") in STATUSES or r.get("machine") else {**r, "machine": usual}
            for r in records]


def settings_of(record: dict) -> dict[str, str]:
    """The record's resolved config as dotted key -> value text (``json`` spelling, as on the
    command line: ``true``, ``0.0002``), less the keys that cannot tell two runs apart.

    ``threads`` is the count the run actually used (the record's top level), since the config's
    0 only means "the cores shared among parallel jobs" and threads change float sums; an older
    record without it is MISSING unless its config named a count. The instruction set the CPU
    kernels used, and the GPU, change them too (``harness.core.machine``): ``machine.*`` from
    the record's top level, MISSING for an older record that does not name them (a run still
    going has no record to say it yet: ``with_machines`` gives it its sweep's).
    """
    flat = _flatten(record.get("config") or {})
    flat["threads"] = record.get("threads") or flat.get("threads") or MISSING
    machine = record.get("machine") or {}
    for key in MACHINE_KEYS:
        flat[f"machine.{key}"] = machine.get(key) or MISSING
    return {k: setting_text(v) for k, v in flat.items() if not _restated_or_not_result(k)}


def setting_text(value) -> str:
    """A setting's value as the report spells it: text as it is, anything else as JSON (as on
    the command line: ``true``, ``0.0002``, ``null``)."""
    return value if isinstance(value, str) else json.dumps(value, sort_keys=True)


def varying_settings(records: list[dict]) -> dict[str, list[str]]:
    """The setting columns, each with its values in order: every config key (``settings_of``)
    whose value differs between two records of one (family, model). A key that differs within a
    (scaling, head) splits its cells; one that differs only between pairings (a study's longer
    budget for one of them) splits none, but its column and label say it.

    A key missing from some records counts as its own value, MISSING. A record without a config
    (an unreadable run.json) cannot say what it ran, so it takes no part here. Of keys whose
    values agree in every record, the shortest stands for them all.
    """
    seen: dict[str, dict[tuple, set]] = {}
    configured = [(combo_of(r)[:2], settings_of(r)) for r in with_machines(records)
                  if r.get("config")]
    keys = dict.fromkeys(k for _, values in configured for k in values)
    for combo, values in configured:
        for k in keys:
            seen.setdefault(k, {}).setdefault(combo, set()).add(values.get(k, MISSING))
    varying = [k for k, per_combo in seen.items() if any(len(v) > 1 for v in per_combo.values())]
    # a key that moves in lockstep with a shorter one, run by run (model.module.generator.width
    # interpolating model.width), says nothing that one does not: it splits no other cell
    kept: dict[tuple, str] = {}
    for k in sorted(varying, key=lambda k: (k.count("."), len(k))):
        kept.setdefault(tuple(values.get(k, MISSING) for _, values in configured), k)
    return {k: sorted(set().union(*seen[k].values()), key=value_order)
            for k in varying if k in kept.values()}


def by_cell(records: list[dict]) -> dict[tuple, list[dict]]:
    """Runs grouped into cells, in sort order: ``(family, model, scaling, head, settings)`` with
    ``settings`` the ``(key, value)`` of every setting column, so that only runs that differ in
    seed alone share a cell (and a mean)."""
    keys = tuple(varying_settings(records))
    cells: dict[tuple, list[dict]] = {}
    for r in sorted(with_machines(records), key=lambda r: sort_key(r, keys)):
        cells.setdefault((*combo_of(r), tuple(values_of(r, keys).items())), []).append(r)
    return cells


def values_of(record: dict, keys) -> dict[str, str]:
    """The record's value of each setting column in ``keys``, MISSING where it has none."""
    values = settings_of(record) if keys else {}
    return {k: values.get(k, MISSING) for k in keys}


def cell_fields(cell: tuple) -> Cell:
    """A cell's key as a row's first columns: the combination, then each setting column."""
    *combo, settings = cell
    return Cell(dict(zip(COMBO, combo)), dict(settings))


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


def study_settings(records: list[dict], given: dict | None = None) -> dict:
    """``reference``, ``target`` and ``noise_floor``: those ``given`` (the last command's, from
    the report callback or ``sweep.json``), else as the newest record's config says. None of
    them changes a run, so runs are reused across changes of them, and their records may hold
    an earlier command's values."""
    newest = max(records, key=lambda r: str(r.get("started", "")), default={})
    config = newest.get("config") or {}
    return {k: config.get(k) or {} for k in STUDY_KEYS} | (given or {})


def study_name(records: list[dict]) -> str:
    return str(config_value(records, "study", "unknown"))


# --------------------------------------------------------------------------- statistics


def status_columns(row: Row) -> list[str]:
    """The status counts of a summary row."""
    return list(row.statuses)


def setting_columns(row: Row | Cell) -> list[str]:
    """The setting columns of a row, or of a cell's key."""
    return list(row.settings)


def columns_of(rows: list[dict], columns) -> list[str]:
    """Every column ``columns(row)`` names for some row, in first-seen order."""
    return list(dict.fromkeys(c for r in rows for c in columns(r)))


def shown_settings(rows: list[dict]) -> dict[str, str | None]:
    """The setting columns worth a column or a label among ``rows`` (one family's): those whose
    value differs between them, each with the value most of the rows share (None on a tie).
    One every row shares says nothing there."""
    shown = {}
    for k in columns_of(rows, setting_columns):
        counts = Counter(r.get(k, MISSING) for r in rows)
        if len(counts) > 1:
            (top, n), (_, second) = counts.most_common(2)
            shown[k] = top if n > second else None
    return shown


def with_settings(label: str, row: dict, shown) -> str:
    """E.g. ``raw + identity, norm=none``: a label that tells apart rows split by settings. It
    names a setting only where the row's value is not the one most rows share, by the key's
    last part where no other shown key ends alike."""
    common = shown if isinstance(shown, dict) else dict.fromkeys(shown)
    last = Counter(k.rpartition(".")[2] for k in common)
    return label + "".join(
        f", {k.rpartition('.')[2] if last[k.rpartition('.')[2]] == 1 else k}={row.get(k, MISSING)}"
        for k, usual in common.items() if usual is None or row.get(k, MISSING) != usual)


def status_text(row: dict) -> str:
    """E.g. "3 ok, 1 failed"."""
    return ", ".join(f"{row[s]} {s}" for s in status_columns(row) if row[s])
