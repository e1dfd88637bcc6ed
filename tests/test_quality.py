"""Steps to quality: the first evaluated step of a run's history.csv at which its primary metric
reaches the study's target, the median over a cell's ok seeds (a seed that never did counts as
later than all), ">N" where the median seed never did by its last evaluated step N."""
import csv
import json
import math

import pytest

from harness.report import quality
from harness.report import summary
from harness.report import cli as report
from harness.core.history import HISTORY, History

TARGET = {"gan": 400.0, "seg": 0.75}


def _run(root, name, curve, *, head="identity", seed=0, status="ok", family="gan",
         metric="swd", direction="min", target=TARGET):
    """A run directory with its history.csv (``curve``: [(step, value)], written by the
    harness's own ``History``) and its record, as ``load_records`` returns it."""
    run_dir = root / name
    history = History(run_dir / HISTORY)
    for step, value in curve:
        history.append(step, step / 100, {metric: value, f"{metric}_real": 1.0})
    record = {"status": status, "message": "", "study": "toy", "family": family,
              "model": "m", "scaling": "raw", "head": head, "seed": seed,
              "primary_metric": metric, "primary_direction": direction,
              "metrics": {metric: curve[-1][1]} if curve else {}, "wall_time_s": 1.0,
              "config": {"study": "toy", "target": target}}
    (run_dir / "run.json").write_text(json.dumps(record))
    return {**record, "run_dir": str(run_dir)}


SWD = [(0, 900.0), (100, 500.0), (200, 300.0), (300, 250.0)]  # <= 400 first at step 200
MIOU = [(0, 0.10), (50, 0.50), (100, 0.80), (150, 0.70)]  # >= 0.75 first at step 100


def test_min_direction_first_step_at_or_below_the_target(tmp_path):
    run = _run(tmp_path, "a", SWD)
    assert quality.run_steps(run, 400.0) == (200.0, 300.0)
    assert quality.run_steps(run, 500.0) == (100.0, 300.0)  # equal to the target reaches it
    assert quality.run_steps(run, 1000.0) == (0.0, 300.0)  # the untrained model already did
    assert quality.steps_text(*quality.run_steps(run, 400.0)) == "200"


def test_max_direction_first_step_at_or_above_the_target(tmp_path):
    run = _run(tmp_path, "a", MIOU, family="seg", metric="miou", direction="max")
    assert quality.run_steps(run, 0.75) == (100.0, 150.0)  # and stays reached at 150 (0.70)
    assert quality.run_steps(run, 0.50) == (50.0, 150.0)
    (row,) = summary.summarise([run])
    assert (row["target"], row["quality_reached"], row["steps_to_quality"]) == (0.75, "1/1", "100")
    assert row["last_step"] == 150.0


def test_a_run_that_never_reaches_reads_more_than_its_last_step(tmp_path):
    run = _run(tmp_path, "a", SWD)
    first, last = quality.run_steps(run, 100.0)
    assert math.isinf(first) and last == 300.0
    assert quality.steps_text(first, last) == ">300"
    (row,) = summary.summarise([run])
    assert row["quality_reached"] == "1/1"  # swd <= 400
    (row,) = summary.summarise([{**run, "config": {"target": {"gan": 100.0}}}])
    assert (row["quality_reached"], row["steps_to_quality"]) == ("0/1", ">300")


def test_history_written_by_hand_skips_steps_without_the_metric(tmp_path):
    run_dir = tmp_path / "a"
    run_dir.mkdir()
    with (run_dir / HISTORY).open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["step", "wall_time_s", "swd"])
        w.writerows([[0, 0.0, 900], [50, 0.5, ""], [100, 1.0, 350], [150, 1.5, 380],
                     [200, 2.0, ""]])  # 50 and 200 evaluated something else only
    run = {"status": "ok", "family": "gan", "primary_metric": "swd", "primary_direction": "min",
           "run_dir": str(run_dir)}
    assert quality.run_steps(run, 400.0) == (100.0, 150.0)  # last step with a swd: 150
    assert quality.steps_text(*quality.run_steps(run, 10.0)) == ">150"


def test_median_over_three_seeds_one_never_reaching_is_finite(tmp_path):
    runs = [_run(tmp_path, "s0", SWD, seed=0),  # 200
            _run(tmp_path, "s1", [(0, 900.0), (100, 390.0), (200, 380.0), (300, 370.0)],
                 seed=1),  # 100
            _run(tmp_path, "s2", [(0, 900.0), (100, 800.0), (200, 700.0), (300, 600.0)],
                 seed=2)]  # never
    (row,) = summary.summarise(runs)
    # sorted firsts [100, 200, never]: the median seed reached it at 200
    assert (row["quality_reached"], row["steps_to_quality"]) == ("2/3", "200")
    assert (row["target"], row["last_step"]) == (400.0, 300.0)


