"""metrics.png and montage.png from synthetic run directories: the montage of a default-sized
study stays under 1 MB, shows each family's own views, and the bars keep curves.png's colours;
what a family's part shows beyond its primary metric is the family's own declaration."""

import gc
import inspect
import json
import re

import numpy as np
import pytest
from matplotlib.colors import to_rgb
from PIL import Image

from harness.report import curves, figures, montage, tables
from harness.report.curves import curves_figure, scaling_colour
from harness.report.figures import build_montage, metrics_figure, plot_metrics
from harness.report.summary import summarise
from helpers import write_history

GREY = montage.GREY
DECODED, ARTICLE, STRETCHED = montage.DECODED, montage.ARTICLE, montage.STRETCHED
SIZES = {"gan": (274, 274), "style": (522, 266), "seg": (586, 202)}  # to_grid's real sizes
VIEWS = {"gan": (DECODED, ARTICLE), "style": (DECODED, STRETCHED), "seg": (DECODED,)}
PRIMARY = {"gan": ("swd", "min"), "style": ("loss", "min"), "seg": ("miou", "max")}
DEFAULT = [("gan", "raw", "identity"), ("gan", "raw", "tanh_fit"), ("gan", "symmetric", "tanh"),
           ("gan", "symmetric", "identity"), ("gan", "unit", "sigmoid"),
           ("style", "raw", "identity"), ("style", "raw", "tanh_fit"),
           ("style", "symmetric", "tanh"), ("seg", "raw", "identity"),
           ("seg", "symmetric", "identity"), ("seg", "imagenet", "identity"),
           ("seg", "imagenet", "sigmoid")]


def _record(root, family, scaling, head, *, seed=0, status="ok", message="", metrics=None,
            images=None):
    """A run.json-like record; ``images`` maps a sample file to a PIL image to write."""
    run_dir = root / f"{family}-{scaling}-{head}-{seed}"
    run_dir.mkdir(parents=True)
    for name, im in (images or {}).items():
        im.save(run_dir / name)
    metric, direction = PRIMARY[family]
    record = {"family": family, "model": family, "scaling": scaling, "head": head, "seed": seed,
              "status": status, "message": message, "range_mismatch": head == "identity"
              and scaling == "raw", "run_dir": str(run_dir),
              "metrics": metrics if metrics is not None else {metric: 1.0},
              "config": {"study": "test", "steps": 5}, "primary_metric": metric,
              "primary_direction": direction}
    (run_dir / "run.json").write_text(json.dumps(record))
    return record


def _noise(rng, family):
    w, h = SIZES[family]
    if family == "gan":  # digits: grey, as to_grid repeats one channel
        return Image.fromarray(rng.integers(0, 256, (h, w), dtype=np.uint8)).convert("RGB")
    return Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8))


def _solid(family, colour):
    return Image.new("RGB", SIZES[family], colour)


def _pixels(path):
    with Image.open(path) as im:
        return np.asarray(im.convert("RGB"))


def _where(pixels, colour, run=40):
    """(x_min, x_max, y_min, y_max) of the region of exactly ``colour`` (rows with at least
    ``run`` such pixels: a pasted image, not anti-aliased text); None if there is none."""
    mask = (pixels == colour).all(axis=2)
    rows = np.flatnonzero(mask.sum(axis=1) >= run)
    if not len(rows):
        return None
    xs = np.flatnonzero(mask[rows].sum(axis=0) >= len(rows) / 2)
    return xs.min(), xs.max(), rows.min(), rows.max()


def test_default_study_montage_is_under_1mb(tmp_path):
    """Incompressible noise at the default study's grid sizes: the worst case for PNG."""
    rng = np.random.default_rng(0)
    records = [_record(tmp_path / "sweep", f, s, h,
                       images={name: _noise(rng, f) for name in VIEWS[f]})
               for f, s, h in DEFAULT]
    build_montage(records, tmp_path / "montage.png")
    size = (tmp_path / "montage.png").stat().st_size
    assert size < 1_000_000, size
    with Image.open(tmp_path / "montage.png") as im:
        # 12 rows of at least MIN_H, three section headers; two columns of views at most
        assert 12 * montage.MIN_H < im.height < 3000
        assert im.width < montage.MAX_W * 2 + 400


GAN_COLOURS = {DECODED: (0, 0, 200), ARTICLE: (200, 0, 0)}
STYLE_COLOURS = {DECODED: (0, 150, 0), STRETCHED: (150, 0, 150)}
SEG_COLOUR = (200, 200, 0)


