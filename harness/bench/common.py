"""What the benchmark's parts share: the family's declared bench run composed, the harness's
own fit without records, the bare loop, and a fresh interpreter per measurement."""
from __future__ import annotations

import multiprocessing as mp
import tempfile
from pathlib import Path

from harness.bench.interleave import bare_stepper
from harness.core.repo import CONF_DIR

WARMUP = 5
# glibc raises its mmap threshold the first time a large block is freed: the harness's baseline
# evaluation does that before training, a bare loop never does, and then page-faults on every
# large activation (seg: 44-48 steps/s bare against 52-53 with these). Fixed for both sides.
FIXED_MALLOC = {"MALLOC_MMAP_THRESHOLD_": str(64 << 20), "MALLOC_TRIM_THRESHOLD_": str(128 << 20)}


def declared(family: str):
    """(overrides, timed steps) the family class declares for the benchmark."""
    from harness.models import families

    cls = families()[family]
    return [f"model={family}", *cls.bench[0]], cls.bench[1]


def compose(family: str, steps: int, threads: int, accelerator: str, log_dir: str):
    from hydra import compose as hydra_compose, initialize_config_dir

    overrides = [*declared(family)[0], f"steps={steps}", f"threads={threads}", "eval_every=0",
                 f"trainer.accelerator={accelerator}", "trainer.enable_progress_bar=false",
                 f"paths.log_dir={log_dir}", "checkpoint_every=0", "seed=0"]
    with initialize_config_dir(config_dir=CONF_DIR, version_base="1.3"):
        return hydra_compose("train", overrides=overrides)


def fit(cfg, model, data, callbacks=()) -> None:
    """The harness's own fit, as ``harness.train`` runs it (its Trainer, callbacks, logger and,
    where ``checkpoint_every`` is set, checkpoints, in a folder thrown away), without records."""
    from harness.run.hparams import make_logger
    from harness.run.fit import trainer_for

    with tempfile.TemporaryDirectory() as tmp:
        run_dir = Path(tmp)
        trainer = trainer_for(cfg, data, run_dir, make_logger(cfg, "bench", run_dir), callbacks)
        trainer.fit(model, datamodule=data)


def bare_steps(model, batches, first_step: int = 1) -> None:
    """The module's own training step in a plain PyTorch loop: no Trainer, no logging.
    ``batches``: any iterable, e.g. the data module's loader, so loading is timed too."""
    step = bare_stepper(model)
    for i, batch in enumerate(batches):
        step(batch, first_step + i)


def in_fresh_process(target, *args):
    """``target(*args, queue)`` in a newly spawned interpreter (nothing imported or allocated
    before it, as a user's run starts): returns what it put on the queue."""
    import queue as queues

    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    p = ctx.Process(target=target, args=(*args, queue))
    p.start()
    while True:  # a child that died (its traceback is above) must not leave this waiting
        try:
            out = queue.get(timeout=5)
            break
        except queues.Empty:
            if not p.is_alive():
                raise RuntimeError(f"{target.__name__} died (exit code {p.exitcode}) before "
                                   "it reported; its error is printed above") from None
    p.join()
    return out
