"""Sweeps that finish every job, report every failure, reuse finished runs and resume."""
import json
import os
import signal
import subprocess
import sys
import time

import pytest
from omegaconf import OmegaConf

from harness.run.fit import available_cores
from helpers import FAST, ROOT, run_cli

pytestmark = pytest.mark.slow  # real command lines and sweeps, seconds each

TINY = [*FAST, "steps=3", "logger=none", "data.eval_size=64"]


def _records(sweep):
    return {str(p.parent.relative_to(sweep)): json.loads(p.read_text()) for p in sweep.rglob("run.json")}


def test_a_failing_job_does_not_stop_the_others_and_is_reported(tmp_path):
    sweep = tmp_path / "sweep"
    # 48 px is a valid setting the DCGAN cannot build: that job fails when it runs, the jobs
    # before and after it still run (values outside what any run accepts stop the sweep first)
    r = run_cli("-m", "data.image_size=32,48,64", *TINY, "model.module.ruler_dir=null",
                f"hydra.sweep.dir={sweep}", f"paths.results_dir={tmp_path}/results",
                cwd=ROOT)  # no ruler: no test needs one at 64 px, it would train for a minute
    assert r.returncode == 1
    recs = _records(sweep)
    assert sorted(x["status"] for x in recs.values()) == ["failed", "ok", "ok"]
    failed = next(x for x in recs.values() if x["status"] == "failed")
    assert failed["message"] == "ValueError: dcgan supports image_size 32 or 64, got 48"
    out = r.stdout + r.stderr
    assert "sweep finished: 3 runs: 2 ok, 1 failed" in out
    assert "failed: model=gan scaling=symmetric head=tanh seed=0 [data.image_size=48" in out
    assert "[1/3]" in out and "[3/3]" in out
    assert (sweep / "report" / "summary.md").exists()  # the report still ran, beside the runs


def test_rerun_reuses_finished_runs_and_retries_the_rest(tmp_path):
    sweep = tmp_path / "sweep"
    args = ["-m", "scaling=raw,unit", *TINY, f"hydra.sweep.dir={sweep}",
            f"paths.results_dir={tmp_path}/results"]
    assert run_cli(*args, cwd=ROOT).returncode == 0
    first = {k: (v["started"], v["metrics"]["swd"]) for k, v in _records(sweep).items()}
    victim = next(p.parent for p in sweep.rglob("run.json")
                  if json.loads(p.read_text())["scaling"] == "unit")
    rec = json.loads((victim / "run.json").read_text())
    rec["status"] = "failed"  # as if it had failed last time
    (victim / "run.json").write_text(json.dumps(rec))
    r = run_cli(*args, cwd=ROOT)
    assert r.returncode == 0 and "(already done)" in r.stdout + r.stderr
    second = _records(sweep)
    raw = next(k for k, v in second.items() if v["scaling"] == "raw")
    assert (second[raw]["started"], second[raw]["metrics"]["swd"]) == first[raw]  # untouched
    assert second[str(victim.relative_to(sweep))]["status"] == "ok"  # re-run


def test_changed_config_sets_the_old_finished_run_aside(tmp_path):
    """Before anything of the new run is opened: the old record, log and .hydra/ move together,
    and the new run's log lines go to the new log only."""
    run_dir = tmp_path / "run"
    base = [*TINY, f"hydra.run.dir={run_dir}"]
    assert run_cli(*base, cwd=ROOT).returncode == 0
    assert run_cli(*base, "steps=4", cwd=ROOT).returncode == 0
    (kept,) = run_dir.glob("superseded-*")
    assert json.loads((kept / "record.json").read_text())["config"]["steps"] == 3
    assert json.loads((run_dir / "run.json").read_text())["config"]["steps"] == 4
    assert OmegaConf.load(kept / ".hydra" / "config.yaml").steps == 3
    assert OmegaConf.load(run_dir / ".hydra" / "config.yaml").steps == 4
    old_log, new_log = (kept / "train.log").read_text(), (run_dir / "train.log").read_text()
    assert "seed=0 ok" in old_log and old_log.count(" ok ") == 1  # the first run's line only
    assert "seed=0 ok" in new_log and "kept it in" not in old_log


def test_a_sweep_sets_aside_before_it_launches_the_job(tmp_path):
    sweep = tmp_path / "sweep"
    args = ["-m", "seed=0", *TINY, f"hydra.sweep.dir={sweep}", f"paths.results_dir={tmp_path}/r",
            "hydra.sweep.subdir=one"]  # another config in the same folder
    assert run_cli(*args, cwd=ROOT).returncode == 0
    assert run_cli(*args, "eval_every=2", cwd=ROOT).returncode == 0
    (run_dir,) = {p.parent for p in sweep.glob("*/run.json")}
    (kept,) = run_dir.glob("superseded-*")
    assert OmegaConf.load(kept / ".hydra" / "config.yaml").eval_every == 0
    assert OmegaConf.load(run_dir / ".hydra" / "config.yaml").eval_every == 2
    assert (kept / "train.log").read_text().count("seed=0 ok") == 1
    assert (run_dir / "train.log").read_text().count("seed=0 ok") == 1


