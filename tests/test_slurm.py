"""The SLURM path for real: sweeps submitted with ``hydra/launcher=slurm`` to a live controller
(``tools/slurm_local.sh`` starts a one-node cluster; CI runs it first). Without one the tests
skip, saying why; with ``HARNESS_REQUIRE_SLURM=1`` (CI) they fail instead."""
import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir

import harness  # noqa: F401 - registers the resolvers the config reads
from helpers import CONF, FAST, ROOT, run_cli

REQUIRE_ENV = "HARNESS_REQUIRE_SLURM"
UP = ("idle", "mixed", "allocated", "completing")
# no ruler: no test here needs one (64 px would train one for a minute); one thread per job
TINY = [*FAST, "model.module.ruler_dir=null", "logger=none", "data.eval_size=64", "threads=1"]


def _why_no_cluster() -> str | None:
    missing = [c for c in ("sinfo", "sbatch", "squeue", "scancel") if not shutil.which(c)]
    if missing:
        return f"no SLURM client here ({', '.join(missing)} not on PATH)"
    try:
        r = subprocess.run(["sinfo", "-h", "-o", "%T"], capture_output=True, text=True, timeout=30)
    except subprocess.TimeoutExpired:
        return "the SLURM controller does not answer (sinfo timed out after 30 s)"
    if r.returncode != 0:
        return f"the SLURM controller does not answer (sinfo: {r.stderr.strip()[:200]})"
    states = [s.rstrip("*~#!%$@^-") for s in r.stdout.split()]
    if not any(s in UP for s in states):
        return f"no SLURM node is up (sinfo: {', '.join(states) or 'no nodes'})"
    return None


@pytest.fixture(scope="module")
def cluster():
    why = _why_no_cluster()
    if why:
        how = "tools/slurm_local.sh starts a one-node cluster"
        if os.environ.get(REQUIRE_ENV) == "1":
            pytest.fail(f"{why}; {REQUIRE_ENV}=1 requires one ({how})", pytrace=False)
        pytest.skip(f"{why}; {how}")


def _launcher(tmp_path: Path, name: str) -> list[str]:
    """The SLURM launcher sized for a small CPU node; gpus_per_node is left to its default,
    which asks for none on trainer=default (the CPU)."""
    return ["hydra/launcher=slurm", "hydra.launcher.cpus_per_task=1", "hydra.launcher.mem_gb=1",
            "hydra.launcher.timeout_min=10", f"hydra.launcher.name={name}",
            f"hydra.launcher.submitit_folder={tmp_path}/submitit/%j"]


def _records(sweep: Path) -> dict[str, dict]:
    return {str(p.parent.relative_to(sweep)): json.loads(p.read_text())
            for p in sweep.rglob("run.json")}


def _job_ids(name: str) -> list[str]:
    r = subprocess.run(["squeue", "-h", "-n", name, "-o", "%i"], capture_output=True, text=True,
                       timeout=30)
    return r.stdout.split()


def _cancel_all(name: str) -> None:
    """A failed test leaves no job of its own behind."""
    subprocess.run(["scancel", "-n", name], capture_output=True, timeout=30)


@pytest.mark.parametrize("overrides, gpus", [([], None), (["trainer=gpu"], 1),
                                              (["trainer=gpu", "trainer.devices=2"], 2),
                                              (["hydra.launcher.gpus_per_node=3"], 3)])
def test_a_slurm_job_asks_for_the_gpus_its_trainer_uses(overrides, gpus):
    """A CPU cluster takes the default launcher (trainer=default is the CPU); an override
    still means what it says."""
    with initialize_config_dir(config_dir=CONF, version_base="1.3"):
        cfg = compose("train", overrides=["hydra/launcher=slurm", *overrides],
                      return_hydra_config=True)
    assert cfg.hydra.launcher.gpus_per_node == gpus


