"""Turn a sweep's run.json records into ``results/<study>/``: tables, plots, montage, README.

Design section 4: per combination (family, model, scaling, head) the mean and 95% interval over
seeds, a metrics plot, a side-by-side sample montage (decoded vs min/max-stretched, so a wrongly
ranged head cannot hide behind the article's image saver), and the command, commit and machine
that produced them. Failed, diverged and skipped runs are counted, never dropped.

    python -m harness.report multirun/raw_pixel_gan [--out results/raw_pixel_gan]
"""

from __future__ import annotations

import argparse
import csv
import datetime
import logging
import math
import os
import platform
import shlex
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
from hydra.experimental.callback import Callback
from matplotlib.figure import Figure
from matplotlib.patches import Patch
from PIL import Image, ImageDraw, ImageFont

from harness.record import PRIMARY, STATUSES, code_commit, read_record, write_json

log = logging.getLogger(__name__)


COMBO = ("family", "model", "scaling", "head")
IDENTITY = ("study", *COMBO, "seed")
# Design-table order, so tables and plots read raw -> imagenet and identity -> tanh_wide.
SCALINGS = ("raw", "unit", "symmetric", "imagenet")
HEADS = ("identity", "tanh", "sigmoid", "tanh_fit", "sigmoid_fit", "clamp_fit", "tanh_wide")
# Student t 0.975 quantiles for df = 1..30 (no scipy needed); 1.96 beyond.
T975 = (12.7062, 4.3027, 3.1824, 2.7764, 2.5706, 2.4469, 2.3646, 2.3060, 2.2622, 2.2281,
        2.2010, 2.1788, 2.1604, 2.1448, 2.1314, 2.1199, 2.1098, 2.1009, 2.0930, 2.0860,
        2.0796, 2.0739, 2.0687, 2.0639, 2.0595, 2.0555, 2.0518, 2.0484, 2.0452, 2.0423)
DECODED, STRETCHED = "samples_decoded.png", "samples_stretched.png"
SWEEP_INFO = "sweep.json"  # the last sweep's command and wall time, so a re-report keeps them
HEADERS = ("decoded (what a user sees)", "min/max-stretched (what the article saw)")


# --------------------------------------------------------------------------- records


def load_records(sweep_dir) -> list[dict]:
    """Every run.json under ``sweep_dir`` (any depth), sorted, each with its ``run_dir``.

    An unreadable run.json (corrupt, or not JSON) becomes a ``failed`` record so it is
    counted rather than silently dropped.
    """
    root = Path(sweep_dir)
    if not root.is_dir():
        raise FileNotFoundError(f"sweep directory not found: {root}")
    return sorted((_read_run(p) for p in root.rglob("run.json")), key=_sort_key)


def _read_run(path: Path) -> dict:
    record = read_record(path) or {"status": "failed", "message": "unreadable run.json"}
    return {**record, "run_dir": str(path.parent)}


def _combo(record: dict) -> tuple[str, ...]:
    return tuple(str(record.get(k, "")) for k in COMBO)


def _order(value: str, known: tuple[str, ...]) -> tuple[int, str]:
    return (known.index(value) if value in known else len(known), value)


def _sort_key(record: dict) -> tuple:
    family, model, scaling, head = _combo(record)
    seed = record.get("seed")
    return (family, model, _order(scaling, SCALINGS), _order(head, HEADS),
            seed if isinstance(seed, (int, float)) else math.inf)


def _by_combo(records: list[dict]) -> dict[tuple, list[dict]]:
    """Runs grouped by (family, model, scaling, head), in sort order."""
    groups: dict[tuple, list[dict]] = {}
    for r in sorted(records, key=_sort_key):
        groups.setdefault(_combo(r), []).append(r)
    return groups


def _metrics(record: dict) -> dict:
    return record.get("metrics") or {}


def _finite(x) -> bool:
    return isinstance(x, (int, float)) and math.isfinite(x)


def _config_value(records: list[dict], key: str, default=None):
    """First value of ``key`` in the records' resolved configs, else at the record's top level."""
    for r in records:
        value = (r.get("config") or {}).get(key, r.get(key))
        if value not in (None, ""):
            return value
    return default


def study_name(records: list[dict]) -> str:
    return str(_config_value(records, "study", "unknown"))


# --------------------------------------------------------------------------- statistics


