"""A report's tables: ``runs.csv`` (one row per run) and ``summary.csv`` (one row per cell,
from ``harness.report.stats``), every number, the setting columns right after head; and
``summary.md``, the front page a person reads in ten seconds: per family one sentence and one
short table.

Kept apart from the statistics so the numbers can be tested without files, and from the CLI so
other code can print a table without writing a report. What a family's part shows beyond its
primary metric (caveats here; captions, panels and floors in the figures) the family declares
(``harness.models``, ``ReportSections``), looked up by ``declared``: no report module names one.
"""
from __future__ import annotations

import csv
import os
from pathlib import Path
from typing import TYPE_CHECKING

from harness.report.quality import STILL, run_steps, steps_text, targets
from harness.report.windows import window_words
from harness.report.cells import (COMBO, IDENTITY, columns_of, finite, metrics_of, setting_columns,
                                  shown_settings, status_columns, status_text, study_settings,
                                  values_of, varying_settings, with_settings)
from harness.report.stats import STATS, metric_names

if TYPE_CHECKING:
    from harness.models.base import ReportSections


PAIRED = ("vs_reference", "paired_n", "paired_median", "paired_low", "paired_high",
          "paired_coverage", "paired_separable")
QUALITY = ("last_step", "last_gain", "still_improving", "target", "quality_reached",
           "steps_to_quality")


def _write_csv(rows: list[dict], path: Path, columns: list[str]) -> None:
    with path.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=columns, restval="", extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)


def write_runs_csv(records: list[dict], sweep_dir, path: Path, study: dict | None = None
                   ) -> None:
    """One row per run, with the setting columns' values so each run can be found in its
    summary row, and its steps to the study's target; run_dir relative to the sweep so
    committed results carry no local paths."""
    names = list(dict.fromkeys(k for r in records for k in metrics_of(r)))
    settings = list(varying_settings(records))
    goal = targets(study_settings(records, study))
    lead = [*IDENTITY, *settings, "status", "message", "range_mismatch", "wall_time_s"]
    rows = [{**{k: r.get(k, "") for k in lead}, **values_of(r, settings),
             "steps_to_quality": _run_quality(r, goal),
             "run_dir": os.path.relpath(r["run_dir"], sweep_dir), **metrics_of(r)}
            for r in records]
    _write_csv(rows, path, [*lead, *(["steps_to_quality"] if goal else []), "run_dir", *names])


def _run_quality(record: dict, goal: dict[str, float]) -> str:
    if record.get("family") not in goal:
        return ""
    return steps_text(*run_steps(record, goal[record["family"]]))


def write_summary_csv(rows: list[dict], path: Path) -> None:
    lead = [*COMBO, *columns_of(rows, setting_columns), "n", *columns_of(rows, status_columns),
            "range_mismatch", "primary", "direction", "units", "rank"]
    extra = [c for c in (*QUALITY, *PAIRED, "code_mix") if any(c in r for r in rows)]
    metrics = [f"{m}_{s}" for m in metric_names(rows) for s in STATS]
    _write_csv(rows, path, [*lead, *extra, *metrics])


def number(x) -> str:
    return f"{x:.4g}" if finite(x) else "–"


def better(direction: str) -> str:
    """"higher" or "lower", for "(... is better)" labels."""
    return "higher" if direction == "max" else "lower"


def pairing(row: dict, rows: list[dict]) -> str:
    """``raw + identity``; with the model where the family has several, and the setting
    columns that tell apart the rows of ``rows`` (one family's)."""
    name = f"{row['scaling']} + {row['head']}"
    if len({r["model"] for r in rows}) > 1:
        name = f"{row['model']}: {name}"
    return with_settings(name, row, shown_settings(rows))


def _median_iqr(row: dict, metric: str) -> str:
    median = row.get(f"{metric}_median")
    if not finite(median):
        return "–"
    q25, q75 = row.get(f"{metric}_q25"), row.get(f"{metric}_q75")
    return number(median) if q25 == q75 else f"{number(median)} [{number(q25)}, {number(q75)}]"


def _reference(rows: list[dict]) -> dict | None:
    return next((r for r in rows if r.get("vs_reference") == "reference"), None)


def earned(r: dict, rows: list[dict]) -> bool:
    """Whether a ranked row has earned a "best" or "worst" (a star in metrics.png): a pairing
    the paired seeds separate from the reference, or the reference with every compared pairing
    separated from it. A median alone (one seed, or seeds that do not separate) has not."""
    if r.get("vs_reference") == "reference":
        compared = [o for o in rows if o.get("paired_n")]
        return bool(compared) and all(o.get("paired_separable") for o in compared)
    return bool(r.get("paired_separable"))


