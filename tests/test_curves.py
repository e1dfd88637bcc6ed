"""Learning curves come from the runs' history files: per step the median and the range over
the seeds that evaluated it; no file, no figure."""

import pytest

from harness.report import curves
from harness.report import summary
from helpers import write_history


def _run(tmp_path, seed, rows, status="ok"):
    run_dir = write_history(tmp_path / f"seed{seed}",
                            [{"step": s, "wall_time_s": s / 10, "swd": v} for s, v in rows])
    return {"status": status, "study": "toy", "family": "gan", "model": "gan", "scaling": "raw",
            "head": "identity", "seed": seed, "primary_metric": "swd",
            "primary_direction": "min", "metrics": {"swd": rows[-1][1], "swd_real": 10.0},
            "run_dir": str(run_dir), "config": {"seed": seed}}


def test_median_and_band_per_step_over_the_ok_seeds(tmp_path):
    runs = [_run(tmp_path, 0, [(0, 900), (100, 500), (200, 300)]),
            _run(tmp_path, 1, [(0, 910), (100, 400), (200, 200)]),
            _run(tmp_path, 2, [(0, 920), (100, 600)]),  # killed after step 100, kept its rows
            _run(tmp_path, 3, [(0, 1.0), (100, 1.0)], status="failed")]  # not drawn
    steps, median, low, high = curves._curve(curves._histories(runs), "swd")
    assert steps.tolist() == [0, 100, 200]
    assert median.tolist() == [910, 500, 250]
    assert low.tolist() == [900, 400, 200] and high.tolist() == [920, 600, 300]


def test_the_report_draws_curves_only_where_runs_kept_a_history(tmp_path):
    runs = [_run(tmp_path, s, [(0, 900 + s), (100, 500 + s)]) for s in range(2)]
    rows = summary.summarise(runs)
    assert curves.plot_curves(runs, rows, tmp_path / "curves.png")
    assert (tmp_path / "curves.png").stat().st_size > 10_000
    for r in runs:
        (tmp_path / f"seed{r['seed']}" / "history.csv").unlink()
    assert not curves.plot_curves(runs, rows, tmp_path / "none.png")
    assert not (tmp_path / "none.png").exists()


def test_each_scaling_has_its_own_colour_fixed_by_the_pixels_module():
    colours = [curves.scaling_colour(s) for s in ("raw", "unit", "symmetric", "imagenet")]
    assert colours == ["C0", "C1", "C2", "C3"]  # harness.core.pixels order, whatever a report holds


def test_recognisability_panel_draws_both_views_and_the_real_digits(tmp_path):
    """The decoded samples' recognised fraction and the article view's, in one panel: where the
    two lines part, stretching hid a range error."""
    runs = []
    for seed in range(2):
        run_dir = write_history(tmp_path / f"r{seed}", [
            {"step": 0, "wall_time_s": 0, "swd": 900, "recognised": 0, "recognised_article": 0},
            {"step": 100, "wall_time_s": 1, "swd": 800, "recognised": 0.1,
             "recognised_article": 0.7 + seed / 10}])
        runs.append({"status": "ok", "study": "toy", "family": "gan", "model": "gan",
                     "scaling": "raw", "head": "identity", "seed": seed,
                     "primary_metric": "swd", "primary_direction": "min",
                     "metrics": {"swd": 800, "recognised": 0.1, "recognised_real": 0.98},
                     "run_dir": str(run_dir), "config": {"seed": seed}})
    fig = curves.curves_figure(runs, summary.summarise(runs))
    (panel,) = [a for a in fig.axes if a.get_title().startswith("gan: recognised")]
    assert panel.get_title() == "gan: recognised (x: recognised_article)"
    ys = sorted(tuple(line.get_ydata()) for line in panel.get_lines())
    assert ys == [(0.0, 0.1), (0.0, 0.75), (0.98, 0.98)]  # decoded, article (median), real digits


