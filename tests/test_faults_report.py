"""Nothing lost, nothing stale, nothing counted twice: two sweeps sharing a folder each count
their own jobs."""

import subprocess
import sys

import pytest

from harness.run import console


@pytest.fixture
def live_pid():
    p = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    yield p.pid
    p.kill()
    p.wait()



# ----------------------------------------------------------------------- case h: progress


def test_two_sweeps_sharing_a_folder_each_count_their_own_jobs(tmp_path, monkeypatch, live_pid):
    """Sweep A (this process) and sweep B (another live one) of two jobs each write into one
    folder: each says 1/2 then 2/2, never 3/2; a job run again counts once."""
    monkeypatch.setattr(console.os, "environ", {})  # the sweeps' variables, this test's own
    console.start_sweep(tmp_path, 1)
    env_a = dict(console.os.environ)
    monkeypatch.setattr(console.os, "getpid", lambda: live_pid)
    console.start_sweep(tmp_path, 1)  # B starts after A: A's progress file stays
    env_b = dict(console.os.environ)

    def done(env, **job):
        console.os.environ.clear()
        console.os.environ.update(env)
        return console.progress(tmp_path, 2, 1.0, False, **job).split(" done")[0]

    assert [done(env_a), done(env_b), done(env_a), done(env_b)] == ["1/2"] * 2 + ["2/2"] * 2
    assert [done(env_a, job=5), done(env_a, job=5)] == ["2/2", "2/2"]  # never above the total