def sentence(rows: list[dict]) -> str:
    """The one generated sentence that answers a family's question with what its numbers show:
    the first and the last pairing by median (called best and worst only where the paired
    seeds earn it, ``earned``), each against the reference (within each condition the study
    runs them under, ``rank_by_condition``), and which pairings the paired seeds separate
    from it."""
    conditions = list(dict.fromkeys(r.get("condition") for r in rows))
    if not any(r["rank"] for r in rows):
        return unranked(rows)
    text = ". ".join(
        _ends([r for r in rows if r.get("condition") == c], rows,
              f"At {c}: " if c else "")
        for c in conditions if any(r["rank"] for r in rows if r.get("condition") == c))
    return _separated(text, rows)


def _ends(rows: list[dict], family_rows: list[dict], lead: str) -> str:
    """"<lead>Best X (...); worst Y (...)" of ``rows`` (one condition's), labelled among the
    family's; "first by median" and "last by median" where the seeds have not earned more."""
    metric = rows[0]["primary"]
    ranked = sorted((r for r in rows if r["rank"]), key=lambda r: r["rank"])
    ref = _reference(rows)

    def part(r: dict) -> str:
        text = f"{pairing(r, family_rows)} (median {metric} {number(r[f'{metric}_median'])}"
        if finite(r.get("last_step")):
            text += f" at step {r['last_step']:g}"
        ref_median = ref.get(f"{metric}_median") if ref else None
        if r is ref:
            text += ", the reference"
        elif finite(ref_median) and ref_median != 0:
            text += f", {r[f'{metric}_median'] / ref_median:.2f}x the reference"
        if r.get("steps_to_quality"):
            text += f"; steps to quality {r['steps_to_quality']}"
        if r.get("still_improving"):
            text += "; still improving at its last evaluation"
        return text + ")"

    first = "best" if earned(ranked[0], rows) else "first by median"
    text = f"{lead}{first if lead else first.capitalize()} {part(ranked[0])}"
    if len(ranked) > 1:
        last = "worst" if earned(ranked[-1], rows) else "last by median"
        text += f"; {last} {part(ranked[-1])}"
    named = next((r["reference"] for r in rows if r.get("reference")), None)
    if named and ref is None:
        text += f". The reference, {named}, has no ok run here: nothing is paired"
    return text


def _separated(text: str, rows: list[dict]) -> str:
    """``text`` and which pairings the paired seeds separate from the reference."""
    compared = [r for r in rows if r.get("paired_n")]
    if compared:
        split = [pairing(r, rows) for r in compared if r.get("paired_separable")]
        n = "/".join(map(str, sorted({r["paired_n"] for r in compared})))
        text += (f". Separated from the reference by the paired seeds at 95%: {', '.join(split)}"
                 if split else f". No pairing is separable from the reference with {n} "
                 f"seed{'' if n == '1' else 's'} at 95%")
        if any("paired_last_short" in r for r in compared):
            text += " on the verdict window"
            differ = [pairing(r, rows) for r in compared if r.get("paired_disagree")]
            text += (f"; on the last evaluation alone the verdict differs for {', '.join(differ)}"
                     if differ else "; the last evaluation alone gives the same verdicts")
    return text + "."


def unranked(rows: list[dict]) -> str:
    """The sentence of a family no pairing of which has a number to rank: why, from its runs."""
    family, metric = rows[0]["family"], rows[0]["primary"]
    counts: dict[str, int] = {}
    for r in rows:
        for s in status_columns(r):
            counts[s] = counts.get(s, 0) + r[s]
    if not counts.get("ok"):
        error = next((r["first_error"] for r in rows if r.get("first_error")), "")
        return (f"No run of {family} ended ok: "
                + ", ".join(f"{n} {s}" for s, n in counts.items() if n)
                + (f" (first error: {error})" if error else "") + ".")
    if metric is None:
        return f"No ok run of {family} reported a metric."
    return f"No pairing has a finite {metric}."


