"""Two loops timed a step each in turn: the ratio, its groups and its interval."""
import time

import pytest

from harness.bench import interleave


def test_summary_is_the_ratio_of_summed_times_with_the_groups_interval():
    harness = [0.02] * 25 + [0.2] * 5   # a rare slow step (a checkpoint) counts in proportion
    bare = [0.01] * 30
    got = interleave.summary(harness, bare)
    assert got["steps"] == 30 and got["groups"] == 3
    assert got["ratio"] == pytest.approx(0.3 / 1.5)
    assert got["a_steps_per_s"] == pytest.approx(30 / 1.5)
    assert got["b_steps_per_s"] == pytest.approx(30 / 0.3)
    assert got["group_median"] == pytest.approx(0.5)  # groups: 0.5, 0.5, 0.1 / 1.1
    assert (got["low"], got["high"]) == (pytest.approx(0.1 / 1.1), pytest.approx(0.5))
    assert got["coverage"] == pytest.approx(0.75)  # [min, max] of 3


def test_alternate_times_each_stepper_on_every_batch_after_the_warm_up():
    seen = {"slow": [], "fast": []}

    def stepper(name, seconds):
        def step(batch, i):
            seen[name].append((batch, i))
            time.sleep(seconds)
        return step

    got = interleave.alternate(stepper("slow", 0.004), stepper("fast", 0.001), list(range(22)),
                               warmup=2)
    assert seen["slow"] == seen["fast"] == [(b, b + 1) for b in range(22)]
    assert got["steps"] == 20 and got["groups"] == 2
    assert 0.1 < got["ratio"] < 0.5  # fast / slow time: about 1/4 (sleep overshoots)