@pytest.mark.slow  # real jobs through sbatch, tens of seconds each
def test_a_slurm_sweep_records_every_run_names_the_failure_and_reuses_finished_runs(
        cluster, tmp_path):
    sweep, name = tmp_path / "sweep", f"harness-test-sweep-{os.getpid()}"
    # 48 px is a valid setting the DCGAN cannot build: that job fails when it runs (test_sweep.py);
    # two jobs: one wave on the 2-CPU node
    args = ["-m", "data.image_size=32,48", *TINY, "steps=3", f"hydra.sweep.dir={sweep}",
            f"paths.results_dir={tmp_path}/results", *_launcher(tmp_path, name)]
    try:
        r = run_cli(*args, cwd=ROOT, timeout=300)
        out = r.stdout + r.stderr
        assert r.returncode == 1, out[-3000:]
        recs = _records(sweep)
        assert sorted(x["status"] for x in recs.values()) == ["failed", "ok"], out[-3000:]
        failed = next(x for x in recs.values() if x["status"] == "failed")
        assert failed["message"] == "ValueError: dcgan supports image_size 32 or 64, got 48"
        assert "sweep finished: 2 runs: 1 ok, 1 failed" in out
        assert "failed: model=gan scaling=symmetric head=tanh seed=0 [data.image_size=48" in out
        report = re.search(r"report written to (\S+)", out)
        assert report and (Path(report.group(1)) / "summary.md").is_file(), out[-3000:]
        # they ran as SLURM jobs: one submission script each, 1 CPU, 1 GB, no GPU asked for
        scripts = sorted((tmp_path / "submitit").rglob("*_submission.sh"))
        assert scripts, "no submitit submission script"
        text = scripts[0].read_text()
        assert "--cpus-per-task=1" in text and "--mem=1GB" in text and not re.search(r"--(gpus|gres)", text)
        assert len(list((tmp_path / "submitit").rglob("*_log.out"))) == 2
        assert "Bypassing sacct error" not in out  # harness.run.slurm drops it where sacct cannot work

        again = run_cli(*args, cwd=ROOT, timeout=300)
        out2 = again.stdout + again.stderr
        assert again.returncode == 1, out2[-3000:]  # the 48 px run fails again
        # under SLURM each run's line is in its job's output, not the sweep's
        logs = [p.read_text() for p in (tmp_path / "submitit").rglob("*_log.out")]
        assert len(logs) == 4 and sum(t.count("(already done)") for t in logs) == 1
        second = _records(sweep)
        for k, v in recs.items():
            if v["status"] == "ok":  # reused: the same record, not a new run
                assert second[k]["started"] == v["started"]
                assert second[k]["metrics"] == v["metrics"]
        assert "sweep finished: 2 runs: 1 ok, 1 failed" in out2
    finally:
        _cancel_all(name)


@pytest.mark.slow
def test_scancel_mid_training_leaves_a_resumable_run_and_the_same_command_finishes_it(
        cluster, tmp_path):
    sweep, name = tmp_path / "sweep", f"harness-test-scancel-{os.getpid()}"
    args = ["-m", *TINY, "steps=600", "checkpoint_every=20", f"hydra.sweep.dir={sweep}",
            f"paths.results_dir={tmp_path}/results", *_launcher(tmp_path, name)]
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "HYDRA_FULL_ERROR": "0"}
    log = tmp_path / "first.log"
    with open(log, "w") as f:
        proc = subprocess.Popen([sys.executable, "-m", "harness.train", *args], cwd=ROOT, env=env,
                                stdout=f, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.time() + 180
        while (not list(sweep.rglob("checkpoints/last.ckpt")) and proc.poll() is None
               and time.time() < deadline):
            time.sleep(0.2)
        (ckpt,) = sweep.rglob("checkpoints/last.ckpt")  # saved at step 20 of 600: mid-training
        (job,) = _job_ids(name)
        subprocess.run(["scancel", job], check=True, timeout=30)
        # Lightning turns SLURM's SIGTERM into SystemExit at the next batch, the run records
        # `interrupted` and the job returns that record: the sweep ends, it does not wait
        assert proc.wait(timeout=120) == 1  # an interrupted run is unfinished work
        out = log.read_text()
        run_dir = ckpt.parent.parent
        rec = json.loads((run_dir / "run.json").read_text())
        assert rec["status"] == "interrupted", out[-3000:]
        assert rec["message"] == f"interrupted; the same command resumes it from {ckpt}"
        assert ckpt.is_file() and (run_dir / "running.json").is_file()
        assert "sweep finished: 1 run: 1 interrupted" in out
        deadline = time.time() + 60
        while _job_ids(name) and time.time() < deadline:  # SLURM lets go of the job
            time.sleep(0.5)
        assert not _job_ids(name)

        r = run_cli(*args, cwd=ROOT, timeout=300)
        assert r.returncode == 0, (r.stdout + r.stderr)[-3000:]
        rec = json.loads((run_dir / "run.json").read_text())
        assert rec["status"] == "ok" and rec["resumed_from"] == str(ckpt)
        assert len(rec["wall_time_parts_s"]) == 2  # the time before the cancel counts too
        assert not ckpt.exists() and not (run_dir / "running.json").exists()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        _cancel_all(name)


def test_a_slurm_job_uses_the_cpus_it_was_given_not_the_nodes(monkeypatch):
    from omegaconf import OmegaConf

    from harness.run.fit import job_threads

    monkeypatch.setenv("SLURM_CPUS_PER_TASK", "3")
    assert job_threads(OmegaConf.create({"threads": 0})) == 3
    assert job_threads(OmegaConf.create({"threads": 1})) == 1  # asked for: that
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    assert job_threads(OmegaConf.create({"threads": 0})) == 3  # the job's CPUs come first
    monkeypatch.delenv("SLURM_CPUS_PER_TASK")
    assert job_threads(OmegaConf.create({"threads": 0})) == 1  # then the user's cap
    monkeypatch.delenv("OMP_NUM_THREADS")
    assert job_threads(OmegaConf.create({"threads": 0})) == (os.cpu_count() or 1)
