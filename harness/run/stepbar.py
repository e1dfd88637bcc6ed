"""A run's progress in training steps (``conf/callbacks/default.yaml``); its own module
because it needs Lightning, which ``harness.run.console`` must not import (a bad command line
exits before torch loads)."""
from __future__ import annotations

import math
import sys
import time

from pytorch_lightning.callbacks.progress import ProgressBar

from harness.run.console import clock

LINES = 10  # plain lines a run prints where there is no terminal: one every tenth of the run


class StepBar(ProgressBar):
    """A bar in training steps of the requested total, with the last logged losses. Lightning's
    own bars count epochs, which the harness uses only to reload the data stream.

    The bar needs a terminal: in a pipe, a file or a CI log it is one line of carriage returns
    that shows nothing until the run ends. There a run that keeps its bar (``leave``: a single
    run) prints a plain line every tenth of the run instead (``step_line``), ten lines whatever
    its length; a sweep's passing bar is dropped, its log has a line per finished run."""

    def __init__(self, desc: str = "", leave: bool = True) -> None:
        super().__init__()
        self.desc, self.leave, self._enabled, self.bar = desc, leave, True, None
        self.lines_every, self.first, self.started = 0, 0, 0.0  # the plain lines, if any

    def disable(self) -> None:
        self._enabled = False

    def enable(self) -> None:
        self._enabled = True

    def on_train_start(self, trainer, pl_module) -> None:
        if not (self._enabled and trainer.is_global_zero):
            return
        self.first = max(0, pl_module.step)  # a resumed run starts where it stopped
        if sys.stderr.isatty():
            from tqdm import tqdm

            self.bar = tqdm(total=pl_module.total_steps, initial=self.first,
                            desc=self.desc or None, unit="step", leave=self.leave,
                            dynamic_ncols=True)
        elif self.leave:
            self.lines_every = max(1, math.ceil(pl_module.total_steps / LINES))
            self.started = time.monotonic()

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        shown = getattr(pl_module, "last_logged", None) or {}
        if self.bar is not None:
            self.bar.update(pl_module.step - self.bar.n)
            if shown:
                self.bar.set_postfix({k: f"{v:.4g}" for k, v in shown.items()}, refresh=False)
        elif self.lines_every:
            step, total = pl_module.step, pl_module.total_steps
            if step % self.lines_every == 0 or step == total:
                print(step_line(self.desc, step, total, self.first,
                                time.monotonic() - self.started, shown),
                      file=sys.stderr, flush=True)

    def on_train_end(self, trainer, pl_module) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None
        self.lines_every = 0


def step_line(desc: str, step: int, total: int, first: int, elapsed: float,
              losses: dict[str, float]) -> str:
    """``09:21:37 gan raw identity seed=0: 30/300 steps (10%) in 0:12, about 1:48 left,
    d_loss=1.386 g_loss=0.6931``: the time left from the pace of the steps this process
    trained (``first``: the step a resumed run started from), the losses last logged."""
    text = f"{time.strftime('%H:%M:%S')} {desc + ': ' if desc else ''}{step}/{total} steps " \
           f"({100 * step // max(1, total)}%) in {clock(elapsed)}"
    if first < step < total:
        text += f", about {clock(elapsed / (step - first) * (total - step))} left"
    if losses:
        text += ", " + " ".join(f"{k}={v:.4g}" for k, v in losses.items())
    return text
