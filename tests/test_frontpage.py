"""The front page (summary.md, and the README around it): per family one generated sentence and
one short table, best first, against numbers computed by hand."""
import json
import os

import pytest

from harness.report import cli as report
from harness.report.readme import readme_text
from harness.report import summary
from harness.report import cells as stats
from harness.report import tables
from harness.report.paired import noise_floors

REF = {"gan": {"scaling": "symmetric", "head": "tanh"}}
FLOOR = {"gan": [{"scaling": "raw", "head": "identity"},
                 {"scaling": "symmetric", "head": "identity"}]}
# swd per seed. Medians: unit + sigmoid 170 < symmetric + tanh 182 (the reference) < symmetric
# + identity 880 < raw + identity 883; the design order (raw, unit, symmetric) is another one
SWD = {("raw", "identity"): [883.0, 870.0, 905.0],
       ("unit", "sigmoid"): [150.0, 170.0, 200.0],
       ("symmetric", "identity"): [880.0, 874.0, 899.0],
       ("symmetric", "tanh"): [180.0, 182.0, 476.0]}


def _rec(scaling, head, seed, swd, *, status="ok", units="×1e3", started="2026-01-01T10:00:00",
         wall=1.0, **config):
    return {"status": status, "message": "", "study": "toy", "family": "gan", "model": "gan",
            "scaling": scaling, "head": head, "seed": seed, "threads": 1,
            "range_mismatch": head == "identity" and scaling != "raw",
            "primary_metric": "swd", "primary_direction": "min", "primary_units": units,
            "metrics": {} if swd is None else {"swd": swd}, "wall_time_s": wall,
            "started": started, "config": {"study": "toy", "seed": seed, "steps": 10, **config}}


def _records(swd=SWD, **config):
    return [_rec(sc, h, s, v, **config) for (sc, h), values in swd.items()
            for s, v in enumerate(values)]


def _table_lines(md: str, family: str = "gan") -> list[str]:
    part = md.split(f"### {family}\n")[1].split("### ")[0]
    return [line for line in part.splitlines() if line.startswith("|")]


def test_the_table_is_sorted_by_rank_with_units_and_direction_in_the_header():
    records = [*_records(), _rec("imagenet", "tanh", 0, None, status="failed")]
    rows = summary.summarise(records)
    lines = _table_lines(tables.markdown_table(rows))
    assert lines[0] == ("| rank | pairing | swd, median [IQR] (×1e3; lower is better) | runs "
                        "| head's range |")
    assert lines[2:] == [
        "| 1 | unit + sigmoid | 170 [160, 185] | 3 ok | covers the data |",
        "| 2 | symmetric + tanh | 182 [181, 329] | 3 ok | covers the data |",
        "| 3 | symmetric + identity | 880 [877, 889.5] | 3 ok | mismatch |",
        "| 4 | raw + identity | 883 [876.5, 894] | 3 ok | covers the data |",
        "|  | imagenet + tanh | – | 1 failed | covers the data |"]  # no median: no rank, last


def test_max_direction_and_no_units_in_the_header():
    records = [{**_rec("unit", h, s, None, units=None), "primary_metric": "miou",
                "primary_direction": "max", "family": "seg", "metrics": {"miou": v},
                "range_mismatch": False}
               for h, values in (("sigmoid", [0.5, 0.6, 0.7]), ("identity", [0.8, 0.8, 0.9]))
               for s, v in enumerate(values)]
    lines = _table_lines(tables.markdown_table(summary.summarise(records)), "seg")
    assert lines[0] == "| rank | pairing | miou, median [IQR] (higher is better) | runs | head's range |"
    assert lines[2:] == ["| 1 | unit + identity | 0.8 [0.8, 0.85] | 3 ok | covers the data |",
                         "| 2 | unit + sigmoid | 0.6 [0.55, 0.65] | 3 ok | covers the data |"]


def test_steps_column_only_with_a_target_and_paired_column_only_with_a_reference():
    def header(**config):
        return _table_lines(tables.markdown_table(summary.summarise(_records(**config))))[0]

    assert header() == ("| rank | pairing | swd, median [IQR] (×1e3; lower is better) | runs "
                        "| head's range |")
    assert header(target={"gan": 300}) == (
        "| rank | pairing | swd, median [IQR] (×1e3; lower is better) | steps to swd ≤ 300 "
        "| runs | head's range |")
    assert header(target={"seg": 0.5}) == header()  # another family's target
    assert header(reference=REF) == (
        "| rank | pairing | swd, median [IQR] (×1e3; lower is better) "
        "| minus symmetric + tanh, paired by seed: median [interval, coverage] | runs | head's range |")
    both = header(reference=REF, target={"gan": 300})
    assert both.index("steps to swd ≤ 300") < both.index("minus symmetric + tanh")


