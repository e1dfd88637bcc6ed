"""What a sweep prints: its own lines and every harness warning, none of the libraries'
chatter; ``-v`` brings the chatter back (so the filters are targeted, not blanket). What a run
shows while it trains: a bar on a terminal, plain lines without one."""
import io
import re
import sys
from types import SimpleNamespace

import pytest

from harness.run.stepbar import StepBar, step_line
from helpers import ROOT, run_cli

# two tiny style runs on [-1, 1] inputs with a sigmoid head: random VGG weights (no cached
# file under an empty TORCH_HOME) and a range mismatch, the harness's own warnings
STYLE_TINY = ["-m", "model=style", "scaling=symmetric", "head=sigmoid", "seed=0,1", "steps=2",
              "eval_every=0", "logger=none", "data.crop_size=32", "data.eval_size=4",
              "data.batch_size=2", "data.style_size=64", "model.module.net.width=4",
              "model.module.net.n_res=1"]
# a finished run's line in a sweep, as README.md shows it: its folder inside the sweep folder
RUN_LINE = re.compile(r"\d\d:\d\d:\d\d \[\d+/\d+\] \S+ \S+ \S+ seed=\d+ ok \w+=\S+ \(\d+ s\) \| "
                      r"\d+/\d+ done in \d+:\d\d(, about \d+:\d\d left)?  -> ([^/\s]\S*)")
SILENCED = ("GPU available", "TPU available", "Tip:", "litlogger", "LeafSpec",
            "module(s) in eval mode", "`srun`", "`Trainer.fit` stopped", "max_epochs",
            "Launching jobs", "Joblib", "Epoch ")


@pytest.mark.slow  # real sweeps, seconds each
def test_a_sweep_prints_its_lines_and_warnings_and_none_of_the_noise(tmp_path):
    sweep, env = tmp_path / "sweep", {"TORCH_HOME": str(tmp_path / "torch")}
    args = [*STYLE_TINY, f"hydra.sweep.dir={sweep}", f"paths.log_dir={tmp_path}/logs"]
    r = run_cli(*args, cwd=ROOT, env=env, tty=True)
    out = r.stdout + r.stderr
    assert r.returncode == 0, out[-3000:]
    assert not [p for p in SILENCED if p in out], out
    assert f"study adhoc: 2 runs, launcher basic (1 at a time); records in {sweep}, report " \
           f"to {sweep / 'report'}" in out
    assert "[1/2] style symmetric sigmoid seed=0 ok loss=" in out
    assert "| 1/2 done in " in out and ", about " in out and " left" in out
    assert "| 2/2 done in " in out and "sweep finished: 2 runs: 2 ok" in out
    # each run's folder named inside the sweep folder the opening line names, not in full
    folders = [m.group(2) for line in r.stdout.splitlines() if (m := RUN_LINE.fullmatch(line))]
    assert len(folders) == 2 and all((sweep / f / "run.json").is_file() for f in folders), \
        r.stdout
    # the harness's warnings, each once for the sweep although both runs trigger it
    assert out.count("no VGG16 ImageNet weights") == 1
    assert out.count("range mismatch: head sigmoid reaches [0, 1], not all of scaling "
                     "symmetric's [-1, 1]") == 1
    # one job at a time: a bar in steps of the 2 asked for (which counts it shows depends on
    # how fast the steps go: tqdm redraws at most every 0.1 s)
    assert re.search(r"\d/2 \[", r.stderr) and "step" in r.stderr, r.stderr

    # a finished run in the folder another config is given (its name held fixed): the old
    # run is kept aside, and says so once
    one = [*[a for a in args if a != "seed=0,1"], "seed=0", "hydra.sweep.subdir=one"]
    assert run_cli(*one, cwd=ROOT, env=env).returncode == 0
    again = run_cli(*one, "eval_every=1", cwd=ROOT, env=env)
    assert again.returncode == 0
    assert (again.stdout + again.stderr).count("config changed since the finished run") == 1


