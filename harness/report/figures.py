"""A report's bar chart, ``metrics.png``: per family the primary metric of every cell.

Medians and interquartile ranges, as the tables give them, so the chart cannot disagree with
them; a scaling has the colour it has in ``curves.png``; the untrained model and the floor the
family declares (``ReportSections.floors``) are drawn where the records have them, so a bar can
be read as "learned" or "not".
The montage (``harness.report.montage``) is re-exported here, where the report looks for both.
"""
from __future__ import annotations

import math
from pathlib import Path
from statistics import median as median_of

from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from matplotlib.transforms import offset_copy

from harness.report.curves import scaling_colour
from harness.report.montage import build_montage
from harness.report.cells import finite, head_order, shown_settings, status_text, with_settings
from harness.report.tables import better, declared, earned

__all__ = ["plot_metrics", "metrics_figure", "build_montage"]

ALPHAS = (1.0, 0.55, 0.3, 0.15)  # series that share a scaling (models, setting values)
UNTRAINED = "untrained"


def plot_metrics(rows: list[dict], path: Path) -> None:
    metrics_figure(rows).savefig(path, dpi=110)


MIN_SEEDS = 3  # the fewest ok seeds whose interquartile range is drawn


def metrics_figure(rows: list[dict]) -> Figure:
    """One panel per family: the primary metric's median by head, one bar per scaling
    (``scaling_colour``), error bars from the 25th to the 75th percentile over seeds.

    Hatched bars are range mismatches (the negative controls); the rank-1 cell has a star where
    the paired seeds separate it (``_best``); a cell of fewer than ``MIN_SEEDS`` ok seeds has no
    error bar; a cell with no ok run has no bar but its status counts written at the base.
    """
    families = list(dict.fromkeys(r["family"] for r in rows))
    n_heads = max(len({r["head"] for r in rows if r["family"] == f}) for f in families)
    fig = Figure(figsize=(max(6.0, 1.4 * n_heads + 2) + 2.8, 3.6 * len(families)))  # + legend
    for i, family in enumerate(families):
        _plot_family(fig.add_subplot(len(families), 1, i + 1),
                     [r for r in rows if r["family"] == family])
    fig.tight_layout()
    return fig


def _plot_family(ax, rows: list[dict]) -> None:
    metric, direction = rows[0]["primary"], rows[0]["direction"]
    several_models, shown = len({r["model"] for r in rows}) > 1, shown_settings(rows)
    series = list(dict.fromkeys(_series(r, several_models, shown) for r in rows))
    looks = _looks(rows, series, several_models, shown)
    by_head: dict[str, list[dict]] = {}
    for r in sorted(rows, key=lambda r: head_order(r["head"])):  # stable: scalings in order
        by_head.setdefault(r["head"], []).append(r)
    width = 0.8 / max(len(hrows) for hrows in by_head.values())
    for x0, hrows in enumerate(by_head.values()):  # only the combinations run, side by side
        for j, r in enumerate(hrows):
            _bar(ax, r, x0 + (j - (len(hrows) - 1) / 2) * width, width, metric,
                 looks[_series(r, several_models, shown)], _best(r, rows))
    drawn = {_series(r, several_models, shown) for r in rows if finite(r.get(f"{metric}_median"))}
    handles = [Patch(facecolor=colour, alpha=alpha, edgecolor="black", label=s)
               for s, (colour, alpha) in looks.items() if s in drawn]
    if any(r["range_mismatch"] for r in rows):
        handles.append(Patch(facecolor="white", edgecolor="black", hatch="//",
                             label="range mismatch"))
    handles += _references(ax, rows, metric)
    if any(_best(r, rows) for r in rows):
        handles.append(Line2D([], [], marker="*", markersize=11, color="gold",
                              markeredgecolor="black", linestyle="none",
                              label=f"best median ({better(direction)} is better), "
                                    "separated by the paired seeds"))
    ax.legend(handles=handles, title="scaling", fontsize=8, title_fontsize=8,
              loc="upper left", bbox_to_anchor=(1.01, 1.0))  # beside the bars, never on them
    ax.set_xticks(range(len(by_head)), list(by_head))
    ax.set_xlim(-0.6, len(by_head) - 0.4)
    ax.margins(y=0.12)  # room for the star above the tallest error bar
    ax.set_ylabel(f"{metric} ({better(direction)} is better)" if metric else "no metric")
    ax.set_title(f"{rows[0]['family']}: {metric} by head; median, bars: interquartile range "
                 f"over seeds ({MIN_SEEDS} or more)", fontsize=10)
    ax.grid(axis="y", alpha=0.3)


