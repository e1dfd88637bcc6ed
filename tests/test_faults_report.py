"""Nothing lost, nothing stale, nothing counted twice in a report: copies of a run count once and
are named; a sweep killed part-way says which runs were killed and which never started; a cell
that pools runs of different code says so; a family whose runs all failed says why; two sweeps
sharing a folder each count their own jobs."""

import csv
import json
import shutil
import socket
import subprocess
import sys

import pytest

from harness.core.record import config_key
from harness.core.repo import ROOT
from harness.report import cli as report
from harness.report import tables
from harness.report.stats import cell_rows
from harness.run import console

COMMAND = "python -m harness.train -m study=toy seed=0,1"


def _config(scaling: str, head: str, seed: int) -> dict:
    """A resolved config as a run records it, in the parts the report reads."""
    return {"study": "toy", "question": "q?", "seed": seed, "steps": 5,
            "model": {"name": "gan", "module": {"_target_": "harness.models.gan.GANModule"}},
            "scaling": {"name": scaling}, "head": {"name": head}}


def _finished(run_dir, scaling="raw", head="tanh", seed=0, swd=1.0, status="ok", message="",
              started="2024-01-01T00:00:00", declares=True, **extra) -> None:
    config = _config(scaling, head, seed)
    record = {"status": status, "message": message, "study": "toy", "family": "gan",
              "model": "gan", "scaling": scaling, "head": head, "seed": seed, "steps": 5,
              "range_mismatch": head == "tanh" and scaling == "raw",
              "metrics": {"swd": swd} if status == "ok" else {}, "wall_time_s": 1.0,
              "started": started, "commit": "c0ffee1", "command": COMMAND,
              "config_key": config_key(config), "config": config, **extra}
    if declares:
        record.update(primary_metric="swd", primary_direction="min")
    run_dir.mkdir(parents=True)
    (run_dir / "run.json").write_text(json.dumps(record))


def _unfinished(run_dir, pid: int, scaling="raw", head="tanh", seed=0) -> None:
    """A run folder as a run leaves it while it trains: its config, its lock, no record."""
    run_dir.mkdir(parents=True)
    (run_dir / "running.json").write_text(json.dumps({"config": _config(scaling, head, seed)}))
    (run_dir / ".lock").write_text(f"{pid} {socket.gethostname()}\n")


def _dead_pid() -> int:
    p = subprocess.Popen([sys.executable, "-c", "pass"])
    p.wait()
    return p.pid


@pytest.fixture
def live_pid():
    p = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    yield p.pid
    p.kill()
    p.wait()


def _report(sweep, out, capsys) -> str:
    assert report.main([str(sweep), "--out", str(out)]) == 0
    return capsys.readouterr().out


def _row(text: str, pairing: str) -> str:
    return next(line for line in text.splitlines() if line.startswith(f"| {pairing} |")
                or f"| {pairing} |" in line)


# ----------------------------------------------------------------------- case 5: copies


def test_copies_of_a_run_count_once_the_newest_kept_and_are_named(tmp_path, capsys):
    """A sweep folder copied under another name, and into itself: each seed counts once (not
    three times: "2 ok", the quartiles of two seeds), the newest record of a run is the one
    kept, and the copies left out are named in one line, printed and in the README."""
    root = tmp_path / "all"
    for seed, swd in enumerate([1.0, 3.0]):
        _finished(root / "a" / f"raw-tanh-{seed}", seed=seed, swd=swd)
    shutil.copytree(root / "a", root / "b")
    shutil.copytree(root / "a", root / "a" / "copy")
    # seed 1 run again later into b (same config): its newer record is the one that counts
    _finished(root / "b2" / "raw-tanh-1", seed=1, swd=5.0, started="2024-06-01T00:00:00")
    printed = _report(root, tmp_path / "out", capsys)

    table = (tmp_path / "out" / "summary.md").read_text()
    # swd 1 and 5, not 1, 1, 1, 3, 3, 3
    assert "| 1 | raw + tanh | 3 [2, 4] | 2 ok | mismatch |" in table
    assert table.startswith("2 runs: 2 ok.\n")
    line = next(x for x in printed.splitlines() if x.startswith("note: "))
    assert line.startswith("note: 5 duplicate runs left out (the same config key and seed as "
                           "a run counted, the newest kept): ")
    assert "b/raw-tanh-0 (copy of a/raw-tanh-0)" in line
    assert "a/copy/raw-tanh-1 (copy of b2/raw-tanh-1)" in line
    assert f"- {line[len('note: '):]}\n" in (tmp_path / "out" / "README.md").read_text()
    with (tmp_path / "out" / "runs.csv").open() as f:
        runs = list(csv.DictReader(f))
    assert sorted((r["run_dir"], r["swd"]) for r in runs) == [("a/raw-tanh-0", "1.0"),
                                                              ("b2/raw-tanh-1", "5.0")]