def test_paired_cells_against_the_reference():
    lines = _table_lines(tables.markdown_table(summary.summarise(_records(reference=REF))))
    # unit + sigmoid minus the reference, per seed: -30, -12, -276 -> median -30, [min, max]
    # covers 75%; raw + identity: 703, 688, 429 -> median 688
    assert lines[2] == ("| 1 | unit + sigmoid | 170 [160, 185] | -30 [-276, -12] 75.0%, n=3: "
                        "not separable | 3 ok | covers the data |")
    assert lines[3] == "| 2 | symmetric + tanh | 182 [181, 329] | reference | 3 ok | covers the data |"
    assert lines[5] == ("| 4 | raw + identity | 883 [876.5, 894] | +688 [429, 703] 75.0%, n=3: "
                        "not separable | 3 ok | covers the data |")


def test_the_sentence_names_first_and_last_by_median_and_ratio_to_the_reference():
    """Three seeds separate nothing: no "best", no "worst" (tables.earned)."""
    rows = summary.summarise(_records(reference=REF))
    # 170 / 182 = 0.934, 883 / 182 = 4.852; three seeds cover at most 75% < 95%
    assert tables.sentence(rows) == (
        "First by median unit + sigmoid (median swd 170, 0.93x the reference); last by median "
        "raw + identity (median swd 883, 4.85x the reference). No pairing is separable from "
        "the reference with 3 seeds at 95%.")
    assert tables.sentence(rows) + "\n" in tables.markdown_table(rows)
    # without a reference: medians only, nothing about separability
    assert tables.sentence(summary.summarise(_records())) == (
        "First by median unit + sigmoid (median swd 170); last by median raw + identity "
        "(median swd 883).")


def test_the_sentence_names_what_six_seeds_separate():
    """Six seeds, unit + sigmoid lower than the reference in each: [min, max] covers 96.9% and
    excludes 0, so it is separated; symmetric + identity is lower in one seed only."""
    ref = [100.0, 110.0, 120.0, 130.0, 140.0, 150.0]
    swd = {("symmetric", "tanh"): ref,
           ("unit", "sigmoid"): [v - d for v, d in zip(ref, [5, 6, 7, 8, 9, 10])],
           ("symmetric", "identity"): [v + d for v, d in zip(ref, [-1, 2, 3, 4, 5, 6])]}
    rows = summary.summarise(_records(swd, reference=REF))
    # unit + sigmoid: 95, 104, 113, 122, 131, 140 -> median 117.5, 0.94x of 125
    assert tables.sentence(rows) == (
        "Best unit + sigmoid (median swd 117.5, 0.94x the reference); last by median symmetric + "
        "identity (median swd 128.5, 1.03x the reference). Separated from the reference by "
        "the paired seeds at 95%: unit + sigmoid.")
    sig = next(r for r in rows if r["head"] == "sigmoid")
    assert sig["paired_short"] == "-7.5 [-10, -5] 96.9%, n=6: separable"


def test_the_noise_floor_line():
    records = _records(reference=REF, noise_floor=FLOOR)
    rows = summary.summarise(records)
    floors = noise_floors(rows, stats.by_cell(records), stats.study_settings(records))
    # raw + identity minus symmetric + identity, per seed: 3, -4, 6 -> median 3, [-4, 6] 75%
    assert floors == {"gan": "raw + identity minus symmetric + identity (the same function): "
                             "median paired difference of swd 3 (3 seeds; 75.0% interval -4..6)"}
    md = tables.markdown_table(rows, floors)
    assert "\nNoise floor: raw + identity minus symmetric + identity (the same function): median " \
           "paired difference of swd 3 (3 seeds; 75.0% interval -4..6).\n" in md
    # the floor's arm is the floor, not a contender: no rank, and its row says what it is
    arm = "|  | raw + identity (the noise floor's arm: the same function as symmetric + identity) |"
    assert md.index("Noise floor:") > md.index(arm)
    assert next(r for r in rows if r["scaling"] == "raw")["rank"] is None
    assert sorted(r["rank"] for r in rows if r["rank"]) == [1, 2, 3]
    assert "Noise floor" not in tables.markdown_table(rows)
    none = stats.study_settings(_records())
    assert noise_floors(rows, stats.by_cell(records), none) == {}  # the study names none