def mean_ci95(values) -> tuple[float, float]:
    """Mean and Student-t 95% half-width of the finite values; half-width NaN below 2 values."""
    v = np.array([x for x in values if _finite(x)], dtype=float)
    if v.size == 0:
        return math.nan, math.nan
    if v.size == 1:
        return float(v[0]), math.nan
    t = T975[v.size - 2] if v.size - 1 <= len(T975) else 1.96
    return float(v.mean()), float(t * v.std(ddof=1) / math.sqrt(v.size))


def summarise(records: list[dict], primary: dict | None = None) -> list[dict]:
    """One row per (family, model, scaling, head): run and status counts, metric means and CIs.

    Metrics are averaged over the finite values of ``ok`` runs only, so a diverged run cannot
    drag a mean and a failed one cannot fake a value; the status counts show what was left out.
    Columns: ``<metric>_mean`` and ``<metric>_ci95`` (the 95% half-width), plus per family the
    ``primary`` metric, its ``rank`` and ``group`` (see ``_rank``). ``primary`` maps a family to
    ``(metric, "min" | "max")`` and overrides ``PRIMARY``.
    """
    rows = [_summarise_combo(combo, runs) for combo, runs in _by_combo(records).items()]
    choices = {**PRIMARY, **(primary or {})}
    for family in dict.fromkeys(r["family"] for r in rows):
        _rank([r for r in rows if r["family"] == family], *choices.get(family, (None, "min")))
    return rows


def _summarise_combo(combo: tuple[str, ...], runs: list[dict]) -> dict:
    row: dict = dict(zip(COMBO, combo))
    row["n"] = len(runs)
    statuses = [str(r.get("status", "failed")) for r in runs]
    for status in dict.fromkeys([*STATUSES, *statuses]):
        row[status] = statuses.count(status)
    row["range_mismatch"] = any(bool(r.get("range_mismatch")) for r in runs)
    ok = [r for r in runs if r.get("status") == "ok"]
    for name in dict.fromkeys(k for r in runs for k in _metrics(r)):
        row[f"{name}_mean"], row[f"{name}_ci95"] = mean_ci95(_metrics(r).get(name) for r in ok)
    return row


def metric_names(rows: list[dict]) -> list[str]:
    return list(dict.fromkeys(k[: -len("_mean")] for r in rows for k in r if k.endswith("_mean")))


def _rank(rows: list[dict], metric: str | None, direction: str) -> None:
    """Rank one family's rows on its primary metric and label the groups.

    Group "a": the best combination and every one whose 95% interval overlaps the best's, i.e.
    not distinguishable from it with these seeds. "b": interval entirely on the worse side.
    "?": a single finite seed, so no interval. Overlap is a conservative eyeball test (two
    intervals can overlap while a proper test still separates them), which is fine for a
    "which combinations are worth a closer look" label. Rows without a finite mean get no rank.
    """
    names = metric_names(rows)
    if metric not in names:  # the family's records do not report it: fall back to the first one
        metric = names[0] if names else None
    sign = -1 if direction == "max" else 1
    ranked = sorted((r for r in rows if _finite(r.get(f"{metric}_mean"))),
                    key=lambda r: sign * r[f"{metric}_mean"])
    for r in rows:
        r["primary"], r["direction"], r["rank"], r["group"] = metric, direction, None, ""
    for i, r in enumerate(ranked, 1):
        r["rank"] = i
        r["group"] = _group(r, ranked[0], metric)


def _group(row: dict, best: dict, metric: str) -> str:
    if row is best:
        return "a"
    (m, h), (bm, bh) = ((r[f"{metric}_mean"], r[f"{metric}_ci95"]) for r in (row, best))
    if not (_finite(h) and _finite(bh)):
        return "?"
    return "a" if abs(m - bm) <= h + bh else "b"


# --------------------------------------------------------------------------- tables


def _write_csv(rows: list[dict], path: Path, columns: list[str]) -> None:
    with path.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=columns, restval="", extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)


def write_runs_csv(records: list[dict], sweep_dir, path: Path) -> None:
    """One row per run; run_dir relative to the sweep so committed results carry no local paths."""
    names = list(dict.fromkeys(k for r in records for k in _metrics(r)))
    rows = []
    for r in records:
        row = {k: r.get(k, "") for k in (*IDENTITY, "status", "message", "range_mismatch",
                                          "wall_time_s")}
        row["run_dir"] = os.path.relpath(r["run_dir"], sweep_dir)
        rows.append({**row, **_metrics(r)})
    columns = [*IDENTITY, "status", "message", "range_mismatch", "wall_time_s", "run_dir", *names]
    _write_csv(rows, path, columns)


