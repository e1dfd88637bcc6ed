"""Settings that ran silently wrong, or failed after work had started, refused or capped before
any work (issue "Nothing lost, nothing stale", cases 7, 8, 14, f): a network's width, a
learning rate, a key that nothing reads, more threads than cores, joblib's n_jobs=0."""
from __future__ import annotations

import pytest

from harness.core.keys import override_error
from harness.core.record import config_key
from harness.core.settings import launcher_problems
from harness.run.fit import available_cores, job_threads, result_config
from harness.run.precheck import problems_of
from helpers import ROOT, make_cfg, run_cli

WIDTH = "the network's width: its channel counts scale with it"


@pytest.mark.parametrize("overrides, line", [
    (["model=gan_article", "model.width=0"],
     f"model.width=0 is not accepted: give a number > 0 ({WIDTH})"),
    (["model=gan_article", "model.width=-1"],
     f"model.width=-1 is not accepted: give a number > 0 ({WIDTH})"),
    (["model=gan", "model.module.generator.width=0"],
     f"model.module.generator.width=0 is not accepted: give an integer >= 1 ({WIDTH})"),
    (["model=gan", "model.module.discriminator.width=-4"],
     f"model.module.discriminator.width=-4 is not accepted: give an integer >= 1 ({WIDTH})"),
    (["model=gan", "model.module.generator.width=1.5"],
     f"model.module.generator.width=1.5 is not accepted: give an integer >= 1 ({WIDTH})"),
    (["model=seg", "model.module.net.width=0"],
     f"model.module.net.width=0 is not accepted: give an integer >= 1 ({WIDTH})"),
    (["model=style", "model.module.net.width=-1"],
     f"model.module.net.width=-1 is not accepted: give an integer >= 1 ({WIDTH})"),
])
def test_case7_every_width_is_positive_one_line(tmp_path, overrides, line):
    """The article's network built every layer with one channel for width 0 or -1 and said ok;
    the other families failed inside torch. Its generator and discriminator both read
    model.width: the line names the key that was set, once."""
    assert problems_of(make_cfg(tmp_path, *overrides, fast=False)) == [line]


def test_case7_a_small_article_width_is_still_a_width(tmp_path):
    assert problems_of(make_cfg(tmp_path, "model=gan_article", "model.width=0.25",
                                fast=False)) == []


@pytest.mark.parametrize("model", ["gan", "gan_article", "style", "seg"])
@pytest.mark.parametrize("lr", ["0", "-0.001", "nan", "inf"])
def test_case14_every_familys_learning_rate_is_positive(tmp_path, model, lr):
    got = problems_of(make_cfg(tmp_path, f"model={model}", f"model.module.lr={lr}", fast=False))
    assert got == [f"model.module.lr={lr} is not accepted: give a number > 0 (the learning rate)"]


@pytest.mark.parametrize("overrides, line", [
    (["+stpes=5"], "stpes does nothing: no part of the harness reads it; did you mean steps?"),
    (["+seeed=3"], "seeed does nothing: no part of the harness reads it; did you mean seed?"),
    (["+foo=1"], "foo does nothing: no part of the harness reads it; the top-level settings "
                 "are in conf/train.yaml"),
    (["model=gan_article", "+model.widht=0.5"],
     "model.widht does nothing: no part of the harness reads it; did you mean model.width?"),
    (["model=gan", "+model.width=0.5"],  # only the article's networks read it
     "model.width does nothing: no part of the harness reads it; the settings there are "
     "model.module, model.name"),
    (["+paths.log_dri=x"],
     "paths.log_dri does nothing: no part of the harness reads it; did you mean paths.log_dir?"),
])
def test_case8_an_added_key_nothing_reads_is_refused_naming_the_nearest(tmp_path, overrides,
                                                                        line):
    cfg = make_cfg(tmp_path, *overrides, fast=False)
    assert problems_of(cfg) == [line]


@pytest.mark.parametrize("overrides", [
    ["+trainer.gradient_clip_val=1.0"],  # a Trainer argument
    ["+target.gan=300"], ["+shown.seg=[miou]"],  # a study's settings, per family
    ["+callbacks.stop._target_=harness.run.stepbar.StepBar", "+callbacks.stop.desc=x"],
    ["model=seg", "+seg_arm=batch"],  # a config group
    ["+model.w=16", "model.module.generator.width=${model.w}"],  # read through interpolation
])
def test_case8_added_keys_the_harness_reads_still_work(tmp_path, overrides):
    assert problems_of(make_cfg(tmp_path, *overrides, fast=False)) == []


@pytest.mark.parametrize("study", sorted(p.stem for p in (ROOT / "experiments").glob("*.yaml")))
def test_case8_every_study_sets_only_keys_the_harness_reads(tmp_path, study):
    cfg = make_cfg(tmp_path, f"experiment={study}", fast=False)
    assert not [p for p in problems_of(cfg) if "does nothing" in p]


NOTHING = "is not a setting of this config, so there is nothing to override;"


