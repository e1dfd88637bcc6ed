"""How a gap scales with the network's width: the take-off step per width, and its fit.

The raw-pixel mechanism says an unbounded output needs about 127.5x the weight movement of a
[-1, 1] one, and that a wider last layer gets there in fewer steps. A study that runs pairings
at several ``model.width`` values measures it: per pairing and width, the median over seeds of
the *take-off step*, the first evaluated step at which the decoded samples' mean brightness is
within 10% of the real images' (``fake_mean`` against ``real_mean`` in the run's history; a
generator that starts at 0 on white faces has to climb to it); and the steps to the study's
target. ``widths.png`` draws take-off against width, log-log, with a least-squares line per
pairing through the widths measured and its extrapolation to the article's width 1.0 dashed and
labelled as one.
"""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from harness.report.cells import by_cell, cell_fields, finite
from harness.report.quality import run_steps, targets
from harness.report.windows import history_of

WIDTH = "model.width"
# a run's budget, scaled with its width by a study (a wider network takes off sooner and costs
# more a step): not a setting that tells two series apart (a same-seed run sees the same
# batches whatever its budget, so the step it takes off at does not depend on it)
BUDGET = ("steps", "eval_every")
NEAR = 0.1  # within this part of the real images' mean brightness: taken off
ARTICLE = 1.0  # the article's width


def takeoff(rows: list[dict]) -> float:
    """The first evaluated step whose ``fake_mean`` is within ``NEAR`` of ``real_mean``; inf
    where none is, NaN without a history that has them."""
    usable = [h for h in rows if finite(h.get("fake_mean")) and finite(h.get("real_mean"))]
    if not usable:
        return math.nan
    return next((h["step"] for h in usable
                 if abs(h["fake_mean"] - h["real_mean"]) <= NEAR * h["real_mean"]), math.inf)


def width_rows(records: list[dict], study: dict) -> list[dict]:
    """Per pairing (with its settings other than the width) and width: the median take-off
    step and steps to the target over its ok seeds (inf counts as later than any), with the
    seeds behind them. [] where the runs do not vary ``model.width``."""
    cells = by_cell(records)
    if not any(WIDTH in dict(c[-1]) for c in cells):
        return []
    goal = targets(study)
    out, cache = [], {}
    for cell, runs in cells.items():
        fields = cell_fields(cell)
        ok = [r for r in runs if r.get("status") == "ok"]
        if not ok:
            continue
        histories = [history_of(r, cache) for r in ok]
        offs = sorted(takeoff(h) for h in histories)
        target = goal.get(fields["family"], math.nan)
        quality = sorted(run_steps(r, target)[0] for r in ok) if finite(target) else []
        rest = {k: v for k, v in fields.settings.items() if k != WIDTH and k not in BUDGET}
        pace = sorted(p for r, h in zip(ok, histories) if finite(p := seconds_per_step(r, h)))
        out.append({"family": fields["family"], "pairing": f"{fields['scaling']} + "
                    f"{fields['head']}", "settings": rest, "width": float(fields[WIDTH]),
                    "seeds": len(ok), "takeoff": _median(offs),
                    "quality": _median(quality) if quality else math.nan,
                    "s_per_step": _median(pace) if pace else math.nan,
                    "budget": max(r.get("steps") or 0 for r in ok),
                    "brightness": brightness(histories)})
    return out


def seconds_per_step(record: dict, rows: list[dict]) -> float:
    """A run's wall time per training step, its evaluations included: the median over its
    history's intervals between evaluations, so a pause (a suspended process, a resume, a
    machine busy for a while) that lands in one interval does not move it; the whole run's
    wall time over its steps where the history has no timed intervals."""
    timed = [(h["step"], h["wall_time_s"]) for h in rows if finite(h.get("wall_time_s"))]
    rates = [(w1 - w0) / (s1 - s0) for (s0, w0), (s1, w1) in zip(timed, timed[1:])
             if s1 > s0 and w1 > w0]
    if rates:
        return float(np.median(rates))
    wall, steps = record.get("wall_time_s"), record.get("steps")
    return wall / steps if finite(wall) and steps else math.nan


def brightness(histories: list[list[dict]]) -> dict[float, float]:
    """Step -> the median over seeds of the samples' mean brightness as a share of the real
    images' (1: theirs), at the steps every seed evaluated: how far a run that has not taken
    off yet has climbed, comparable across widths at a common step."""
    shares: dict[float, list[float]] = {}
    for rows in histories:
        for h in rows:
            if finite(h.get("fake_mean")) and finite(h.get("real_mean")) and h["real_mean"]:
                shares.setdefault(h["step"], []).append(h["fake_mean"] / h["real_mean"])
    return {step: float(np.median(v)) for step, v in shares.items()
            if len(v) == len(histories)}


def climb_line(srows: list[dict], widths: list[float]) -> str | None:
    """A series' brightness at the last step every width of it evaluated, a cell per width:
    the take-off step's continuous counterpart, for runs that have not taken off."""
    common = set.intersection(*(set(r["brightness"]) for r in srows)) if srows else set()
    if not common:
        return None
    step = max(common)
    by_width = {r["width"]: r for r in srows}
    cells = [f"{by_width[w]['brightness'][step]:.3f}" if w in by_width else "–" for w in widths]
    return f"{step:g} | " + " | ".join(cells)


