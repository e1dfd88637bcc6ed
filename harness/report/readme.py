"""A report's ``README.md``: the study's question, the summary table, links to the other files,
and the command, commit, machine and time that produced them.

A result is only worth keeping if it says how to get it again; this text is where it says so.
"""
from __future__ import annotations

import datetime
import math
import os
import platform
from collections import Counter
from pathlib import Path

import torch

from harness.core.findings import answer_of
from harness.core.repo import ROOT
from harness.report.cells import config_value, finite, study_name, varying_settings
from harness.report.tables import pairing


def machine_info() -> str:
    cpu = platform.processor() or platform.machine() or "unknown CPU"
    text = (f"{platform.platform()}; {cpu}, {os.cpu_count()} CPUs; torch {torch.__version__}, "
            f"{torch.get_num_threads()} threads")
    if torch.cuda.is_available():
        text += f"; CUDA {torch.cuda.get_device_name(0)}"
    return text


def processors(records) -> str:
    """The processors the runs' numbers came from (their records' ``machine``), with counts:
    e.g. ``AMD EPYC, CPU kernels AVX512 (12 runs)``. Runs of another capability give other
    numbers (``harness.core.machine``); the report never pools them."""
    seen = Counter(_processor(r.get("machine")) for r in records)
    return "; ".join(f"{text} ({n} run{'' if n == 1 else 's'})" for text, n in seen.items())


def _processor(m: dict | None) -> str:
    """One record's processor: its CPU and kernels, a cap only where one was set, its GPU."""
    if not m:
        return "not recorded"
    caps = [f"{lib} {m[key]}" for lib, key in (("oneDNN", "onednn_max_isa"), ("MKL", "mkl_cbwr"))
            if m.get(key) not in (None, "native")]
    gpu = [f"GPU {m['gpu']}"] if m.get("gpu") else []
    return ", ".join([m.get("cpu") or "unknown CPU", f"CPU kernels {m.get('cpu_capability')}",
                      *caps, *gpu])


def _duration(seconds: float) -> str:
    return f"{seconds:.1f} s ({seconds / 60:.1f} min)"


def _settings_lines(records) -> list[str]:
    """Which config keys differ between runs of one combination: each value is its own table
    row, never averaged in, and the reader should know why a combination appears twice."""
    varying = varying_settings(records)
    if not varying:
        return []
    keys = "; ".join(f"`{k}`: {', '.join(values)}" for k, values in varying.items())
    return [f"- Settings that vary between runs of a family (one row per value, never averaged): "
            f"{keys}"]


def _time_lines(records, wall_time_s, started) -> list[str]:
    """The runs' own compute time (kept in their records when a re-run reuses them) and the
    last sweep's wall time, apart: a re-run that reused every run took seconds, the runs not."""
    own = sum(r["wall_time_s"] for r in records if finite(r.get("wall_time_s")))
    lines = [f"- Compute time of the runs: {_duration(own)}, the sum of each run's own wall time"]
    spans = sorted((datetime.datetime.fromisoformat(r["started"]).timestamp(), r["wall_time_s"])
                   for r in records if r.get("started") and finite(r.get("wall_time_s")))
    if spans:  # what a user waited for the runs, without the gaps between the sweeps
        busy, end = 0.0, -math.inf
        for start, took in spans:  # the union of the runs' own intervals
            busy += max(0.0, start + took - max(start, end))
            end = max(end, start + took)
        lines.append(f"- Training wall time: {_duration(busy)}, while at least one run trained")
    if wall_time_s is not None:
        reused = [r for r in records if started and str(r.get("started", "")) < started]
        lines.append(f"- Last sweep: {_duration(wall_time_s)} wall time"
                     + (f", {len(reused)} of {len(records)} runs reused from earlier sweeps"
                        if started else ""))
    return lines


def _code_lines(rows) -> list[str]:
    """The cells whose records came from more than one code (commit and code digest): their
    numbers pool runs of other code, which the reader must know."""
    def family(r):
        return [x for x in rows if x["family"] == r["family"]]

    return [f"- Pools runs of different code (commit/code digest): {r['family']} "
            f"{pairing(r, family(r))}: {r['code_mix']}" for r in rows if r.get("code_mix")]


def answer_lines(answers: dict, out_dir: Path) -> list[str]:
    """Per family, the dedicated study's answer (``answers``: the study key ``answer``, for the
    families the report shows), quoted from its findings and linked from ``out_dir``: a first
    look opens with what was measured."""
    lines = []
    for family, path in answers.items():
        text = answer_of(path)
        if text:
            link = Path(os.path.relpath(ROOT / path, out_dir.resolve())).as_posix()
            lines.append(f"- {family}: for the answer, see [{path}]({link}): {text}")
    return ["**The answers are in the dedicated studies**; this study is a first look:", "",
            *lines, ""] if lines else []


def readme_text(records, table, out_dir: Path, *, commit, command=None, wall_time_s=None,
                started=None, curves: bool = False, notes=(), rows=(), answers=None) -> str:
    """``notes``: lines on runs left out or not started; ``rows``: the summary rows, whose
    cells that pool other code are named; ``answers``: the study key ``answer``."""
    seeds = sorted({r["seed"] for r in records if finite(r.get("seed"))})
    steps = sorted({(r.get("config") or {}).get("steps") for r in records} - {None})
    lines = [
        f"# Results: {study_name(records)}", "",
        f"**Question:** {config_value(records, 'question', '(not stated)')}", "",
        *answer_lines({f: p for f, p in (answers or {}).items()
                       if any(r.get("family") == f for r in records)}, out_dir),
        *(["Findings: see [findings.md](findings.md)", ""]
          if (out_dir / "findings.md").exists() else []),
        "Generated by `python -m harness.report` from the runs' `run.json`: do not edit by hand.",
        "",
        f"- Command: `{command or config_value(records, 'command', 'unknown')}`",
        f"- Commit: `{commit}`",
        f"- Runs computed on: {processors(records)}",
        f"- Report written on: {machine_info()}",
        f"- Runs: {len(records)}" + (f"; seeds {', '.join(map(str, seeds))}" if seeds else "")
        + (f"; {' or '.join(map(str, steps))} steps each" if steps else ""),
        *_settings_lines(records),
        *_code_lines(rows),
        *(f"- {line}" for line in notes),
        *_time_lines(records, wall_time_s, started),
        f"- Date: {datetime.datetime.now().isoformat(timespec='seconds')}", "",
        "## Summary", "", table,
        "Every metric, as median and quartiles over seeds: [summary.csv](summary.csv); per "
        "run: [runs.csv](runs.csv).", "",
        *(["## Learning curves", "", "![metrics against step, per pairing](curves.png)", ""]
          if curves else []),
        "## Metrics", "", "![primary metric per family](metrics.png)", "",
        "## Samples", "", "![decoded samples beside the article's view](montage.png)", "",
    ]
    return "\n".join(lines)