@pytest.fixture()
def solid_montage(tmp_path):
    """One cell per family in solid colours, plus a failed GAN run with no files."""
    root = tmp_path / "sweep"
    records = [
        _record(root, "gan", "symmetric", "tanh",
                images={n: _solid("gan", c) for n, c in GAN_COLOURS.items()}),
        _record(root, "gan", "raw", "identity", status="failed",
                message="RuntimeError: boom", metrics={}),
        _record(root, "style", "symmetric", "tanh",
                images={n: _solid("style", c) for n, c in STYLE_COLOURS.items()}),
        _record(root, "seg", "imagenet", "identity", images={DECODED: _solid("seg", SEG_COLOUR)}),
    ]
    build_montage(records, tmp_path / "montage.png")
    return records, _pixels(tmp_path / "montage.png")


def test_each_family_shows_its_own_views(solid_montage):
    records, pixels = solid_montage
    decoded, article = (_where(pixels, c) for c in GAN_COLOURS.values())
    assert decoded and article and article[0] > decoded[1]  # the article's view to the right
    assert article[1] - article[0] + 1 == montage.MAX_H  # 274 px shrunk to the cap
    content, stretched = (_where(pixels, c) for c in STYLE_COLOURS.values())
    assert content and stretched and stretched[0] > content[1]
    width = stretched[1] - stretched[0] + 1  # 522x266 fitted to MAX_W wide
    assert width == pytest.approx(montage.MAX_W, abs=2)
    assert _where(pixels, SEG_COLOUR) is not None
    sections = {r["family"]: montage._section(r["family"], [(r, "")]) for r in records
                if r["status"] == "ok"}
    assert {f: s["names"] for f, s in sections.items()} == {
        "gan": [DECODED, ARTICLE], "style": [DECODED, STRETCHED], "seg": [DECODED]}
    assert all(len(lines) > 0 for s in sections.values() for lines in s["headers"])


def test_failed_run_keeps_one_grey_placeholder(solid_montage):
    _, pixels = solid_montage
    grey = _where(pixels, GREY)
    decoded, article = (_where(pixels, c) for c in GAN_COLOURS.values())
    assert grey is not None
    assert grey[0] == decoded[0] and grey[1] == article[1]  # one box across the gan columns
    assert grey[2] < decoded[2]  # the failed raw + identity row sorts first
    assert (pixels[grey[2]:grey[3] + 1, grey[0]:grey[1] + 1] == (0, 0, 0)).all(axis=2).any()


def test_a_family_with_no_samples_at_all(tmp_path):
    records = [_record(tmp_path / "sweep", "style", "raw", h, status="diverged",
                       message="non-finite output", metrics={}) for h in ("identity", "tanh")]
    build_montage(records, tmp_path / "montage.png")
    pixels = _pixels(tmp_path / "montage.png")
    x0, x1, y0, y1 = _where(pixels, GREY)
    assert x1 - x0 + 1 == montage.MIN_COLUMN  # one column, as no run says how wide
    assert y1 - y0 + 1 > 2 * montage.MIN_H  # both rows


def test_seg_only_report_has_one_image_column(tmp_path):
    records = [_record(tmp_path / "sweep", "seg", s, "identity", seed=seed,
                       images={DECODED: _solid("seg", SEG_COLOUR)})
               for s in ("raw", "imagenet") for seed in (0, 1)]
    build_montage(records, tmp_path / "montage.png")
    pixels = _pixels(tmp_path / "montage.png")
    x0, x1, _, _ = _where(pixels, SEG_COLOUR)
    assert x1 - x0 + 1 == pytest.approx(montage.MAX_W, abs=2)  # one view wide, not two
    assert pixels.shape[1] - 1 - x1 <= montage.PAD  # nothing to its right
    assert _where(pixels, GREY) is None  # no "no samples" panel
    columns = (pixels[:, x0:x1 + 1] == SEG_COLOUR).all(axis=2).any(axis=1)
    assert np.count_nonzero(np.diff(columns.astype(int)) == 1) == 2  # two cells, one row each


