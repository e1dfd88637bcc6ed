"""A report's rows, typed: which columns are the cell's key, which its settings, which its
status counts and its statistics are fields, not places in a dict's insertion order.

Both read as mappings (``row["swd_median"]``, ``row.get(...)``, iteration in column order), so
tables, figures and CSVs take a row as they would a dict; what the report adds later (rank,
paired difference, steps to quality) goes to ``added``, after every other column.
"""
from __future__ import annotations

from collections.abc import Iterator, Mapping, MutableMapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Cell(Mapping):
    """A cell's key as named columns: the combination (family, model, scaling, head), then the
    value of each setting column that splits it from its neighbours."""

    combo: dict[str, str]
    settings: dict[str, str]

    def __getitem__(self, key: str) -> Any:
        return self.combo[key] if key in self.combo else self.settings[key]

    def __iter__(self) -> Iterator[str]:
        yield from self.combo
        yield from self.settings

    def __len__(self) -> int:
        return len(self.combo) + len(self.settings)


@dataclass
class Row(MutableMapping):
    """One cell's summary: its key, its runs (``n``) by status, whether its head misses the
    data's range, each metric's statistics (``<metric>_<stat>``), then what the report adds."""

    cell: Cell
    n: int
    statuses: dict[str, int]
    range_mismatch: bool
    stats: dict[str, float]
    added: dict[str, Any] = field(default_factory=dict)

    @property
    def settings(self) -> dict[str, str]:
        return self.cell.settings

    def _parts(self) -> tuple[Mapping, ...]:
        return (self.cell, {"n": self.n}, self.statuses,
                {"range_mismatch": self.range_mismatch}, self.stats, self.added)

    def __getitem__(self, key: str) -> Any:
        for part in self._parts():
            if key in part:
                return part[key]
        raise KeyError(key)

    def __setitem__(self, key: str, value: Any) -> None:
        if key in self.cell:
            raise KeyError(f"{key} is part of the cell's key")
        if key in ("n", "range_mismatch"):
            setattr(self, key, value)
        elif key in self.statuses:
            self.statuses[key] = value
        elif key in self.stats:
            self.stats[key] = value
        else:
            self.added[key] = value

    def __delitem__(self, key: str) -> None:
        del self.added[key]

    def __iter__(self) -> Iterator[str]:
        for part in self._parts():
            yield from part

    def __len__(self) -> int:
        return sum(len(part) for part in self._parts())
