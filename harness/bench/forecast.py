"""Scaling on paper: the wall time of ``full_grid`` predicted from the costs ``make bench``
measured, on this CPU, on one GPU running several runs at once, and on a SLURM allocation.

A prediction is arithmetic on measurements, and each one is labelled with the measurement that
would confirm it. Per family, one run of ``full_grid`` (its steps and evaluation interval) costs

    fixed + steps x (seconds per step) + evaluations x (seconds per evaluation)

- seconds per step: the family's default network (``default: <family>`` rows of the tables)
  at 1 thread, as one of two jobs running at once (the thread-layout table);
- seconds per evaluation and the fixed part (set-up, build, baseline, grids, the rest): from
  the family's whole run (a study network, so of the default network's order, not its value);
- imports: once per process, so once per parallel job locally, once per run under SLURM.
A head that has no meaning for a family (seg's pixel heads) is recorded as skipped, at about
the fixed cost. The slice that confirms the CPU prediction is one seed of the family whose runs
take the least time together: the cheapest check, whichever families the grid holds.
"""
from __future__ import annotations

from omegaconf import OmegaConf

from harness.core.repo import ROOT

LAUNCH_S = 10e-6  # one eager kernel launch on a GPU, PyTorch's dispatch included (order of)


def grid_runs() -> tuple[dict, dict[str, tuple[int, int]]]:
    """full_grid's settings and, per family, (runs that train, runs skipped)."""
    from harness.models import families

    study = OmegaConf.load(ROOT / "experiments" / "full_grid.yaml")
    conf = ROOT / "conf"
    scalings = len(list((conf / "scaling").glob("*.yaml")))
    heads = sorted(p.stem for p in (conf / "head").glob("*.yaml"))
    seeds = len(str(study.hydra.sweeper.params.seed).split(","))
    runs = {}
    for name, cls in families().items():
        trained = sum(cls.heads is None or h in cls.heads for h in heads)
        runs[name] = (scalings * trained * seeds, scalings * (len(heads) - trained) * seeds)
    return {"steps": study.steps, "eval_every": study.eval_every}, runs


