"""Two training loops timed in turn, one step each, in one process: a ratio the machine's drift
does not reach.

On the 2-core CPU identical blocks of work a few seconds apart differ by 10-20% (100 bare seg
steps: 4.1 to 5.9 s, CPU time equal to wall time), so two loops timed in separate processes,
or in separate blocks, differ by that much whatever they cost. Timed step by step in turn, each
step of one loop sits milliseconds from a step of the other and the drift cancels in their
ratio. The ratio is taken over groups of ``GROUP`` consecutive steps (each holds one logging
step of the harness) and summarised by its median with the sign test's interval
(``harness.core.signtest.median_interval``); the point estimate is the ratio of the summed times, so a
rare cost (a checkpoint) counts in proportion.

- ``harness_and_bare``: the harness's own fit (Lightning, its callbacks, its logger) with a
  bare step (``bare_stepper``) after each of its steps, on a second network built from the same
  seed, with its own copy of the batches. The bare step always comes second (Lightning's loop
  cannot be entered between steps any other way), so an effect of running second, if any, is
  not cancelled.
- ``alternate``: two bare loops (e.g. two memory formats) in turn.
"""
from __future__ import annotations

import time

import torch

from harness.core.signtest import median_interval

GROUP = 10  # steps per ratio: the harness logs every 10 steps (conf/train.yaml log_every)


def bare_stepper(model):
    """``step(batch, i)``: the module's own training step ``i`` with plain optimisers, no
    Trainer and no logging (``harness.bench.common.bare_steps`` is a loop of it)."""
    opts = model.configure_optimizers()
    opts = list(opts) if isinstance(opts, (list, tuple)) else [opts]

    def step(batch, i: int) -> None:
        batch = [t.to(model.device) for t in batch] if isinstance(batch, (list, tuple)) \
            else batch.to(model.device)
        model.train_step(batch, opts, lambda loss: loss.backward(), model.step_rng(i))
    return step


def sync(device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def summary(a: list[float], b: list[float], group: int = GROUP) -> dict:
    """Per-step seconds of loop ``a`` and loop ``b``, taken in turn: steps/s of each, and b/a
    (a's throughput relative to b's; > 1: a is faster) as the ratio of the sums, with the
    median of the groups' ratios and its sign-test interval."""
    n = min(len(a), len(b))
    groups = [sum(b[i:i + group]) / sum(a[i:i + group]) for i in range(0, n - group + 1, group)]
    _, median, low, high, coverage = median_interval(groups)
    return {"steps": n, "a_steps_per_s": n / sum(a[:n]), "b_steps_per_s": n / sum(b[:n]),
            "ratio": sum(b[:n]) / sum(a[:n]), "group_median": median, "low": low, "high": high,
            "coverage": coverage, "groups": len(groups)}


def alternate(first, second, batches: list, warmup: int, first_step: int = 1) -> dict:
    """Two bare steppers over the same batches, a step of each in turn (the order swapped every
    step); the first ``warmup`` steps untimed. ``summary`` of (first, second)."""
    times: tuple[list[float], list[float]] = ([], [])
    for i, batch in enumerate(batches):
        order = ((0, first), (1, second)) if i % 2 == 0 else ((1, second), (0, first))
        for which, step in order:
            start = time.perf_counter()
            step(batch, first_step + i)
            if i >= warmup:
                times[which].append(time.perf_counter() - start)
    return summary(*times)


def harness_and_bare(cfg, fit, warmup: int = 5) -> dict:
    """The harness's fit of ``cfg`` with a bare step of a twin network after each of its
    steps. ``fit(cfg, model, data, callbacks)`` runs the harness as it trains. Per-step seconds
    of both, timed steps only: ``{"harness": [...], "bare": [...]}``; ``summary(harness,
    bare)["ratio"]`` is bare time / harness time, the harness's relative speed."""
    import pytorch_lightning as pl
    from omegaconf import open_dict

    from harness.run.fit import build_run

    harness, data = build_run(cfg)
    bare_cfg = cfg.copy()
    with open_dict(bare_cfg):
        bare_cfg.checkpoint_every = 0  # one epoch of every step: the same batches, one loader
    bare, bare_data = build_run(bare_cfg)
    step, batches = None, iter(bare_data.train_dataloader())

    class BareBeside(pl.Callback):
        def __init__(self):
            self.harness, self.bare, self.mark, self.seen = [], [], None, 0

        def on_train_start(self, trainer, pl_module):
            nonlocal step
            bare.to(pl_module.device)  # where the trainer put the harness's network, then
            bare.use_data(bare_data)   # what the family precomputes, there (as harness's)
            bare.train()
            step = bare_stepper(bare)

        def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
            sync(pl_module.device)
            now = time.perf_counter()
            timed = self.seen >= warmup and self.mark is not None  # from the last bare step's end
            if timed:
                self.harness.append(now - self.mark)
            step(next(batches), self.seen + 1)
            sync(pl_module.device)
            self.mark = time.perf_counter()
            if timed:
                self.bare.append(self.mark - now)
            self.seen += 1

    beside = BareBeside()
    fit(cfg, harness, data, [beside])
    return {"harness": beside.harness, "bare": beside.bare}