def write_summary_csv(rows: list[dict], path: Path) -> None:
    lead = [*COMBO, "n", *dict.fromkeys(s for r in rows for s in _status_columns(r)),
            "range_mismatch", "primary", "direction", "rank", "group"]
    metrics = [f"{m}_{s}" for m in metric_names(rows) for s in ("mean", "ci95")]
    _write_csv(rows, path, [*lead, *metrics])


def _status_columns(row: dict) -> list[str]:
    """The status counts: ``_summarise_combo`` puts them between "n" and "range_mismatch"."""
    keys = list(row)
    return keys[keys.index("n") + 1: keys.index("range_mismatch")]


def status_text(row: dict) -> str:
    """E.g. "3 ok, 1 failed"."""
    return ", ".join(f"{row[s]} {s}" for s in _status_columns(row) if row[s])


def _mean_pm(mean: float, half: float) -> str:
    if not _finite(mean):
        return "–"
    return f"{mean:.4g} ± {half:.3g}" if _finite(half) else f"{mean:.4g}"


def markdown_table(rows: list[dict]) -> str:
    """One Markdown table per family; the primary metric first; cells are ``mean ± half-width``."""
    parts = ["Cells: mean ± 95% CI half-width over the seeds of ok runs. Group a: not "
             "distinguishable from the family's best (overlapping intervals); b: worse; "
             "?: one seed only.\n"]
    for family in dict.fromkeys(r["family"] for r in rows):
        frows = [r for r in rows if r["family"] == family]
        metric, direction = frows[0]["primary"], frows[0]["direction"]
        names = sorted(metric_names(frows), key=lambda n: n != metric)  # primary first
        better = "higher" if direction == "max" else "lower"
        parts.append(f"**{family}**: ranked by `{metric}` ({better} is better)\n")
        header = ["model", "scaling", "head", "range", "runs", *names, "rank", "group"]
        lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        for r in frows:
            cells = [r["model"], r["scaling"], r["head"],
                     "mismatch" if r["range_mismatch"] else "", status_text(r),
                     *(_mean_pm(r.get(f"{n}_mean"), r.get(f"{n}_ci95")) for n in names),
                     "" if r["rank"] is None else str(r["rank"]), r["group"]]
            lines.append("| " + " | ".join(cells) + " |")
        parts.append("\n".join(lines) + "\n")
    return "\n".join(parts)


# --------------------------------------------------------------------------- figures


