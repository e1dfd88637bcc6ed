"""Verdicts on a window, and every metric paired side by side, on hand-made histories: the
window's paired difference, the last evaluation's beside it, a verdict that holds on one and
not the other, and the study's contrasts (a minus b, read at a step)."""
import csv
import math

import pytest

from harness.report import summary
from harness.report.cells import by_cell
from harness.report.contrasts import paired_rows, section, select, write_paired_csv
from harness.report.tables import sentence
from harness.report.windows import per_seed, window_value
from helpers import write_history

STUDY = {"reference": {"gan": {"scaling": "symmetric", "head": "tanh"}}, "window": {"gan": 3},
         "contrasts": {"gan": [
             {"a": {"scaling": "raw", "head": "identity", "model.module.last_lr_scale": 127.5},
              "b": {"scaling": "raw", "head": "identity", "steps": 40}, "at": 20}]}}


def _rec(tmp_path, scaling, head, seed, swds, steps=20, lr=1.0, kid=None):
    """An ok record whose history evaluates every 5 steps from 0: ``swds`` at 0, 5, 10, ..."""
    rows = [{"step": 5 * i, "wall_time_s": i, "swd": v,
             **({} if kid is None else {"kid": kid[i]})} for i, v in enumerate(swds)]
    run_dir = write_history(tmp_path / f"{scaling}-{head}-{lr}-{steps}-{seed}", rows)
    config = {"study": "toy", "seed": seed, "steps": steps, "scaling": {"name": scaling},
              "head": {"name": head}, "model": {"name": "gan",
                                                 "module": {"last_lr_scale": lr}}, **STUDY}
    return {"status": "ok", "study": "toy", "family": "gan", "model": "gan", "scaling": scaling,
            "head": head, "seed": seed, "steps": steps, "threads": 1, "primary_metric": "swd",
            "primary_direction": "min", "run_dir": str(run_dir), "config": config,
            "metrics": {"swd": swds[-1], **({} if kid is None else {"kid": kid[-1]})}}


def test_the_window_is_the_mean_of_the_last_evaluations_up_to_a_step():
    rows = [{"step": s, "swd": v} for s, v in ((0, 900), (5, 300), (10, 200), (15, 100),
                                               (20, 400))]
    assert window_value(rows, "swd", 3) == pytest.approx((200 + 100 + 400) / 3)
    assert window_value(rows, "swd", 1) == 400
    assert window_value(rows, "swd", 3, at=15) == pytest.approx(200)  # 300, 200, 100
    assert window_value(rows, "swd", 3, at=12) == pytest.approx((900 + 300 + 200) / 3)
    assert math.isnan(window_value(rows, "swd", 6))  # fewer evaluations than the window
    assert math.isnan(window_value(rows, "swd", 1, at=30, steps=20))  # never got there


def test_a_verdict_on_the_window_and_the_last_evaluation_beside_it(tmp_path):
    """Six seeds of raw + identity worse than the reference on every evaluation of the window
    but one seed's last, which dips below: separable on the window (6 of 6 higher), not on
    the last evaluation (5 of 6); the front table says so."""
    records = []
    for s in range(6):
        records.append(_rec(tmp_path, "symmetric", "tanh", s, [900, 300, 100, 100, 100]))
        last = 50 if s == 0 else 150
        records.append(_rec(tmp_path, "raw", "identity", s, [900, 400, 150, 150, last]))
    rows = {(r["scaling"], r["head"]): r for r in summary.summarise(records, study=STUDY)}
    raw = rows[("raw", "identity")]
    # window: seed 0 (150 + 150 + 50) / 3 - 100 = +16.7, the others +50: all 6 above 0
    assert raw["paired_n"] == 6 and raw["paired_separable"]
    assert raw["paired_median"] == pytest.approx(50) and raw["paired_low"] == pytest.approx(50 / 3)
    assert raw["paired_last_short"] == "+50 [-50, 50] 96.9%, n=6: not separable"
    assert raw["paired_disagree"] is True
    assert "higher on 6 of 6 seeds" in raw["vs_reference"]
    text = sentence(list(rows.values()))
    assert "on the verdict window; on the last evaluation alone the verdict differs for " \
           "raw + identity" in text