# ----------------------------------------------------------------------- case 11: killed sweep


def test_a_killed_sweep_counts_its_running_killed_and_not_started_runs(tmp_path, capsys,
                                                                       live_pid):
    """The sweep asked for six runs (its sweep.json); two ended ok, one was killed mid-training
    (running.json, the lock's process gone), one still trains (a live process holds it), two
    never started: the report says all six, in the summary and the README, and lists the
    runs not started."""
    sweep = tmp_path / "multirun" / "toy"
    names = [f"raw-{head}-{seed}" for seed in (0, 1, 2) for head in ("tanh", "identity")]
    _finished(sweep / names[0], head="tanh", seed=0, swd=2.0)
    _finished(sweep / names[1], head="identity", seed=0, swd=1.0)
    _unfinished(sweep / names[2], _dead_pid(), head="tanh", seed=1)
    _unfinished(sweep / names[3], live_pid, head="identity", seed=1)
    # another config's run, set aside with its running.json: not a run of this sweep
    _unfinished(sweep / names[0] / "superseded-2023-01-01T00-00-00", _dead_pid())
    (sweep / "sweep.json").write_text(json.dumps({"runs": names, "command": COMMAND}))
    printed = _report(sweep, tmp_path / "out", capsys)

    counts = ("6 runs: 2 ok, 1 running (a live process holds it), 1 killed (mid-training, "
              "with no record and no live process; the same command resumes it), 2 not "
              "started.")
    summary = (tmp_path / "out" / "summary.md").read_text()
    assert summary.startswith(counts + "\n")
    assert counts in printed and counts in (tmp_path / "out" / "README.md").read_text()
    assert _row(summary, "raw + tanh").endswith("| 1 ok, 1 killed | mismatch |")
    assert _row(summary, "raw + identity").endswith("| 1 ok, 1 running | covers the data |")
    assert "note: 2 runs of the sweep not started: raw-tanh-2; raw-identity-2" in printed
    with (tmp_path / "out" / "runs.csv").open() as f:
        statuses = {r["run_dir"]: r["status"] for r in csv.DictReader(f)}
    assert statuses == {names[0]: "ok", names[1]: "ok", names[2]: "killed",
                        names[3]: "running"}


def test_a_killed_ad_hoc_sweep_is_reported_on_its_own_runs_not_the_sweep_before(tmp_path,
                                                                                 capsys):
    """``only`` in sweep.json is written when a sweep's report is; a sweep killed before it
    leaves the previous sweep's there: the report covers the runs the last sweep asked for."""
    sweep = tmp_path / "multirun" / "adhoc"
    _finished(sweep / "old", head="identity", seed=0, swd=9.0)  # an earlier ad-hoc sweep's
    _finished(sweep / "new-0", seed=0, swd=1.0)
    _unfinished(sweep / "new-1", _dead_pid(), seed=1)
    (sweep / "sweep.json").write_text(json.dumps({"only": ["old"], "runs": ["new-0", "new-1"]}))
    _report(sweep, tmp_path / "out", capsys)
    summary = (tmp_path / "out" / "summary.md").read_text()
    assert summary.startswith("2 runs: 1 ok, 1 killed (")
    assert "identity" not in summary


# ----------------------------------------------------------------------- case 2b: code


def test_a_cell_that_pools_runs_of_different_code_says_so(tmp_path, capsys):
    """raw + tanh has a seed of code aaaaaaaaaaaa and one whose record predates code digests:
    its row, summary.csv and the README say the cell mixes them; raw + identity, of one code,
    says nothing."""
    sweep = tmp_path / "toy"
    _finished(sweep / "t0", seed=0, code_digest="aaaaaaaaaaaa")
    _finished(sweep / "t1", seed=1)
    _finished(sweep / "i0", head="identity", seed=0, code_digest="aaaaaaaaaaaa")
    _finished(sweep / "i1", head="identity", seed=1, code_digest="aaaaaaaaaaaa")
    _report(sweep, tmp_path / "out", capsys)

    summary = (tmp_path / "out" / "summary.md").read_text()
    assert "| runs | head's range | note |" in summary
    mix = "c0ffee1/aaaaaaaaaaaa (1 run), c0ffee1/unknown (1 run)"
    assert _row(summary, "raw + tanh").endswith(f"| mismatch | mixes code: {mix} |")
    assert _row(summary, "raw + identity").endswith("| covers the data |  |")
    readme = (tmp_path / "out" / "README.md").read_text()
    assert f"- Pools runs of different code (commit/code digest): gan raw + tanh: {mix}\n" \
        in readme
    assert "gan raw + identity:" not in readme
    with (tmp_path / "out" / "summary.csv").open() as f:
        assert {r["head"]: r["code_mix"] for r in csv.DictReader(f)} == {"identity": "",
                                                                         "tanh": mix}


