"""What every family's LightningModule shares: one scaling, one head, one way to fail.

``train.py`` talks to a family only through this interface:

- ``__init__(..., scaling: str, head: str, channels: int)``; raise ``Skipped`` for a head that
  has no meaning for the family,
- ``initial_metrics``: filled in ``on_fit_start`` (e.g. the untrained baseline),
- ``evaluate(log_step=None) -> dict[str, float]``: final metrics on held-out data, computed
  from what the user sees; with ``log_step`` also logged (scalars, images, histograms),
- ``sample_grids() -> dict[str, uint8 (3, H, W)]``: saved as ``samples_<name>.png``.

Data reaches the module as ``self.trainer.datamodule`` (uint8 tensors, encoded on the device).
"""
from __future__ import annotations

from contextlib import contextmanager

import pytorch_lightning as pl
import torch
from torch import nn

from ..pixels import get_head, make_scaling, out_of_range


class Diverged(RuntimeError):
    """A non-finite loss or output, or a blow-up: the run ends as ``diverged``."""


class Skipped(Exception):
    """The combination has no meaning for its family: the run ends as ``skipped``."""


@contextmanager
def eval_mode(net: nn.Module):
    """Evaluate ``net`` in eval mode (BatchNorm running stats), then restore its mode."""
    was_training = net.training
    net.eval()
    try:
        yield net
    finally:
        net.train(was_training)


class FamilyModule(pl.LightningModule):
    family = "?"

    def __init__(self, scaling: str, head: str, channels: int, log_every: int = 25,
                 eval_every: int = 0, blowup: float = 1e6):
        super().__init__()
        self.scaling = make_scaling(scaling, channels)
        self.head = get_head(head)
        self.log_every, self.eval_every, self.blowup = log_every, eval_every, blowup
        self.initial_metrics: dict[str, float] = {}

    def on_fit_start(self) -> None:
        self.scaling = self.scaling.to(self.device)

    def apply_head(self, z: torch.Tensor) -> torch.Tensor:
        return self.head.apply(z, self.scaling.lo, self.scaling.hi)

    def on_save_checkpoint(self, checkpoint: dict) -> None:
        checkpoint["initial_metrics"] = self.initial_metrics

    def on_load_checkpoint(self, checkpoint: dict) -> None:
        """A resumed run keeps the baseline measured before its first step."""
        self.initial_metrics = checkpoint.get("initial_metrics", {})

    @property
    def step(self) -> int:
        """Training batches done so far, across epochs and resumes."""
        return self.trainer.fit_loop.epoch_loop.total_batch_idx + 1

    def after_step(self, batch_idx: int, losses: dict[str, torch.Tensor], z: torch.Tensor) -> None:
        """Log losses every step; check finiteness (the only host sync) and evaluate on schedule."""
        self.log_dict({f"train/{k}": v.detach() for k, v in losses.items()})
        step = self.step
        if step % self.log_every == 0 or step == self.trainer.datamodule.steps:
            self.check_finite(losses, z)
        if self.eval_every and step % self.eval_every == 0:
            self.evaluate(log_step=step)

    def check_finite(self, losses: dict[str, torch.Tensor], z: torch.Tensor) -> None:
        finite = all(bool(torch.isfinite(v)) for v in losses.values())
        peak = z.detach().abs().max()
        if not finite or not torch.isfinite(peak) or peak > self.blowup:
            shown = ", ".join(f"{k}={float(v.detach()):.3g}" for k, v in losses.items())
            raise Diverged(f"non-finite loss or blow-up ({shown}, max|z|={float(peak):.3g})")

    def output_stats(self, out: torch.Tensor) -> dict[str, float]:
        """What the decode's clip hides: how often and how far outputs leave ``[lo, hi]``."""
        if not bool(torch.isfinite(out).all()):
            raise Diverged("non-finite output at evaluation")
        pixels = self.scaling.to_pixels(out)
        return {"out_of_range": float(out_of_range(out, self.scaling)),
                "out_excess": float((pixels - pixels.clamp(0, 255)).abs().mean())}