def test_contrasts_pair_every_metric_at_a_step_and_say_when_a_cell_is_not_there(tmp_path):
    """The learning-rate arm (20 steps) minus plain raw + identity (40 steps) read at step 20:
    the plain arm's window there is its evaluations at 10, 15, 20, not its end."""
    records = []
    for s in range(3):
        records.append(_rec(tmp_path, "symmetric", "tanh", s, [900, 300, 100, 100, 100],
                            kid=[3, 2, 1, 1, 1]))
        records.append(_rec(tmp_path, "raw", "identity", s, [900, 400, 150, 150, 150],
                            lr=127.5, kid=[3, 2, 1, 1, 1]))
        records.append(_rec(tmp_path, "raw", "identity", s,
                            [900, 800, 700, 600, 500, 10, 10, 10, 10], steps=40,
                            kid=[3, 3, 3, 3, 3, 1, 1, 1, 1]))
    rows = summary.summarise(records, study=STUDY)
    cells = by_cell(records)
    paired, problems = paired_rows(records, cells, rows, STUDY)
    assert problems == []
    at = {(r["metric"], r["window"]): r for r in paired
          if r["comparison"] == "raw + identity, last_lr_scale=127.5 minus raw + identity, "
                                "steps=40, at step 20"}
    # window at 20: (150 + 150 + 150) / 3 - (700 + 600 + 500) / 3 = -450 on every seed
    assert at[("swd", "window")]["median"] == pytest.approx(-450)
    assert at[("swd", "window")]["lower"] == 3 and at[("swd", "last")]["median"] == -350
    assert at[("kid", "window")]["median"] == pytest.approx(1 - 3)
    assert not at[("swd", "window")]["separable"]  # 3 seeds: 75% at best
    # read at its end instead, the plain arm is far better: the step is what the contrast says
    plain = per_seed(cells[next(c for c in cells if dict(c[-1]).get("steps") == "40")], "swd", 3)
    assert plain == {0: 10.0, 1: 10.0, 2: 10.0}
    text = section(paired, problems, "gan", STUDY)
    assert "| raw + identity, last_lr_scale=127.5 minus raw + identity, steps=40, at step 20 | " \
           "3 (75.0%) | -450 [-450, -450] |" in text
    write_paired_csv(paired, tmp_path / "paired.csv")
    with (tmp_path / "paired.csv").open() as f:
        written = list(csv.DictReader(f))
    assert len(written) == len(paired) and {"comparison", "metric", "window", "low"} <= set(
        written[0])
    # a contrast naming a cell that is not there: one line, no row
    missing = {**STUDY, "contrasts": {"gan": [{"a": {"scaling": "raw", "head": "tanh"},
                                               "b": {"scaling": "raw", "head": "identity"}}]}}
    _, problems = paired_rows(records, cells, rows, missing)
    assert problems == ["contrasts.gan[0]: no cell of gan is scaling=raw, head=tanh; no cell "
                        "of gan is scaling=raw, head=identity (its raw + identity cells: "
                        "raw + identity, last_lr_scale=127.5; raw + identity, steps=40)"]


def test_a_cell_is_named_as_its_label_names_it(tmp_path):
    """A setting the selector does not name takes the value most cells share."""
    records = [_rec(tmp_path, "raw", "identity", 0, [1], steps=steps, lr=lr)
               for steps, lr in ((20, 1.0), (20, 127.5), (40, 1.0))]
    records.append(_rec(tmp_path, "symmetric", "tanh", 0, [1]))
    cells = by_cell(records)
    shown = {"steps": "20", "model.module.last_lr_scale": "1.0"}
    found, _ = select(cells, "gan", {"scaling": "raw", "head": "identity"}, shown)
    assert dict(found[-1]) == {"model.module.last_lr_scale": "1.0", "steps": "20"}
    found, _ = select(cells, "gan", {"scaling": "raw", "head": "identity", "steps": 40}, shown)
    assert dict(found[-1])["steps"] == "40"