def test_a_key_that_changes_the_result_names_its_own_folder(tmp_path):
    """eval_every changes the curves, so the config key: the run directory name says it too,
    and the finished run of the other value stays where it is (one definition of a result)."""
    sweep = tmp_path / "sweep"
    args = ["-m", "seed=0", *TINY, f"hydra.sweep.dir={sweep}", f"paths.results_dir={tmp_path}/r"]
    assert run_cli(*args, cwd=ROOT).returncode == 0
    assert run_cli(*args, "eval_every=2", cwd=ROOT).returncode == 0
    dirs = sorted(p.parent.name for p in sweep.glob("*/run.json"))
    assert len(dirs) == 2 and any("eval_every=2" in d for d in dirs)
    assert not list(sweep.glob("*/superseded-*"))


def test_killed_run_resumes_from_its_last_checkpoint(tmp_path):
    run_dir = tmp_path / "run"
    args = [*FAST, "steps=60", "checkpoint_every=10", "logger=none", "data.eval_size=64",
            f"hydra.run.dir={run_dir}"]
    proc = subprocess.Popen([sys.executable, "-m", "harness.train", *args], cwd=ROOT,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    ckpt = run_dir / "checkpoints" / "last.ckpt"
    deadline = time.time() + 300
    while not ckpt.exists() and proc.poll() is None and time.time() < deadline:
        time.sleep(0.2)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    assert ckpt.exists() and not (run_dir / "run.json").exists()
    r = run_cli(*args, cwd=ROOT)
    assert r.returncode == 0, r.stderr[-2000:]
    rec = json.loads((run_dir / "run.json").read_text())
    assert rec["status"] == "ok" and rec["resumed_from"].endswith("last.ckpt")
    assert rec["metrics"]["swd_init"] > rec["metrics"]["swd"]  # baseline kept from before the kill
    assert not ckpt.exists() and not (run_dir / "running.json").exists()


def test_joblib_sweep_splits_the_cores(tmp_path):
    sweep = tmp_path / "sweep"
    r = run_cli("-m", "hydra/launcher=local", "hydra.launcher.n_jobs=2", "seed=0,1", *TINY,
                f"hydra.sweep.dir={sweep}", f"paths.results_dir={tmp_path}/results", cwd=ROOT)
    assert r.returncode == 0, r.stderr[-2000:]
    recs = list(_records(sweep).values())
    assert [x["status"] for x in recs] == ["ok", "ok"]
    assert all(x["threads"] == max(1, available_cores() // 2) for x in recs)


def test_submitit_local_sweep_completes(tmp_path):
    sweep = tmp_path / "sweep"
    r = run_cli("-m", "hydra/launcher=submitit_local", "hydra.launcher.timeout_min=10",
                "scaling=raw,symmetric", *TINY, f"hydra.sweep.dir={sweep}",
                f"paths.results_dir={tmp_path}/results", cwd=ROOT)
    assert r.returncode == 0, r.stderr[-2000:]
    recs = list(_records(sweep).values())
    assert sorted(x["scaling"] for x in recs) == ["raw", "symmetric"]
    assert all(x["status"] == "ok" for x in recs)
    assert "sweep finished: 2 runs: 2 ok" in r.stdout + r.stderr


@pytest.mark.slow
def test_command_line_steps_replace_the_records_steps_and_multirun_yaml_is_saved(tmp_path):
    sweep = tmp_path / "sweep"
    records = "[{scaling:raw,head:identity,steps:300},{scaling:symmetric,head:tanh,steps:300}]"
    r = run_cli("-m", "experiment=default", "hydra/launcher=basic",  # no workers to start
                "hydra.sweeper.params.seed=0",  # one seed of the study's three
                f"hydra.sweeper.records={records}", *TINY, f"hydra.sweep.dir={sweep}",
                f"paths.results_dir={tmp_path}/results", cwd=ROOT)
    assert r.returncode == 0, r.stderr[-2000:]
    recs = list(_records(sweep).values())
    pairs = sorted((x["scaling"], x["head"]) for x in recs)
    assert pairs == [("raw", "identity"), ("symmetric", "tanh")]
    assert all(x["config"]["steps"] == 3 for x in recs)  # TINY's steps=3, not the records' 300
    note = "steps=3 (command line) replaces the study's per-record steps (300)"
    assert note in r.stdout + r.stderr
    saved = OmegaConf.load(sweep / "multirun.yaml").hydra.sweeper
    assert saved.params == {"seed": 0}
    assert OmegaConf.to_container(saved.records) == [
        {"scaling": "raw", "head": "identity", "steps": 300},
        {"scaling": "symmetric", "head": "tanh", "steps": 300}]


@pytest.mark.slow
def test_a_new_target_reuses_the_runs_and_the_report_uses_it(tmp_path):
    """How a study is reported changes no number: a new target (or reference) keeps the run
    directories and their runs, and the report reads this command's value."""
    sweep = tmp_path / "sweep"
    args = ["-m", "seed=0", *TINY, "eval_every=1", f"hydra.sweep.dir={sweep}",
            f"paths.results_dir={tmp_path}/r"]
    assert run_cli(*args, "+target.gan=2000", cwd=ROOT).returncode == 0
    again = run_cli(*args, "+target.gan=10", cwd=ROOT)
    assert again.returncode == 0 and "(already done)" in again.stderr + again.stdout
    assert len(list(sweep.rglob("run.json"))) == 1  # same directory: no new run
    summary = (sweep / "report" / "summary.md").read_text()
    assert "steps to swd ≤ 10 |" in summary and "2000" not in summary
