"""A report's pictures: ``metrics.png`` (primary metric per family) and ``montage.png``
(samples side by side, decoded and min/max-stretched).

The montage puts what a user sees beside what the article's image saver showed, so a wrongly
ranged head cannot hide behind the stretch. Drawing lives here, apart from the numbers
(``harness.stats``), so a plot change cannot touch a table.
"""
from __future__ import annotations

import math
import textwrap
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure
from matplotlib.patches import Patch
from PIL import Image, ImageDraw, ImageFont

from harness.stats import (by_cell, cell_fields, finite, head_order, shown_settings, status_text,
                           with_settings)
from harness.tables import better

DECODED, STRETCHED = "samples_decoded.png", "samples_stretched.png"
HEADERS = ("decoded (what a user sees)", "min/max-stretched (what the article saw)")


def plot_metrics(rows: list[dict], path: Path) -> None:
    """One panel per family: primary metric by head, one bar per scaling, 95% CI error bars.

    Hatched bars are range mismatches (the negative controls); a combination with no ok run has
    no bar but its status counts written at the base. Rows split by a setting column are
    separate series, e.g. ``raw, steps=301``.
    """
    families = list(dict.fromkeys(r["family"] for r in rows))
    n_heads = max(len({r["head"] for r in rows if r["family"] == f}) for f in families)
    fig = Figure(figsize=(max(6.0, 1.4 * n_heads + 2) + 2.5, 3.6 * len(families)))  # + legend
    for i, family in enumerate(families):
        _plot_family(fig.add_subplot(len(families), 1, i + 1),
                     [r for r in rows if r["family"] == family])
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def _plot_family(ax, rows: list[dict]) -> None:
    metric, direction = rows[0]["primary"], rows[0]["direction"]
    several_models, shown = len({r["model"] for r in rows}) > 1, shown_settings(rows)
    series = list(dict.fromkeys(_series(r, several_models, shown) for r in rows))
    by_head: dict[str, list[dict]] = {}
    for r in sorted(rows, key=lambda r: head_order(r["head"])):  # stable: scalings in order
        by_head.setdefault(r["head"], []).append(r)
    width = 0.8 / max(len(hrows) for hrows in by_head.values())
    for x0, hrows in enumerate(by_head.values()):  # only the combinations run, side by side
        for j, r in enumerate(hrows):
            _bar(ax, r, x0 + (j - (len(hrows) - 1) / 2) * width, width, metric,
                 series.index(_series(r, several_models, shown)))
    handles = [Patch(facecolor=f"C{i}", edgecolor="black", label=s) for i, s in enumerate(series)]
    if any(r["range_mismatch"] for r in rows):
        handles.append(Patch(facecolor="white", edgecolor="black", hatch="//",
                             label="range mismatch"))
    ax.legend(handles=handles, title="scaling", fontsize=8, title_fontsize=8,
              loc="upper left", bbox_to_anchor=(1.01, 1.0))  # beside the bars, never on them
    ax.set_xticks(range(len(by_head)), list(by_head))
    ax.set_xlim(-0.6, len(by_head) - 0.4)
    ax.set_ylabel(f"{metric} ({better(direction)} is better)" if metric else "no metric")
    ax.set_title(f"{rows[0]['family']}: {metric} by head, mean ± 95% CI over seeds")
    ax.grid(axis="y", alpha=0.3)


def _bar(ax, r: dict, x: float, width: float, metric: str, colour: int) -> None:
    mean, half = r.get(f"{metric}_mean", math.nan), r.get(f"{metric}_ci95", math.nan)
    if not finite(mean):
        ax.text(x, 0, status_text(r), rotation=90, ha="center", va="bottom", fontsize=8,
                color="dimgray")
        return
    ax.bar(x, mean, width, yerr=half if finite(half) else None, capsize=3, color=f"C{colour}",
           edgecolor="black", linewidth=0.5, hatch="//" if r["range_mismatch"] else None)


def _series(row: dict, several_models: bool, shown: list[str]) -> str:
    name = f"{row['model']}/{row['scaling']}" if several_models else row["scaling"]
    return with_settings(name, row, shown)