def test_a_setting_the_reference_itself_varies_is_a_condition_ranked_within(tmp_path):
    """The reference run at two values of a setting (a weighting, a precision): each value is
    a condition, its rows ranked among themselves (a weighted loss of one weighting says
    nothing of the other's), and the sentence answers per condition."""
    records = []
    for lr, (ref, other) in ((1.0, (100, 300)), (127.5, (10, 5))):
        for s in range(2):
            records.append(_rec(tmp_path, "symmetric", "tanh", s, [ref + s], lr=lr))
            records.append(_rec(tmp_path, "raw", "identity", s, [other + s], lr=lr))
    rows = summary.summarise(records, study={**STUDY, "window": {}, "contrasts": {}})
    ranks = {(r["scaling"], r["condition"]): r["rank"] for r in rows}
    assert ranks == {("symmetric", "last_lr_scale=1.0"): 1, ("raw", "last_lr_scale=1.0"): 2,
                     ("raw", "last_lr_scale=127.5"): 1,
                     ("symmetric", "last_lr_scale=127.5"): 2}
    text = sentence(rows)
    assert text.startswith("At last_lr_scale=1.0: first by median symmetric + tanh, last_lr_scale=1.0 ")
    assert ". At last_lr_scale=127.5: first by median raw + identity, last_lr_scale=127.5 " in text


