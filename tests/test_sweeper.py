"""The sweeper's job expansion (grid x records, the command line winning) and the Hydra
behaviour it relies on; no training here (the real sweeps are in test_sweep.py)."""
import pytest
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.utils import JobReturn, JobStatus
from omegaconf import OmegaConf

import harness  # noqa: F401 (registers the config resolvers the composed configs use)
from helpers import CONF, ROOT
from hydra_plugins.harness_sweeper import harness_sweeper as sweeper
from hydra_plugins.harness_sweeper.harness_sweeper import (check_records, grid,
                                                           job_overrides, run_record)

# the records of a study of three families (the default study's, as it once was): fixed here so
# that a change of the study changes no expectation of these tests
DEFAULT = check_records(OmegaConf.create([
    {"model": m, "scaling": s, "head": h, "steps": n} for m, s, h, n in [
        ("gan", "raw", "identity", 300), ("gan", "raw", "tanh_fit", 300),
        ("gan", "symmetric", "tanh", 300), ("gan", "symmetric", "identity", 300),
        ("gan", "unit", "sigmoid", 300), ("style", "raw", "identity", 150),
        ("style", "raw", "tanh_fit", 150), ("style", "symmetric", "tanh", 150),
        ("seg", "raw", "identity", 300), ("seg", "symmetric", "identity", 300),
        ("seg", "imagenet", "identity", 300), ("seg", "imagenet", "sigmoid", 300)]]))


def parse(*args, config_loader=None):
    return OverridesParser.create(config_loader=config_loader).parse_overrides(list(args))


def rows(jobs):
    return [" ".join(j) for j in jobs]


def test_jobs_are_the_grid_times_the_records_in_order():
    records = [{"scaling": "raw", "head": "identity"}, {"scaling": "unit", "head": "sigmoid"}]
    jobs, note = job_overrides(grid(parse("seed=0,1")), records, {"seed": "seed=0,1"})
    assert rows(jobs) == ["seed=0 scaling=raw head=identity", "seed=0 scaling=unit head=sigmoid",
                          "seed=1 scaling=raw head=identity", "seed=1 scaling=unit head=sigmoid"]
    assert note == ""


def test_without_records_the_jobs_are_the_grid():
    assert rows(job_overrides(grid(parse("a=1,2", "b=x")), [], {})[0]) == ["a=1 b=x", "a=2 b=x"]


def test_the_command_line_wins_over_params_and_keeps_their_position():
    assert rows(grid(parse("seed=0,1,2", "steps=9", "steps=3", "seed=5"))) == ["seed=5 steps=3"]


def test_a_command_line_value_replaces_the_records_value_with_one_note():
    jobs, note = job_overrides([["steps=50"]], DEFAULT, {"steps": "steps=50"})
    assert note == "steps=50 (command line) replaces the study's per-record steps (300, 150)"
    assert len(jobs) == 12 and all(j.count("steps=50") == 1 and len(j) == 4 for j in jobs)


def test_a_command_line_sweep_replaces_the_records_value_too():
    jobs, note = job_overrides([["steps=3"], ["steps=4"]], DEFAULT, {"steps": "steps=3,4"})
    assert note.startswith("steps=3,4 (command line) replaces") and len(jobs) == 24
    assert not any("steps=300" in j or "steps=150" in j for j in jobs)


def test_a_config_group_on_the_command_line_merges_the_records_it_makes_identical():
    jobs, note = job_overrides([["model=gan"]], DEFAULT, {"model": "model=gan"})
    assert note == ("model=gan (command line) replaces the study's per-record model "
                    "(gan, style, seg); 12 runs -> 10 distinct")
    assert rows(jobs) == [f"model=gan scaling={s} head={h} steps={n}" for s, h, n in [
        ("raw", "identity", 300), ("raw", "tanh_fit", 300), ("symmetric", "tanh", 300),
        ("symmetric", "identity", 300), ("unit", "sigmoid", 300), ("raw", "identity", 150),
        ("raw", "tanh_fit", 150), ("symmetric", "tanh", 150), ("imagenet", "identity", 300),
        ("imagenet", "sigmoid", 300)]]


def test_keys_not_in_the_records_leave_them_alone():
    command_line = {"experiment": "experiment=default", "hydra.sweep.dir": "hydra.sweep.dir=x"}
    jobs, note = job_overrides([["experiment=default"]], DEFAULT, command_line)
    assert note == "" and len(jobs) == 12


@pytest.mark.parametrize("records, message", [
    ([{"scaling": "raw", "head": "tanh"}, {"scaling": "raw"}],
     "hydra.sweeper.records[1] sets scaling but records[0] sets scaling, head: "
     "every record must set the same keys"),
    ([{"scaling": "raw", "head": {"name": "tanh"}}],
     "hydra.sweeper.records[0].head must be a single value or a non-empty list of them (one "
     "run each), got {'name': 'tanh'}"),
    ([{"scaling": "raw", "seed": []}],
     "hydra.sweeper.records[0].seed must be a single value or a non-empty list of them (one "
     "run each), got []"),
    (["scaling=raw"], "hydra.sweeper.records[0] must be a dict of key: value, got 'scaling=raw'"),
])
def test_bad_records_are_one_clear_line(records, message):
    # an attribute read: Hydra's plugin scan re-executes the module, making a new class
    with pytest.raises(sweeper.SweepError) as err:
        check_records(OmegaConf.create(records))
    assert str(err.value) == message