@pytest.mark.parametrize("overrides, line", [
    (["stpes=5"], f"stpes {NOTHING} did you mean steps?"),
    (["model=gan_article", "model.widht=3"], f"model.widht {NOTHING} did you mean model.width?"),
    (["model.module.generatr.width=3"],  # the key missing is inside the one overridden
     f"model.module.generatr.width {NOTHING} did you mean model.module.generator.width?"),
    (["model.width=3"],  # only gan_article has it: nothing near, so what is there
     f"model.width {NOTHING} the settings there are model.module, model.name"),
    (["trainer.max_epochs=3"], "trainer.max_epochs cannot be set: the harness sets it (the "
     "run's `steps` batches, cut into epochs of `checkpoint_every`): set steps or "
     "checkpoint_every instead"),
    # any other override Hydra cannot apply or parse: its own words, on one line
    (["+steps=5"], "Could not append to config. An item is already at 'steps'. Either remove + "
     "prefix: 'steps=5'; Or add a second + to add or override 'steps': '++steps=5'"),
    (["~foo"], "Could not delete from config. 'foo' does not exist."),
    (["steps=[1,2"], "no viable alternative at input '[1,2'; See "
     "https://hydra.cc/docs/1.2/advanced/override_grammar/basic for details"),
])
def test_an_override_hydra_cannot_apply_is_one_line_naming_the_nearest_key(overrides, line):
    from hydra import compose, initialize_config_dir

    with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base="1.3"):
        with pytest.raises(Exception) as e:
            compose("train", overrides=overrides)
    assert override_error(e.value) == line


def test_an_error_not_about_the_command_line_keeps_its_traceback():
    assert override_error(ValueError("Could not override 'x'")) is None


def test_case14_threads_are_capped_at_the_cores_and_key_and_use_agree(tmp_path, recwarn):
    cores = available_cores()
    many = make_cfg(tmp_path, "threads=999", fast=False)
    assert job_threads(many, {}) == cores
    assert result_config(many, {})["threads"] == cores
    assert job_threads(many) == cores  # as the run sets torch's threads
    assert config_key(result_config(many, {})) == config_key(
        result_config(make_cfg(tmp_path, f"threads={cores}", fast=False), {}))
    said = [str(w.message) for w in recwarn if "threads=999" in str(w.message)]
    assert said == [f"threads=999 is more than the {cores} cores this run may use: each run uses "
                    f"{cores} (and its record says so)"]
    assert job_threads(make_cfg(tmp_path, "threads=1", fast=False), {}) == 1


@pytest.mark.parametrize("n_jobs, ok", [(0, False), (1, True), (2, True), (-1, True),
                                        (-2, True), (None, True)])
def test_casef_joblib_n_jobs_zero_is_refused(n_jobs, ok):
    got = launcher_problems({"_target_": "JoblibLauncher", "n_jobs": n_jobs})
    assert got == ([] if ok else [
        "hydra.launcher.n_jobs=0 is not accepted: give the number of jobs that run at once "
        "(>= 1), or a negative number as joblib counts (-1 = one per core, -2 = all cores but "
        "one)"])
    assert launcher_problems({}) == []


# The command lines: one line, exit 2, nothing written.

FAST = ["steps=2", "eval_every=0", "logger=none"]


@pytest.mark.slow
@pytest.mark.parametrize("args, line", [  # the rest are refused by the same path, in-process above
    (["+stpes=5"],
     "error: stpes does nothing: no part of the harness reads it; did you mean steps?"),
    (["stpes=5"], f"error: stpes {NOTHING} did you mean steps?"),  # Hydra's page and exit 1
    (["-m", "model=gan_article", "model.widht=3,4"],  # a sweep's jobs, in the sweeper
     f"error: model.widht {NOTHING} did you mean model.width? (in the job model=gan_article "
     "model.widht=3 steps=2 eval_every=0 logger=none)"),
    (["~foo"], "error: Could not delete from config. 'foo' does not exist."),
    (["-m", "hydra/launcher=joblib", "hydra.launcher.n_jobs=0", "seed=0,1"],
     "error: hydra.launcher.n_jobs=0 is not accepted: give the number of jobs that run at "
     "once (>= 1), or a negative number as joblib counts (-1 = one per core, -2 = all cores "
     "but one)"),
])
def test_the_command_line_refuses_them_in_one_line_before_any_work(tmp_path, args, line):
    r = run_cli(*args, *FAST, f"hydra.run.dir={tmp_path}/run",
                f"hydra.sweep.dir={tmp_path}/sweep", cwd=tmp_path)
    assert (r.returncode, r.stderr.strip().splitlines()) == (2, [line])
    assert not (tmp_path / "run").exists() and not (tmp_path / "sweep").exists()


@pytest.mark.slow
def test_case14_a_run_with_more_threads_than_cores_uses_and_records_the_cores(tmp_path):
    from harness.run.runs import run

    cores = available_cores()
    rec = run(make_cfg(tmp_path, "threads=999", "steps=2", "logger=none"), tmp_path / "run")
    assert rec["status"] == "ok" and rec["threads"] == cores
    assert rec["config"]["threads"] == cores  # the warning: the test above


def test_a_group_of_settings_given_one_value_is_one_line(tmp_path):
    """``model.module=5`` replaced the network's settings with a number: a traceback before."""
    lines = problems_of(make_cfg(tmp_path, "model.module=5", fast=False))
    assert "model.module=5 is not accepted: it is a group of settings; set its keys instead " \
           "(model.module.<key>=...)" in lines


def test_an_answer_that_names_no_findings_is_one_line(tmp_path):
    """``answer.<family>`` must name a findings file with an answer paragraph: a typo would
    otherwise drop the family's line from the front page without a word."""
    cfg = make_cfg(tmp_path, "+answer.gan=results/raw_pixel_gan/findngs.md", fast=False)
    assert problems_of(cfg) == [
        "answer.gan='results/raw_pixel_gan/findngs.md' is not accepted: no such file; give a "
        "findings file (from the repository root) with a paragraph opening with "
        "**The answer.**, e.g. "
        "answer.gan=results/raw_pixel_gan/findings.md"]
    assert problems_of(make_cfg(tmp_path, "+answer.gan=results/raw_pixel_gan/findings.md",
                                fast=False)) == []