@pytest.mark.slow
def test_a_single_run_without_a_terminal_prints_lines_and_v_brings_the_libraries_back(
        tmp_path):
    r = run_cli("-v", "model=style", "steps=3", *STYLE_TINY[6:], f"hydra.run.dir={tmp_path}/run",
                f"paths.log_dir={tmp_path}/logs", cwd=ROOT,
                env={"TORCH_HOME": str(tmp_path / "torch")})
    assert r.returncode == 0, r.stderr[-2000:]
    out = r.stdout + r.stderr
    lines = [re.sub(r"\d+:\d\d(:\d\d)?", "T", line) for line in r.stderr.splitlines()
             if "style symmetric tanh seed=0: " in line]
    assert lines[:2] == ["T style symmetric tanh seed=0: 1/3 steps (33%) in T, about T left",
                         "T style symmetric tanh seed=0: 2/3 steps (66%) in T, about T left"]
    assert re.fullmatch(r"T style symmetric tanh seed=0: 3/3 steps \(100%\) in T, "
                        r"loss=\S+ content_loss=\S+ style_loss=\S+ tv_loss=\S+", lines[2]), lines
    assert len(lines) == 3 and "\r" not in r.stderr  # no bar
    assert "GPU available" in out and "`Trainer.fit` stopped" in out  # -v: nothing filtered
    assert "no VGG16 ImageNet weights" in out


def trained(bar: StepBar, total: int, stderr, monkeypatch, first: int = 0) -> str:
    """What ``bar`` writes to ``stderr`` over a run of ``total`` steps resumed at ``first``;
    losses logged every 10 steps, as ``log_every=10``."""
    monkeypatch.setattr(sys, "stderr", stderr)
    run, trainer = SimpleNamespace(step=first, total_steps=total, last_logged={}), \
        SimpleNamespace(is_global_zero=True)
    bar.on_train_start(trainer, run)
    for run.step in range(first + 1, total + 1):
        if run.step % 10 == 0:
            run.last_logged = {"d_loss": run.step / 10, "g_loss": 0.5}
        bar.on_train_batch_end(trainer, run, None, None, run.step - 1)
    bar.on_train_end(trainer, run)
    return stderr.getvalue()


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_without_a_terminal_a_single_run_prints_a_line_every_tenth_of_it(monkeypatch):
    """A tqdm bar in a pipe is one line of carriage returns, shown when the run ends: a piped
    run said nothing for minutes. Ten lines instead, the losses last logged on each."""
    got = trained(StepBar("gan raw identity seed=0"), 30, io.StringIO(), monkeypatch)
    lines = [re.sub(r"\d+:\d\d(:\d\d)?", "T", line) for line in got.splitlines()]
    head, left = "T gan raw identity seed=0:", ", about T left"
    assert lines == [f"{head} 3/30 steps (10%) in T{left}", f"{head} 6/30 steps (20%) in T{left}",
                     f"{head} 9/30 steps (30%) in T{left}",
                     f"{head} 12/30 steps (40%) in T{left}, d_loss=1 g_loss=0.5",
                     f"{head} 15/30 steps (50%) in T{left}, d_loss=1 g_loss=0.5",
                     f"{head} 18/30 steps (60%) in T{left}, d_loss=1 g_loss=0.5",
                     f"{head} 21/30 steps (70%) in T{left}, d_loss=2 g_loss=0.5",
                     f"{head} 24/30 steps (80%) in T{left}, d_loss=2 g_loss=0.5",
                     f"{head} 27/30 steps (90%) in T{left}, d_loss=2 g_loss=0.5",
                     f"{head} 30/30 steps (100%) in T, d_loss=3 g_loss=0.5"]
    resumed = trained(StepBar("x"), 25, io.StringIO(), monkeypatch, first=12)
    assert [line.split(": ")[1].split(" (")[0] for line in resumed.splitlines()] == \
        ["15/25 steps", "18/25 steps", "21/25 steps", "24/25 steps", "25/25 steps"]


