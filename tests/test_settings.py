"""Bad settings are caught before any work: one line each, naming key, value and what is
accepted; a sweep checks every job before the first one starts."""
import pytest

from harness.run.precheck import problems_of as problems
from helpers import ROOT, make_cfg, run_cli


@pytest.mark.parametrize("override, line", [
    ("steps=-1", "steps=-1 is not accepted: give an integer >= 1 (training batches)"),
    ("steps=0", "steps=0 is not accepted: give an integer >= 1 (training batches)"),
    ("steps=abc", "steps='abc' is not accepted: give an integer >= 1 (training batches)"),
    ("steps=2.5", "steps=2.5 is not accepted: give an integer >= 1 (training batches)"),
    ("data.batch_size=0", "data.batch_size=0 is not accepted: give an integer >= 1"),
    ("eval_every=-3", "eval_every=-3 is not accepted: give an integer >= 0 "
                      "(0 = evaluate before and after training only)"),
    ("checkpoint_every=-5", "checkpoint_every=-5 is not accepted: give an integer >= 0 "
                            "(0 = no checkpoints)"),
    ("seed=-5", "seed=-5 is not accepted: give an integer >= 0"),
    ("threads=-1", "threads=-1 is not accepted: give an integer >= 0 "
                   "(0 = the machine's cores, shared among parallel jobs)"),
    ("data.channels=2", "data.channels=2 is not accepted: give 1 or 3"),
    ("log_every=true", "log_every=True is not accepted: give an integer >= 1"),
    ("steps=${nope}", "steps cannot be resolved: Interpolation key 'nope' not found"),
])
def test_each_bad_value_is_one_line(tmp_path, override, line):
    assert problems(make_cfg(tmp_path, override)) == [line]


def test_good_configs_of_every_family_pass(tmp_path):
    for model in ("gan", "gan_article", "style", "seg"):
        assert problems(make_cfg(tmp_path, f"model={model}", fast=False)) == [], model


def test_your_own_masks_need_their_class_count(tmp_path):
    """`data=seg_folder` inherits the mosaic's settings; its class count must not be the
    mosaic's 5 silently."""
    cfg = make_cfg(tmp_path, "model=seg", "data=seg_folder", "data.root=/x", fast=False)
    assert problems(cfg) == ["data.n_classes is required: give an integer >= 2 (classes incl. "
                             "background; required for your own masks)"]
    assert problems(make_cfg(tmp_path, "model=seg", "data=seg_folder", "data.root=/x",
                             "data.n_classes=3", fast=False)) == []


def test_required_and_optional_values(tmp_path):
    assert problems(make_cfg(tmp_path, "data.limit=null")) == []
    cfg = make_cfg(tmp_path, "model=seg", "data.n_classes=null", fast=False)
    assert problems(cfg) == ["data.n_classes is required: give an integer >= 2 (classes incl. "
                             "background; required for your own masks)"]


@pytest.mark.slow
def test_the_command_line_stops_before_any_work(tmp_path):
    r = run_cli("steps=-1", "data.batch_size=0", cwd=tmp_path)
    assert r.returncode == 2 and r.stderr.strip().splitlines() == [
        "error: steps=-1 is not accepted: give an integer >= 1 (training batches)",
        "error: data.batch_size=0 is not accepted: give an integer >= 1"]
    r = run_cli("-m", "steps=5,-1", f"hydra.sweep.dir={tmp_path}/sweep", cwd=ROOT)
    assert r.returncode == 2 and r.stderr.strip().splitlines() == [
        "error: steps=-1 is not accepted: give an integer >= 1 (training batches)"]
    assert not (tmp_path / "outputs").exists() and not (tmp_path / "sweep").exists()


@pytest.mark.parametrize("override, line", [
    ("+target.gan=abc", "target.gan='abc' is not accepted: give a number (the primary metric's "
                        "value that counts as quality, e.g. target.gan=300)"),
    ("+target.foo=3", "target.foo names no family: give one of gan, seg, style"),
    ("+reference.gan={scaling:raw,head:nope}",
     "reference.gan={'scaling': 'raw', 'head': 'nope'} is not accepted: give {scaling: "
     "<raw|unit|symmetric|imagenet>, head: <identity|affine_fit|tanh|sigmoid|tanh_fit|sigmoid_fit|"
     "clamp_fit|tanh_wide>}"),
    ("+noise_floor.style=[1]", "noise_floor.style=[1] is not accepted: give two pairings, "
                               "[{scaling: ..., head: ...}, {scaling: ..., head: ...}]"),
    ("+shown.seg=3", "shown.seg=3 is not accepted: give a list of metric names, "
                     "e.g. shown.seg=[ssim,colour_mean_gap]"),
    ("+window.gan=0", "window.gan=0 is not accepted: give an integer >= 1 (how many of the last "
                      "evaluations a verdict averages, e.g. window.gan=3)"),
    ("+contrasts.gan=[{a:{scaling:raw,head:identity},b:{scaling:raw,head:nope}}]",
     "contrasts.gan[0].b={'scaling': 'raw', 'head': 'nope'} is not accepted: give {scaling: "
     "<raw|unit|symmetric|imagenet>, head: <identity|affine_fit|tanh|sigmoid|tanh_fit|sigmoid_fit|"
     "clamp_fit|tanh_wide>}"),
    ("+contrasts.gan=[{a:{scaling:raw,head:identity},b:{scaling:raw,head:tanh},at:0}]",
     "contrasts.gan[0].at=0 is not accepted: give a step >= 1 (the window ends at the last "
     "evaluation at or before it)"),
])
def test_bad_study_settings_are_one_line_before_any_run(tmp_path, override, line):
    """A bad target, reference or noise floor would otherwise fail the report after every
    run had finished."""
    assert problems(make_cfg(tmp_path, override)) == [line]


def test_the_studies_settings_pass(tmp_path):
    for study in ("default", "raw_pixel_gan", "raw_pixel_gan_long", "raw_pixel_gan_colour",
                  "style_claim", "seg_scaling", "full_grid"):
        assert problems(make_cfg(tmp_path, f"experiment={study}", fast=False)) == [], study