def plot_metrics(rows: list[dict], path: Path) -> None:
    """One panel per family: primary metric by head, one bar per scaling, 95% CI error bars.

    Hatched bars are range mismatches (the negative controls); a combination with no ok run has
    no bar but its status counts written at the base.
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
    several_models = len({r["model"] for r in rows}) > 1
    series = list(dict.fromkeys(_series(r, several_models) for r in rows))
    by_head: dict[str, list[dict]] = {}
    for r in sorted(rows, key=lambda r: _order(r["head"], HEADS)):  # stable: scalings in order
        by_head.setdefault(r["head"], []).append(r)
    width = 0.8 / max(len(hrows) for hrows in by_head.values())
    for x0, hrows in enumerate(by_head.values()):  # only the combinations run, side by side
        for j, r in enumerate(hrows):
            _bar(ax, r, x0 + (j - (len(hrows) - 1) / 2) * width, width, metric,
                 series.index(_series(r, several_models)))
    handles = [Patch(facecolor=f"C{i}", edgecolor="black", label=s) for i, s in enumerate(series)]
    if any(r["range_mismatch"] for r in rows):
        handles.append(Patch(facecolor="white", edgecolor="black", hatch="//",
                             label="range mismatch"))
    ax.legend(handles=handles, title="scaling", fontsize=8, title_fontsize=8,
              loc="upper left", bbox_to_anchor=(1.01, 1.0))  # beside the bars, never on them
    ax.set_xticks(range(len(by_head)), list(by_head))
    ax.set_xlim(-0.6, len(by_head) - 0.4)
    better = "higher" if direction == "max" else "lower"
    ax.set_ylabel(f"{metric} ({better} is better)" if metric else "no metric")
    ax.set_title(f"{rows[0]['family']}: {metric} by head, mean ± 95% CI over seeds")
    ax.grid(axis="y", alpha=0.3)


def _bar(ax, r: dict, x: float, width: float, metric: str, colour: int) -> None:
    mean, half = r.get(f"{metric}_mean", math.nan), r.get(f"{metric}_ci95", math.nan)
    if not _finite(mean):
        ax.text(x, 0, status_text(r), rotation=90, ha="center", va="bottom", fontsize=8,
                color="dimgray")
        return
    ax.bar(x, mean, width, yerr=half if _finite(half) else None, capsize=3, color=f"C{colour}",
           edgecolor="black", linewidth=0.5, hatch="//" if r["range_mismatch"] else None)


def _series(row: dict, several_models: bool) -> str:
    return f"{row['model']}/{row['scaling']}" if several_models else row["scaling"]


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
    """One row per combination: label, decoded samples, min/max-stretched samples (the second
    column only where some run has them: segmentation's overlays have no stretched view)."""
    picks = [_sample_run(runs) for runs in _by_combo(records).values()]
    names = [DECODED] + [STRETCHED] * any((Path(r["run_dir"]) / STRETCHED).is_file() for r in picks)
    headers = HEADERS[:len(names)]
    cells = [[_open(Path(r["run_dir"]) / name) for name in names] for r in picks]
    loaded = [im for row in cells for im in row if im is not None]
    height = int(np.clip(max((im.height for im in loaded), default=128), 96, 320))
    cells = [[_fit(im, height) for im in row] for row in cells]
    pad, margin, top = 8, 230, 34
    header_font = _font(17)
    width = max([im.width for row in cells for im in row if im is not None]
                + [round(header_font.getlength(h)) + 2 * pad for h in headers])
    canvas = Image.new("RGB", (margin + len(names) * (width + pad) + pad,
                               top + len(picks) * (height + pad)), "white")
    draw = ImageDraw.Draw(canvas)
    for j, header in enumerate(headers):
        x = margin + pad + j * (width + pad) + width // 2
        draw.text((x, top // 2), header, fill="black", font=header_font, anchor="mm")
    for i, (r, row) in enumerate(zip(picks, cells)):
        y = top + i * (height + pad)
        draw.multiline_text((pad, y + 4), _label(r), fill="black", font=_font(16), spacing=5)
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


def _label(r: dict) -> str:
    lines = [f"{r.get('scaling', '')} + {r.get('head', '')}", str(r.get("model", "")),
             f"seed {r.get('seed', '?')}: {r.get('status', '?')}"]
    return "\n".join(lines + (["range mismatch"] if r.get("range_mismatch") else []))


def _placeholder(r: dict, width: int, height: int) -> Image.Image:
    im = Image.new("RGB", (width, height), (160, 160, 160))
    text = f"{r.get('status', '?')}: {r.get('message', '') or 'no samples'}"
    wrapped = "\n".join(textwrap.wrap(text, max(10, (width - 12) // 9))[: max(1, height // 20)])
    ImageDraw.Draw(im).multiline_text((6, 6), wrapped, fill="black", font=_font(14))
    return im


# --------------------------------------------------------------------------- provenance


def machine_info() -> str:
    cpu = platform.processor() or platform.machine() or "unknown CPU"
    text = f"{platform.platform()}; {cpu}, {os.cpu_count()} CPUs"
    try:
        import torch  # late: only the README needs it, and it is slow to import
    except ImportError:
        return text + "; torch not installed"
    text += f"; torch {torch.__version__}, {torch.get_num_threads()} threads"
    if torch.cuda.is_available():
        text += f"; CUDA {torch.cuda.get_device_name(0)}"
    return text


def _duration(seconds: float) -> str:
    return f"{seconds:.1f} s ({seconds / 60:.1f} min)"


def readme_text(records, table, out_dir: Path, *, commit, command=None, wall_time_s=None) -> str:
    seeds = sorted({r["seed"] for r in records if _finite(r.get("seed"))})
    if wall_time_s is None:
        wall = _duration(sum(r["wall_time_s"] for r in records if _finite(r.get("wall_time_s"))))
        wall += ", sum over runs"
    else:
        wall = _duration(wall_time_s) + ", whole sweep"
    steps = sorted({(r.get("config") or {}).get("steps") for r in records} - {None})
    lines = [
        f"# Results: {study_name(records)}", "",
        f"**Question:** {_config_value(records, 'question', '(not stated)')}", "",
        *(["Findings: see [findings.md](findings.md)", ""]
          if (out_dir / "findings.md").exists() else []),
        "Generated by `python -m harness.report` from the runs' `run.json`: do not edit by hand.",
        "",
        f"- Command: `{command or _config_value(records, 'command', 'unknown')}`",
        f"- Commit: `{commit}`",
        f"- Machine: {machine_info()}",
        f"- Runs: {len(records)}" + (f", seeds {', '.join(map(str, seeds))}" if seeds else "")
        + (f", {' or '.join(map(str, steps))} steps each" if steps else ""),
        f"- Wall time: {wall}",
        f"- Date: {datetime.datetime.now().isoformat(timespec='seconds')}", "",
        "## Summary", "", table,
        "Per run: [runs.csv](runs.csv); per combination: [summary.csv](summary.csv).", "",
        "## Metrics", "", "![primary metric per family](metrics.png)", "",
        "## Samples", "", "![decoded vs min/max-stretched samples](montage.png)", "",
    ]
    return "\n".join(lines)


# --------------------------------------------------------------------------- entry points


def write_report(sweep_dir, out_dir, *, command=None, wall_time_s=None) -> Path:
    """Write the report files into ``out_dir`` and return it; other files there are left alone."""
    records = load_records(sweep_dir)
    if not records:
        raise FileNotFoundError(f"no run.json under {sweep_dir}")
    return _write(records, sweep_dir, Path(out_dir), command=command, wall_time_s=wall_time_s)


def _write(records, sweep_dir, out: Path, *, command, wall_time_s) -> Path:
    out.mkdir(parents=True, exist_ok=True)
    commit = ", ".join(sorted({str(r["commit"]) for r in records if r.get("commit")})) or code_commit()
    rows = summarise(records)
    table = markdown_table(rows)
    write_runs_csv(records, sweep_dir, out / "runs.csv")
    write_summary_csv(rows, out / "summary.csv")
    (out / "summary.md").write_text(table)
    plot_metrics(rows, out / "metrics.png")
    build_montage(records, out / "montage.png")
    (out / "README.md").write_text(readme_text(records, table, out, commit=commit,
                                               command=command, wall_time_s=wall_time_s))
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m harness.report",
                                     description="Summarise a sweep directory into a report.")
    parser.add_argument("sweep_dir", help="e.g. multirun/raw_pixel_gan")
    parser.add_argument("--out", help="output folder (default: results/<study>)")
    args = parser.parse_args(argv)
    try:
        records = load_records(args.sweep_dir)
        if not records:
            raise FileNotFoundError(f"no run.json under {args.sweep_dir}")
    except FileNotFoundError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    out = Path(args.out) if args.out else Path("results") / study_name(records)
    sweep = read_record(Path(args.sweep_dir) / SWEEP_INFO) or {}
    _write(records, args.sweep_dir, out, command=sweep.get("command"),
           wall_time_s=sweep.get("wall_time_s"))
    print(f"wrote {out}/: README.md summary.md summary.csv runs.csv metrics.png montage.png\n")
    print((out / "summary.md").read_text())
    return 0


class ReportCallback(Callback):
    """Writes ``<out_root>/<study>/`` when a Hydra multirun ends.

    Enable it in a config with ``hydra.callbacks.report._target_: harness.report.ReportCallback``.
    It never raises: a bug in the report must not fail, or hide, a sweep whose runs are on disk.
    """

    def __init__(self, out_root: str = "results"):
        self.out_root = out_root
        self.start: float | None = None

    def on_multirun_start(self, config, **kwargs) -> None:
        self.start = time.monotonic()

    def on_multirun_end(self, config, **kwargs) -> None:
        try:
            elapsed = None if self.start is None else time.monotonic() - self.start
            command = "python -m harness.train " + shlex.join(sys.argv[1:])
            sweep_dir = Path(str(config.hydra.sweep.dir))
            write_json(sweep_dir / SWEEP_INFO, {"command": command, "wall_time_s": elapsed})
            out = write_report(sweep_dir, Path(self.out_root) / str(config.study),
                               command=command, wall_time_s=elapsed)
            log.info("report written to %s", out)
        except Exception:
            log.exception("report failed; the runs themselves are intact in the sweep directory")


if __name__ == "__main__":
    raise SystemExit(main())
