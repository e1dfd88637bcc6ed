"""The report turns a known toy sweep into the numbers and files we can compute by hand."""

import csv
import json
import logging
import math

import pytest
from omegaconf import OmegaConf
from PIL import Image

from harness.core import pixels
from harness.report import summary
from harness.report import cli as report
from harness.report import tables
from harness.report import cells
from harness.report import stats

COMMAND = "python -m harness.train -m experiment=toy"
EARLIER = "2020-01-01T00:00:00"  # every toy run started before any sweep these tests start


def _run(root, name, *, scaling, head, seed, status="ok", metrics=None, mismatch=False,
         message="", samples=True, family="gan", model="gan_article"):
    run_dir = root / name
    run_dir.mkdir(parents=True)
    record = {
        "status": status, "message": message, "study": "toy", "family": family, "model": model,
        "scaling": scaling, "head": head, "seed": seed, "range_mismatch": mismatch,
        "primary_metric": "swd", "primary_direction": "min", "metrics": metrics or {},
        "wall_time_s": 2.0, "command": COMMAND, "started": EARLIER,
        "config": {"study": "toy", "question": "Does raw + identity train?", "steps": 5},
    }
    (run_dir / "run.json").write_text(json.dumps(record))
    if samples:
        Image.new("RGB", (64, 64), (0, 0, 200)).save(run_dir / "samples_decoded.png")
        Image.new("RGB", (64, 64), (200, 0, 0)).save(run_dir / "samples_stretched.png")


@pytest.fixture(scope="module")
def sweep(tmp_path_factory):
    """raw+identity: swd 1, 2, 3; raw+tanh (range mismatch): swd 10, 11, 12 and a failed seed."""
    root = tmp_path_factory.mktemp("multirun") / "toy"
    for seed, swd in enumerate([1.0, 2.0, 3.0]):
        _run(root, f"raw-identity-{seed}", scaling="raw", head="identity", seed=seed,
             metrics={"swd": swd, "out_of_range": 0.0})
    for seed, swd in enumerate([10.0, 11.0, 12.0]):
        _run(root, f"raw-tanh-{seed}", scaling="raw", head="tanh", seed=seed, mismatch=True,
             metrics={"swd": swd, "out_of_range": 0.5})
    _run(root / "nested", "raw-tanh-3", scaling="raw", head="tanh", seed=3, status="failed",
         message="RuntimeError: boom", mismatch=True, samples=False)
    return root


@pytest.fixture(scope="module")
def written(sweep, tmp_path_factory):
    out = tmp_path_factory.mktemp("results") / "toy"
    out.mkdir()
    (out / "findings.md").write_text("hand-written findings\n")
    (out / "notes.txt").write_text("keep me\n")
    assert report.write_report(sweep, out, wall_time_s=90.0) == out
    return out


def test_load_records_finds_nested_runs_sorted(sweep):
    records = cells.load_records(sweep)
    assert [(r["head"], r["seed"]) for r in records] == [
        ("identity", 0), ("identity", 1), ("identity", 2),
        ("tanh", 0), ("tanh", 1), ("tanh", 2), ("tanh", 3)]
    assert records[-1]["status"] == "failed"
    assert records[-1]["run_dir"].endswith("nested/raw-tanh-3")