def _looks(rows, series, several_models, shown) -> dict[str, tuple[str, float]]:
    """series -> (colour of its scaling, alpha): series of one scaling differ in alpha."""
    scaling = {_series(r, several_models, shown): r["scaling"] for r in rows}
    seen: dict[str, int] = {}
    looks = {}
    for s in series:
        k = seen[scaling[s]] = seen.get(scaling[s], -1) + 1
        looks[s] = (scaling_colour(scaling[s]), ALPHAS[min(k, len(ALPHAS) - 1)])
    return looks


def _best(r: dict, rows: list[dict]) -> bool:
    """Whether the rank-1 row has earned its star (``tables.earned``): a best median alone
    (one seed, or seeds that do not separate) gets none."""
    return r.get("rank") == 1 and earned(r, rows)


def _bar(ax, r: dict, x: float, width: float, metric: str, look: tuple[str, float],
         best: bool = False) -> None:
    median = r.get(f"{metric}_median", math.nan)
    if not finite(median):
        ax.text(x, 0, status_text(r), rotation=90, ha="center", va="bottom", fontsize=8,
                color="dimgray")
        return
    q25, q75 = (r.get(f"{metric}_{q}", median) for q in ("q25", "q75"))
    q25, q75 = (q if finite(q) and r.get("ok", MIN_SEEDS) >= MIN_SEEDS else median
                for q in (q25, q75))  # quartiles of one or two seeds: no bar
    colour, alpha = look
    ax.bar(x, median, width, yerr=[[median - q25], [q75 - median]] if q75 > q25 else None,
           capsize=3, color=colour,
           alpha=alpha, edgecolor="black", linewidth=0.5,
           hatch="//" if r["range_mismatch"] else None, gid=f"{r['scaling']} + {r['head']}")
    init = r.get(f"{metric}_init_median")
    if finite(init):  # each pairing's own untrained model: raw ones start elsewhere
        ax.plot([x - width / 2, x + width / 2], [init, init], color="black", linestyle=":",
                linewidth=1.5, gid="untrained")
    if best:
        above = offset_copy(ax.transData, fig=ax.figure, y=7, units="points")
        ax.plot([x], [max(median, q75)], marker="*", markersize=11, color="gold",
                markeredgecolor="black", linestyle="none", zorder=5, gid="best",
                transform=above)


def _references(ax, rows: list[dict], metric: str) -> list[Line2D]:
    """The floor's median over the family's cells as a line, and the legend entry of the
    untrained marks each bar carries (``_bar``)."""
    floor, floor_label = declared(rows[0]["family"]).floors.get(metric, (None, None))
    lines = []
    if any(finite(r.get(f"{metric}_init_median")) for r in rows):
        lines.append(Line2D([], [], color="black", linestyle=":", linewidth=1.5,
                            label=f"{UNTRAINED} (each bar's own)"))
    values = [r[f"{floor}_median"] for r in rows if floor and finite(r.get(f"{floor}_median"))]
    if values:
        level = median_of(values)
        lines.append(ax.axhline(level, color="black", linestyle="--", linewidth=1.0,
                                label=f"{floor_label}: {level:.3g}"))
    return lines


def _series(row: dict, several_models: bool, shown: dict) -> str:
    name = f"{row['model']}/{row['scaling']}" if several_models else row["scaling"]
    floor = " (noise floor's arm)" if row.get("floor_arm") else ""  # drawn, never a contender
    return with_settings(name, row, shown) + floor
