"""The command line as a user runs it: errors, a real small multirun, a study's pairings."""
import json

import pytest

from helpers import FAST, ROOT, make_cfg, run_cli


@pytest.mark.slow
def test_unknown_choice_is_one_line_naming_group_and_choices(tmp_path):
    r = run_cli("scaling=foo", cwd=tmp_path)
    assert r.returncode == 2
    assert r.stderr.strip() == "error: unknown scaling 'foo'; valid choices: imagenet, raw, symmetric, unit"
    r = run_cli("-m", "head=tanh,nope", cwd=tmp_path)
    assert r.returncode == 2 and r.stderr.strip().startswith("error: unknown head 'nope'; valid choices: ")


@pytest.mark.slow
def test_single_run_with_missing_data_path_fails_in_one_line(tmp_path):
    r = run_cli("data=folder", f"data.root={tmp_path}/nope", f"hydra.run.dir={tmp_path}/run", cwd=tmp_path)
    assert r.returncode == 1
    assert r.stderr.strip().splitlines()[-1] == (
        f"error: DataError: data.root '{tmp_path}/nope' is not a directory (expected a folder of images)")
    assert json.loads((tmp_path / "run" / "run.json").read_text())["status"] == "failed"


def _records(sweep):
    return sorted((json.loads(p.read_text()) for p in sweep.rglob("run.json")),
                  key=lambda r: (r["scaling"], r["head"], r["seed"]))


@pytest.mark.slow
def test_multirun_trains_each_combination_and_writes_the_report(tmp_path):
    sweep, results = tmp_path / "sweep", tmp_path / "results"
    r = run_cli("-m", "scaling=raw,symmetric", "head=identity,tanh_fit", "steps=4", "study=tiny",
                *FAST, "logger=none", f"hydra.sweep.dir={sweep}", f"paths.results_dir={results}",
                cwd=ROOT)
    assert r.returncode == 0, r.stderr[-2000:]
    recs = _records(sweep)
    assert [(x["scaling"], x["head"]) for x in recs] == [
        ("raw", "identity"), ("raw", "tanh_fit"), ("symmetric", "identity"), ("symmetric", "tanh_fit")]
    assert all(x["status"] == "ok" and x["metrics"]["swd"] > 0 for x in recs)
    # an ad-hoc sweep (no study file): its report beside its runs, nothing in results/
    summary = (sweep / "report" / "summary.md").read_text()
    assert "raw" in summary and "tanh_fit" in summary
    assert (sweep / "report" / "montage.png").exists() and (sweep / "report" / "README.md").exists()
    assert not results.exists()
    assert f"study tiny: 4 runs, launcher basic (1 at a time); records in {sweep}, report to " \
           f"{sweep / 'report'}" in r.stdout


@pytest.mark.slow
def test_raw_pixel_study_runs_exactly_its_pairings(tmp_path):
    sweep = tmp_path / "sweep"
    r = run_cli("-m", "experiment=raw_pixel_gan", "hydra/launcher=basic",  # its pairings, in-process
                "steps=2", "seed=0",
                "model.width=0.0625", "data.eval_size=64", "eval_every=0", "logger=none",
                "trainer.enable_progress_bar=false", f"hydra.sweep.dir={sweep}",
                f"paths.results_dir={tmp_path}/results", cwd=ROOT)
    assert r.returncode == 0, r.stderr[-2000:]
    recs = _records(sweep)
    module = lambda x: x["config"]["model"]["module"]  # noqa: E731
    assert sorted((x["scaling"], x["head"], module(x)["discriminator"]["norm"],
                   module(x)["last_lr_scale"]) for x in recs) == sorted([
        ("symmetric", "tanh", "batch", 1.0), ("raw", "identity", "batch", 1.0),
        ("raw", "tanh_fit", "batch", 1.0), ("symmetric", "identity", "batch", 1.0),
        ("unit", "sigmoid", "batch", 1.0), ("raw", "affine_fit", "batch", 1.0),
        ("raw", "identity", "none", 1.0), ("raw", "identity", "batch", 127.5)])
    assert all(module(x)["reuse_z"] is True for x in recs)
    assert {x["model"] for x in recs} == {"gan_article"} and {x["seed"] for x in recs} == {0}
    assert all(x["config"]["data"]["image_size"] == 48 and x["status"] == "ok" for x in recs)


@pytest.mark.slow
def test_a_model_brings_its_data_size_and_the_command_line_still_wins(tmp_path):
    assert make_cfg(tmp_path, "model=gan_article", fast=False).data.image_size == 48
    assert make_cfg(tmp_path, "model=gan_article", "data=cifar10", fast=False).data.image_size == 48
    assert make_cfg(tmp_path, "model=gan_article", "data.image_size=64",
                    fast=False).data.image_size == 64
    r = run_cli("model=gan_article", "model.width=0.0625", "steps=2", "data.eval_size=64",
                "logger=none", "trainer.enable_progress_bar=false", f"hydra.run.dir={tmp_path}/run",
                f"model.module.ruler_dir={ROOT / 'data'}", cwd=tmp_path)  # the shared ruler
    assert r.returncode == 0, r.stderr[-2000:]
    rec = json.loads((tmp_path / "run" / "run.json").read_text())
    assert rec["status"] == "ok" and rec["config"]["data"]["image_size"] == 48
    r = run_cli("model=gan_article", "data.image_size=32", "logger=none",
                f"hydra.run.dir={tmp_path}/run32", cwd=tmp_path)  # the command line wins
    assert r.returncode == 1
    assert r.stderr.strip().splitlines()[-1] == (
        "error: ValueError: the article's DCGAN is built for 48x48 images, got 32")