def _metric_records(root):
    """gan: raw and symmetric; seg: raw and imagenet, with untrained and floor metrics."""
    records = []
    for scaling, swd in (("raw", [5.0, 6.0, 7.0]), ("symmetric", [2.0, 3.0, 4.0])):
        records += [_record(root, "gan", scaling, "tanh", seed=i,
                            metrics={"swd": v, "swd_init": 20.0 + i, "swd_real": 0.5})
                    for i, v in enumerate(swd)]
    for scaling, miou in (("raw", [0.2, 0.3]), ("imagenet", [0.6, 0.7])):
        records += [_record(root, "seg", scaling, "identity", seed=i,
                            metrics={"miou": v, "miou_init": 0.05, "majority_miou": 0.1})
                    for i, v in enumerate(miou)]
    records.append(_record(root, "seg", "symmetric", "identity", status="failed", metrics={}))
    return records


def test_metric_bars_keep_the_scaling_colours(tmp_path):
    rows = summarise(_metric_records(tmp_path / "sweep"))
    fig = metrics_figure(rows)
    panels = {ax.get_title().split(":")[0]: ax for ax in fig.axes}
    assert set(panels) == {"gan", "seg"}
    assert "median, bars: interquartile range over seeds" in panels["gan"].get_title()
    bars = {f: {p.get_gid(): p for p in ax.patches if p.get_gid()} for f, ax in panels.items()}
    assert set(bars["gan"]) == {"raw + tanh", "symmetric + tanh"}
    assert set(bars["seg"]) == {"raw + identity", "imagenet + identity"}  # failed: no bar
    for family, head in (("gan", "tanh"), ("seg", "identity")):
        raw = bars[family][f"raw + {head}"]
        assert raw.get_facecolor()[:3] == pytest.approx(to_rgb(scaling_colour("raw")))
    assert bars["gan"]["symmetric + tanh"].get_facecolor()[:3] == pytest.approx(
        to_rgb(scaling_colour("symmetric")))
    imagenet = bars["seg"]["imagenet + identity"]  # second in its panel, yet not "C1"
    assert imagenet.get_facecolor()[:3] == pytest.approx(to_rgb(scaling_colour("imagenet")))
    assert scaling_colour("imagenet") != "C1"
    assert bars["gan"]["symmetric + tanh"].get_height() == pytest.approx(3.0)  # the median
    errorbar = next(c.errorbar for c in panels["gan"].containers if hasattr(c, "patches")
                    and c.patches[0].get_gid() == "symmetric + tanh")
    (_, low), (_, high) = errorbar.lines[2][0].get_segments()[0]
    assert (low, high) == pytest.approx((2.5, 3.5))  # q25, q75 of 2, 3, 4

    lines = {f: [line.get_label() for line in ax.get_lines()
                 if not line.get_label().startswith("_") and line.get_gid() != "best"]
             for f, ax in panels.items()}
    assert lines["gan"] == ["real against real: 0.5"]
    assert lines["seg"] == ["majority class: 0.1"]
    marks = {f: sorted(tuple(line.get_ydata()) for line in ax.get_lines()
                       if line.get_gid() == "untrained") for f, ax in panels.items()}
    assert marks["gan"] == [(21.0, 21.0)] * 2  # each bar's own untrained median (20, 21, 22)
    assert marks["seg"] == [(0.05, 0.05)] * 2
    best = [line for line in fig.get_axes()[1].get_lines() if line.get_gid() == "best"]
    assert best == []  # the best median, but no reference to be separated from: no star
    assert not any(c.patches[0].get_gid() == "imagenet + identity" and c.errorbar
                   for c in panels["seg"].containers if hasattr(c, "patches"))  # 2 seeds: no bar
    legend = [t.get_text() for t in panels["seg"].get_legend().get_texts()]
    assert legend[:2] == ["raw", "imagenet"] and "untrained (each bar's own)" in legend
    text = " ".join(t.get_text() for t in panels["seg"].texts)
    assert "1 failed" in text  # the failed cell's status at the base

    plot_metrics(rows, tmp_path / "metrics.png")
    with Image.open(tmp_path / "metrics.png") as im:
        assert im.width > 600 and im.height > 600


@pytest.fixture()
def toy_family():
    """A family declared as a new module would declare it: one class, nothing else anywhere.
    ``families()`` finds subclasses, so it is gone again once collected."""
    from harness.models import families
    from harness.models.base import FamilyModule, ReportSections

    class ToyModule(FamilyModule):
        family, primary = "toy", ("loss", "min")
        report = ReportSections(caption="one toy sample", panels=("acc", "absent"),
                                shared={"acc": "acc_view"},
                                floors={"loss": ("loss_floor", "toy floor"),
                                        "acc": ("acc_floor", "toy acc floor")},
                                floor_styles={"acc": ":"},
                                caveats={"weak": (1, "the toy measured weakly")})

    assert families()["toy"] is ToyModule
    yield
    del ToyModule
    gc.collect()
    assert "toy" not in families()


