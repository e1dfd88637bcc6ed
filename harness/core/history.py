"""A run's evaluation history: ``history.csv`` in its run directory, one row per evaluation
(``step``, ``wall_time_s``, then every metric), the untrained model at step 0.

Each row is on disk as soon as it is measured, so a run killed mid-way keeps what it measured.
A resumed run keeps the rows up to its checkpoint and drops the later ones (measured between
that checkpoint and the kill, and measured again now), and a row for a step already there
replaces it: no step appears twice. The report draws learning curves from these files.
"""
from __future__ import annotations

import csv
import math
import os
from pathlib import Path

HISTORY = "history.csv"
FIRST = ("step", "wall_time_s")


def read_history(path: Path) -> list[dict]:
    """The rows of a history file as numbers (empty cells: NaN); no file, no rows."""
    try:
        with Path(path).open(newline="") as f:
            return [{k: _number(v) for k, v in row.items()} for row in csv.DictReader(f)]
    except FileNotFoundError:
        return []


def _number(text: str) -> float:
    try:
        return float(text)
    except (TypeError, ValueError):
        return math.nan


class History:
    """The history of one run; ``keep_until``: the step a resumed run restarts after (None:
    a fresh start, which replaces any earlier file)."""

    def __init__(self, path: Path, keep_until: int | None = None):
        self.path = Path(path)
        rows = read_history(self.path) if keep_until is not None else []
        self.rows = {int(r["step"]): {**r, "step": int(r["step"])}  # 100, never 100.0
                     for r in rows if r["step"] <= keep_until}
        self.fields = list(dict.fromkeys([*FIRST, *(k for r in rows for k in r)]))
        self._rewrite()

    def append(self, step: int, wall_time_s: float, metrics: dict[str, float]) -> None:
        row = {"step": step, "wall_time_s": round(wall_time_s, 3), **metrics}
        new = [k for k in row if k not in self.fields]
        replaces = step in self.rows
        self.rows[step] = row
        if new or replaces:
            self.fields += new
            self._rewrite()
        else:
            with self.path.open("a", newline="") as f:
                csv.DictWriter(f, self.fields, restval="").writerow(row)

    def _rewrite(self) -> None:
        """The whole file, in step order, replaced in one ``os.replace``."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(f".{self.path.name}.tmp")
        with tmp.open("w", newline="") as f:
            w = csv.DictWriter(f, self.fields, restval="")
            w.writeheader()
            w.writerows(self.rows[s] for s in sorted(self.rows))
        os.replace(tmp, self.path)
