"""What a sweep prints: its own lines and every harness warning, none of the libraries'
chatter; ``-v`` brings the chatter back (so the filters are targeted, not blanket)."""
import pytest

from helpers import ROOT, run_cli

pytestmark = pytest.mark.slow  # real sweeps, seconds each

# two tiny style runs on [-1, 1] inputs with a sigmoid head: random VGG weights (no cached
# file under an empty TORCH_HOME) and a range mismatch, the harness's own warnings
STYLE_TINY = ["-m", "model=style", "scaling=symmetric", "head=sigmoid", "seed=0,1", "steps=2",
              "eval_every=0", "logger=none", "data.crop_size=32", "data.eval_size=4",
              "data.batch_size=2", "data.style_size=64", "model.module.net.width=4",
              "model.module.net.n_res=1"]
SILENCED = ("GPU available", "TPU available", "Tip:", "litlogger", "LeafSpec",
            "module(s) in eval mode", "`srun`", "`Trainer.fit` stopped", "max_epochs",
            "Launching jobs", "Joblib", "Epoch ")


def test_a_sweep_prints_its_lines_and_warnings_and_none_of_the_noise(tmp_path):
    sweep, env = tmp_path / "sweep", {"TORCH_HOME": str(tmp_path / "torch")}
    args = [*STYLE_TINY, f"hydra.sweep.dir={sweep}", f"paths.log_dir={tmp_path}/logs"]
    r = run_cli(*args, cwd=ROOT, env=env)
    out = r.stdout + r.stderr
    assert r.returncode == 0, out[-3000:]
    assert not [p for p in SILENCED if p in out], out
    assert f"study adhoc: 2 runs, launcher basic (1 at a time); records in {sweep}, report " \
           f"to {sweep / 'report'}" in out
    assert "[1/2] style symmetric sigmoid seed=0 ok loss=" in out
    assert "| 1/2 done in " in out and ", about " in out and " left" in out
    assert "| 2/2 done in " in out and "sweep finished: 2 runs: 2 ok" in out
    # the harness's warnings, each once for the sweep although both runs trigger it
    assert out.count("no VGG16 ImageNet weights") == 1
    assert out.count("range mismatch: head sigmoid reaches [0, 1], not all of scaling "
                     "symmetric's [-1, 1]") == 1
    assert "/2 [" in r.stderr and "step" in r.stderr  # one job at a time: a bar in steps

    # a finished run in the folder another config is given (its name held fixed): the old
    # run is kept aside, and says so once
    one = [*[a for a in args if a != "seed=0,1"], "seed=0", "hydra.sweep.subdir=one"]
    assert run_cli(*one, cwd=ROOT, env=env).returncode == 0
    again = run_cli(*one, "eval_every=1", cwd=ROOT, env=env)
    assert again.returncode == 0
    assert (again.stdout + again.stderr).count("config changed since the finished run") == 1


def test_a_single_run_shows_a_bar_in_steps_and_v_brings_the_libraries_lines_back(tmp_path):
    r = run_cli("-v", "model=style", "steps=3", *STYLE_TINY[6:], f"hydra.run.dir={tmp_path}/run",
                f"paths.log_dir={tmp_path}/logs", cwd=ROOT,
                env={"TORCH_HOME": str(tmp_path / "torch")})
    assert r.returncode == 0, r.stderr[-2000:]
    out = r.stdout + r.stderr
    bar = r.stderr.replace("\r", "\n")
    assert "style symmetric tanh seed=0: 100%" in bar and "3/3" in bar and "loss=" in bar
    assert "GPU available" in out and "`Trainer.fit` stopped" in out  # -v: nothing filtered
    assert "no VGG16 ImageNet weights" in out
