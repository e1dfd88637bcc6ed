"""The paired difference to the reference, against intervals computed by hand."""
import math

import pytest

from harness.core.signtest import sign_coverage
from harness.report import summary
from harness.report.paired import paired_difference


def test_coverage_of_the_order_statistics_by_hand():
    assert sign_coverage(3, 1) == pytest.approx(1 - 2 / 8)  # [min, max] of 3: 75%
    assert sign_coverage(5, 1) == pytest.approx(1 - 2 / 32)  # 93.75%
    assert sign_coverage(6, 1) == pytest.approx(1 - 2 / 64)  # 96.875%
    # n = 10, k = 2: 1 - 2 (1 + 10) / 1024
    assert sign_coverage(10, 2) == pytest.approx(1 - 22 / 1024)


def test_ten_seeds_against_a_hand_computed_interval():
    ref = {s: 100.0 for s in range(10)}
    diffs = [5.0, -1.0, 3.0, 8.0, 2.0, 6.0, 4.0, 7.0, 1.0, 9.0]
    got = paired_difference({s: 100.0 + d for s, d in enumerate(diffs)}, ref)
    # sorted: -1 1 2 3 4 5 6 7 8 9; k = 2 is the narrowest with coverage >= 95% (97.9%;
    # k = 3 gives 1 - 2 * 56 / 1024 = 89.1%): [d_(2), d_(9)] = [1, 8]; median (4 + 5) / 2
    assert (got.n, got.median, got.low, got.high) == (10, 4.5, 1.0, 8.0)
    assert got.coverage == pytest.approx(1 - 22 / 1024)
    assert got.separable  # 0 is outside [1, 8]
    assert got.words("min").startswith("worse by 4.5 (higher on 9 of 10 seeds; 97.9% interval 1..8)")


def test_three_seeds_all_worse_are_still_not_separable_at_95_percent():
    got = paired_difference({0: 883.0, 1: 870.0, 2: 905.0}, {0: 180.0, 1: 182.0, 2: 476.0})
    assert (got.low, got.high, got.median) == (429.0, 703.0, 688.0)
    assert got.coverage == pytest.approx(0.75) and not got.separable
    assert got.words("min").endswith("not separable with 3 seeds at 95%")


def test_only_seeds_both_have_count():
    got = paired_difference({0: 1.0, 1: math.nan, 2: 3.0, 5: 9.0}, {0: 0.0, 1: 0.0, 2: 0.0})
    assert got.n == 2 and got.median == 2.0
    assert paired_difference({0: 1.0}, {1: 1.0}).words() == "no seed in common with the reference"


def _rec(scaling, head, seed, swd):
    config = {"study": "toy", "seed": seed, "steps": 10, "scaling": {"name": scaling},
              "head": {"name": head}, "model": {"name": "gan"},
              "reference": {"gan": {"scaling": "symmetric", "head": "tanh"}}}
    return {"status": "ok", "study": "toy", "family": "gan", "model": "gan", "scaling": scaling,
            "head": head, "seed": seed, "threads": 1, "primary_metric": "swd",
            "primary_direction": "min", "metrics": {"swd": swd}, "config": config}


def test_the_report_pairs_each_pairing_with_the_studys_reference_by_seed():
    ref = {0: 180.0, 1: 182.0, 2: 476.0}
    article = {0: 883.0, 1: 870.0, 2: 905.0, 3: 900.0}  # seed 3 has no reference run
    records = [_rec("symmetric", "tanh", s, v) for s, v in ref.items()]
    records += [_rec("raw", "identity", s, v) for s, v in article.items()]
    rows = {(r["scaling"], r["head"]): r for r in summary.summarise(records)}
    assert rows[("symmetric", "tanh")]["vs_reference"] == "reference"
    raw = rows[("raw", "identity")]
    assert (raw["paired_n"], raw["paired_median"], raw["paired_low"], raw["paired_high"]) == (
        3, 688.0, 429.0, 703.0)
    assert raw["vs_reference"] == ("worse by 688 (higher on 3 of 3 seeds; 75.0% interval 429..703): "
                                   "not separable with 3 seeds at 95%")
    assert raw["paired_coverage"] == pytest.approx(0.75) and raw["paired_separable"] is False
    assert raw["paired_short"] == "+688 [429, 703] 75.0%, n=3: not separable"
    assert "paired_short" not in rows[("symmetric", "tanh")]


def test_short_cell_says_the_sign_the_interval_and_the_verdict():
    # 6 seeds, each 2..7 lower than the reference: k = 1 covers 96.9% >= 95%, [-7, -2]
    got = paired_difference({s: 10.0 - d for s, d in enumerate([2, 3, 4, 5, 6, 7])},
                            {s: 10.0 for s in range(6)})
    assert (got.median, got.low, got.high, got.separable) == (-4.5, -7.0, -2.0, True)
    assert got.short() == "-4.5 [-7, -2] 96.9%, n=6: separable"
    assert got.words("min") == "better by 4.5 (lower on 6 of 6 seeds; 96.9% interval -7..-2)"
    one = paired_difference({0: 3.0}, {0: 1.0})  # one seed: no interval worth showing
    assert one.short() == "+2, n=1: not separable"
    assert one.words("max").endswith("not separable with 1 seed at 95%")
    assert paired_difference({0: 1.0}, {1: 1.0}).short() == "no seed in common"


def test_an_arm_with_settings_of_its_own_is_compared_with_the_one_reference_of_its_data():
    from harness.report.paired import add_paired

    def runs(values):
        return [{"seed": s, "status": "ok", "metrics": {"swd": v}} for s, v in enumerate(values)]

    def cell(scaling, head, steps, data="digits"):
        return ("gan", "gan_article", scaling, head, (("data.source", data), ("steps", steps)))

    cells = {cell("symmetric", "tanh", "3000"): runs([50, 60, 70]),
             cell("raw", "identity", "6000"): runs([150, 260, 370]),
             cell("symmetric", "tanh", "3000", "colour"): runs([10, 20, 30]),
             cell("raw", "identity", "3000", "colour"): runs([11, 22, 33])}
    rows = [{"primary": "swd", "direction": "min"} for _ in cells]
    add_paired(rows, cells, {"gan": ("symmetric", "tanh")})
    assert rows[1]["paired_median"] == 200 and rows[1]["paired_n"] == 3  # digits' reference
    assert rows[3]["paired_median"] == 2  # colour's own reference, not the digits'
    assert rows[0]["vs_reference"] == rows[2]["vs_reference"] == "reference"
    two = {**cells, cell("symmetric", "tanh", "6000"): runs([1, 2, 3])}  # now steps tell apart
    rows = [{"primary": "swd", "direction": "min"} for _ in two]
    add_paired(rows, two, {"gan": ("symmetric", "tanh")})
    assert rows[1]["paired_median"] == 258  # the reference at 6000 steps, as its own settings
    assert "reference at" not in rows[1]["paired_short"]
    # the words say at which settings the reference ran; another data set is never stood in
    rows = [{"primary": "swd", "direction": "min"} for _ in cells]
    add_paired(rows, cells, {"gan": ("symmetric", "tanh")})
    assert rows[1]["paired_short"].endswith("; reference at steps=3000")
    no_colour_ref = {k: v for k, v in cells.items() if k != cell("symmetric", "tanh", "3000",
                                                                     "colour")}
    rows = [{"primary": "swd", "direction": "min"} for _ in no_colour_ref]
    add_paired(rows, no_colour_ref, {"gan": ("symmetric", "tanh")})
    assert rows[2]["vs_reference"] == "no reference run with these settings"