def test_median_over_three_seeds_two_never_reaching_is_more_than_n(tmp_path):
    never = [(0, 900.0), (100, 800.0), (200, 700.0), (300, 600.0)]
    runs = [_run(tmp_path, "s0", SWD, seed=0),  # 200
            _run(tmp_path, "s1", never, seed=1),
            _run(tmp_path, "s2", [*never, (400, 550.0)], seed=2)]  # watched longest: to 400
    (row,) = summary.summarise(runs)
    # sorted firsts [200, never, never]: the median seed never did, by step 400
    assert (row["quality_reached"], row["steps_to_quality"]) == ("1/3", ">400")
    assert row["last_step"] == 400.0


def test_failed_and_diverged_runs_are_ignored(tmp_path):
    """A failed run kept a history that reached the target at once: it counts in the statuses,
    never in the steps; the median is over the two ok seeds, 200 and never."""
    runs = [_run(tmp_path, "s0", SWD, seed=0),
            _run(tmp_path, "s1", [(0, 900.0), (300, 600.0)], seed=1),
            _run(tmp_path, "s2", [(0, 10.0), (100, 10.0)], seed=2, status="failed"),
            _run(tmp_path, "s3", [(0, 10.0), (500, 10.0)], seed=3, status="diverged")]
    assert all(math.isnan(x) for x in quality.run_steps(runs[2], 400.0))
    (row,) = summary.summarise(runs)
    assert (row["ok"], row["failed"], row["diverged"]) == (2, 1, 1)
    assert (row["quality_reached"], row["steps_to_quality"]) == ("1/2", ">300")
    assert row["last_step"] == 300.0  # not the diverged run's 500


def test_only_families_with_a_target_get_the_columns(tmp_path):
    gan = _run(tmp_path, "gan", SWD, target={"seg": 0.75})
    (row,) = summary.summarise([gan])
    assert not {"target", "quality_reached", "steps_to_quality"} & set(row)
    assert row["last_step"] == 300.0  # how far it was watched, target or not
    no_history = {**gan, "run_dir": str(tmp_path / "nothing-here"),
                  "config": {"target": TARGET}}
    (row,) = summary.summarise([no_history])
    assert (row["target"], row["quality_reached"], row["steps_to_quality"]) == (400.0, "", "")


def test_report_files_carry_steps_to_quality(tmp_path):
    sweep = tmp_path / "sweep"
    _run(sweep, "s0", SWD, seed=0)  # 200
    _run(sweep, "s1", [(0, 900.0), (100, 800.0), (200, 700.0), (300, 600.0)], seed=1)  # never
    _run(sweep, "s2", [(0, 900.0), (100, 390.0), (200, 380.0), (300, 370.0)], seed=2)  # 100
    _run(sweep, "s3", [(0, 1.0)], seed=3, status="failed")
    out = report.write_report(sweep, tmp_path / "out")
    runs = list(csv.DictReader((out / "runs.csv").open()))
    header = list(runs[0])
    assert header.index("steps_to_quality") == header.index("run_dir") - 1
    assert [(r["seed"], r["status"], r["steps_to_quality"]) for r in runs] == [
        ("0", "ok", "200"), ("1", "ok", ">300"), ("2", "ok", "100"), ("3", "failed", "")]
    (summary,) = csv.DictReader((out / "summary.csv").open())
    assert (summary["target"], summary["quality_reached"], summary["steps_to_quality"]) == (
        "400.0", "2/3", "200")
    md = (out / "summary.md").read_text()
    assert "| steps to swd ≤ 400 |" in md
    assert "| 1 | raw + identity | 370 [310, 485] | 200 | 3 ok, 1 failed | covers the data |" in md


@pytest.mark.parametrize("first, last, text", [(150.0, 300.0, "150"), (math.inf, 300.0, ">300"),
                                               (math.nan, math.nan, ""), (0.0, 0.0, "0")])
def test_steps_text(first, last, text):
    assert quality.steps_text(first, last) == text


@pytest.mark.slow
def test_early_evaluations_resolve_the_start_then_the_usual_interval(tmp_path):
    """``eval_early.every=2 eval_early.until=6`` beside ``eval_every=5``: the history has the
    union, each step once (the final step included)."""
    from harness.core.history import read_history
    from harness.run.runs import run
    from helpers import SEG_FAST, make_cfg

    rec = run(make_cfg(tmp_path, *SEG_FAST, "steps=12", "eval_every=5", "eval_early.every=2",
                       "eval_early.until=6", "logger=none", fast=False), tmp_path / "run")
    assert rec["status"] == "ok", rec.get("message")
    steps = [r["step"] for r in read_history(tmp_path / "run" / "history.csv")]
    assert steps == [0, 2, 4, 5, 6, 10, 12]