def test_every_arm_of_one_pairing_has_its_own_look_named_in_the_legend(tmp_path):
    """raw + identity plain and with the last layer's learning rate x127.5: one colour (the
    scaling's), one line style (the head's), and a marker on the arm, each in the legend."""
    runs = []
    for lr in (1.0, 127.5):
        run_dir = write_history(tmp_path / f"lr{lr}", [
            {"step": 0, "wall_time_s": 0, "swd": 900}, {"step": 100, "wall_time_s": 1,
                                                        "swd": 800 - lr}])
        runs.append({"status": "ok", "study": "toy", "family": "gan", "model": "gan",
                     "scaling": "raw", "head": "identity", "seed": 0,
                     "primary_metric": "swd", "primary_direction": "min",
                     "metrics": {"swd": 800 - lr}, "run_dir": str(run_dir),
                     "config": {"seed": 0, "model": {"module": {"last_lr_scale": lr}}}})
    fig = curves.curves_figure(runs, summary.summarise(runs))
    lines = {line.get_label(): line for line in fig.axes[0].get_lines()}
    plain, arm = lines["raw + identity, last_lr_scale=1.0"], lines["raw + identity, last_lr_scale=127.5"]
    assert plain.get_color() == arm.get_color() and plain.get_linestyle() == arm.get_linestyle()
    assert (plain.get_marker(), arm.get_marker()) in (("None", "o"), (None, "o"))
    legend = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert {"raw + identity, last_lr_scale=1.0", "raw + identity, last_lr_scale=127.5"} <= set(legend)


def test_every_head_of_one_scaling_draws_its_own_line_style():
    """The screen holds five heads on raw pixels, one colour: a fifth head once wrapped round to
    the first one's solid line, so raw + identity and raw + tanh_fit looked alike."""
    from harness.core.pixels import HEADS

    looks = curves.arm_styles([("gan", "gan", "raw", head, ()) for head in HEADS])
    assert len({style for style, _ in looks.values()}) == len(HEADS), looks


def test_a_far_untrained_start_leaves_the_scale_and_is_named(tmp_path):
    """swd starts at 900-920 and trains to 200-600: the panel keeps the trained curves' range
    (the floor, real against real at 10, and step 0 named instead); a start near the trained
    range keeps the whole scale."""
    far = [_run(tmp_path / "far", s, [(0, 900 + 10 * s), (100, 500 - 100 * s),
                                      (200, 300 - 100 * s)]) for s in range(2)]
    ax = curves.curves_figure(far, summary.summarise(far)).axes[0]
    assert ax.get_ylim() == pytest.approx((200 - 0.08 * 300, 500 + 0.08 * 300))
    note = [t.get_text() for t in ax.texts if t.get_gid() == "off-scale"]
    assert note == ["off the scale: step 0 (untrained) 905; real against real 10"]
    near = [_run(tmp_path / "near", s, [(0, 550), (100, 500 - 100 * s), (200, 300 - 100 * s)])
            for s in range(2)]
    near[0]["metrics"]["swd_real"] = near[1]["metrics"]["swd_real"] = 250.0
    ax = curves.curves_figure(near, summary.summarise(near)).axes[0]
    assert [t for t in ax.texts if t.get_gid() == "off-scale"] == []
    assert ax.get_ylim()[1] > 550


def test_a_grid_of_many_cells_gets_a_legend_of_several_columns_each_whole(tmp_path):
    """40 learning rates of one pairing: 40 legend entries in 3 columns of at most 18, and the
    saved figure keeps the whole legend (it is drawn beside the panels)."""
    runs = []
    for i in range(40):
        lr = round(1e-4 * 1.2 ** i, 8)
        run_dir = write_history(tmp_path / f"lr{i}", [{"step": 0, "wall_time_s": 0, "swd": 900},
                                                      {"step": 100, "wall_time_s": 1, "swd": i}])
        runs.append({"status": "ok", "study": "toy", "family": "gan", "model": "gan",
                     "scaling": "raw", "head": "identity", "seed": 0, "primary_metric": "swd",
                     "primary_direction": "min", "metrics": {"swd": float(i)},
                     "run_dir": str(run_dir), "config": {"model": {"module": {"lr": lr}}}})
    fig = curves.curves_figure(runs, summary.summarise(runs))
    legend = fig.axes[0].get_legend()
    assert len(legend.get_texts()) == 40 and legend._ncols == 3
    assert curves.plot_curves(runs, summary.summarise(runs), tmp_path / "curves.png")
    from PIL import Image
    with Image.open(tmp_path / "curves.png") as im:  # three legend columns wider than a panel
        assert im.width > 90 * (4.6 + 3 * 2.0)


def test_a_family_of_two_models_names_the_model_in_each_label(tmp_path):
    """seg_batch and seg_none rows of one pairing: each label says which network it is."""
    runs = []
    for i, model in enumerate(("seg_batch", "seg_none")):
        run = _run(tmp_path / model, 0, [(0, 900), (100, 500 + i)])
        run["model"] = model
        runs.append(run)
    fig = curves.curves_figure(runs, summary.summarise(runs))
    legend = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert {"seg_batch: raw + identity", "seg_none: raw + identity"} <= set(legend)