def test_a_study_shows_its_rulers_beside_the_primary_and_only_those_the_runs_have():
    records = [{**r, "metrics": {**r["metrics"], "brightness": 0.1 * r["seed"]}}
               for r in _records()]
    rows = summary.summarise(records)
    lines = _table_lines(tables.markdown_table(rows, shown={"gan": ["brightness", "absent",
                                                                    "swd"]}))
    assert lines[0] == ("| rank | pairing | swd, median [IQR] (×1e3; lower is better) | "
                        "brightness, median [IQR] | runs | head's range |")
    assert lines[2] == "| 1 | unit + sigmoid | 170 [160, 185] | 0.1 [0.05, 0.15] | 3 ok | covers the data |"
    assert _table_lines(tables.markdown_table(rows))[0].count("brightness") == 0


@pytest.mark.parametrize("reused, line", [
    (3, "- Last sweep: 2.0 s (0.0 min) wall time, 3 of 3 runs reused from earlier sweeps"),
    (2, "- Last sweep: 2.0 s (0.0 min) wall time, 2 of 3 runs reused from earlier sweeps")],
    ids=["all reused", "one run new"])
def test_readme_keeps_the_runs_own_time_when_a_rerun_reuses_them(tmp_path, reused, line):
    """A re-run that reused every run took 2 s; the runs themselves took 40 + 50 + 60 s, and the
    README says both. ``python -m harness.report`` reads the sweep's start from sweep.json."""
    sweep = tmp_path / "sweep"
    for i, (wall, started) in enumerate([(40.0, "2026-01-01T10:00:00"),
                                         (50.0, "2026-01-01T10:01:00"),
                                         (60.0, "2026-01-01T10:02:00" if reused == 3
                                          else "2026-01-02T09:00:01")]):
        (sweep / f"run{i}").mkdir(parents=True)
        (sweep / f"run{i}" / "run.json").write_text(json.dumps(
            _rec("raw", "identity", i, 800.0 + i, wall=wall, started=started)))
    (sweep / report.SWEEP_INFO).write_text(json.dumps(
        {"command": "python -m harness.train -m experiment=toy", "wall_time_s": 2.0,
         "started": "2026-01-02T09:00:00"}))
    assert report.main([str(sweep), "--out", str(tmp_path / "out")]) == 0
    readme = (tmp_path / "out" / "README.md").read_text().splitlines()
    assert "- Compute time of the runs: 150.0 s (2.5 min), the sum of each run's own wall time" \
        in readme
    assert line in readme
    # the union of the runs' intervals: 40 + 50 + 60 s, no overlap; a run started the next day
    # adds its own 60 s, not the night between
    assert "- Training wall time: 150.0 s (2.5 min), while at least one run trained" in readme
    assert "- Command: `python -m harness.train -m experiment=toy`" in readme
    assert not any(x.startswith("- Wall time") for x in readme)