def test_one_code_adds_no_note_column(tmp_path, capsys):
    sweep = tmp_path / "toy"
    _finished(sweep / "t0", seed=0, code_digest="aaaaaaaaaaaa")
    _finished(sweep / "t1", seed=1, code_digest="aaaaaaaaaaaa")
    _report(sweep, tmp_path / "out", capsys)
    assert "| runs | head's range |\n" in (tmp_path / "out" / "summary.md").read_text()


# ----------------------------------------------------------------------- case g: all failed


def test_a_family_whose_runs_all_failed_says_so_with_the_first_error(tmp_path, capsys):
    """Its sentence says no run ended ok and why, not "No pairing has a finite None."; its
    table names the metric the family declares."""
    sweep = tmp_path / "toy"
    _finished(sweep / "t0", seed=0, status="failed",
              message="RuntimeError: shapes cannot be multiplied (32x8 and 9x1)\nmore lines")
    _finished(sweep / "t1", seed=1, status="failed", message="RuntimeError: other")
    _finished(sweep / "i0", head="identity", seed=0, status="diverged", message="loss is nan")
    printed = _report(sweep, tmp_path / "out", capsys)
    sentence = ("No run of gan ended ok: 1 diverged, 2 failed (first error: loss is nan).")
    assert sentence in printed and "None" not in printed
    assert "| rank | pairing | swd, median [IQR] (lower is better) |" in printed


def test_records_that_declare_no_metric_still_say_why(tmp_path):
    """A job that raised past the run (the sweeper's record) declares no metric at all."""
    sweep = tmp_path / "toy"
    _finished(sweep / "t0", status="failed", message="TypeError: boom", declares=False)
    rows = cell_rows(report.records_of(sweep).records)
    assert tables.sentence(rows) == \
        "No run of gan ended ok: 1 failed (first error: TypeError: boom)."
    assert "| rank | pairing | metric, median [IQR] (lower is better) |" in \
        tables.family_table(rows)


# ----------------------------------------------------------------------- case h: progress


def test_two_sweeps_sharing_a_folder_each_count_their_own_jobs(tmp_path, monkeypatch, live_pid):
    """Sweep A (this process) and sweep B (another live one) of two jobs each write into one
    folder: each says 1/2 then 2/2, never 3/2; a job run again counts once."""
    monkeypatch.setattr(console.os, "environ", {})  # the sweeps' variables, this test's own
    console.start_sweep(tmp_path, 1, [{}, {}])
    env_a = dict(console.os.environ)
    monkeypatch.setattr(console.os, "getpid", lambda: live_pid)
    console.start_sweep(tmp_path, 1, [{}, {}])  # B starts after A: A's progress file stays
    env_b = dict(console.os.environ)

    def done(env, **job):
        console.os.environ.clear()
        console.os.environ.update(env)
        return console.progress(tmp_path, 2, {"wall_s": 1.0}, **job).split(" done")[0]

    assert [done(env_a), done(env_b), done(env_a), done(env_b)] == ["1/2"] * 2 + ["2/2"] * 2
    assert [done(env_a, job=5), done(env_a, job=5)] == ["2/2", "2/2"]  # never above the total


def test_a_finished_sweep_is_read_again_with_its_committed_study_file(tmp_path, capsys):
    """``--experiment``: the reporting keys (here the contrasts) come from the study file as
    committed now, not from the sweep's command; another study's file is one line, nothing
    written."""
    sweep = tmp_path / "multirun" / "raw_pixel_gan_long"
    for seed in (0, 1):
        _finished(sweep / f"s{seed}", scaling="symmetric", head="tanh", seed=seed,
                  study="raw_pixel_gan_long")
    _report(sweep, tmp_path / "plain", capsys)
    assert "contrasts.gan" not in (tmp_path / "plain" / "README.md").read_text()
    out = tmp_path / "again"
    assert report.main([str(sweep), "--out", str(out), "--experiment", "raw_pixel_gan_long"]) == 0
    readme = (out / "README.md").read_text()
    assert ("Not compared: contrasts.gan[4]: no cell of gan is scaling=raw, head=identity, "
            "model.module.last_lr_scale=127.5; no cell of gan is scaling=raw, head=affine_fit."
            ) in readme
    capsys.readouterr()
    assert report.main([str(sweep), "--out", str(tmp_path / "x"), "--experiment",
                        "raw_pixel_gan_colour"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["error: --experiment=raw_pixel_gan_colour is not accepted: these runs are "
                   "study 'raw_pixel_gan_long'; give one of experiments/: " + ", ".join(
                       sorted(p.stem for p in (ROOT / "experiments").glob("*.yaml")))]
    assert not (tmp_path / "x").exists()
    assert report.main([str(sweep), "--out", str(tmp_path / "x"), "--experiment", "nope"]) == 2
    assert capsys.readouterr().err.startswith(
        "error: --experiment=nope is not accepted: no experiments/nope.yaml; give one of "
        "experiments/: default, ")
    assert not (tmp_path / "x").exists()