def test_a_new_family_brings_its_own_report_sections(toy_family, tmp_path):
    """Its caption, panels (those its records have), shared line, floors and caveat reach the
    montage, curves, bars and front page with no edit to a report module, which names no family."""
    records = []
    for seed in range(2):
        run_dir = write_history(tmp_path / f"toy{seed}", [
            {"step": 0, "wall_time_s": 0, "loss": 9, "acc": 0.1, "acc_view": 0.2},
            {"step": 100, "wall_time_s": 1, "loss": 3, "acc": 0.5, "acc_view": 0.9}])
        records.append({"status": "ok", "family": "toy", "model": "toy", "scaling": "raw",
                        "head": "identity", "seed": seed, "range_mismatch": False,
                        "primary_metric": "loss", "primary_direction": "min",
                        "run_dir": str(run_dir), "metrics": {"loss": 3.0, "acc": 0.5,
                        "loss_floor": 1.0, "acc_floor": 0.8, "weak": 1}})
    rows = summarise(records)
    assert montage._section("toy", [(records[0], "")])["title"] == "toy: one toy sample"
    panels = {ax.get_title(): ax for ax in curves_figure(records, rows).axes}
    assert list(panels) == ["toy: loss", "toy: acc (x: acc_view)"]  # no record has "absent"
    floors = {title: [(line.get_label(), line.get_linestyle()) for line in ax.get_lines()
                      if "floor" in line.get_label()] for title, ax in panels.items()}
    assert floors == {"toy: loss": [("toy floor", "--")],
                      "toy: acc (x: acc_view)": [("toy acc floor", ":")]}
    (bars,) = metrics_figure(rows).axes
    assert "toy floor: 1" in [line.get_label() for line in bars.get_lines()]
    assert "Caveat: the toy measured weakly.\n" in tables.markdown_table(rows)
    for module in (curves, figures, montage, tables):
        assert not re.search(r"[\"'](gan|style|seg)[\"']", inspect.getsource(module)), module



def test_the_best_star_only_where_the_paired_seeds_separate_it(tmp_path):
    """imagenet beats the reference raw on 6 of 6 seeds: starred; with 3 seeds (75%), or as a
    best median with one seed, no star."""
    from harness.report.figures import _best

    def rows(n, k=iter(range(100))):
        where = tmp_path / f"s{n}-{next(k)}"
        records = []
        for scaling, miou in (("raw", [0.2] * n), ("imagenet", [0.6 + i / 100 for i in range(n)])):
            records += [_record(where, "seg", scaling, "identity", seed=i,
                                metrics={"miou": v}) for i, v in enumerate(miou)]
        return summarise(records, study={"reference": {"seg": {"scaling": "raw",
                                                               "head": "identity"}}})
    for n, starred in ((6, True), (3, False), (1, False)):
        got = {r["scaling"]: _best(r, rs) for rs in [rows(n)] for r in rs}
        assert got == {"raw": False, "imagenet": starred}, n
        fig = metrics_figure(rows(n))
        stars = [line for line in fig.axes[0].get_lines() if line.get_gid() == "best"]
        assert len(stars) == int(starred), n


def test_the_noise_floors_arm_is_named_in_the_legend_and_never_starred(tmp_path):
    """symmetric + tanh repeats raw + tanh's function (the study's noise floor): its bar is
    drawn, named as the floor's arm, and gets no star even with the best median."""
    records = []
    for scaling, swd in (("raw", [5.0, 6.0, 7.0]), ("symmetric", [1.0, 2.0, 3.0])):
        records += [_record(tmp_path, "gan", scaling, "tanh", seed=i, metrics={"swd": v})
                    for i, v in enumerate(swd)]
    pairs = [{"scaling": "symmetric", "head": "tanh"}, {"scaling": "raw", "head": "tanh"}]
    rows = summarise(records, study={"reference": {"gan": pairs[1]},
                                     "noise_floor": {"gan": pairs}})
    ax = metrics_figure(rows).axes[0]
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert legend[:2] == ["raw", "symmetric (noise floor's arm)"]
    assert [line for line in ax.get_lines() if line.get_gid() == "best"] == []
