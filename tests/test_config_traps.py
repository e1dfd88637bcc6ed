"""Overrides that mean what they say: each trap a composed config could set, closed.

A key either changes what a run computes (and its config key), or it changes neither and stays
out of the run directory name too; a key nothing reads is refused in one line."""
from __future__ import annotations

import inspect

import pytest
from hydra.utils import get_class
from omegaconf import OmegaConf

from harness.core.record import NOT_RESULT, config_key
from harness.run.fit import result_config
from harness.run.precheck import problems_of
from helpers import ROOT, make_cfg, run_cli


def key_of(tmp_path, *overrides, launcher=None) -> str:
    cfg = make_cfg(tmp_path, *overrides, fast=False)
    return config_key(result_config(cfg, launcher or {}))


def excluded(*overrides) -> list[str]:
    """The keys Hydra leaves out of a run directory's name."""
    from hydra import compose, initialize_config_dir

    with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base="1.3"):
        cfg = compose("train", overrides=list(overrides), return_hydra_config=True)
    return list(cfg.hydra.job.config.override_dirname.exclude_keys)


def test_directory_names_and_config_keys_agree_on_what_is_a_result(tmp_path):
    """The run directory leaves out exactly what the config key leaves out (NOT_RESULT and
    every key under it), plus the choice of study; eval_every and log_every change curves, so
    both keep them."""
    names = excluded()
    for key in NOT_RESULT:
        assert key in names
    for leaf in ("paths.data_dir", "paths.results_dir", "paths.log_dir",
                 "model.module.ruler_dir", "trainer.enable_progress_bar", "reference.gan.head"):
        assert leaf in names
    assert "experiment" in names
    assert "eval_every" not in names and "log_every" not in names
    base = key_of(tmp_path)
    assert key_of(tmp_path, "eval_every=7") != base and key_of(tmp_path, "log_every=3") != base
    for override in ("checkpoint_every=7", "trainer.enable_progress_bar=false", "verbose=true",
                     "logger=none", "paths.results_dir=/x", "question=why"):
        assert key_of(tmp_path, override) == base, override


def test_a_data_folder_elsewhere_does_not_change_a_gan_runs_key(tmp_path):
    """paths.data_dir reached the key through the ruler's cache folder: every GAN run re-ran."""
    base = key_of(tmp_path, "model=gan")
    assert key_of(tmp_path, "model=gan", "paths.data_dir=/somewhere/else") == base
    assert key_of(tmp_path, "model=gan", "model.module.ruler_dir=/x") == base


