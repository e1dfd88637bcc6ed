"""Records that never lie: a resumed run is the run that was never stopped; an interrupted run
says how to go on; a directory in use is left to its process."""
import json
import os
import subprocess
import sys

import pytest

from harness.core.history import read_history
from harness.run.runs import run
from helpers import FAST, ROOT, SEG_FAST, TESTS, make_cfg, run_cli

STOP = ["+callbacks.stop._target_=helpers.StopAt", "+callbacks.stop.step=7"]
FAMILIES = {"gan": (["steps=12", "eval_every=4"], True),
            "seg": ([*SEG_FAST, "steps=12", "eval_every=4"], False),
            # the black-start arm sets its bias once, at the start: a resume must not again
            "black_start": (["model=gan_article", "model.width=0.0625", "data.batch_size=8",
                             "data.eval_size=32", "scaling=raw", "head=identity",
                             "model.module.last_bias=data_mean", "model.module.ruler_dir=null",
                             "steps=12", "eval_every=4", "logger=none"], False)}


@pytest.mark.slow
@pytest.mark.parametrize("family", list(FAMILIES))
def test_a_killed_and_resumed_run_gives_the_metrics_of_one_never_stopped(family, tmp_path):
    overrides, fast = FAMILIES[family]
    cfg = lambda *o: make_cfg(tmp_path, *overrides, "checkpoint_every=4", *o, fast=fast)  # noqa: E731
    whole = run(cfg(), tmp_path / "whole")
    stopped = run(cfg(*STOP), tmp_path / "resumed")
    assert stopped["status"] == "failed" and "stopped at step 7" in stopped["message"]
    assert (tmp_path / "resumed" / "checkpoints" / "last.ckpt").is_file()  # from step 4
    resumed = run(cfg(), tmp_path / "resumed")  # the callback is no part of the run's identity
    assert whole["status"] == resumed["status"] == "ok"
    assert resumed["resumed_from"].endswith("last.ckpt") and not whole.get("resumed_from")
    assert resumed["metrics"] == whole["metrics"]  # every metric, bit for bit
    before, after = resumed["wall_time_parts_s"]
    assert before > 0 and after > 0 and resumed["wall_time_s"] == pytest.approx(before + after, abs=0.02)


@pytest.mark.slow
def test_a_killed_run_keeps_its_history_and_the_resumed_run_appends_without_repeats(tmp_path):
    """Evaluations at 0, 2, 4, 6, then a crash at 7; the checkpoint is from step 4, so the row
    of step 6 is measured again after the resume, and must not appear twice."""
    cfg = lambda *o: make_cfg(tmp_path, "steps=12", "eval_every=2", "checkpoint_every=4", *o)  # noqa: E731
    run(cfg(), tmp_path / "whole")
    stopped = run(cfg(*STOP), tmp_path / "resumed")
    assert stopped["status"] == "failed"
    kept = read_history(tmp_path / "resumed" / "history.csv")
    assert [r["step"] for r in kept] == [0, 2, 4, 6]  # what the killed run measured
    resumed = run(cfg(), tmp_path / "resumed")
    assert resumed["status"] == "ok" and resumed["resumed_from"]
    whole = read_history(tmp_path / "whole" / "history.csv")
    after = read_history(tmp_path / "resumed" / "history.csv")
    assert [r["step"] for r in after] == [r["step"] for r in whole] == [0, 2, 4, 6, 8, 10, 12]
    no_wall = lambda rows: [{k: v for k, v in r.items() if k != "wall_time_s"} for r in rows]  # noqa: E731
    assert no_wall(after) == no_wall(whole)  # the same numbers, measured once each
    assert after[-1]["swd"] == resumed["metrics"]["swd"]  # the last row is the final evaluation
    assert all(a["wall_time_s"] <= b["wall_time_s"] for a, b in zip(after, after[1:]))


@pytest.mark.slow
def test_ctrl_c_records_interrupted_says_how_to_resume_and_the_same_command_resumes(tmp_path):
    args = ["steps=12", "checkpoint_every=4", "logger=none", *FAST, f"hydra.run.dir={tmp_path}/run"]
    ctrl_c = ["+callbacks.stop._target_=helpers.StopAt", "+callbacks.stop.step=7",
              "+callbacks.stop.ctrl_c=true"]
    env = {"PYTHONPATH": str(TESTS)}  # StopAt comes from the tests' helpers
    first = run_cli(*args, *ctrl_c, cwd=ROOT, env=env)
    assert first.returncode == 130, first.stderr[-2000:]
    ckpt = tmp_path / "run" / "checkpoints" / "last.ckpt"
    assert first.stderr.strip().splitlines()[-1] == (
        f"error: interrupted; the same command resumes it from {ckpt}")
    rec = json.loads((tmp_path / "run" / "run.json").read_text())
    assert rec["status"] == "interrupted" and ckpt.is_file()
    again = run_cli(*args, cwd=ROOT, env=env)
    assert again.returncode == 0, again.stderr[-2000:]
    rec = json.loads((tmp_path / "run" / "run.json").read_text())
    assert rec["status"] == "ok" and rec["resumed_from"] == str(ckpt) and not ckpt.exists()


def test_a_directory_held_by_a_live_process_is_left_to_it(tmp_path):
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (run_dir / ".lock").write_text(f"{os.getppid()} {os.uname().nodename}\n")
    rec = run(make_cfg(tmp_path, "steps=2", "logger=none"), run_dir)
    assert rec["status"] == "skipped" and rec["message"].startswith(f"in use by PID {os.getppid()}")
    assert not (run_dir / "run.json").exists() and (run_dir / ".lock").exists()


@pytest.mark.slow
def test_a_stale_lock_is_taken_over(tmp_path, caplog):
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (run_dir / ".lock").write_text(f"{dead.pid} {os.uname().nodename}\n")
    with caplog.at_level("WARNING", logger="harness"):
        rec = run(make_cfg(tmp_path, "steps=2", "logger=none"), run_dir)
    assert rec["status"] == "ok" and not (run_dir / ".lock").exists()
    assert f"took over a stale lock of PID {dead.pid}" in caplog.text


def test_a_lock_being_written_is_not_taken_over(tmp_path):
    from harness.core.lock import acquire

    (tmp_path / ".lock").write_text("")  # created a moment ago, its PID not written yet
    assert acquire(tmp_path) == (False, "being taken by another process")
