"""The GAN family: any generator/discriminator pair trained on one scaling and one head.

Real batches arrive as uint8 and are encoded by the scaling on the device; fakes are
``head(G(z))``; the discriminator sees both in the scaling's space. Quality is measured on
decoded uint8 images, the way a user sees them, so every scaling is judged on one ruler.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
import pytorch_lightning as pl
from torch import nn

from ..pixels import get_head, make_scaling, out_of_range
from ..swd import moment_gap, swd
from ..visuals import log_images_and_histograms, stretch_per_image, to_grid


class Diverged(RuntimeError):
    """Training produced a non-finite loss or output; the run ends as ``diverged``."""


class GANModule(pl.LightningModule):
    def __init__(self, generator: nn.Module, discriminator: nn.Module, scaling: str, head: str,
                 channels: int, lr: float = 2e-4, betas: tuple[float, float] = (0.5, 0.999),
                 d_steps: int = 1, g_steps: int = 1, eval_every: int = 0,
                 log_every: int = 50, blowup: float = 1e6, eval_seed: int = 0):
        super().__init__()
        self.automatic_optimization = False
        self.G, self.D = generator, discriminator
        self.scaling = make_scaling(scaling, channels)
        self.head = get_head(head)
        self.lr, self.betas = lr, tuple(betas)
        self.d_steps, self.g_steps = d_steps, g_steps
        self.eval_every, self.log_every = eval_every, log_every
        self.blowup, self.eval_seed = blowup, eval_seed
        self.eval_real: torch.Tensor | None = None  # uint8 held-out images, set by train.py
        self.initial_metrics: dict[str, float] = {}

    # ------------------------------------------------------------------ generation
    def generate(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Returns (last layer's raw output, head output in the scaling's space)."""
        pre = self.G(z)
        s = self.scaling
        return pre, self.head.apply(pre, s.lo, s.hi)

    def on_fit_start(self) -> None:
        self.scaling = self.scaling.to(self.device)
        self.initial_metrics = {f"{k}_init": v for k, v in self.evaluate().items()
                                if k in ("swd", "mean_gap", "std_gap")}
        # the floor: held-out real images against as many training images
        train_real = self.trainer.datamodule.train_images[:len(self.eval_real)]
        self.initial_metrics["swd_real"] = swd(self.eval_real, train_real)["swd"]

    def configure_optimizers(self):
        opt_d = torch.optim.Adam(self.D.parameters(), lr=self.lr, betas=self.betas)
        opt_g = torch.optim.Adam(self.G.parameters(), lr=self.lr, betas=self.betas)
        return opt_d, opt_g

    # -------------------------------------------------------------------- training
    def training_step(self, batch, batch_idx: int) -> None:
        (x,) = batch
        real = self.scaling.encode(x)
        n = len(real)
        opt_d, opt_g = self.optimizers()
        ones, zeros = real.new_ones(n), real.new_zeros(n)
        for _ in range(self.d_steps):
            with torch.no_grad():
                _, fake = self.generate(self.G.sample_z(n, device=self.device))
            d_loss = (F.binary_cross_entropy_with_logits(self.D(real), ones)
                      + F.binary_cross_entropy_with_logits(self.D(fake), zeros))
            opt_d.zero_grad(set_to_none=True)
            self.manual_backward(d_loss)
            opt_d.step()
        for _ in range(self.g_steps):
            pre, fake = self.generate(self.G.sample_z(n, device=self.device))
            g_loss = F.binary_cross_entropy_with_logits(self.D(fake), ones)
            opt_g.zero_grad(set_to_none=True)
            self.manual_backward(g_loss)
            opt_g.step()
        self.log_dict({"train/d_loss": d_loss.detach(), "train/g_loss": g_loss.detach()})
        step = batch_idx + 1
        if step % self.log_every == 0 or step == self.trainer.num_training_batches:
            self.check_finite(d_loss, g_loss, pre)  # host syncs only here
        if self.eval_every and step % self.eval_every == 0:
            self.evaluate(log_step=step)

    def check_finite(self, d_loss, g_loss, pre) -> None:
        loss_ok = bool(torch.isfinite(d_loss) & torch.isfinite(g_loss))
        peak = pre.detach().abs().max()
        if not loss_ok or not torch.isfinite(peak) or peak > self.blowup:
            raise Diverged(f"non-finite loss or blow-up (d_loss={float(d_loss):.3g}, "
                           f"g_loss={float(g_loss):.3g}, max|z|={float(peak):.3g})")

    # ---------------------------------------------------------------- evaluation
    @torch.no_grad()
    def eval_outputs(self, n: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Fixed-noise samples in eval mode: (raw last layer, head output)."""
        was_training = self.G.training
        self.G.eval()
        g = torch.Generator().manual_seed(self.eval_seed)
        z = self.G.sample_z(n, generator=g).to(self.device)
        pre, out = self.generate(z)
        self.G.train(was_training)
        return pre, out

    def evaluate(self, log_step: int | None = None) -> dict[str, float]:
        """Metrics on decoded uint8 samples against the held-out real images; with
        ``log_step`` also scalars, sample grids and histograms to the logger."""
        real = self.eval_real
        pre, out = self.eval_outputs(len(real))
        if not bool(torch.isfinite(out).all()):
            raise Diverged("non-finite generator output at evaluation")
        fake = self.scaling.decode(out).cpu()
        pixels = self.scaling.to_pixels(out)
        metrics = {**swd(real, fake), **moment_gap(real, fake),
                   "out_of_range": float(out_of_range(out, self.scaling)),
                   "out_excess": float((pixels - pixels.clamp(0, 255)).abs().mean())}
        if log_step is not None and self.logger is not None:
            self.logger.log_metrics({f"eval/{k}": v for k, v in metrics.items()}, step=log_step)
            log_images_and_histograms(self.logger, log_step, self.sample_grids(out), pre, out)
        return metrics

    def sample_grids(self, out: torch.Tensor | None = None, n: int = 64):
        """uint8 grids: decoded as a user gets them, and min/max-stretched as the article saw."""
        out = (self.eval_outputs(n)[1] if out is None else out)[:n]
        return to_grid(self.scaling.decode(out)), to_grid(stretch_per_image(out))
