"""What the speed defaults are chosen from: memory format and thread layout, per network the
committed studies train.

- **Memory format.** ``channels_last`` against the default (contiguous) layout, for every
  (family, network) a study in ``experiments/`` runs, at its own width and image size: both
  built in one process from the same seed, a bare training step of each in turn
  (``harness.bench.interleave.alternate``), 1 thread. A family's default (``channels_last`` in
  ``conf/model/<family>.yaml``) becomes channels_last where it is faster by more than
  ``CLEAR``, its interval above 1, for every network of that family (a smaller gain is not
  worth a default that changes every study's numerics, and so their re-runs), and goes back
  only where a network is measurably slower with it (interval below 1).
- **Threads.** A 2-core study can run two 1-thread jobs at once (``hydra/launcher=local``) or
  one 2-thread job at a time (``hydra/launcher=basic``). Both are timed on the same training
  steps: two processes started together behind a barrier, against one 2-thread process doing
  one job's steps, counted twice (the jobs are the same size). Each study file says which
  layout it uses.

    python -m harness.bench        # writes these tables too (``--tuning 0`` skips them)
"""
from __future__ import annotations

import multiprocessing as mp
import time

from harness.bench.common import in_fresh_process
from harness.core.repo import CONF_DIR
from harness.bench.wholerun import study_networks

WARMUP = 3  # untimed steps of each format
CLEAR = 1.05  # a speed-up worth a default that changes every study's numerics


def compose_run(overrides: list[str]):
    from hydra import compose, initialize_config_dir

    with initialize_config_dir(config_dir=CONF_DIR, version_base="1.3"):
        return compose("train", [*overrides, "checkpoint_every=0", "logger=none"])


def batch_list(model, data, n: int) -> list:
    model.use_data(data)
    model.train()
    batches = list(data.train_dataloader())
    return (batches * (n // len(batches) + 1))[:n]


def _formats(overrides: list[str], steps: int, queue) -> None:
    """Both memory formats' bare steps, a step of each in turn in this one process."""
    from harness.bench.interleave import alternate, bare_stepper
    from harness.run.fit import build_run

    models, batches = {}, None
    for fmt, flag in (("channels_last", "true"), ("contiguous", "false")):
        cfg = compose_run([*overrides, f"channels_last={flag}", "threads=1",
                           f"steps={steps + WARMUP}"])
        model, data = build_run(cfg)
        batches = batch_list(model, data, steps + WARMUP)
        models[fmt] = bare_stepper(model)
    # ratio = contiguous time / channels_last time: channels_last's speed-up
    queue.put(alternate(models["channels_last"], models["contiguous"], batches, WARMUP))


def timed_steps() -> dict[str, int]:
    """family -> the training steps its class declares for the benchmark."""
    from harness.models import families

    return {name: cls.bench[1] for name, cls in families().items()}


def memory_formats(families) -> list[dict]:
    """One row per study network of ``families``: steps/s contiguous and channels_last."""
    steps_of, rows = timed_steps(), []
    for name, (family, _, overrides) in study_networks().items():
        if family not in families:
            continue
        got = in_fresh_process(_formats, overrides, steps_of[family])
        row = {"network": name, "run": " ".join(overrides),
               "contiguous_steps_per_s": got["b_steps_per_s"],
               "channels_last_steps_per_s": got["a_steps_per_s"], "speedup": got["ratio"],
               "speedup_low": got["low"], "speedup_high": got["high"],
               "coverage": got["coverage"]}
        print(f"{name}: contiguous {row['contiguous_steps_per_s']:.2f} steps/s, channels_last "
              f"{row['channels_last_steps_per_s']:.2f} ({row['speedup']:.3f}x)", flush=True)
        rows.append(row)
    return rows


def _job(overrides: list[str], threads: int, steps: int, barrier, queue) -> None:
    """Seconds for ``steps`` bare training steps at ``threads``, timed from a shared start."""
    from harness.bench.common import bare_steps
    from harness.run.fit import build_run

    model, data = build_run(compose_run([*overrides, f"threads={threads}", f"steps={steps}"]))
    batches = batch_list(model, data, steps)
    bare_steps(model, batches[:3])  # warm-up, untimed
    if barrier is not None:
        barrier.wait()
    start = time.perf_counter()
    bare_steps(model, batches, first_step=4)
    queue.put(time.perf_counter() - start)


def thread_layouts(families, cores: int = 2) -> list[dict]:
    """Per study network of ``families``: the wall time of ``cores`` jobs' steps as ``cores``
    1-thread processes at once, against one ``cores``-thread process's time for one job's
    steps, times ``cores`` (the jobs are the same size: one after the other)."""
    ctx = mp.get_context("spawn")
    steps_of, rows = timed_steps(), []
    for name, (family, _, overrides) in study_networks().items():
        if family not in families:
            continue
        steps = steps_of[family]
        barrier, queue = ctx.Barrier(cores), ctx.Queue()
        procs = [ctx.Process(target=_job, args=(overrides, 1, steps, barrier, queue))
                 for _ in range(cores)]
        for p in procs:
            p.start()
        parallel = max(queue.get() for _ in procs)
        for p in procs:
            p.join()
        one = in_fresh_process(_job, overrides, cores, steps, None)
        sequential = cores * one  # the same jobs one after the other, each with every core
        row = {"network": name, "steps_per_job": steps, "jobs": cores,
               "parallel_1_thread_s": parallel, "sequential_all_threads_s": sequential,
               "faster": "parallel" if parallel < sequential else "sequential",
               "ratio": sequential / parallel}
        print(f"{name}: {cores} x 1-thread jobs {parallel:.1f} s, 1 x {cores}-thread job in turn "
              f"{sequential:.1f} s -> {row['faster']} ({row['ratio']:.2f})", flush=True)
        rows.append(row)
    return rows


def markdown(formats: list[dict], layouts: list[dict]) -> list[str]:
    lines = []
    if formats:
        lines += ["| network | contiguous steps/s | channels_last steps/s | channels_last speed-up "
                  "| groups of 10: interval, coverage "
                  f"| faster by more than {CLEAR - 1:.0%} |", "|---|---|---|---|---|---|"]
        lines += [f"| {r['network']} | {r['contiguous_steps_per_s']:.2f} | "
                  f"{r['channels_last_steps_per_s']:.2f} | {r['speedup']:.3f}x | "
                  f"{r['speedup_low']:.3f}..{r['speedup_high']:.3f}, {r['coverage']:.1%} | "
                  f"{'yes' if r['speedup'] > CLEAR and r['speedup_low'] > 1 else 'no'} |"
                  for r in formats]
    if layouts:
        lines += ["", "| network | steps per job | 2 x 1-thread jobs at once (s) | "
                  "1 x 2-thread job, in turn (s) | faster | sequential / parallel |",
                  "|---|---|---|---|---|---|"]
        lines += [f"| {r['network']} | {r['steps_per_job']} | {r['parallel_1_thread_s']:.1f} | "
                  f"{r['sequential_all_threads_s']:.1f} | {r['faster']} | {r['ratio']:.2f} |"
                  for r in layouts]
    return lines
