"""A report's learning curves, ``curves.png``: each pairing's metrics against step, from the
runs' ``history.csv`` files, so "does not train" can be told from "trains slowly".

Per family one row of panels: the primary metric, then those of the panels the family declares
(``ReportSections`` in ``harness.models``, so no family is named here) that its records have,
e.g. the range metrics; a metric paired with a panel's (``shared``) is drawn in that panel with
x markers, e.g. recognisability of the decoded samples and of the article's view: where the two
part, stretching hid a range error. Per cell (pairing and setting columns) the median over its
ok seeds at each evaluated step, and a band from the lowest to the highest seed. One colour per
scaling and one line style per head, the same in every panel; a pairing's further cells (its
mechanism arms) a marker each. Reference lines: the floors the
family declares (e.g. real against real), where its records have them. Step 0 is the untrained
model, so the curves start at the untrained baseline.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from harness.core.history import HISTORY, read_history
from harness.core.pixels import SCALINGS
from harness.report.cells import by_cell, cell_fields, finite, head_order, shown_settings, with_settings
from harness.report.tables import declared

UNTRAINED = "step 0 (untrained)"
LEGEND_ROWS = 18  # entries per legend column: what a 3.4-inch row of panels holds at size 7

# one line style per head: enough for every head in harness.core.pixels, so two heads of one
# scaling (one colour) never share a line
STYLES = ("-", "--", ":", "-.", (0, (3, 1, 1, 1, 1, 1)), (0, (8, 3, 1, 3)), (0, (1, 1)),
          (0, (5, 1)))


def scaling_colour(scaling: str) -> str:
    """One colour per scaling, fixed by ``harness.core.pixels`` order: the same in every figure."""
    names = list(SCALINGS)
    return f"C{names.index(scaling) if scaling in names else len(names)}"


MARKERS = (None, "o", "s", "^", "D", "v")


def arm_styles(cells: list[tuple]) -> dict[tuple, tuple[str | tuple, str | None]]:
    """cell -> (line style, marker): one line style per head, as before; the second and later
    cells of one pairing (a mechanism arm: another learning rate, budget or precision) get
    their own marker, so that no two arms of one colour look alike."""
    heads = sorted({c[3] for c in cells}, key=head_order)
    seen: dict[tuple, int] = {}
    out = {}
    for c in cells:
        k = seen[c[2:4]] = seen.get(c[2:4], -1) + 1
        out[c] = (STYLES[heads.index(c[3]) % len(STYLES)], MARKERS[k % len(MARKERS)])
    return out


def _histories(runs: list[dict]) -> list[list[dict]]:
    """The history rows of each ok run (read once, drawn in every panel)."""
    return [read_history(Path(r["run_dir"]) / HISTORY) for r in runs if r.get("status") == "ok"]


def _curve(histories: list[list[dict]], metric: str
           ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(steps, median, low, high) over the seeds that evaluated each step."""
    by_step: dict[float, list[float]] = {}
    for history in histories:
        for row in history:
            if finite(row.get(metric)):
                by_step.setdefault(row["step"], []).append(row[metric])
    steps = np.array(sorted(by_step))
    values = [np.array(by_step[s]) for s in steps]
    return (steps, np.array([np.median(v) for v in values]),
            np.array([v.min() for v in values]), np.array([v.max() for v in values]))


def plot_curves(records: list[dict], rows: list[dict], path: Path) -> bool:
    """Draw ``curves.png``; False (nothing written) where no run kept a history."""
    fig = curves_figure(records, rows)
    if fig is not None:
        fig.savefig(path, dpi=90, bbox_inches="tight")  # the legend beside the panels, whole
    return fig is not None


