"""A run's record (docs/meanings.md, "A run's record"): ``run.json``, written atomically.

The record is what the report reads and what resume trusts, so it is replaced in one
``os.replace``: a reader sees the old record or the new one, never half of one.
"""
from __future__ import annotations

import hashlib
import json
import math
import os
import subprocess
from pathlib import Path

from harness.core.repo import ROOT

STATUSES = ("ok", "diverged", "failed", "interrupted", "skipped")
# What changes where a run's files go or how it is shown, never its numbers or its curves: left
# out of the config key, so a run is reused (and keeps its log folder) whatever these say, and
# out of run directory names (conf/hydra/default.yaml reads this list through the resolver
# ``harness_not_result``). The one definition of "the same result". eval_every and log_every
# stay in: a user who changes them asks for other curves. ruler_dir is where the digit ruler is
# cached (trained the same wherever it is): a resolved path never enters the key.
STUDY_KEYS = ("reference", "target", "noise_floor", "shown")  # how a study is reported, per family
NOT_RESULT = ("paths", "logger", "callbacks", "question", *STUDY_KEYS, "checkpoint_every",
              "trainer.enable_progress_bar", "verbose", "model.module.ruler_dir")


def _clean(v):
    """JSON has no NaN/inf: write them as null."""
    if isinstance(v, float) and not math.isfinite(v):
        return None
    if isinstance(v, dict):
        return {k: _clean(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_clean(x) for x in v]
    return v


CODE = ("harness", "hydra_plugins", "conf", "experiments", "pyproject.toml")  # what makes a result


def code_commit() -> str:
    """Short commit of the code, "-dirty" if the code (not results or docs) has uncommitted
    changes, "unknown" outside a git checkout."""
    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True,
                              timeout=10, check=True).stdout.strip()
    try:
        return git("rev-parse", "--short", "HEAD") + ("-dirty" if git("status", "--porcelain", "--", *CODE) else "")
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def write_json(path: Path, obj: dict) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(_clean(obj), indent=2, sort_keys=False) + "\n")
    os.replace(tmp, path)


def config_key(config: dict) -> str:
    """8 hex digits naming everything in a resolved config that can change a run's numbers or
    logged curves: two configs share a key exactly when they are the same run."""
    kept = json.loads(json.dumps(_clean(config)))
    for dotted in NOT_RESULT:
        *parents, last = dotted.split(".")
        node = kept
        for p in parents:
            node = node.get(p) if isinstance(node, dict) else None
        if isinstance(node, dict):
            node.pop(last, None)
    return hashlib.sha1(json.dumps(kept, sort_keys=True).encode()).hexdigest()[:8]


def same_config(record: dict | None, config: dict) -> bool:
    """A finished ``ok`` record of this run (same config key): safe to reuse, not re-run."""
    return (bool(record) and record.get("status") == "ok"
            and config_key(record.get("config") or {}) == config_key(config))


def read_record(path: Path) -> dict | None:
    try:
        return json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return None