def _median(values: list[float]) -> float:
    """The median of sorted ``values`` where inf may stand for "never": the upper middle one,
    so a single never does not average into a finite step."""
    finite_ = [v for v in values if not math.isnan(v)]
    return finite_[len(finite_) // 2] if finite_ else math.nan


def fit(points: list[tuple[float, float]]) -> tuple[float, float] | None:
    """(slope, intercept) of log(step) against log(width), least squares; None below two
    finite points."""
    pts = [(w, s) for w, s in points if finite(s) and s > 0]
    if len(pts) < 2:
        return None
    x, y = np.log([w for w, _ in pts]), np.log([s for _, s in pts])
    slope, intercept = np.polyfit(x, y, 1)
    return float(slope), float(intercept)


def _series(rows: list[dict]) -> dict[str, list[dict]]:
    series: dict[str, list[dict]] = {}
    for r in rows:
        extra = "".join(f", {k.rpartition('.')[2]}={v}" for k, v in r["settings"].items())
        series.setdefault(r["pairing"] + extra, []).append(r)
    return series


def width_section(rows: list[dict]) -> str:
    """The markdown: a row per pairing, the take-off step and steps to the target per width,
    the fitted exponent and the extrapolation to width 1.0 (said to be one)."""
    if not rows:
        return ""
    widths = sorted({r["width"] for r in rows})
    series = _series(rows)
    lines = ["### How the gap scales with width\n",
             f"Take-off: the first evaluated step at which the samples' mean brightness is within "
             f"{NEAR:.0%} of the real images' (median over seeds; >N: not within the N steps "
             f"of its budget); in brackets the steps to the study's target. Then the seeds, and "
             f"the wall time per training step, its evaluations included, as the runs were "
             f"timed (the median over each run's intervals between evaluations, so a pause "
             f"does not count; the study's launcher: two one-thread runs at a time on the "
             f"2-core CPU that made the committed reports). Fit: log(take-off) against "
             f"log(width) through the widths measured; at width {ARTICLE:g} it is an "
             f"extrapolation, not a measurement.\n",
             "| pairing | " + " | ".join(f"width {w:g}: take-off (to target), seeds, s/step"
                                         for w in widths)
             + " | exponent | take-off at width 1.0, extrapolated |",
             "|---|" + "---|" * (len(widths) + 2)]
    for name, srows in series.items():
        by_width = {r["width"]: r for r in srows}
        cells = []
        for w in widths:
            r = by_width.get(w)
            cells.append("–" if r is None else
                         f"{_steps(r['takeoff'], r)} ({_steps(r['quality'], r)}), {r['seeds']}, "
                         + (f"{r['s_per_step']:.2f} s" if finite(r["s_per_step"]) else "–"))
        line = fit([(r["width"], r["takeoff"]) for r in srows])
        exponent = f"{line[0]:.2f}" if line else "–"
        at = f"{math.exp(line[1]):.0f}" if line else "–"  # log(1.0) = 0
        lines.append(f"| {name} | " + " | ".join(cells) + f" | {exponent} | {at} |")
    climbs = [(name, climb_line(srows, widths)) for name, srows in series.items()]
    if any(line for _, line in climbs):
        lines += ["", "The samples' mean brightness as a share of the real images' (median over "
                  "seeds), at the last step every width of the pairing evaluated: how far a "
                  "pairing has climbed where it has not taken off.", "",
                  "| pairing | step | " + " | ".join(f"width {w:g}" for w in widths) + " |",
                  "|---|---|" + "---|" * len(widths)]
        lines += [f"| {name} | {line} |" for name, line in climbs if line]
    return "\n".join(lines) + "\n\n![take-off step against width](widths.png)\n"


def _steps(x: float, row: dict) -> str:
    return ("–" if math.isnan(x) else f">{row['budget']}" if math.isinf(x) and row["budget"]
            else "never" if math.isinf(x) else f"{x:.0f}")


def plot_widths(rows: list[dict], path: Path) -> bool:
    """``widths.png``: take-off against width, log-log, measured points solid, a width not taken
    off by its budget as a triangle at the budget (a lower bound), each fit's extrapolation to
    width 1.0 dashed; False (nothing written) without width rows."""
    if not rows:
        return False
    fig = Figure(figsize=(6.4, 4.4))
    ax = fig.add_subplot(1, 1, 1)
    for i, (name, srows) in enumerate(_series(rows).items()):
        colour = f"C{i}"
        pts = sorted((r["width"], r["takeoff"]) for r in srows if finite(r["takeoff"]))
        if pts:
            ax.plot(*zip(*pts), "o-", color=colour, label=f"{name}: measured")
        late = sorted((r["width"], r["budget"]) for r in srows
                      if math.isinf(r["takeoff"]) and r["budget"])
        if late:  # not taken off by its budget: the take-off is later than the marker
            ax.plot(*zip(*late), "^", color=colour, markersize=9, linestyle="none",
                    label=f"{name}: not by its budget (take-off later than the marker)")
        line = fit(pts)
        if line:
            ws = np.array([min(w for w, _ in pts), ARTICLE])
            ax.plot(ws, np.exp(line[1]) * ws ** line[0], "--", color=colour,
                    label=f"{name}: fit, exponent {line[0]:.2f}, extrapolated to {ARTICLE:g}")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("model.width (1.0: the article's)")
    ax.set_ylabel("take-off step (median over seeds)")
    ax.set_title("steps until the samples' brightness is within 10% of the data's", fontsize=10)
    ax.grid(alpha=0.3, which="both")
    if ax.get_legend_handles_labels()[0]:  # nothing drawn where no seed took off
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    return True
