"""A report's samples, ``montage.png``: per family a section, per cell a row, per view a column.

What a user gets (decoded) stands beside the view that can hide a wrongly ranged head (the
article's one stretch over the grid, or a stretch per image), so the hiding is visible. Views
are shown at one capped height per family and saved with an adaptive palette, so a 12-cell
report stays under 1 MB and still opens quickly in a browser or a pull request. What one sample
shows, each section's caption, the family declares (``ReportSections.caption``).
"""
from __future__ import annotations

import textwrap
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from harness.report.cells import by_cell, cell_fields, shown_settings, with_settings
from harness.report.tables import declared

DECODED, ARTICLE, STRETCHED = "samples_decoded.png", "samples_article.png", "samples_stretched.png"
VIEWS = {  # file -> column header, in column order
    DECODED: "decoded: what a user gets",
    ARTICLE: "the article's view: one min/max stretch over the whole grid",
    STRETCHED: "each image min/max-stretched on its own",
}
MIN_H, MAX_H, MAX_W = 96, 200, 360  # displayed view size: height, then at most this wide
PAD, GAP, MIN_COLUMN = 8, 16, 180
GREY = (160, 160, 160)


def build_montage(records: list[dict], path: Path) -> None:
    """Draw ``montage.png``: a section per family, naming the family and its columns; a row
    per cell (its first seed with samples); only the views some run of the family saved."""
    cells = by_cell(records)
    picks = [_sample_run(runs) for runs in cells.values()]
    labels = _labels(picks, [cell_fields(c) for c in cells])
    families = list(dict.fromkeys(cell_fields(c)["family"] for c in cells))
    sections = [_section(f, [(p, label) for p, label, c in zip(picks, labels, cells)
                             if cell_fields(c)["family"] == f]) for f in families]
    fonts = {"title": _font(18), "header": _font(14), "label": _font(15)}
    margin = max([200] + [round(fonts["label"].getlength(line)) + 2 * PAD
                          for label in labels for line in label.splitlines()])
    width = max(margin + sum(w + PAD for w in s["widths"]) + PAD for s in sections)
    height = sum(_section_height(s) for s in sections) + PAD
    canvas = Image.new("RGB", (width, height), "white")
    draw, y = ImageDraw.Draw(canvas), PAD
    for s in sections:
        y = _draw_section(canvas, draw, s, margin, y, fonts)
    _save(canvas, path)


def _sample_run(runs: list[dict]) -> dict:
    """The first seed with samples on disk, else the first seed (its status fills the row)."""
    for r in runs:
        if any((Path(r["run_dir"]) / name).is_file() for name in VIEWS):
            return r
    return runs[0]


def _section(family: str, rows: list[tuple[dict, str]]) -> dict:
    """One family's views (those some run saved), sized to one height, and its headers."""
    names = [n for n in VIEWS if any((Path(r["run_dir"]) / n).is_file() for r, _ in rows)]
    names = names or [DECODED]  # no run saved any: the placeholders still need a column
    images = [[_open(Path(r["run_dir"]) / n) for n in names] for r, _ in rows]
    loaded = [im for row in images for im in row if im is not None]
    h = min([max(MIN_H, min(MAX_H, max((im.height for im in loaded), default=128))),
             *(max(MIN_H, MAX_W * im.height // im.width) for im in loaded)])
    images = [[_fit(im, h) for im in row] for row in images]
    widths = [max([MIN_COLUMN] + [row[j].width for row in images if row[j] is not None])
              for j in range(len(names))]
    headers = [textwrap.wrap(VIEWS[n], max(12, w // 8)) for n, w in zip(names, widths)]
    title = f"{family}: {declared(family).caption}"
    return {"title": title, "names": names, "rows": rows, "images": images, "widths": widths,
            "h": h, "headers": headers}


def _section_height(s: dict) -> int:
    return GAP + 26 + 18 * max(len(h) for h in s["headers"]) + PAD + len(s["rows"]) * (s["h"] + PAD)


def _draw_section(canvas, draw, s: dict, margin: int, y: int, fonts: dict) -> int:
    """Draw a section from ``y``; returns where the next one starts."""
    draw.text((PAD, y), s["title"], fill="black", font=fonts["title"])
    y += 26
    x0 = margin + PAD
    for lines, w in zip(s["headers"], s["widths"]):
        for k, line in enumerate(lines):
            draw.text((x0 + w // 2, y + 18 * k), line, fill="black", font=fonts["header"],
                      anchor="ma")
        x0 += w + PAD
    y += 18 * max(len(h) for h in s["headers"]) + PAD
    for (r, label), row in zip(s["rows"], s["images"]):
        draw.multiline_text((PAD, y + 2), label, fill="black", font=fonts["label"], spacing=4)
        if all(im is None for im in row):  # nothing saved (failed, diverged): one grey box
            canvas.paste(_placeholder(r, sum(s["widths"]) + PAD * (len(row) - 1), s["h"]),
                         (margin + PAD, y))
        x0 = margin + PAD
        for im, w in zip(row, s["widths"]):
            if im is None and any(other is not None for other in row):
                draw.text((x0 + 4, y + 4), "not saved by this run", fill="dimgray",
                          font=fonts["header"])
            elif im is not None:
                canvas.paste(im, (x0 + (w - im.width) // 2, y))
            x0 += w + PAD
        y += s["h"] + PAD
    return y + GAP


def _save(canvas: Image.Image, path: Path) -> None:
    """PNG with an adaptive 256-colour palette: under half the RGB file for photos and noise
    alike; exact where the canvas has no more colours (Pillow's own mapping onto a given
    palette is not)."""
    if canvas.getcolors(256) is not None:  # None: more colours than that
        rgb = np.asarray(canvas, dtype=np.uint32)
        colours, index = np.unique((rgb[..., 0] << 16) | (rgb[..., 1] << 8) | rgb[..., 2],
                                   return_inverse=True)
        paletted = Image.fromarray(index.reshape(rgb.shape[:2]).astype(np.uint8), "P")
        paletted.putpalette(np.stack([colours >> 16, colours >> 8 & 255, colours & 255], 1)
                            .astype(np.uint8).tobytes())
    else:
        paletted = canvas.quantize(256, method=Image.Quantize.MEDIANCUT)
    paletted.save(path, optimize=True)


def _font(size: int):
    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow < 10.1 has one fixed-size bitmap font
        return ImageFont.load_default()


def _open(path: Path) -> Image.Image | None:
    try:
        with Image.open(path) as im:
            return im.convert("RGB")
    except OSError:
        return None


def _fit(im: Image.Image | None, height: int) -> Image.Image | None:
    """Scale to ``height``: nearest-neighbour when enlarging, so pixels stay visible as
    pixels; Lanczos when shrinking, so a grid's thin padding does not alias."""
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
    im = Image.new("RGB", (width, height), GREY)
    text = f"{r.get('status', '?')}: {r.get('message', '') or 'no samples saved'}"
    wrapped = "\n".join(textwrap.wrap(text, max(10, (width - 12) // 8))[: max(1, height // 20)])
    ImageDraw.Draw(im).multiline_text((6, 6), wrapped, fill="black", font=_font(14))
    return im
