"""A report's tables: ``runs.csv`` (one row per run), ``summary.csv`` and ``summary.md`` (one
row per cell, from ``harness.stats.summarise``): the setting columns, if any, right after head.

Kept apart from the statistics so the numbers can be tested without files, and from the CLI so
other code can print a table without writing a report.
"""
from __future__ import annotations

import csv
import os
from pathlib import Path

from harness.stats import (COMBO, IDENTITY, MISSING, columns_of, finite, metric_names,
                           metrics_of, setting_columns, shown_settings, status_columns, status_text,
                           values_of, varying_settings)


PAIRED = ("vs_reference", "paired_n", "paired_median", "paired_low", "paired_high",
          "paired_coverage")


def _write_csv(rows: list[dict], path: Path, columns: list[str]) -> None:
    with path.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=columns, restval="", extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)


def write_runs_csv(records: list[dict], sweep_dir, path: Path) -> None:
    """One row per run, with the setting columns' values so each run can be found in its
    summary row; run_dir relative to the sweep so committed results carry no local paths."""
    names = list(dict.fromkeys(k for r in records for k in metrics_of(r)))
    settings = list(varying_settings(records))
    lead = [*IDENTITY, *settings, "status", "message", "range_mismatch", "wall_time_s"]
    rows = [{**{k: r.get(k, "") for k in lead}, **values_of(r, settings),
             "run_dir": os.path.relpath(r["run_dir"], sweep_dir), **metrics_of(r)}
            for r in records]
    _write_csv(rows, path, [*lead, "run_dir", *names])


def write_summary_csv(rows: list[dict], path: Path) -> None:
    lead = [*COMBO, *columns_of(rows, setting_columns), "n", *columns_of(rows, status_columns),
            "range_mismatch", "primary", "direction", "rank", "group"]
    paired = [c for c in PAIRED if any(c in r for r in rows)]
    metrics = [f"{m}_{s}" for m in metric_names(rows) for s in ("mean", "ci95")]
    _write_csv(rows, path, [*lead, *paired, *metrics])


def _mean_pm(mean: float, half: float) -> str:
    if not finite(mean):
        return "–"
    return f"{mean:.4g} ± {half:.3g}" if finite(half) else f"{mean:.4g}"


def better(direction: str) -> str:
    """"higher" or "lower", for "(... is better)" labels."""
    return "higher" if direction == "max" else "lower"


def markdown_table(rows: list[dict]) -> str:
    """One Markdown table per family; the primary metric first; cells are ``mean ± half-width``."""
    parts = ["Cells: mean ± 95% CI half-width over the seeds of ok runs. Group a: not "
             "distinguishable from the family's best (overlapping intervals); b: worse; "
             "?: one seed only.\n"]
    for family in dict.fromkeys(r["family"] for r in rows):
        frows = [r for r in rows if r["family"] == family]
        metric, direction = frows[0]["primary"], frows[0]["direction"]
        names = sorted(metric_names(frows), key=lambda n: n != metric)  # primary first
        settings = shown_settings(frows)
        parts.append(f"**{family}**: ranked by `{metric}` ({better(direction)} is better)\n")
        paired = any("vs_reference" in r for r in frows)
        header = ["model", "scaling", "head", *settings, "range", "runs", *names, "rank", "group",
                  *(["vs reference: paired per-seed difference of the median"] if paired else [])]
        lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        for r in frows:
            cells = [r["model"], r["scaling"], r["head"], *(r.get(k, MISSING) for k in settings),
                     "mismatch" if r["range_mismatch"] else "", status_text(r),
                     *(_mean_pm(r.get(f"{n}_mean"), r.get(f"{n}_ci95")) for n in names),
                     "" if r["rank"] is None else str(r["rank"]), r["group"],
                     *([r.get("vs_reference", "")] if paired else [])]
            lines.append("| " + " | ".join(cells) + " |")
        parts.append("\n".join(lines) + "\n")
    return "\n".join(parts)