def test_threads_enter_the_key_as_the_count_a_run_uses(tmp_path):
    """threads=0 means "the cores, shared": a re-run under another n_jobs computes with
    another float order and must not be taken for the same run."""
    from harness.run.fit import available_cores

    cores = available_cores()
    one_job = make_cfg(tmp_path, fast=False)
    two_jobs = {"_target_": "hydra_plugins.hydra_joblib_launcher.JoblibLauncher", "n_jobs": 2}
    assert result_config(one_job, {})["threads"] == cores
    assert result_config(one_job, two_jobs)["threads"] == max(1, cores // 2)
    slurm = {"_target_": "HarnessSlurmLauncher", "cpus_per_task": 3}
    assert result_config(one_job, slurm)["threads"] == 3
    if cores > 1:
        assert key_of(tmp_path, launcher={}) != key_of(tmp_path, launcher=two_jobs)
    assert key_of(tmp_path, f"threads={cores}") == key_of(tmp_path, launcher={})


@pytest.mark.parametrize("override", ["trainer.max_epochs", "trainer.enable_checkpointing",
                                      "trainer.log_every_n_steps"])
def test_trainer_keys_the_harness_sets_are_not_in_the_config_and_refused(tmp_path, override):
    cfg = make_cfg(tmp_path, fast=False)
    assert override.split(".")[1] not in cfg.trainer
    added = make_cfg(tmp_path, f"+{override}=7", fast=False)
    (line,) = [p for p in problems_of(added) if override in p]
    assert line.startswith(f"{override} cannot be set: the harness")


def test_a_seg_source_has_only_its_own_keys_and_another_sources_key_is_refused(tmp_path):
    mosaic = make_cfg(tmp_path, "model=seg", fast=False)
    assert set(mosaic.data.mosaic) == {"max_shapes", "texture_size", "tint", "contrast_jitter",
                                       "brightness_jitter"}
    for source in ("voc", "pet", "seg_folder"):
        cfg = make_cfg(tmp_path, "model=seg", f"data={source}", fast=False)
        assert "mosaic" not in cfg.data and "tint" not in cfg.data
    added = make_cfg(tmp_path, "model=seg", "data=voc", "+data.tint=0.9", fast=False)
    (line,) = problems_of(added)
    assert line.startswith("data.tint does nothing here: SegData (source voc) takes no 'tint'")
    typo = make_cfg(tmp_path, "+model.module.net.widht=4", "model=seg", fast=False)
    assert any(p.startswith("model.module.net.widht does nothing here: UNet takes no")
               for p in problems_of(typo))
    assert problems_of(mosaic) == []


def test_every_value_the_config_sets_is_a_required_argument_of_its_class():
    """The config is the one source of a network's and a family's settings: a Python default
    beside it could disagree (style weights 1/1/0 vs 5/1/20; DCGAN width 64 vs 32)."""
    from harness.core.keys import accepted

    seen = 0
    for model in ("gan", "gan_article", "style", "seg"):
        cfg = make_cfg(ROOT, f"model={model}", fast=False)
        nodes = [("model.module", cfg.model.module)]
        nodes += [(f"model.module.{k}", v) for k, v in cfg.model.module.items()
                  if OmegaConf.is_dict(v) and "_target_" in v]
        for where, node in nodes:
            cls = get_class(node._target_)
            params = {}
            for klass in cls.__mro__:  # **common reaches the family base class
                init = vars(klass).get("__init__")
                if init is not None and klass is not object:
                    params = {**inspect.signature(init).parameters, **params}
            assert accepted(cls) is not None
            for key in node:
                if key.startswith("_"):
                    continue
                seen += 1
                assert params[key].default is inspect.Parameter.empty, f"{where}.{key}"
    assert seen > 30


def test_defaults_no_longer_hide_in_python():
    from harness.models.style import StyleModule

    sig = inspect.signature(StyleModule.__init__).parameters
    assert all(sig[k].default is inspect.Parameter.empty
               for k in ("content_weight", "style_weight", "tv_weight"))


@pytest.mark.slow
@pytest.mark.parametrize("args,line", [
    (["model=seg", "data=voc", "data.tint=0.9"],
     "error: data.tint is not a setting of this config"),
    (["model=seg", "data=voc", "+data.tint=0.9"],
     "error: data.tint does nothing here: SegData (source voc) takes no 'tint'"),
    (["trainer.max_epochs=7"], "error: trainer.max_epochs cannot be set: the harness sets it"),
    (["-m", "model=seg", "data=mosaic,voc", "data.mosaic.tint=0.5"],
     "error: data.mosaic.tint is not a setting of this config"),
])
def test_the_command_line_refuses_them_in_one_line_before_any_work(tmp_path, args, line):
    r = run_cli(*args, f"hydra.run.dir={tmp_path}/run", f"hydra.sweep.dir={tmp_path}/sweep",
                cwd=tmp_path)
    assert r.returncode == 2
    assert r.stderr.strip().count("\n") == 0 and r.stderr.startswith(line), r.stderr
    assert not (tmp_path / "run").exists() and not (tmp_path / "sweep").exists()


@pytest.mark.parametrize("study,ok", [("adhoc", True), ("seg_lr_search/raw", True),
                                      ("../escape", False), ("/abs", False),
                                      ("a/../../b", False), ("a b", False)])
def test_a_study_names_folders_never_a_path_out_of_them(tmp_path, study, ok):
    cfg = make_cfg(tmp_path, f"study='{study}'", fast=False)
    lines = [p for p in problems_of(cfg) if p.startswith("study=")]
    assert (lines == []) == ok, lines
