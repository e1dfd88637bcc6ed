"""Faults that used to lose or stale a run's results without a word (issue: nothing lost,
nothing stale): a second command beside a live run, results of other code or other data reused,
a resume with another checkpoint interval, a full disk, read-only folders, orphaned workers."""
import json
import logging
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from helpers import FAST, ROOT, TESTS, run_cli

PY = {"PYTHONPATH": str(ROOT)}


def _wait_for(path, proc, seconds=300):  # generous: a busy 2-core machine is slow to start
    end = time.time() + seconds
    while not path.exists():
        assert proc.poll() is None, proc.communicate()[1][-2000:]
        assert time.time() < end, f"{path} never appeared"
        time.sleep(0.1)


@pytest.mark.slow
def test_a_second_command_is_refused_before_it_touches_a_live_run(tmp_path):
    """Two real processes in one default single-run folder: the second (another config, then
    the same) exits 2 in one line and the live run ends ok with everything it wrote. The live
    run holds after its first checkpoint until the test lets it go (``helpers.WaitAt``)."""
    args = ["study=live", "logger=none", "checkpoint_every=5", *FAST, "eval_every=10"]
    go = tmp_path / "go"
    hold = ["+callbacks.wait._target_=helpers.WaitAt", "+callbacks.wait.step=6",
            f"+callbacks.wait.go={go}"]
    with_helpers = {"PYTHONPATH": f"{ROOT}{os.pathsep}{TESTS}"}  # WaitAt is the tests' own
    env = {**os.environ, **with_helpers, "PYTHONUNBUFFERED": "1"}
    live = subprocess.Popen([sys.executable, "-m", "harness.train", *args, "steps=20", *hold],
                            cwd=tmp_path, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    run_dir = tmp_path / "outputs" / "live" / "gan-symmetric-tanh-seed0"
    _wait_for(run_dir / "checkpoints" / "last.ckpt", live)
    hydra_before = (run_dir / ".hydra" / "overrides.yaml").read_text()
    for steps in ("5", "20"):  # another config, then the same one again
        second = run_cli(*args, f"steps={steps}", *hold, cwd=tmp_path, env=with_helpers,
                         timeout=120)
        assert second.returncode == 2, second.stderr[-2000:]
        lines = second.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith(f"error: {run_dir.relative_to(tmp_path)} is in use by PID {live.pid}"), lines
        assert (run_dir / ".hydra" / "overrides.yaml").read_text() == hydra_before
    assert live.poll() is None, "the live run must still be training"
    go.touch()
    out, err = live.communicate(timeout=300)
    assert live.returncode == 0, err[-2000:]
    rec = json.loads((run_dir / "run.json").read_text())
    assert rec["status"] == "ok" and rec["steps"] == 20
    assert not list(run_dir.glob("superseded-*"))
    history = (run_dir / "history.csv").read_text().splitlines()
    assert history[0].startswith("step,wall_time_s,")
    assert [line.split(",")[0] for line in history[1:]] == ["0", "10", "20"]
    assert not (run_dir / ".lock").exists()


STOP7 = ["+callbacks.stop._target_=helpers.StopAt", "+callbacks.stop.step=7"]
TWELVE = ["steps=12", "eval_every=2", "checkpoint_every=4", "logger=none"]


@pytest.fixture(scope="module")
def whole(tmp_path_factory):
    """The record of a 12-step run never stopped: what every stopped and resumed one must give."""
    from harness.run.runs import run
    from helpers import make_cfg

    tmp = tmp_path_factory.mktemp("whole")
    return run(make_cfg(tmp, *TWELVE), tmp / "run")


def _other_code(run_dir):
    """The record as older code left it: another sources' digest (or none at all)."""
    rec = json.loads((run_dir / "run.json").read_text())
    rec.update(code_digest="0123456789ab", commit="1234567")
    (run_dir / "run.json").write_text(json.dumps(rec))
    return rec


@pytest.mark.slow
def test_a_finished_run_of_other_code_is_set_aside_and_run_again_unless_reuse_any(tmp_path, caplog):
    from harness.core.record import code_digest
    from harness.run.runs import run
    from helpers import make_cfg

    cfg = lambda *o: make_cfg(tmp_path, "steps=2", "logger=none", *o)  # noqa: E731
    first = run(cfg(), tmp_path / "r")
    assert first["status"] == "ok" and first["code_digest"] == code_digest()
    old = _other_code(tmp_path / "r")
    again = run(cfg(), tmp_path / "r")
    assert again["status"] == "ok" and again["started"] and again["code_digest"] == code_digest()
    kept = list((tmp_path / "r").glob("superseded-*/record.json"))
    assert len(kept) == 1 and json.loads(kept[0].read_text())["code_digest"] == old["code_digest"]
    assert "other code (commit 1234567, sources 0123456789ab) made the finished run" in caplog.text
    _other_code(tmp_path / "r")
    reused = run(cfg("reuse=any"), tmp_path / "r")  # the user says any code will do
    assert reused["code_digest"] == "0123456789ab"
    assert len(list((tmp_path / "r").glob("superseded-*"))) == 1


def test_the_code_digest_changes_with_any_source_file_and_only_with_them(tmp_path, monkeypatch):
    import shutil

    from harness.core import record

    for name in ("harness", "conf"):
        shutil.copytree(ROOT / name, tmp_path / name, ignore=shutil.ignore_patterns("__pycache__"))
    monkeypatch.setattr(record, "ROOT", tmp_path)
    digest = lambda: (record.code_digest.cache_clear(), record.code_digest())[1]  # noqa: E731
    base = digest()
    (tmp_path / "harness" / "notes.txt").write_text("not a source")
    (tmp_path / "harness" / "__pycache__").mkdir(exist_ok=True)
    (tmp_path / "harness" / "__pycache__" / "x.py").write_text("compiled")
    assert digest() == base
    pixels = tmp_path / "harness" / "core" / "pixels.py"
    pixels.write_text(pixels.read_text() + "\n# an edit\n")
    assert digest() != base
    record.code_digest.cache_clear()


def _pngs(folder, seed):
    import numpy as np
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    for i in range(10):  # enough for a held-out set and a batch
        Image.fromarray(rng.integers(0, 256, (12, 12, 3), dtype=np.uint8)).save(folder / f"{i}.png")


def test_the_data_digest_follows_the_files_under_data_root(tmp_path):
    from harness.data.digest import data_digest

    _pngs(tmp_path / "a", 0)
    folder = {"source": "folder", "root": str(tmp_path / "a")}
    first = data_digest(folder)
    assert first and data_digest(folder) == first
    assert data_digest({"source": "digits", "root": None}) is None  # bundled: named by its name
    _pngs(tmp_path / "a", 1)  # every image replaced: same names, same sizes
    assert data_digest(folder) != first
    assert data_digest({"content": "folder", "root": str(tmp_path / "a")}) == data_digest(folder)


@pytest.mark.slow
def test_a_changed_image_folder_is_not_taken_for_the_finished_run(tmp_path, caplog):
    from harness.run.runs import run
    from helpers import make_cfg

    caplog.set_level(logging.INFO, logger="harness")
    _pngs(tmp_path / "imgs", 0)
    cfg = lambda: make_cfg(tmp_path, "data=folder", f"data.root={tmp_path / 'imgs'}",  # noqa: E731
                           "data.image_size=32", "data.batch_size=2", "data.eval_size=4",
                           "steps=2", "logger=none")
    first = run(cfg(), tmp_path / "run")
    assert first["status"] == "ok" and first["config"]["data_digest"]
    caplog.clear()
    assert run(cfg(), tmp_path / "run")["started"] == first["started"]  # reused
    assert "(already done)" in caplog.text
    _pngs(tmp_path / "imgs", 1)  # every image replaced: same names, same sizes
    caplog.clear()
    new = run(cfg(), tmp_path / "run")
    assert new["status"] == "ok" and "(already done)" not in caplog.text
    assert "the files under data.root changed since the finished run" in caplog.text
    assert "reuse=any" not in caplog.text  # it would not reuse a run of other data
    old = json.loads(next((tmp_path / "run").glob("superseded-*/record.json")).read_text())
    assert new["config"]["data_digest"] != old["config"]["data_digest"]
    assert new["config_key"] != old["config_key"]


@pytest.mark.slow
def test_a_resume_with_another_checkpoint_interval_trains_exactly_the_missing_batches(tmp_path, whole):
    """Stopped at step 7 with checkpoints every 4 (the last at 4), resumed with every 3: the
    run is the one never stopped, bit for bit, and its history has each step once."""
    from harness.core.history import read_history
    from harness.run.runs import run
    from helpers import make_cfg

    cfg = lambda *o: make_cfg(tmp_path, *TWELVE, *o)  # noqa: E731
    stopped = run(cfg(*STOP7), tmp_path / "r")
    assert stopped["status"] == "failed"
    resumed = run(cfg("checkpoint_every=3"), tmp_path / "r")
    assert resumed["status"] == "ok" and resumed["resumed_from"]
    assert resumed["metrics"] == whole["metrics"]
    steps = [r["step"] for r in read_history(tmp_path / "r" / "history.csv")]
    assert steps == [0, 2, 4, 6, 8, 10, 12]
    text = (tmp_path / "r" / "history.csv").read_text()
    assert "\n4," in text and "\n4.0," not in text  # a kept row keeps its integer step




@pytest.mark.slow
def test_a_truncated_checkpoint_is_set_aside_and_the_run_starts_again(tmp_path, caplog, whole):
    from harness.run.runs import run
    from helpers import make_cfg

    cfg = lambda *o: make_cfg(tmp_path, *TWELVE, *o)  # noqa: E731
    assert run(cfg(*STOP7), tmp_path / "r")["status"] == "failed"
    ckpt = tmp_path / "r" / "checkpoints" / "last.ckpt"
    ckpt.write_bytes(ckpt.read_bytes()[: ckpt.stat().st_size // 2])  # as a full disk left it
    again = run(cfg(), tmp_path / "r")
    assert again["status"] == "ok" and not again["resumed_from"]
    assert again["metrics"] == whole["metrics"]
    assert len(list((tmp_path / "r").glob("unreadable-*.ckpt"))) == 1
    assert "cannot be read" in caplog.text and "starts again from step 0" in caplog.text


@pytest.mark.slow
def test_a_failed_checkpoint_write_keeps_the_last_good_one_and_the_record(tmp_path, monkeypatch,
                                                                           whole):
    """A write that fails half-way (the disk fills at the second checkpoint), and an error.log
    that cannot be written: the record is on disk, the first checkpoint intact, and the same
    command resumes from it to the run never stopped."""
    import errno

    import torch
    from pytorch_lightning.plugins import TorchCheckpointIO

    from harness.run.runs import run
    from helpers import make_cfg

    cfg = lambda *o: make_cfg(tmp_path, *TWELVE, *o)  # noqa: E731
    save, calls = TorchCheckpointIO.save_checkpoint, []

    def fills_up(self, checkpoint, path, storage_options=None):
        calls.append(path)
        if len(calls) == 2:
            open(path, "wb").write(b"half a checkpoint")
            raise OSError(errno.ENOSPC, "No space left on device")
        save(self, checkpoint, path, storage_options)

    write_text = Path.write_text

    def no_log(self, *a, **k):  # the disk is full for the traceback too
        if self.name == "error.log":
            raise OSError(errno.ENOSPC, "No space left on device")
        return write_text(self, *a, **k)

    monkeypatch.setattr(TorchCheckpointIO, "save_checkpoint", fills_up)
    monkeypatch.setattr(Path, "write_text", no_log)
    failed = run(cfg(), tmp_path / "r")
    assert failed["status"] == "failed" and "No space left" in failed["message"]
    assert json.loads((tmp_path / "r" / "run.json").read_text())["status"] == "failed"
    ckpt = tmp_path / "r" / "checkpoints" / "last.ckpt"
    assert torch.load(ckpt, weights_only=False)["steps_done"] == 4
    assert [p.name for p in ckpt.parent.iterdir()] == ["last.ckpt"]  # no part left behind
    assert not (tmp_path / "r" / "error.log").exists()
    monkeypatch.setattr(TorchCheckpointIO, "save_checkpoint", save)
    resumed = run(cfg(), tmp_path / "r")
    assert resumed["status"] == "ok" and resumed["resumed_from"]
    assert resumed["metrics"] == whole["metrics"]


@pytest.fixture
def small_disk(tmp_path):
    """A 4 MB tmpfs, where this machine lets the tests mount one (root); else skipped (the
    simulated write failure above covers the same path)."""
    yield from _tmpfs(tmp_path / "disk", "size=4M")


def _tmpfs(folder, options):
    """A tmpfs mounted on ``folder`` for the test's length, or the test skipped."""
    folder.mkdir(exist_ok=True)
    if subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(folder)],
                      capture_output=True).returncode:
        pytest.skip("cannot mount a tmpfs here")
    yield folder
    subprocess.run(["umount", "-l", str(folder)], capture_output=True)


@pytest.mark.slow
def test_a_full_disk_at_the_first_checkpoint_leaves_a_record_and_the_same_command_runs_it(small_disk):
    filler = small_disk / "filler"
    with filler.open("wb") as f:  # all but ~400 KB: the run's files fit, a checkpoint does not
        f.write(b"\0" * (4 * 2**20 - 400 * 2**10))
    args = ["steps=12", "checkpoint_every=4", "logger=none", *FAST,
            f"hydra.run.dir={small_disk / 'run'}"]
    full = run_cli(*args, cwd=ROOT)
    assert full.returncode == 1, full.stderr[-2000:]
    assert full.stderr.strip().splitlines()[-1].startswith("error: ") and "No space left" in full.stderr
    rec = json.loads((small_disk / "run" / "run.json").read_text())
    assert rec["status"] == "failed"
    assert not list((small_disk / "run").rglob("*.tmp"))
    filler.unlink()
    again = run_cli(*args, cwd=ROOT)
    assert again.returncode == 0, again.stderr[-2000:]
    assert json.loads((small_disk / "run" / "run.json").read_text())["status"] == "ok"


@pytest.fixture
def read_only(tmp_path):
    """A folder no file can be written in: read-only permissions where they bind (not root),
    else a read-only tmpfs where one can be mounted; else skipped."""
    folder = tmp_path / "ro"
    folder.mkdir()
    if os.geteuid() != 0:
        folder.chmod(0o555)
        yield folder
        folder.chmod(0o755)
        return
    yield from _tmpfs(folder, "ro,size=1M")


@pytest.mark.slow
@pytest.mark.parametrize("where, args", [
    ("run and log", ["hydra.run.dir={ro}/run", "paths.log_dir={ro}/logs"]),
    ("sweep", ["-m", "seed=0,1", "hydra.sweep.dir={ro}/sweep"]),
])
def test_a_read_only_folder_is_one_line_before_any_work(where, args, read_only, tmp_path):
    args = [a.format(ro=read_only, tmp=tmp_path) for a in args]
    out = run_cli(*args, "steps=2", *FAST, cwd=ROOT, timeout=120)
    lines = out.stderr.strip().splitlines()
    assert out.returncode == 2 and lines, out.stderr[-2000:]
    assert all(line.startswith(f"error: {read_only}") and "cannot be written" in line
               for line in lines), lines
    # the run's and TensorBoard's; the sweep's alone (its report goes inside it)
    assert len(lines) == (2 if where == "run and log" else 1)
    assert not list(tmp_path.glob("*/run.json"))  # nothing was started


def _alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    status = open(f"/proc/{pid}/status").read() if os.path.exists(f"/proc/{pid}/status") else ""
    return "State:\tZ" not in status  # a zombie has exited


@pytest.mark.slow
def test_the_workers_of_a_killed_parallel_sweep_stop_and_record_their_runs(tmp_path):
    args = ["-m", "hydra/launcher=local", "seed=0,1", "steps=3000", "checkpoint_every=50",
            "logger=none", *FAST, f"hydra.sweep.dir={tmp_path}/sweep", "study=orphans"]
    env = {**os.environ, **PY, "PYTHONUNBUFFERED": "1"}
    sweep = subprocess.Popen([sys.executable, "-m", "harness.train", *args], cwd=tmp_path,
                             env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                             start_new_session=True,  # as `nohup ... &` starts it: SIGINT ignored
                             preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN))
    ckpts = tmp_path / "sweep"
    end = time.time() + 240
    while len(list(ckpts.glob("*/checkpoints/last.ckpt"))) < 2:
        assert sweep.poll() is None and time.time() < end, "the sweep never got going"
        time.sleep(0.2)
    runs = [p.parent.parent for p in ckpts.glob("*/checkpoints/last.ckpt")]
    workers = [int((d / ".lock").read_text().split()[0]) for d in runs]
    assert sweep.pid not in workers and all(_alive(w) for w in workers)
    os.kill(sweep.pid, 9)
    sweep.wait()
    end = time.time() + 40  # less than the 60 s a worker gives a run that never returns
    while any(_alive(w) for w in workers) and time.time() < end:
        time.sleep(0.5)
    assert not any(_alive(w) for w in workers), "workers outlived their sweep"
    for run_dir in runs:  # each said how it ended, and kept its checkpoint to resume from
        rec = json.loads((run_dir / "run.json").read_text())
        assert rec["status"] == "interrupted" and "resumes it" in rec["message"]
        assert (run_dir / "checkpoints" / "last.ckpt").is_file()


@pytest.mark.slow
def test_a_stopped_run_of_other_code_starts_over_unless_reuse_any_resumes_it(tmp_path, caplog):
    from harness.run.runs import run
    from helpers import make_cfg

    cfg = lambda *o: make_cfg(tmp_path, *TWELVE, *o)  # noqa: E731
    for d in ("r", "any"):
        assert run(cfg(*STOP7), tmp_path / d)["status"] == "failed"
        _other_code(tmp_path / d)
        running = tmp_path / d / "running.json"
        running.write_text(json.dumps({**json.loads(running.read_text()),
                                       "code_digest": "0123456789ab"}))
    again = run(cfg(), tmp_path / "r")
    assert again["status"] == "ok" and not again["resumed_from"]  # from step 0: other code
    assert "made the failed run" in caplog.text
    assert "reuse=any would have resumed it" in caplog.text
    resumed = run(cfg("reuse=any"), tmp_path / "any")
    assert resumed["status"] == "ok" and resumed["resumed_from"]
