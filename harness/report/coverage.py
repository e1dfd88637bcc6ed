"""Which runs a report covers, and what it says about those it cannot count as results.

Nothing lost, nothing counted twice: every run.json is one run, except a copy of a run already
counted (the same config key and seed: a sweep folder copied under another name), which is
left out and named; a run folder that holds a run in progress or one killed mid-training (its
``running.json`` without a ``run.json``) is a run of its own status, ``running`` or ``killed``;
and a run folder the sweep asked for (``runs`` in its ``sweep.json``) with nothing in it is
``not started``. ``statuses_line`` says all of them in one line, for the front page.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from harness.core.lock import holder
from harness.core.record import RUNNING, SET_ASIDE, STATUSES, config_key, read_record
from harness.report.cells import IDENTITY, load_records, sort_key

UNFINISHED = ("running", "killed")  # a run folder with a running.json and no run.json
NOT_STARTED = "not started"


@dataclass
class Covered:
    """A report's runs: ``records``, one per run (finished, running or killed); the run folders
    left out as copies of a counted run (``duplicates``: left out -> kept); the run folders of
    the sweep that nothing has started (``not_started``)."""

    records: list[dict]
    duplicates: dict[str, str] = field(default_factory=dict)
    not_started: list[str] = field(default_factory=list)


def covered(sweep_dir, only=None, planned=None) -> Covered:
    """The runs under ``sweep_dir`` (those in ``only``, run folders relative to it, where
    given), copies left out; ``planned``: the run folders the sweep asked for."""
    root = Path(sweep_dir)
    records = sorted(load_records(root) + unfinished(root), key=sort_key)
    if only is not None:
        keep = {str(root / r) for r in only}
        records = [r for r in records if r["run_dir"] in keep]
    kept, duplicates = deduplicated(records)
    missing = [r for r in planned or ()
               if not ((root / r / "run.json").exists() or (root / r / RUNNING).exists())]
    return Covered(kept, duplicates, missing)


def unfinished(root: Path) -> list[dict]:
    """A record for each run folder under ``root`` whose run has no ``run.json`` but its
    ``running.json``: ``running`` while a live process holds it, else ``killed`` (its process
    died before it could write a record: kill -9, out of memory, the machine went down)."""
    found = []
    for path in sorted(root.rglob(RUNNING)):
        run_dir = path.parent
        if (run_dir / "run.json").exists() or any(p.startswith(SET_ASIDE)
                                                    for p in run_dir.relative_to(root).parts):
            continue
        config = (read_record(path) or {}).get("config") or {}
        pid = holder(run_dir)
        found.append({
            **_names(config), "config": config, "config_key": config_key(config),
            "status": "running" if pid else "killed", "run_dir": str(run_dir),
            "message": (f"in progress (PID {pid})" if pid else
                        "killed mid-training: no record and no live process; the same "
                        "command resumes it")})
    return found


def _names(config: dict) -> dict:
    """What a record says of a run (family, model, scaling, head, seed, ...) from its config."""
    def name(key: str):
        return (config.get(key) or {}).get("name") if isinstance(config.get(key), dict) else None

    return {"study": config.get("study"), "family": _family(config), "model": name("model"),
            "scaling": name("scaling"), "head": name("head"), "seed": config.get("seed"),
            "steps": config.get("steps")}


def _family(config: dict) -> str | None:
    """The family whose class the model config names (as ``harness.run.fit.family_of``)."""
    from harness.models import families

    target = ((config.get("model") or {}).get("module") or {}).get("_target_")
    return next((name for name, cls in families().items()
                 if f"{cls.__module__}.{cls.__qualname__}" == target),
                (config.get("model") or {}).get("name"))


def deduplicated(records: list[dict]) -> tuple[list[dict], dict[str, str]]:
    """One record per run: records of the same config key and seed (and combination) are one
    run (a copied run folder), of which a finished record is kept before an unfinished one,
    then the newest ``started``; the others are returned as left-out run folder -> kept one.
    A record that does not say its config (an unreadable run.json) is a run of its own."""
    groups: dict[tuple, list[dict]] = {}
    for r in records:
        key = _run_key(r)
        groups.setdefault(key if key else ("folder", r["run_dir"]), []).append(r)
    kept, dropped = [], {}
    for group in groups.values():
        group.sort(key=lambda r: (len(Path(r["run_dir"]).parts), r["run_dir"]))  # on a tie:
        best = max(group, key=lambda r: (r.get("status") in STATUSES,  # the shallowest first
                                         str(r.get("started", ""))))
        kept.append(best)
        dropped.update({r["run_dir"]: best["run_dir"] for r in group if r is not best})
    order = {id(r): i for i, r in enumerate(records)}  # the order they came in
    return sorted(kept, key=lambda r: order[id(r)]), dropped


def _run_key(record: dict) -> tuple | None:
    """The config key (as this code defines it, whatever the record's code did) and what the
    record says it ran (study, combination, seed)."""
    config = record.get("config")
    if not config:
        return None
    return (config_key(config), *(str(record.get(k)) for k in IDENTITY))


def status_counts(records: list[dict], not_started: int = 0) -> dict[str, int]:
    """Runs by status, in the order ``STATUSES``, then running, killed and not started."""
    counts = Counter(str(r.get("status", "failed")) for r in records)
    counts[NOT_STARTED] += not_started
    order = [*STATUSES, *UNFINISHED, *sorted(counts), NOT_STARTED]
    return {s: counts[s] for s in dict.fromkeys(order) if counts[s]}


MEANS = {"running": "a live process holds it",
         "killed": "mid-training, with no record and no live process; the same command "
                   "resumes it"}


def statuses_line(cov: Covered) -> str:
    """``6 runs: 2 ok, 1 killed (mid-training, ...), 3 not started.``"""
    counts = status_counts(cov.records, len(cov.not_started))
    total = sum(counts.values())
    return (f"{total} run{'' if total == 1 else 's'}: "
            + ", ".join(f"{n} {s}" + (f" ({MEANS[s]})" if s in MEANS else "")
                        for s, n in counts.items()) + ".")


def duplicates_line(cov: Covered, sweep_dir) -> str | None:
    """The one line that names the copies left out, relative to ``sweep_dir``; None if none."""
    if not cov.duplicates:
        return None

    def rel(path: str) -> str:
        return str(Path(path).relative_to(sweep_dir)) if Path(path).is_relative_to(sweep_dir) \
            else path

    n = len(cov.duplicates)
    return (f"{n} duplicate run{'' if n == 1 else 's'} left out (the same config key and seed "
            f"as a run counted, the newest kept): "
            + "; ".join(f"{rel(d)} (copy of {rel(k)})" for d, k in cov.duplicates.items()))


def not_started_line(cov: Covered) -> str | None:
    """The run folders the sweep asked for that nothing has started; None if none."""
    if not cov.not_started:
        return None
    n = len(cov.not_started)
    return (f"{n} run{'' if n == 1 else 's'} of the sweep not started: "
            + "; ".join(cov.not_started))
