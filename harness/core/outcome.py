"""How a sweep ended, handed back to the command that started it.

Hydra returns nothing from a multirun to its caller, so the sweeper and the report callback
write to a file the caller names (``HARNESS_OUTCOME``, set by ``harness.train.main``): the
records of every job, then whether the report could be written. Without the variable (a sweep
started another way) nothing is written.
"""
from __future__ import annotations

import os
from pathlib import Path

from harness.core.record import STATUSES, read_record, write_json

OUTCOME_ENV = "HARNESS_OUTCOME"
SHOWN = ("status", "message", "model", "scaling", "head", "seed", "overrides")


def add_outcome(**fields) -> None:
    """Merge ``fields`` into the caller's outcome file, if it named one."""
    path = os.environ.get(OUTCOME_ENV)
    if path:
        write_json(Path(path), {**(read_record(Path(path)) or {}), **fields})


def sweep_records(records: list[dict]) -> list[dict]:
    """What the summary needs of each record (not its config and metrics)."""
    return [{k: r[k] for k in SHOWN if k in r} for r in records]


def sweep_summary(records: list[dict]) -> tuple[str, bool]:
    """One summary of a sweep's statuses, every unsuccessful run named with its message."""
    counts = {s: sum(r.get("status") == s for r in records) for s in STATUSES}
    lines = [f"sweep finished: {len(records)} run{'' if len(records) == 1 else 's'}: "
             + ", ".join(f"{n} {s}" for s, n in counts.items() if n)]
    for r in records:
        if r.get("status") != "ok":
            who = " ".join(f"{k}={r.get(k)}" for k in ("model", "scaling", "head", "seed") if k in r)
            lines.append(f"  {r['status']}: {who} [{r.get('overrides', '')}]: {r.get('message', '')}")
    # an interrupted run (a cancelled cluster job) is unfinished work too: the same command resumes it
    return "\n".join(lines), counts["failed"] + counts["interrupted"] > 0