def evaluations(steps: int, eval_every: int) -> int:
    """How many evaluations a run makes: one every ``eval_every`` steps before the last, then
    the final one (``eval_every`` 0: the final one only)."""
    return (max(0, -(-steps // eval_every) - 1) if eval_every else 0) + 1


def per_run(whole: dict, layout: dict, steps: int, eval_every: int) -> dict:
    """Seconds of one full_grid run of a family: fixed, training and evaluations (``run``: the
    three together), imports apart."""
    per_eval = ((whole["evaluations"] + whole["final_evaluation"])
                / evaluations(whole["steps"], whole["eval_every"]))
    fixed = sum(whole[k] for k in ("setup", "build", "baseline", "grids", "rest_s"))
    step = layout["parallel_1_thread_s"] / layout["steps_per_job"]
    train, evals = steps * step, evaluations(steps, eval_every) * per_eval
    return {"fixed": fixed, "train": train, "evals": evals, "run": fixed + train + evals,
            "step": step, "per_eval": per_eval, "imports": whole["imports_s"]}


def _hours(seconds: float) -> str:
    return f"{seconds / 3600:.1f} h" if seconds >= 5400 else f"{seconds / 60:.0f} min"


def markdown(whole: list[dict], layouts: list[dict], ops: dict[str, int]) -> list[str]:
    """The section of the bench README; empty without the measurements it needs."""
    settings, runs = grid_runs()
    by_family = {r["family"]: r for r in whole}
    lay = {r["network"].split(": ")[1]: r for r in layouts if r["network"].startswith("default: ")}
    if any(f not in by_family or f not in lay for f in runs):
        return []  # the grid holds every family: each one's costs are needed
    cost = {f: per_run(by_family[f], lay[f], settings["steps"], settings["eval_every"])
            for f in runs}

    def family_s(f: str, step: float | None = None, imports: bool = False) -> float:
        """All of a family's runs one after the other (``step``: another per-step time)."""
        c = cost[f]
        train = c["train"] if step is None else settings["steps"] * step
        extra = c["imports"] if imports else 0.0
        trained, skipped = runs[f]
        return trained * (c["fixed"] + train + c["evals"] + extra) + skipped * (c["fixed"] + extra)

    total_runs = sum(a + b for a, b in runs.values())
    longest = max(c["run"] for c in cost.values())
    cpu = sum(family_s(f) for f in runs) / 2 + max(c["imports"] for c in cost.values())
    check = min(runs, key=family_s)  # the slice: the cheapest family
    check_s = family_s(check) / 3 / 2 + cost[check]["imports"]  # one seed of three
    lines = ["## Scaling on paper: `full_grid`", "",
             f"`experiment=full_grid`: {total_runs} runs, {settings['steps']} steps each, "
             f"evaluation every {settings['eval_every']}. Predicted from the tables above "
             "(`harness/bench/forecast.py` says how); nothing in this section is a measurement of "
             "the grid itself.", "",
             "| family | runs that train + skipped | s per step (1 of 2 jobs) | s per evaluation "
             "| fixed s per run | one run | all its runs, one job |",
             "|---|---|---|---|---|---|---|"]
    for f, c in cost.items():
        lines.append(f"| {f} | {runs[f][0]} + {runs[f][1]} | {c['step']:.3f} | "
                     f"{c['per_eval']:.2f} | {c['fixed']:.1f} | {_hours(c['run'])} | "
                     f"{_hours(family_s(f))} |")
    lines += ["", f"- **This CPU (2 cores, `hydra/launcher=local`, 2 jobs of 1 thread):** "
              f"**{_hours(cpu)}**. Confirm with a slice: `python -m harness.train -m "
              f"experiment=full_grid model={check} seed=0` ({sum(runs[check]) // 3} runs), "
              f"predicted {_hours(check_s)}."]
    if ops:
        # launch-bound steps on the GPU; evaluations (SWD's sort, VGG, mIoU) and the fixed
        # part taken as measured here
        serial = sum(family_s(f, step=ops[f] * LAUNCH_S) for f in runs)
        shown = ", ".join(f"{f} {n}" for f, n in sorted(ops.items()))
        lines += [f"- **One GPU, k runs at once:** these networks are too small to fill a GPU, "
                  f"so a step is bound by its kernel launches ({shown} operations per training "
                  f"step, counted here; about {LAUNCH_S * 1e6:.0f} us each): one run at a time "
                  f"takes about {_hours(serial)} for the grid, and k runs at once divide that "
                  f"by k until the host's cores or the GPU saturate (k = 8 assumes a host of "
                  f"at least 8 cores): "
                  f"about **{_hours(serial / 8)}** at k = 8. Unmeasured: confirm with "
                  "`python -m harness.bench --accelerator gpu` (steps/s per family) and a slice "
                  "of the grid with `trainer=gpu hydra/launcher=local hydra.launcher.n_jobs=k` "
                  "for k = 1, 2, 4, 8."]
    per_job = sum(family_s(f, imports=True) for f in runs)
    slurm = ", ".join(f"N = {n}: {_hours(per_job / (2 * n) + longest)}" for n in (1, 4, 16))
    lines += [f"- **SLURM, N nodes of this machine's kind (2 one-thread jobs each):** every "
              f"run is its own process and pays its imports, and the last wave adds up to the "
              f"longest run ({_hours(longest)}): {slurm}, plus the queue's waits. Confirm with "
              "`hydra/launcher=slurm` on a slice, from each job's `wall_time_s`."]
    return lines


def _count(overrides: list[str], queue) -> None:
    """Leaf operations of one bare training step (each launches about one GPU kernel)."""
    from torch.profiler import ProfilerActivity, profile

    from harness.bench.common import bare_steps
    from harness.bench.tuning import batch_list, compose_run
    from harness.run.fit import build_run

    model, data = build_run(compose_run([*overrides, "threads=1", "steps=3"]))
    batches = batch_list(model, data, 3)
    bare_steps(model, batches[:2])
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        bare_steps(model, batches[2:], first_step=3)
    leaves = [e for e in prof.events() if e.name.startswith("aten::")
              and not any(c.name.startswith("aten::") for c in e.cpu_children)
              and e.name not in METADATA]
    queue.put(len(leaves))


# operations that only relabel memory: no kernel
METADATA = {f"aten::{n}" for n in ("view", "as_strided", "t", "transpose", "permute", "expand",
                                   "reshape", "unsqueeze", "squeeze", "select", "slice",
                                   "detach", "alias", "empty", "empty_strided", "_unsafe_view",
                                   "resolve_conj", "resolve_neg", "lift_fresh", "unbind",
                                   "split", "chunk", "narrow", "flatten", "expand_as",
                                   "view_as", "result_type", "is_nonzero", "item",
                                   "_local_scalar_dense", "empty_like")}


def ops_per_step(families) -> dict[str, int]:
    """family -> leaf operations in one training step of its default network."""
    from harness.bench.common import in_fresh_process
    from harness.bench.wholerun import study_networks

    return {family: in_fresh_process(_count, overrides)
            for name, (family, _, overrides) in study_networks().items()
            if name.startswith("default: ") and family in families}