def family_table(rows: list[dict], shown: list[str] = (), window: int = 1) -> str:
    """One family's front table, best first: the pairing, its primary metric (units and
    direction in the header), the metrics its study shows beside it (those the runs have),
    steps to quality, the paired difference to the reference, the runs' statuses and whether
    the head can reach the data's range. With a verdict ``window`` of more than one
    evaluation, the paired difference on it and on the last evaluation beside it."""
    metric, direction, units = rows[0]["primary"], rows[0]["direction"], rows[0].get("units")
    shown = [m for m in shown if m != metric and any(f"{m}_median" in r for r in rows)]
    conditions = list(dict.fromkeys(r.get("condition") for r in rows))
    rows = sorted(rows, key=lambda r: (conditions.index(r.get("condition")), r["rank"] is None,
                                       r["rank"] or 0))
    ref = next((r["reference"] for r in rows if r.get("reference")), None)
    target = rows[0].get("target")
    mixed = any(r.get("code_mix") for r in rows)
    header = ["rank", "pairing",
              f"{metric or 'metric'}, median [IQR]"  # None: no record declares one
              + (f" ({units}; {better(direction)} is better)" if units
                 else f" ({better(direction)} is better)"),
              *(f"{m}, median [IQR]" for m in shown),
              *([f"steps to {metric} {'≤' if direction == 'min' else '≥'} {target:g}"]
                if finite(target) else []),
              *([f"minus {ref}, paired by seed: median [interval, coverage]"
                 + (f", on {window_words(window)}" if window > 1 else "")] if ref else []),
              *(["the same on the last evaluation"] if ref and window > 1 else []),
              "runs", "head's range", *(["note"] if mixed else [])]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for r in rows:
        label = pairing(r, rows) + (f" ({r['floor_arm']})" if r.get("floor_arm") else "")
        cells = ["" if r["rank"] is None else str(r["rank"]), label,
                 _median_iqr(r, metric), *(_median_iqr(r, m) for m in shown),
                 *([(r.get("steps_to_quality") or "–")
                    + (" (still improving)" if r.get("still_improving") else "")]
                   if finite(target) else []),
                 *([r.get("paired_short") or r.get("vs_reference", "")] if ref else []),
                 *([r.get("paired_last_short", "")] if ref and window > 1 else []),
                 status_text(r), "mismatch" if r["range_mismatch"] else "covers the data",
                 *([f"mixes code: {r['code_mix']}" if r.get("code_mix") else ""]
                   if mixed else [])]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def declared(family: str) -> ReportSections:
    """The ``ReportSections`` the family declares; a family no module declares (old records):
    the empty one, so its report shows its primary metric alone. ``harness.models`` brings
    torch and Lightning: imported when a report is written, not with this module (which the
    report's callback loads in every process Hydra starts)."""
    from harness.models import families
    from harness.models.base import FamilyModule

    return families().get(family, FamilyModule).report


def caveats(rows: list[dict]) -> list[str]:
    """The caveats its family declares (a metric whose value says the measurement itself is
    weaker than it looks) that some ok cell of ``rows`` (one family's) shows."""
    found = declared(rows[0]["family"]).caveats if rows else {}
    return [text for metric, (value, text) in found.items()
            if any(r.get(f"{metric}_median") == value for r in rows)]


def markdown_table(rows: list[dict], floors: dict[str, str] | None = None,
                   shown: dict[str, list[str]] | None = None,
                   windows: dict[str, int] | None = None,
                   sections: dict[str, str] | None = None) -> str:
    """The front page: per family its sentence, its table (with the metrics the study shows
    beside the primary, and the paired difference on its verdict window, ``windows``), its
    every-metric section (``sections``, ``harness.report.contrasts``) and, where the study
    names one, its measured noise floor. Every other metric is in summary.csv."""
    parts = ["Per family, ranked by the median over seeds (called best or worst only where "
             "the paired seeds separate it from the reference); [IQR]: the interquartile range "
             "over seeds. The paired difference compares each seed with the same seed of the "
             "reference (same initial network, same batches): the median difference and the "
             "exact sign-test interval. Steps to quality: the first evaluated step at which "
             "the median seed reached the study's target; >N: not by step N; \"still improving\": "
             f"its last evaluation interval made more than {STILL:.0%} of its gain, so the "
             "curve has not flattened. head's range: \"mismatch\" where the head cannot reach "
             "the data's whole range (what the outputs reached is in the range metrics of "
             "summary.csv: mean_gap, span, out_of_range).\n"]
    for family in dict.fromkeys(r["family"] for r in rows):
        frows = [r for r in rows if r["family"] == family]
        parts += [f"### {family}\n", sentence(frows) + "\n",
                  family_table(frows, (shown or {}).get(family, ()),
                               (windows or {}).get(family, 1))]
        if (sections or {}).get(family):
            parts.append(sections[family])
        if floors and family in floors:
            parts.append(f"Noise floor: {floors[family]}.\n")
        parts += [f"Caveat: {text}.\n" for text in caveats(frows)]
    return "\n".join(parts)
