"""A run's record (design.md section 3): ``run.json``, written atomically.

The record is what the report reads and what resume trusts, so it is replaced in one
``os.replace``: a reader sees the old record or the new one, never half of one.
"""
from __future__ import annotations

import json
import math
import os
import subprocess
from pathlib import Path

STATUSES = ("ok", "diverged", "failed", "skipped")
# Primary metric per family and its direction ("min": lower is better): ranks, progress lines.
# style: the trained objective (weighted content + style + TV), measured on decoded outputs.
PRIMARY = {"gan": ("swd", "min"), "style": ("loss", "min"), "seg": ("miou", "max")}
# One flat key set for TensorBoard's HParams table, which drops columns when runs disagree.
HPARAM_METRICS = ("swd", "swd_init", "swd_real", "mean_gap", "std_gap", "content_loss",
                  "style_loss", "tv_loss", "miou", "pixel_acc", "out_of_range", "out_excess")


def _clean(v):
    """JSON has no NaN/inf: write them as null."""
    if isinstance(v, float) and not math.isfinite(v):
        return None
    if isinstance(v, dict):
        return {k: _clean(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_clean(x) for x in v]
    return v


ROOT = Path(__file__).resolve().parents[1]
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


def same_config(record: dict | None, config: dict) -> bool:
    """A finished ``ok`` record of exactly this resolved config: safe to reuse, not re-run."""
    return bool(record) and record.get("status") == "ok" and record.get("config") == _clean(config)


def read_record(path: Path) -> dict | None:
    try:
        return json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return None