def test_the_take_off_step_per_width_its_fit_and_the_extrapolation_said_to_be_one(tmp_path):
    """Take-off (brightness within 10% of the data's) at steps 400, 200, 100 for widths 1/8,
    1/4, 1/2: exponent -1, extrapolated to 50 at width 1.0; widths.png drawn."""
    from harness.report.widths import (_steps, brightness, fit, plot_widths, seconds_per_step,
                                       takeoff, width_rows, width_section)

    assert takeoff([{"step": 0, "fake_mean": 0.0, "real_mean": 0.75},
                    {"step": 5, "fake_mean": 0.6, "real_mean": 0.75},  # 80%: not yet
                    {"step": 9, "fake_mean": 0.7, "real_mean": 0.75}]) == 9
    assert takeoff([{"step": 0, "fake_mean": 0.0, "real_mean": 0.75}]) == math.inf
    records = []
    for width, step in ((0.125, 400), (0.25, 200), (0.5, 100)):
        for s in range(2):
            rows = [{"step": t, "wall_time_s": 0, "swd": 100, "real_mean": 0.75,
                     "fake_mean": 0.75 if t >= step else 0.1} for t in range(0, 801, 50)]
            run_dir = write_history(tmp_path / f"w{width}-{s}", rows)
            config = {"study": "toy", "seed": s, "steps": 800, "scaling": {"name": "raw"},
                      "head": {"name": "identity"}, "model": {"name": "gan", "width": width}}
            records.append({"status": "ok", "study": "toy", "family": "gan", "model": "gan",
                            "scaling": "raw", "head": "identity", "seed": s, "steps": 800,
                            "threads": 1, "primary_metric": "swd", "primary_direction": "min",
                            "run_dir": str(run_dir), "config": config, "metrics": {"swd": 100},
                            "wall_time_s": 800 * width * (1 + s)})
    got = width_rows(records, {"target": {"gan": 150}})
    assert [(r["width"], r["takeoff"], r["seeds"]) for r in got] == [
        (0.125, 400, 2), (0.25, 200, 2), (0.5, 100, 2)]
    assert all(r["quality"] == 0 for r in got)  # swd 100 <= 150 from the first evaluation
    slope, intercept = fit([(r["width"], r["takeoff"]) for r in got])
    assert slope == pytest.approx(-1) and math.exp(intercept) == pytest.approx(50)
    text = width_section(got)
    # seconds per step: the upper middle of two seeds' (width, 2 x width)
    assert ("| raw + identity | 400 (0), 2, 0.25 s | 200 (0), 2, 0.50 s | 100 (0), 2, 1.00 s "
            "| -1.00 | 50 |") in text
    assert "an extrapolation, not a measurement" in text
    assert plot_widths(got, tmp_path / "widths.png") and (tmp_path / "widths.png").stat().st_size
    assert width_rows(records[:2], {}) == []  # one width: nothing scales
    # a budget scaled with the width (8000, 4000, 2000 steps) is one series still; a run that
    # never takes off within its budget reads ">budget"
    for r in records:
        r["config"]["steps"] = r["steps"] = int(1000 / r["config"]["model"]["width"])
    scaled = width_rows(records, {"target": {"gan": 150}})
    assert [r["settings"] for r in scaled] == [{}, {}, {}]
    # the wall times over 8000, 4000, 2000 steps
    assert ("| raw + identity | 400 (0), 2, 0.03 s | 200 (0), 2, 0.10 s | 100 (0), 2, 0.40 s "
            "| -1.00 | 50 |") in width_section(scaled)
    assert _steps(math.inf, {"budget": 2000}) == ">2000"
    # seconds per step from the history's timed intervals: a 1000 s pause in one of them does
    # not count; without timed intervals, the run's wall time over its steps
    timed = [{"step": t, "wall_time_s": t / 50 + (1000 if t >= 400 else 0)}
             for t in range(0, 801, 50)]
    assert seconds_per_step({"wall_time_s": 1016, "steps": 800}, timed) == pytest.approx(0.02)
    assert seconds_per_step({"wall_time_s": 1016, "steps": 800}, rows) == pytest.approx(1.27)
    # the climb where a run has not taken off: brightness at the last step every width has,
    # 800 here; 0.75 / 0.75 from each width's take-off on
    assert "| raw + identity | 800 | 1.000 | 1.000 | 1.000 |" in width_section(scaled)
    assert brightness([[{"step": 0, "fake_mean": 0.0, "real_mean": 0.5},
                        {"step": 10, "fake_mean": 0.1, "real_mean": 0.5}],
                       [{"step": 0, "fake_mean": 0.2, "real_mean": 0.5}]]) == {0: 0.2}



def test_a_setting_that_differs_only_between_models_is_not_a_condition(tmp_path):
    """seg_scaling's reference at lr 1e-3 with BatchNorm and at its searched 4.5e-3 without: the
    rate belongs to each network, so one ranking of the family, no condition, and a cell of
    another searched rate is still paired with its model's reference."""
    records = []
    for model, ref_lr, raw_lr, ref, raw in (("batch", 1.0, 1.0, 100, 110),
                                            ("none", 4.5, 1.7, 120, 300)):
        for s in range(2):
            for scaling, lr, v in (("symmetric", ref_lr, ref), ("raw", raw_lr, raw)):
                rec = _rec(tmp_path / model, scaling, "tanh" if scaling == "symmetric" else
                           "identity", s, [v + s], lr=lr)
                rec["model"] = rec["config"]["model"]["name"] = model
                records.append(rec)
    rows = summary.summarise(records, study={**STUDY, "window": {}, "contrasts": {}})
    assert all("condition" not in r for r in rows)
    assert sorted((r["rank"], r["model"], r["scaling"]) for r in rows) == [
        (1, "batch", "symmetric"), (2, "batch", "raw"), (3, "none", "symmetric"),
        (4, "none", "raw")]
    raw_none = next(r for r in rows if r["model"] == "none" and r["scaling"] == "raw")
    assert raw_none["paired_median"] == 180 and "reference at" in raw_none["vs_reference"]