def test_a_list_in_a_record_is_one_run_per_value_and_the_command_line_still_wins():
    records = [{"head": "tanh", "seed": [0, 1, 2, 3, 4]}, {"head": "identity", "seed": [0, 1]}]
    jobs, note = job_overrides([["x=1"]], records, {})
    assert note == "" and jobs == [["x=1", "head=tanh", f"seed={s}"] for s in range(5)] + [
        ["x=1", "head=identity", f"seed={s}"] for s in range(2)]
    assert job_overrides([[]], [{"model.module.betas": "[0.5, 0.9]"}], {})[0] == [
        ["model.module.betas=[0.5, 0.9]"]]  # a list value, as a string: one run
    jobs, note = job_overrides([["seed=9"]], records, {"seed": "seed=9"})
    assert jobs == [["seed=9", "head=tanh"], ["seed=9", "head=identity"]]
    assert note == ("seed=9 (command line) replaces the study's per-record seed ([0, 1, 2, 3, 4], "
                    "[0, 1]); 7 runs -> 2 distinct")


def test_every_study_pairs_up():
    for path in sorted((ROOT / "experiments").glob("*.yaml")):
        check_records(OmegaConf.load(path).hydra.sweeper.get("records"))


def test_full_grid_globs_every_scaling_and_head_in_conf():
    # Glob sweeps list a config group's options through the config loader; Hydra's sweepers get
    # it from their HydraContext, a test from the initialised GlobalHydra.
    with initialize_config_dir(config_dir=CONF, version_base="1.3"):
        cfg = compose("train", ["experiment=full_grid"], return_hydra_config=True)
        params = cfg.hydra.sweeper.params
        loader = GlobalHydra.instance().config_loader()
        jobs = grid(parse(*(f"{k}={v}" for k, v in params.items()), config_loader=loader))
    for group in ("scaling", "head"):
        assert params[group] == "glob(*)"
        swept = {o.split("=")[1] for j in jobs for o in j if o.startswith(f"{group}=")}
        assert swept == {p.stem for p in (ROOT / "conf" / group).glob("*.yaml")}
    assert len(jobs) == 3 * 3 * len(list((ROOT / "conf" / "scaling").glob("*.yaml"))) * len(
        list((ROOT / "conf" / "head").glob("*.yaml")))


def test_a_job_that_raised_gets_a_failed_record():
    # Pins Hydra's JobReturn: return_value re-raises the job's own exception when it failed.
    failed = JobReturn(status=JobStatus.FAILED, _return_value=KeyError("boom"))
    assert run_record(["a=1", "b=2"], failed) == {
        "status": "failed", "message": "KeyError: 'boom'", "overrides": "a=1 b=2"}
    ok = JobReturn(status=JobStatus.COMPLETED, _return_value={"status": "ok"})
    assert run_record([], ok) == {"status": "ok"}


def test_a_job_that_failed_before_its_record_is_named_from_its_config():
    failed = JobReturn()
    failed.status, failed.return_value = JobStatus.FAILED, ValueError("no config")
    who = {"model": "gan", "scaling": "raw", "head": "identity", "seed": 1}
    rec = run_record(["scaling=raw", "seed=1"], failed, who)
    assert rec == {**who, "status": "failed", "message": "ValueError: no config",
                   "overrides": "scaling=raw seed=1"}


def test_a_job_whose_directory_a_live_process_holds_is_not_launched(tmp_path, caplog):
    import os
    import socket

    held = tmp_path / "held"
    held.mkdir()
    (held / ".lock").write_text(f"{os.getppid()} {socket.gethostname()}\n")
    who = [{"model": "gan", "scaling": "raw", "head": "identity", "seed": 0, "run_dir": str(held)},
           {"model": "gan", "scaling": "raw", "head": "identity", "seed": 1,
            "run_dir": str(tmp_path / "free")}]
    jobs = [["seed=0"], ["seed=1"]]
    with caplog.at_level("WARNING", logger="harness"):
        rec, free = (sweeper.busy(i, jobs, who, tmp_path) for i in range(2))
    assert free is None
    assert rec["status"] == "skipped" and rec["seed"] == 0
    assert rec["message"] == f"in use by PID {os.getppid()}: left to it"
    assert caplog.messages == [f"[1/2] gan raw identity seed=0 skipped: in use by PID "
                               f"{os.getppid()}  -> held"]  # inside the sweep folder
    assert sorted(p.name for p in held.iterdir()) == [".lock"]  # nothing written there


def test_a_gap_left_by_a_held_run_starts_a_new_launch_so_job_numbers_stay_right():
    """A launcher numbers a batch's jobs from its first index on: the jobs after a skipped one
    must be launched from their own index, or their [i/N] is off by one."""
    assert sweeper.contiguous([0, 1, 3, 4, 6]) == [[0, 1], [3, 4], [6]]
    assert sweeper.contiguous([2]) == [[2]] and sweeper.contiguous([]) == []