def _font(size: int):
    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow < 10.1 has one fixed-size bitmap font
        return ImageFont.load_default()


def _sample_run(runs: list[dict]) -> dict:
    """The first seed with samples on disk, else the first seed (its status fills the cells)."""
    for r in runs:
        if any((Path(r["run_dir"]) / name).is_file() for name in (DECODED, STRETCHED)):
            return r
    return runs[0]


def _open(path: Path) -> Image.Image | None:
    try:
        with Image.open(path) as im:
            return im.convert("RGB")
    except OSError:
        return None


def build_montage(records: list[dict], path: Path) -> None:
    """One row per cell: label, decoded samples, min/max-stretched samples (the second
    column only where some run has them: segmentation's overlays have no stretched view)."""
    cells = by_cell(records)
    picks = [_sample_run(runs) for runs in cells.values()]
    labels = _labels(picks, [cell_fields(c) for c in cells])
    names = [DECODED] + [STRETCHED] * any((Path(r["run_dir"]) / STRETCHED).is_file() for r in picks)
    headers = HEADERS[:len(names)]
    cells = [[_open(Path(r["run_dir"]) / name) for name in names] for r in picks]
    loaded = [im for row in cells for im in row if im is not None]
    height = int(np.clip(max((im.height for im in loaded), default=128), 96, 320))
    cells = [[_fit(im, height) for im in row] for row in cells]
    pad, top, header_font, label_font = 8, 34, _font(17), _font(16)
    margin = max([230] + [round(label_font.getlength(line)) + 2 * pad
                          for label in labels for line in label.splitlines()])
    width = max([im.width for row in cells for im in row if im is not None]
                + [round(header_font.getlength(h)) + 2 * pad for h in headers])
    canvas = Image.new("RGB", (margin + len(names) * (width + pad) + pad,
                               top + len(picks) * (height + pad)), "white")
    draw = ImageDraw.Draw(canvas)
    for j, header in enumerate(headers):
        x = margin + pad + j * (width + pad) + width // 2
        draw.text((x, top // 2), header, fill="black", font=header_font, anchor="mm")
    for i, (r, label, row) in enumerate(zip(picks, labels, cells)):
        y = top + i * (height + pad)
        draw.multiline_text((pad, y + 4), label, fill="black", font=label_font, spacing=5)
        for j, im in enumerate(row):
            im = im if im is not None else _placeholder(r, width, height)
            canvas.paste(im, (margin + pad + j * (width + pad) + (width - im.width) // 2, y))
    canvas.save(path)


def _fit(im: Image.Image | None, height: int) -> Image.Image | None:
    """Scale to ``height``; nearest-neighbour when enlarging so pixels stay visible as pixels."""
    if im is None or im.height == height:
        return im
    size = (max(1, round(im.width * height / im.height)), height)
    return im.resize(size, Image.NEAREST if height > im.height else Image.LANCZOS)


def _labels(picks: list[dict], fields: list[dict]) -> list[str]:
    """Each row's label; its first line names the setting columns that tell apart the rows of
    its family, e.g. ``raw + identity, steps=301``."""
    return [_label(r, with_settings(f"{f['scaling']} + {f['head']}", f,
                                    shown_settings([g for g in fields
                                                    if g["family"] == f["family"]])))
            for r, f in zip(picks, fields)]


def _label(r: dict, title: str) -> str:
    lines = [title, str(r.get("model", "")), f"seed {r.get('seed', '?')}: {r.get('status', '?')}"]
    return "\n".join(lines + (["range mismatch"] if r.get("range_mismatch") else []))


def _placeholder(r: dict, width: int, height: int) -> Image.Image:
    im = Image.new("RGB", (width, height), (160, 160, 160))
    text = f"{r.get('status', '?')}: {r.get('message', '') or 'no samples'}"
    wrapped = "\n".join(textwrap.wrap(text, max(10, (width - 12) // 9))[: max(1, height // 20)])
    ImageDraw.Draw(im).multiline_text((6, 6), wrapped, fill="black", font=_font(14))
    return im