def curves_figure(records: list[dict], rows: list[dict]) -> Figure | None:
    """The curves as a Figure, None where no run kept a history."""
    cells = {cell: _histories(runs) for cell, runs in by_cell(records).items()}
    families = list(dict.fromkeys(r["family"] for r in rows))
    panels = {f: [next(r["primary"] for r in rows if r["family"] == f)] for f in families}
    drawn = False
    for f in families:
        kept = [m for m in declared(f).panels if any(finite(r.get(f"{m}_median")) for r in rows
                                                     if r["family"] == f)]
        panels[f] += kept
    width = max(len(p) for p in panels.values())
    # a legend column holds LEGEND_ROWS entries: a grid of 56 cells gets four columns
    columns = max(1, *(-(-sum(c[0] == f for c in cells) // LEGEND_ROWS) for f in families))
    fig = Figure(figsize=(4.6 * width + 3.0 * columns, 3.4 * len(families)))
    for i, family in enumerate(families):
        frows = [r for r in rows if r["family"] == family]
        shown = shown_settings(frows)
        looks = arm_styles([c for c in cells if c[0] == family])
        models = {c[1] for c in cells if c[0] == family}
        shared = declared(family).shared
        for j, metric in enumerate(panels[family]):
            ax = fig.add_subplot(len(families), width, i * width + j + 1)
            trained, off = [], {}  # values after step 0; what else is drawn: label -> values
            for cell, histories in cells.items():
                row = cell_fields(cell)
                if row["family"] != family:
                    continue
                steps, median, low, high = _curve(histories, metric)
                if not len(steps):
                    continue
                drawn = True
                colour = scaling_colour(row["scaling"])
                label = with_settings(f"{row['scaling']} + {row['head']}", row, shown)
                if len(models) > 1:  # BatchNorm and no-norm rows of one pairing look alike
                    label = f"{row['model']}: {label}"
                style, marker = looks[cell]
                ax.plot(steps, median, linestyle=style, color=colour, label=label, linewidth=1.4,
                        marker=marker, markersize=4, markevery=max(1, len(steps) // 8))
                ax.fill_between(steps, low, high, color=colour, alpha=0.15, linewidth=0)
                later = steps > 0
                trained += [*median[later], *low[later], *high[later]]
                off.setdefault(UNTRAINED, []).extend(median[~later])
                if metric in shared:
                    steps, median, _, _ = _curve(histories, shared[metric])
                    ax.plot(steps, median, linestyle=style, color=colour, marker="x", linewidth=0.8,
                            alpha=0.7)
            floor = _floor(ax, records, family, metric)
            if floor:
                off[floor[0]] = [floor[1]]
            _zoom(ax, trained, off)
            ax.set_xlabel("step")
            title = f"{family}: {metric}"
            if metric in shared:
                title += f" (x: {shared[metric]})"
            ax.set_title(title, fontsize=10)
            ax.grid(alpha=0.3)
            if j == len(panels[family]) - 1:  # one legend per family: every panel's lines
                handles = {}
                for a in fig.axes[-len(panels[family]):]:
                    for h, label in zip(*a.get_legend_handles_labels()):
                        handles.setdefault(label, h)
                ax.legend(handles.values(), handles.keys(), fontsize=7, loc="upper left",
                          ncol=max(1, -(-len(handles) // LEGEND_ROWS)),
                          bbox_to_anchor=(1.01, 1.0))
    if not drawn:
        return None
    fig.suptitle("median over seeds (band: lowest to highest seed); step 0 = untrained",
                 fontsize=10)
    fig.tight_layout()
    return fig


def _floor(ax, records: list[dict], family: str, metric: str) -> tuple[str, float] | None:
    """The median over the family's ok runs of the floor it declares for ``metric``, if any:
    drawn, and returned as (label, level)."""
    sections = declared(family)
    name, label = sections.floors.get(metric, (None, None))
    values = [r["metrics"][name] for r in records if r.get("family") == family
              and r.get("status") == "ok" and finite((r.get("metrics") or {}).get(name))]
    if not values:
        return None
    level = float(np.median(values))
    ax.axhline(level, color="black", linestyle=sections.floor_styles.get(metric, "--"),
               linewidth=0.8, label=label)
    return label, level


def _zoom(ax, trained: list[float], off: dict[str, list[float]]) -> None:
    """Scale the panel to the trained curves where the untrained start or a floor lies more
    than the curves' own range away (a loss that starts at 9 and trains to 0.3-1.3 would
    flatten every curve into one line), and name what left the scale, with its values."""
    values = [v for v in trained if finite(v)]
    if not values:
        return
    lo, hi = min(values), max(values)
    pad = (hi - lo) or abs(hi) or 1.0
    if all(lo - pad <= v <= hi + pad for vs in off.values() for v in vs if finite(v)):
        return
    bottom, top = lo - 0.08 * pad, hi + 0.08 * pad
    ax.set_ylim(bottom, top)
    away = {k: sorted(v for v in vs if finite(v)) for k, vs in off.items()
            if any(finite(v) and not bottom <= v <= top for v in vs)}  # named, as it left
    words = [f"{k} {vs[0]:.3g}" + (f" to {vs[-1]:.3g}" if vs[-1] != vs[0] else "")
             for k, vs in away.items()]
    ax.text(0.98, 0.97, "off the scale: " + "; ".join(words), transform=ax.transAxes,
            ha="right", va="top", fontsize=7, color="dimgray", gid="off-scale")
