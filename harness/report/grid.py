"""A grid search's ``grid.png``: each key's score against the searched value, so the chosen value
and its neighbours are seen together, with every seed.

One line per key (``raw/identity``) through the medians over seeds, on a log axis where the
values span a factor of 10 or more; each seed a dot beside it, so overlapping neighbours are
visible; the chosen value ringed. Colour by the key's scaling (as in ``curves.png``), line
style by its second part (the head).
"""
from __future__ import annotations

import statistics
from pathlib import Path

from matplotlib.figure import Figure

from harness.report.curves import STYLES, scaling_colour


def grid_figure(table: dict[str, dict], param: str, metric: str, window: int) -> Figure:
    """``table``: key -> {param: the chosen value, "scores": {value: [each seed's score]}}."""
    fig = Figure(figsize=(8.5, 4.6))
    ax = fig.add_subplot(1, 1, 1)
    seconds = list(dict.fromkeys(k.partition("/")[2] for k in table))
    values = sorted({v for f in table.values() for v in f["scores"]})
    for i, (key, found) in enumerate(table.items()):
        first, _, second = key.partition("/")
        nudge = 1 + 0.04 * (i - (len(table) - 1) / 2) / len(table)  # each key's seeds apart
        colour = scaling_colour(first)
        style = STYLES[seconds.index(second) % len(STYLES)]
        points = sorted((v, s) for v, s in found["scores"].items() if s)
        ax.plot([v for v, _ in points], [statistics.median(s) for _, s in points], color=colour,
                linestyle=style, linewidth=1.4, marker="o", markersize=3, label=key)
        for v, seeds in points:  # every seed, so overlapping neighbours stay visible
            ax.plot([v * nudge] * len(seeds), seeds, linestyle="none", marker=".",
                    markersize=3, color=colour, alpha=0.5)
        chosen = found[param]
        ax.plot([chosen], [statistics.median(found["scores"][chosen])], linestyle="none",
                marker="o", markersize=10, markerfacecolor="none", markeredgecolor=colour,
                markeredgewidth=1.5, gid="chosen")
    if values and min(values) > 0 and max(values) >= 10 * min(values):
        ax.set_xscale("log")
    ax.set_xlabel(param)
    ax.set_ylabel(f"{metric}, mean of the last {window} evaluations")
    ax.set_title(f"{metric} per {param}: median over seeds (line), each seed (dots), "
                 "the value chosen (ring)", fontsize=9)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    fig.tight_layout()
    return fig


def plot_grid(table: dict[str, dict], param: str, metric: str, window: int, path: Path) -> None:
    grid_figure(table, param, metric, window).savefig(path, dpi=90)
