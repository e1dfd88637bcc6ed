"""The bench's arithmetic: import time read from ``-X importtime``, the networks the studies
train, and full_grid's prediction computed from given costs, checked against the hand sums."""
import re

import pytest

from harness.bench import forecast
from harness.bench import wholerun


def test_import_seconds_adds_only_the_top_level_imports():
    stderr = "\n".join([
        "import time: self [us] | cumulative | imported package",
        "import time:       100 |        100 |   _io",
        "import time:       200 |        300 | site",
        "import time:       500 |    1500000 |     torch._C",
        "import time:      1000 |    2000000 | torch",
        "some warning | with | bars",
        "import time:        50 |     250000 | harness.train",
    ])
    assert wholerun.import_seconds(stderr) == (300 + 2000000 + 250000) / 1e6


def test_every_study_network_is_found_once_with_its_swept_model_keys():
    nets = wholerun.study_networks()
    assert {"raw_pixel_gan: gan_article", "seg_scaling: seg_batch", "seg_scaling: seg_none",
            "style_claim: style", "default: gan", "default: seg", "default: style"} <= set(nets)
    family, alone, overrides = nets["seg_scaling: seg_none"]
    assert (family, alone) == ("seg", True)
    assert "+seg_arm=none" in overrides and "seed=0" in overrides
    assert nets["default: gan"][1] is False  # the default study holds three families
    assert wholerun.family_studies()["gan"] == nets["raw_pixel_gan: gan_article"][2]


def _whole(family, **over):
    row = {"family": family, "steps": 400, "eval_every": 200, "imports_s": 4.0, "setup": 0.5,
           "build": 0.5, "baseline": 1.0, "grids": 0.0, "rest_s": 1.0, "evaluations": 1.0,
           "final_evaluation": 1.0}
    return {**row, **over}


def test_the_cpu_prediction_is_the_sum_of_the_measured_costs():
    settings, runs = forecast.grid_runs()
    assert settings == {"steps": 2000, "eval_every": 500}
    whole = [_whole(f) for f in runs]
    layouts = [{"network": f"default: {f}", "steps_per_job": 100, "parallel_1_thread_s": 5.0}
               for f in runs]
    text = "\n".join(forecast.markdown(whole, layouts, {f: 100 for f in runs}))
    # per run: fixed 3 s, 2000 steps x 0.05 s, 4 evaluations x 1 s (2 per 400 steps at 200)
    one = 3 + 2000 * 0.05 + 4 * 1.0
    total = sum(t * one + s * 3 for t, s in runs.values()) / 2 + 4.0
    assert f"**{total / 3600:.1f} h**" in text
    assert re.search(r"\| seg \| 24 \+ 72 \| 0\.050 \| 1\.00 \| 3\.0 \|", text)


def test_no_prediction_without_its_measurements():
    assert forecast.markdown([], [], {}) == []


@pytest.mark.slow
def test_a_sweep_process_reports_its_later_runs_own_time():
    """Two seeds in one sweep process: the second run's own wall time is measured and is less
    than the process's (it pays no imports and no start-up)."""
    from helpers import SEG_FAST

    overrides = [*SEG_FAST, "scaling=raw", "head=identity", "seed=0"]
    h = wholerun.harness_run(overrides, ["threads=1"], seeds=2)
    assert h["steps"] == 4 and len(h["later"]) == 1
    assert 0 < h["later"][0]["wall_time_s"] < h["wall_s"] - h["imports_s"]
    assert h["later"][0]["phases_s"]["training_loop"] > 0
    assert h["phases_s"]["baseline"] > 0 and h["imports_s"] > 0.5