def test_the_newest_records_study_settings_are_the_ones_reported():
    """Runs are reused across a change of target or reference (they change no number), so
    older records may hold an earlier command's values: the newest record's win."""
    old, new = _records(reference=REF), _records(reference={"gan": {"scaling": "raw",
                                                                     "head": "identity"}})
    for r in old:
        r["started"] = "2026-01-01T00:00:00"
    for r in new:
        r["started"] = "2026-02-01T00:00:00"
    mixed = [*old[:len(old) // 2], *new[len(new) // 2:]]
    assert stats.study_settings(mixed)["reference"] == {"gan": {"scaling": "raw",
                                                                "head": "identity"}}
    rows = summary.summarise(mixed)
    assert {r["vs_reference"] for r in rows if r["head"] == "identity"
            and r["scaling"] == "raw"} == {"reference"}


def test_a_reference_without_runs_is_said_not_dropped():
    rows = summary.summarise(_records(reference={"gan": {"scaling": "imagenet", "head": "tanh"}}))
    assert "The reference, imagenet + tanh, has no ok run here: nothing is paired" \
        in tables.sentence(rows)
    header = tables.family_table(rows).splitlines()[0]
    assert "minus imagenet + tanh, paired by seed" in header


def test_training_wall_time_counts_overlapping_runs_once():
    from harness.report.readme import _time_lines

    runs = [{"started": "2026-01-01T10:00:00", "wall_time_s": 100.0},  # 10:00:00-10:01:40
            {"started": "2026-01-01T10:00:30", "wall_time_s": 100.0},  # overlaps: to 10:02:10
            {"started": "2026-01-01T11:00:00", "wall_time_s": 30.0}]   # another sweep
    assert "- Training wall time: 160.0 s (2.7 min), while at least one run trained" in \
        _time_lines(runs, None, None)


def test_the_default_front_page_opens_with_each_familys_dedicated_study(tmp_path):
    """``make sweep``'s study names, per family, the study that answers its question; its
    README opens with a line each, the answer quoted from that study's findings and linked."""
    from hydra import compose, initialize_config_dir

    from harness.core.findings import answer_of
    from helpers import CONF, ROOT

    with initialize_config_dir(config_dir=CONF, version_base="1.3"):
        cfg = compose("train", overrides=["experiment=default"])
    answers = dict(cfg.answer)
    assert answers == {"gan": "results/raw_pixel_gan/findings.md",
                       "style": "results/style_claim/findings.md",
                       "seg": "results/seg_scaling/findings.md"}
    records = [{**r, "family": f} for f in answers for r in _records()]
    out = tmp_path / "results" / "default"
    out.mkdir(parents=True)
    text = readme_text(records, "table", out, commit="abc", answers=answers)
    lines = text.splitlines()
    opening = lines.index("**The answers are in the dedicated studies**; this study is a first "
                          "look:")
    assert opening < lines.index("## Summary")
    quoted = [line for line in lines if ": for the answer, see [" in line]
    assert [line.split(":")[0] for line in quoted] == ["- gan", "- style", "- seg"]
    gan = answer_of("results/raw_pixel_gan/findings.md")
    assert gan.startswith("Feeding raw 0..255 pixels") and gan.endswith(".")
    link = os.path.relpath(ROOT / "results/raw_pixel_gan/findings.md", out.resolve())
    assert quoted[0] == ("- gan: for the answer, see [results/raw_pixel_gan/findings.md]"
                         f"({link}): {gan}")
    # in the committed folder, the link is the sibling study's
    here = readme_text(records, "table", ROOT / "results" / "default", commit="abc",
                              answers=answers)
    assert "(../raw_pixel_gan/findings.md): Feeding raw 0..255 pixels" in here


def test_an_answer_is_the_first_sentence_of_the_answer_paragraph(tmp_path):
    from harness.core.findings import answer_of, answer_problem

    f = tmp_path / "findings.md"
    f.write_text("# Findings\n\n**The answer.** Raw pixels train, 0.671 against 0.973 (e.g. "
                 "seed 0).\nSlower: 5 of 6 seeds.\n\nMore.\n")
    assert answer_of(f) == "Raw pixels train, 0.671 against 0.973 (e.g. seed 0)."
    assert answer_problem("answer.gan", str(f)) is None
    f.write_text("# Findings\n\nNo answer here.\n")
    assert answer_of(f) is None
    assert answer_problem("answer.gan", str(f)) == (
        f"answer.gan='{f}' is not accepted: it has no paragraph opening with **The answer.**; "
        "give a findings file (from the repository root) with a paragraph opening with "
        "**The answer.**, e.g. "
        "answer.gan=results/raw_pixel_gan/findings.md")
    assert answer_of(tmp_path / "missing.md") is None


def test_the_noise_floor_reads_the_verdicts_window_once_per_weighting(tmp_path):
    """The floor is read on the window the verdicts use (here the mean of the last 2
    evaluations, not the last alone), and a floor run at two weightings is named at each."""
    records, ref = [], {"gan": FLOOR["gan"][1]}  # as in style_claim: the floor's b is the reference
    for cw, shift in ((1.0, 0.0), (5.0, 100.0)):
        for (sc, h), ends in {("raw", "identity"): [(10.0, 30.0), (20.0, 40.0), (30.0, 50.0)],
                              ("symmetric", "identity"): [(0.0, 0.0)] * 3}.items():
            for seed, (mid, last) in enumerate(ends):
                run = tmp_path / f"{sc}-{h}-{cw}-{seed}"
                run.mkdir()
                (run / "history.csv").write_text(
                    f"step,swd\n5,{mid + shift}\n10,{last + shift}\n")
                records.append(dict(_rec(sc, h, seed, last + shift, reference=ref,
                                         noise_floor=FLOOR, model={"content_weight": cw}),
                                    run_dir=str(run), steps=10))
    rows = summary.summarise(records)
    floors = noise_floors(rows, stats.by_cell(records), stats.study_settings(records), {"gan": 2})
    # per seed, the mean of steps 5 and 10: 20, 30, 40 at both weightings (the shift cancels)
    one = ("raw + identity minus symmetric + identity (the same function, at "
           "content_weight={}): median paired difference of swd on the mean of the last 2 "
           "evaluations 30 (3 seeds; 75.0% interval 20..40)")
    assert floors == {"gan": one.format(1.0) + "; " + one.format(5.0)}
