"""Faults that used to lose or stale a run's results without a word (issue: nothing lost,
nothing stale): a second command beside a live run, results of other code or other data reused,
a resume with another checkpoint interval, a full disk, read-only folders, orphaned workers."""
import json
import os
import subprocess
import sys
import time

import pytest

from helpers import FAST, ROOT, run_cli

PY = {"PYTHONPATH": str(ROOT)}


def _wait_for(path, proc, seconds=120):
    end = time.time() + seconds
    while not path.exists():
        assert proc.poll() is None, proc.communicate()[1][-2000:]
        assert time.time() < end, f"{path} never appeared"
        time.sleep(0.1)


@pytest.mark.slow
def test_a_second_command_is_refused_before_it_touches_a_live_run(tmp_path):
    """Two real processes in one default single-run folder: the second (another config, then
    the same) exits 2 in one line and the live run ends ok with everything it wrote."""
    args = ["study=live", "logger=none", "checkpoint_every=100", *FAST, "eval_every=200"]
    env = {**os.environ, **PY, "PYTHONUNBUFFERED": "1"}
    live = subprocess.Popen([sys.executable, "-m", "harness.train", *args, "steps=400"],
                            cwd=tmp_path, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    run_dir = tmp_path / "outputs" / "live" / "gan-symmetric-tanh-seed0"
    _wait_for(run_dir / "checkpoints" / "last.ckpt", live)
    hydra_before = (run_dir / ".hydra" / "overrides.yaml").read_text()
    for steps in ("5", "400"):  # another config, then the same one again
        second = run_cli(*args, f"steps={steps}", cwd=tmp_path, env=PY, timeout=120)
        assert second.returncode == 2, second.stderr[-2000:]
        lines = second.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith(f"error: {run_dir.relative_to(tmp_path)} is in use by PID {live.pid}"), lines
        assert (run_dir / ".hydra" / "overrides.yaml").read_text() == hydra_before
    assert live.poll() is None, "the live run must still be training (make it longer)"
    out, err = live.communicate(timeout=300)
    assert live.returncode == 0, err[-2000:]
    rec = json.loads((run_dir / "run.json").read_text())
    assert rec["status"] == "ok" and rec["steps"] == 400
    assert not list(run_dir.glob("superseded-*"))
    history = (run_dir / "history.csv").read_text().splitlines()
    assert history[0].startswith("step,wall_time_s,")
    assert [line.split(",")[0] for line in history[1:]] == ["0", "200", "400"]
    assert not (run_dir / ".lock").exists()