def test_load_records_missing_dir(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope"):
        cells.load_records(tmp_path / "nope")


def test_median_iqr_by_hand():
    """numpy's linear interpolation: 1, 2, 3 -> median 2, quartiles 1.5 and 2.5; non-finite
    values are left out; none left, NaN."""
    assert stats.median_iqr([3.0, 1.0, 2.0]) == (2.0, 1.5, 2.5)
    assert stats.median_iqr([1.0, 2.0, 3.0, 10.0]) == (2.5, 1.75, 4.75)  # 1 + 0.75, 3 + 1.75
    assert stats.median_iqr([4.0, None, math.nan, math.inf]) == (4.0, 4.0, 4.0)
    assert all(math.isnan(x) for x in stats.median_iqr([None, math.nan]))
    assert not hasattr(report, "mean_ci95") and not hasattr(stats, "T975")


def test_summary_medians_quartiles_and_counts(sweep):
    rows = summary.summarise(cells.load_records(sweep))
    assert [(r["scaling"], r["head"]) for r in rows] == [("raw", "identity"), ("raw", "tanh")]
    ident, tanh = rows
    assert (ident["swd_median"], ident["swd_q25"], ident["swd_q75"]) == (2.0, 1.5, 2.5)
    assert (ident["n"], ident["ok"], ident["failed"], ident["range_mismatch"]) == (3, 3, 0, False)
    # the failed seed is counted but adds nothing to the median
    assert (tanh["n"], tanh["ok"], tanh["failed"], tanh["range_mismatch"]) == (4, 3, 1, True)
    assert (tanh["swd_median"], tanh["swd_q25"], tanh["swd_q75"]) == (11.0, 10.5, 11.5)
    assert (tanh["out_of_range_median"], tanh["out_of_range_q25"],
            tanh["out_of_range_q75"]) == (0.5, 0.5, 0.5)
    assert (ident["primary"], ident["direction"], ident["units"]) == ("swd", "min", "")
    assert (ident["rank"], tanh["rank"]) == (1, 2)
    for r in rows:  # the old schema is gone
        assert not [k for k in r if k == "group" or k.endswith(("_mean", "_ci95"))], r


def _rec(head, seed, value, status="ok", family="seg", metric="miou", declares=None,
         scaling="unit"):
    """A record; ``declares`` = (primary_metric, primary_direction), as run.json carries them."""
    record = {"family": family, "model": "unet", "scaling": scaling, "head": head, "seed": seed,
              "status": status, "metrics": {metric: value}}
    if declares:
        record["primary_metric"], record["primary_direction"] = declares
    return record


def test_rank_by_median_direction_and_excluded_values():
    records = [
        _rec("identity", 0, 0.80, declares=("miou", "max")),  # higher miou is better
        *[_rec("identity", s, v) for s, v in enumerate([0.82, 0.84], 1)],  # median 0.82
        *[_rec("sigmoid", s, v) for s, v in enumerate([0.78, 0.80, 0.82])],  # median 0.80
        *[_rec("tanh", s, v) for s, v in enumerate([0.10, 0.11, 0.12])],  # median 0.11
        # one bad seed: mean 0.637 would rank it 3rd, its median 0.90 ranks it 1st
        *[_rec("tanh_wide", s, v) for s, v in enumerate([0.10, 0.90, 0.91])],
        _rec("tanh_fit", 0, 0.5), _rec("tanh_fit", 1, None),  # one finite seed
        _rec("tanh_fit", 2, float("nan")), _rec("tanh_fit", 3, 9.0, status="diverged"),
        _rec("clamp_fit", 0, None, status="skipped"),
    ]
    rows = {r["head"]: r for r in summary.summarise(records)}
    assert {r["primary"] for r in rows.values()} == {"miou"}
    assert {r["direction"] for r in rows.values()} == {"max"}
    order = ("tanh_wide", "identity", "sigmoid", "tanh_fit", "tanh", "clamp_fit")
    assert [rows[h]["rank"] for h in order] == [1, 2, 3, 4, 5, None]
    assert [rows[h]["miou_median"] for h in order[:5]] == pytest.approx([0.90, 0.82, 0.80, 0.5,
                                                                         0.11])
    assert (rows["tanh_wide"]["miou_q25"], rows["tanh_wide"]["miou_q75"]) == pytest.approx(
        (0.5, 0.905))  # 0.1 + (0.9 - 0.1) / 2, 0.9 + (0.91 - 0.9) / 2
    assert (rows["sigmoid"]["miou_q25"], rows["sigmoid"]["miou_q75"]) == pytest.approx(
        (0.79, 0.81))
    # None, NaN and the diverged seed's 9.0 are left out: one value, a zero-width IQR
    fit = rows["tanh_fit"]
    assert (fit["miou_median"], fit["miou_q25"], fit["miou_q75"]) == (0.5, 0.5, 0.5)
    assert (fit["ok"], fit["diverged"]) == (3, 1)
    assert math.isnan(rows["clamp_fit"]["miou_median"]) and rows["clamp_fit"]["skipped"] == 1
    assert not any("group" in r for r in rows.values())


def test_summarise_needs_no_files():
    """The numbers can be checked without writing a file: a record without a ``run_dir`` (built
    by hand, as in the tests here) has no history to read, so no steps to quality and no last
    step, even where the study names a target; never a KeyError."""
    records = [{**_rec("identity", s, v, declares=("miou", "max")),
                "config": {"target": {"seg": 0.85}}} for s, v in enumerate([0.8, 0.9])]
    (row,) = summary.summarise(records)
    assert row["miou_median"] == pytest.approx(0.85) and row["target"] == 0.85
    assert math.isnan(row["last_step"])
    assert (row["quality_reached"], row["steps_to_quality"]) == ("", "")


def test_primary_override_and_fallback():
    records = [_rec("identity", s, v, family="style", metric="content") for s, v in
               enumerate([1.0, 2.0])] + [_rec("tanh", 0, 0.5, family="style", metric="content")]
    rows = summary.summarise(records)  # no record declares a metric: the first one, lower better
    assert (rows[0]["primary"], rows[0]["direction"]) == ("content", "min")
    assert [r["rank"] for r in rows] == [2, 1]
    rows = summary.summarise(records, primary={"style": ("content", "max")})
    assert [r["rank"] for r in rows] == [1, 2]


def test_family_ranked_by_the_metric_its_records_declare():
    """``toy`` declares ("acc", "max") in its second record: higher acc ranks first, although
    "loss" is its first metric and "min" the fallback; ``gan`` beside it keeps its own choice."""
    def toy(head, seed, loss, acc, declares=None):
        return {**_rec(head, seed, loss, family="toy", metric="loss", declares=declares),
                "metrics": {"loss": loss, "acc": acc}}
    records = [toy("identity", 0, 1.0, 0.50), toy("identity", 1, 1.0, 0.52, ("acc", "max")),
               toy("tanh", 0, 9.0, 0.90), toy("tanh", 1, 9.0, 0.92),
               _rec("identity", 0, 5.0, family="gan", metric="swd", declares=("swd", "min")),
               _rec("tanh", 0, 3.0, family="gan", metric="swd", declares=("swd", "min"))]
    rows = {(r["family"], r["head"]): r for r in summary.summarise(records)}
    assert (rows["toy", "tanh"]["primary"], rows["toy", "tanh"]["direction"]) == ("acc", "max")
    assert (rows["toy", "tanh"]["rank"], rows["toy", "identity"]["rank"]) == (1, 2)
    assert (rows["gan", "tanh"]["rank"], rows["gan", "identity"]["rank"]) == (1, 2)
    table = tables.markdown_table(list(rows.values()))
    gan, toy = table.split("### gan\n")[1].split("### toy\n")
    assert "| rank | pairing | swd, median [IQR] (lower is better) | runs | head's range |" in gan
    assert "| rank | pairing | acc, median [IQR] (higher is better) | runs | head's range |" in toy
    # best first: tanh's acc 0.91 (median of 0.90, 0.92) above identity's 0.51
    assert toy.index("| 1 | unit + tanh | 0.91 [0.905, 0.915] |") < toy.index(
        "| 2 | unit + identity | 0.51 [0.505, 0.515] |")
    assert gan.index("| 1 | unit + tanh | 3 |") < gan.index("| 2 | unit + identity | 5 |")


def test_scaling_and_head_order_follow_pixels(monkeypatch):
    """A head or scaling added to ``harness.core.pixels`` is ordered where its dict puts it; names
    pixels does not know come after, alphabetically."""
    heads = list(pixels.HEADS)
    heads.insert(heads.index("tanh"), "new_head")  # between identity and tanh
    monkeypatch.setattr(pixels, "HEADS", dict.fromkeys(heads))
    monkeypatch.setitem(pixels.SCALINGS, "new_scaling", ((0.0,), (2.0,)))  # last: after imagenet
    names = ["tanh_wide", "zz_unknown", "tanh", "b_unknown", "new_head", "identity"]
    records = [_rec(h, 0, 0.5, scaling=s) for s in ("new_scaling", "imagenet", "raw")
               for h in names]
    rows = summary.summarise(records)
    order = ["identity", "new_head", "tanh", "tanh_wide", "b_unknown", "zz_unknown"]
    assert [(r["scaling"], r["head"]) for r in rows] == [
        (s, h) for s in ("raw", "imagenet", "new_scaling") for h in order]


def test_report_files(written):
    for name in ("runs.csv", "summary.csv", "summary.md", "metrics.png", "montage.png",
                 "README.md"):
        assert (written / name).is_file(), name
    # what the pictures hold (layout, pasted samples) is tests/test_figures.py's
    for name in ("metrics.png", "montage.png"):
        with Image.open(written / name) as im:
            assert im.format == "PNG"
    assert not (written / "curves.png").exists()  # no run kept a history.csv


def test_csvs(written):
    runs = list(csv.DictReader((written / "runs.csv").open()))
    assert len(runs) == 7
    failed = [r for r in runs if r["status"] == "failed"]
    assert len(failed) == 1 and failed[0]["message"] == "RuntimeError: boom"
    assert failed[0]["swd"] == "" and runs[0]["swd"] == "1.0"
    assert runs[0]["run_dir"] == "raw-identity-0"
    assert "steps_to_quality" not in runs[0]  # the study names no target
    with (written / "summary.csv").open() as f:
        header = next(csv.reader(f))
    assert header[:15] == ["family", "model", "scaling", "head", "n", "ok", "diverged", "failed",
                           "interrupted", "skipped", "range_mismatch", "primary", "direction",
                           "units", "rank"]
    assert header[-6:] == ["swd_median", "swd_q25", "swd_q75", "out_of_range_median",
                           "out_of_range_q25", "out_of_range_q75"]
    # no reference, no target: none of their columns; no group, mean or CI any more
    assert not {"group", "target", "quality_reached", "steps_to_quality", "vs_reference",
                "paired_n", "paired_separable", "swd_mean", "swd_ci95"} & set(header)
    summary = list(csv.DictReader((written / "summary.csv").open()))
    assert [(r["head"], r["n"], r["failed"], r["rank"]) for r in summary] == [
        ("identity", "3", "0", "1"), ("tanh", "4", "1", "2")]
    assert [(r["swd_median"], r["swd_q25"], r["swd_q75"]) for r in summary] == [
        ("2.0", "1.5", "2.5"), ("11.0", "10.5", "11.5")]


def test_summary_markdown(written):
    lines = (written / "summary.md").read_text().splitlines()
    table = lines[lines.index("| rank | pairing | swd, median [IQR] (lower is better) | runs "
                              "| head's range |"):]
    assert table[2:4] == ["| 1 | raw + identity | 2 [1.5, 2.5] | 3 ok | covers the data |",
                          "| 2 | raw + tanh | 11 [10.5, 11.5] | 3 ok, 1 failed | mismatch |"]
    assert "### gan" in lines
    assert "First by median raw + identity (median swd 2); last by median raw + tanh (median swd 11)." in lines


def test_readme(written):
    text = (written / "README.md").read_text()
    assert "# Results: toy" in text
    assert "Does raw + identity train?" in text
    assert COMMAND in text  # taken from the records
    assert "Commit: `" in text and "torch " in text and "threads" in text
    # 7 runs of 2.0 s each (the failed one too); the sweep's own 90 s apart
    assert "- Compute time of the runs: 14.0 s (0.2 min), the sum of each run's own wall time" \
        in text
    assert "- Last sweep: 90.0 s (1.5 min) wall time\n" in text  # no start time: no reuse count
    assert "Wall time:" not in text
    assert "| 1 | raw + identity | 2 [1.5, 2.5] | 3 ok | covers the data |" in text
    assert "(metrics.png)" in text and "(montage.png)" in text
    assert "Findings: see [findings.md](findings.md)" in text
    assert (written / "findings.md").read_text() == "hand-written findings\n"
    assert (written / "notes.txt").read_text() == "keep me\n"


def test_main_missing_dir(tmp_path, capsys):
    assert report.main([str(tmp_path / "missing")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "missing" in err and err.count("\n") == 1


def test_main_default_out_dir_follows_the_sweep_not_the_working_directory(sweep, tmp_path,
                                                                        monkeypatch, capsys):
    """Where the sweep wrote its report (its sweep.json says) wherever the command runs; a
    folder no sweep named: beside its runs, never into the working directory's results/."""
    monkeypatch.chdir(tmp_path)
    assert report.main([str(sweep)]) == 0
    out = capsys.readouterr().out
    assert f"wrote {sweep / 'report'}/" in out and "| 2 | raw + tanh | 11 [10.5, 11.5] |" in out
    assert "Findings" not in (sweep / "report" / "README.md").read_text()
    assert not (tmp_path / "results").exists()
    named = tmp_path / "elsewhere" / "results" / "toy"
    (sweep / report.SWEEP_INFO).write_text(json.dumps({"report_dir": str(named)}))
    assert report.main([str(sweep)]) == 0
    assert (named / "README.md").is_file() and f"wrote {named}/" in capsys.readouterr().out


def _outcome(monkeypatch, tmp_path):
    """The file the command that starts a sweep names for its outcome (harness.train.main)."""
    from harness.core.outcome import OUTCOME_ENV

    path = tmp_path / "outcome.json"
    monkeypatch.setenv(OUTCOME_ENV, str(path))
    return lambda: json.loads(path.read_text())


def test_callback_writes_report_and_never_raises(sweep, tmp_path, monkeypatch, caplog):
    from harness.report.callback import ReportCallback

    monkeypatch.setattr("sys.argv", ["train.py", "-m", "experiment=toy"])
    outcome = _outcome(monkeypatch, tmp_path)
    callback = ReportCallback(out_root=str(tmp_path / "results"))
    config = OmegaConf.create({"study": "toy", "hydra": {
        "sweep": {"dir": str(sweep)}, "runtime": {"choices": {"experiment": "toy"}}}})
    callback.on_multirun_start(config)
    callback.on_multirun_end(config)
    readme = (tmp_path / "results" / "toy" / "README.md").read_text()
    assert f"`{COMMAND}`" in readme
    assert "- Compute time of the runs: 14.0 s (0.2 min)" in readme
    # every toy run started in 2020, before this sweep: all 7 reused
    assert ", 7 of 7 runs reused from earlier sweeps" in readme
    saved = json.loads((sweep / report.SWEEP_INFO).read_text())
    assert saved["started"] > EARLIER and saved["wall_time_s"] >= 0
    assert saved["report_dir"] == str((tmp_path / "results" / "toy").resolve())
    assert outcome() == {"report_error": None}

    adhoc = OmegaConf.create({"study": "toy", "hydra": {"sweep": {"dir": str(sweep)}}})
    assert report.report_dir(adhoc, str(tmp_path / "results")) == sweep / "report"
    # a named study run under another name is not that study: not into results/
    renamed = OmegaConf.create({"study": "mine", "hydra": {
        "sweep": {"dir": str(sweep)}, "runtime": {"choices": {"experiment": "toy"}}}})
    assert report.report_dir(renamed, str(tmp_path / "results")) == sweep / "report"

    missing = OmegaConf.create({"study": "toy", "hydra": {"sweep": {"dir": str(tmp_path / "x")}}})
    callback.on_multirun_end(missing)  # logs, does not raise
    assert "report failed" in caplog.text
    assert outcome()["report_error"].startswith("report failed: FileNotFoundError")


def test_an_ad_hoc_sweeps_report_covers_its_own_runs_only(sweep, tmp_path, monkeypatch):
    """Ad-hoc sweeps share one folder; the report of one leaves out earlier, unrelated runs
    (those not among the runs its sweeper listed in sweep.json)."""
    from harness.report.callback import ReportCallback

    monkeypatch.setattr("sys.argv", ["train.py", "-m", "seed=0"])
    ours = sorted(str(p.parent.relative_to(sweep)) for p in sweep.rglob("run.json"))[:2]
    (sweep / report.SWEEP_INFO).write_text(json.dumps({"runs": ours}))
    config = OmegaConf.create({"study": "toy", "hydra": {"sweep": {"dir": str(sweep)}}})
    callback = ReportCallback(out_root=str(tmp_path / "results"))
    callback.on_multirun_start(config)
    callback.on_multirun_end(config)
    with (sweep / "report" / "runs.csv").open() as f:
        assert sorted(r["run_dir"] for r in csv.DictReader(f)) == ours
    assert report.main([str(sweep), "--out", str(tmp_path / "again")]) == 0  # the same runs
    with (tmp_path / "again" / "runs.csv").open() as f:
        assert sorted(r["run_dir"] for r in csv.DictReader(f)) == ours


def _run_jsons(sweep):
    return {p: p.read_bytes() for p in sweep.rglob("run.json")}


@pytest.fixture(params=["out is a file", "out is under a file"])
def unwritable(request, tmp_path):
    """An output folder that cannot be made, even by root: a regular file, or a path below one."""
    (tmp_path / "file").write_text("not a folder\n")
    return tmp_path / "file" if request.param == "out is a file" else tmp_path / "file" / "toy"


def test_main_unwritable_out_is_one_line_and_exit_1(sweep, unwritable, capsys):
    before = _run_jsons(sweep)
    assert report.main([str(sweep), "--out", str(unwritable)]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"error: cannot write the report to '{unwritable}': [Errno ")
    assert err.count("\n") == 1 and "Traceback" not in err
    assert _run_jsons(sweep) == before


def test_callback_unwritable_out_logs_one_line_and_says_so(sweep, tmp_path, monkeypatch, caplog):
    from harness.report.callback import ReportCallback

    monkeypatch.setattr("sys.argv", ["train.py", "-m", "experiment=toy"])
    outcome = _outcome(monkeypatch, tmp_path)
    (tmp_path / "results").write_text("a file where the results folder should be\n")
    callback = ReportCallback(out_root=str(tmp_path / "results"))
    config = OmegaConf.create({"study": "toy", "hydra": {
        "sweep": {"dir": str(sweep)}, "runtime": {"choices": {"experiment": "toy"}}}})
    before = _run_jsons(sweep)
    callback.on_multirun_start(config)
    with caplog.at_level(logging.INFO, logger="harness.report"):
        callback.on_multirun_end(config)  # must not raise
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1 and errors[0].exc_info is None
    line = errors[0].getMessage()
    assert "\n" not in line
    assert line.startswith(f"error: cannot write the report to '{tmp_path / 'results' / 'toy'}': ")
    assert outcome()["report_error"] == line
    assert _run_jsons(sweep) == before


@pytest.mark.parametrize("overrides,where", [
    (["experiment=default"], "results/default"),
    # settings that change neither a run nor the report: still the committed study
    (["experiment=default", "hydra/launcher=basic", "paths.log_dir=/tmp/x", "checkpoint_every=50",
      "reuse=any"], "results/default"),
    (["experiment=seg_lr_search"], "results/seg_lr_search"),
    # a swept setting narrowed on the command line: not the committed study
    (["experiment=seg_lr_search", "scaling=raw"], "multirun/seg_lr_search/report"),
    # anything that changes a number of the report: beside the runs, never into results/
    (["experiment=default", "target.gan=200"], "multirun/default/report"),
    (["experiment=default", "steps=50"], "multirun/default/report"),
    (["experiment=default", "threads=1"], "multirun/default/report"),
    (["experiment=default", "study=try"], "multirun/try/report"),
    (["scaling=raw"], "multirun/adhoc/report"),
])
def test_only_a_study_as_committed_reports_into_results(overrides, where):
    from hydra import compose, initialize_config_dir

    from harness.core.repo import CONF_DIR

    with initialize_config_dir(config_dir=CONF_DIR, version_base="1.3"):
        cfg = compose("train", overrides=overrides, return_hydra_config=True)
    assert report.report_dir(cfg).as_posix() == where