def test_on_a_terminal_the_bar_stays_and_a_sweeps_passing_bar_prints_no_lines(monkeypatch):
    shown = trained(StepBar("gan raw identity seed=0"), 30, Terminal(), monkeypatch)
    assert "\r" in shown and "30/30 [" in shown and "d_loss=3" in shown  # tqdm's bar
    assert "steps (" not in shown
    # a sweep running one job at a time: a bar on a terminal, nothing in a pipe (a line per
    # finished run says enough there)
    assert "0/30 [" in trained(StepBar("x", leave=False), 30, Terminal(), monkeypatch)
    assert trained(StepBar("x", leave=False), 30, io.StringIO(), monkeypatch) == ""


def test_a_progress_lines_time_left_is_the_pace_of_the_steps_this_process_trained():
    line = step_line("x", 30, 300, 0, 12.0, {"loss": 0.123456})
    assert re.fullmatch(r"\d\d:\d\d:\d\d x: 30/300 steps \(10%\) in 0:12, about 1:48 left, "
                        r"loss=0\.1235", line), line
    # resumed at 100: 50 steps in 10 s, 150 to go
    assert step_line("x", 150, 300, 100, 10.0, {}).endswith(
        "x: 150/300 steps (50%) in 0:10, about 0:30 left")
    assert step_line("", 300, 300, 0, 3725.0, {}).endswith(" 300/300 steps (100%) in 1:02:05")


def test_the_time_left_counts_each_run_left_at_the_pace_of_runs_like_it(tmp_path, monkeypatch):
    """A synthetic sweep, two jobs at once: 4 GAN runs of 10 s, 4 segmentation runs of 100 s,
    a GAN run of twice the steps and a style run. After three GAN runs and one segmentation run
    the runs left take 10 + 3 x 100 (their own kinds), 20 (the GAN's pace, twice the steps) and
    16.25 (no style run yet: every run's pace, half the steps) = 346.25 s, 2:53 on two jobs.
    One mean over every run (32.5 s) said 1:38, about half."""
    from harness.run import console

    monkeypatch.setattr(console.os, "environ", {})  # the sweep's variables, this test's own
    gan, seg = {"model": "gan", "steps": 300}, {"model": "seg", "steps": 300}
    plan = [gan] * 4 + [seg] * 4 + [{"model": "gan", "steps": 600}, {"model": "style",
                                                                      "steps": 150}]
    console.start_sweep(tmp_path, 2, plan)
    said = [console.progress(tmp_path, len(plan), {**plan[job], "wall_s": wall}, job=job)
            for job, wall in [(0, 10.0), (1, 10.0), (4, 100.0), (2, 10.0)]]
    assert re.fullmatch(r"4/10 done in 0:\d\d, about 2:53 left", said[-1]), said
    walls = [10.0, 10.0, 100.0, 10.0]
    assert console.clock(sum(walls) / len(walls) * 6 / 2) == "1:38"  # the old estimate
    # a reused run is done at no cost: the estimate of the runs left stays theirs
    reused = console.progress(tmp_path, len(plan), {**plan[3], "wall_s": None}, job=3)
    assert re.fullmatch(r"5/10 done in 0:\d\d, about 2:48 left", reused), reused


def test_the_readme_shows_a_sweeps_lines_as_they_are_and_reports_a_folder_a_clone_makes():
    """The README's example lines are in the form a sweep prints (the test above reads a real
    sweep with the same pattern), and the report it runs again is of runs a clone makes."""
    readme = (ROOT / "README.md").read_text()
    example = readme.split("**What a sweep prints.**")[1].split("```")[1].strip().splitlines()
    assert re.fullmatch(r"\d\d:\d\d:\d\d study default: 12 runs, launcher local \(2 at a time\); "
                        r"records in multirun/default, report to results/default",
                        example[0].strip())
    runs = [RUN_LINE.fullmatch(line.strip()) for line in example
            if re.match(r"\d\d:\d\d:\d\d \[", line.strip())]
    assert len(runs) >= 2 and all(runs), example
    assert not [m.group(2) for m in runs if m.group(2).startswith("multirun/")]  # inside it
    assert set(re.findall(r"harness\.report (multirun/\S+)", readme)) == {
        "multirun/default", "multirun/<study>`"}  # `make sweep` makes the first
