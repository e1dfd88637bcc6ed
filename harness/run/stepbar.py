"""A run's progress bar in training steps (``conf/callbacks/default.yaml``); its own module
because it needs Lightning, which ``harness.run.console`` must not import (a bad command line exits
before torch loads)."""
from __future__ import annotations

from pytorch_lightning.callbacks.progress import ProgressBar


class StepBar(ProgressBar):
    """A bar in training steps of the requested total, with the last logged losses. Lightning's
    own bars count epochs, which the harness uses only to reload the data stream."""

    def __init__(self, desc: str = "", leave: bool = True) -> None:
        super().__init__()
        self.desc, self.leave, self._enabled, self.bar = desc, leave, True, None

    def disable(self) -> None:
        self._enabled = False

    def enable(self) -> None:
        self._enabled = True

    def on_train_start(self, trainer, pl_module) -> None:
        if self._enabled and trainer.is_global_zero:
            from tqdm import tqdm

            self.bar = tqdm(total=pl_module.total_steps, initial=max(0, pl_module.step),
                            desc=self.desc or None, unit="step", leave=self.leave,
                            dynamic_ncols=True)

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        if self.bar is None:
            return
        self.bar.update(pl_module.step - self.bar.n)
        shown = getattr(pl_module, "last_logged", None)
        if shown:
            self.bar.set_postfix({k: f"{v:.4g}" for k, v in shown.items()}, refresh=False)

    def on_train_end(self, trainer, pl_module) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None
