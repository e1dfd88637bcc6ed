"""A run's record (docs/meanings.md, "A run's record"): ``run.json``, written atomically.

The record is what the report reads and what resume trusts, so it is replaced in one
``os.replace``: a reader sees the old record or the new one, never half of one.
"""
from __future__ import annotations

import functools
import hashlib
import json
import math
import os
import subprocess
from pathlib import Path

from harness.core.repo import ROOT

STATUSES = ("ok", "diverged", "failed", "interrupted", "skipped")
RUNNING = "running.json"  # a run in progress: its config and code, for the resume check
SET_ASIDE = "superseded-"  # the folder a finished run of another config or code is moved to
# What changes where a run's files go or how it is shown, never its numbers or its curves: left
# out of the config key, so a run is reused (and keeps its log folder) whatever these say, and
# out of run directory names (conf/hydra/default.yaml reads this list through the resolver
# ``harness_not_result``). The one definition of "the same result". eval_every and log_every
# stay in: a user who changes them asks for other curves. ruler_dir is where the digit ruler is
# cached (trained the same wherever it is): a resolved path never enters the key.
# how a study is reported, per family (harness.core.settings.study_problems checks each)
STUDY_KEYS = ("reference", "target", "noise_floor", "shown", "window", "contrasts", "answer")
NOT_RESULT = ("paths", "logger", "callbacks", "question", *STUDY_KEYS, "checkpoint_every",
              "trainer.enable_progress_bar", "verbose", "model.module.ruler_dir", "reuse")


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


SOURCES = (".py", ".yaml", ".yml", ".toml")


@functools.lru_cache(maxsize=1)
def code_digest() -> str:
    """12 hex digits of every source file under ``CODE`` (names and contents, committed or not):
    the code a run's numbers come from. A commit alone misses uncommitted edits ("-dirty" says
    only that there are some); this tells two dirty trees apart, and is the same on any clone."""
    h = hashlib.sha1()
    for name in CODE:
        top = ROOT / name
        files = [top] if top.is_file() else sorted(
            f for f in top.rglob("*") if f.suffix in SOURCES and "__pycache__" not in f.parts)
        for f in files:
            h.update(f.relative_to(ROOT).as_posix().encode() + b"\0" + f.read_bytes() + b"\0")
    return h.hexdigest()[:12]


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
    """A finished ``ok`` record of this run (same config key) made by this code (or any code,
    where the config says ``reuse: any``): safe to reuse, not re-run."""
    return (bool(record) and record.get("status") == "ok"
            and config_key(record.get("config") or {}) == config_key(config)
            and same_code(record, config))


def same_code(record: dict, config: dict) -> bool:
    """Whether ``record`` was made by this code, or the config accepts any (``reuse: any``)."""
    return config.get("reuse") == "any" or record.get("code_digest") == code_digest()


def read_record(path: Path) -> dict | None:
    try:
        return json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return None
