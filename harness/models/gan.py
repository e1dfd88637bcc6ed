"""The GAN family: any generator/discriminator pair trained on one scaling and one head.

Real batches arrive as uint8 and are encoded by the scaling on the device; fakes are
``head(G(z))``; the discriminator sees both in the scaling's space. Quality is measured on
decoded uint8 images, the way a user sees them, so every scaling is judged on one ruler.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..swd import moment_gap, swd
from ..visuals import log_images_and_histograms, stretch_per_image, to_grid
from .base import FamilyModule, eval_mode


class GANModule(FamilyModule):
    family = "gan"

    def __init__(self, generator: nn.Module, discriminator: nn.Module, scaling: str, head: str,
                 channels: int, lr: float = 2e-4, betas: tuple[float, float] = (0.5, 0.999),
                 d_steps: int = 1, g_steps: int = 1, eval_every: int = 0, log_every: int = 25,
                 blowup: float = 1e6, eval_seed: int = 0):
        super().__init__(scaling, head, channels, log_every=log_every, eval_every=eval_every,
                         blowup=blowup)
        self.automatic_optimization = False
        self.G, self.D = generator, discriminator
        self.lr, self.betas = lr, tuple(betas)
        self.d_steps, self.g_steps = d_steps, g_steps
        self.eval_seed = eval_seed

    @property
    def eval_real(self) -> torch.Tensor:
        return self.trainer.datamodule.eval_images

    def generate(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Returns (last layer's raw output, head output in the scaling's space)."""
        pre = self.G(z)
        return pre, self.apply_head(pre)

    def on_fit_start(self) -> None:
        super().on_fit_start()
        if self.initial_metrics:  # restored from a checkpoint
            return
        self.initial_metrics = {f"{k}_init": v for k, v in self.evaluate().items()
                                if k in ("swd", "mean_gap", "std_gap")}
        # the floor: held-out real images against as many training images
        train_real = self.trainer.datamodule.train_images[:len(self.eval_real)]
        self.initial_metrics["swd_real"] = swd(self.eval_real, train_real)["swd"]

    def configure_optimizers(self):
        opt_d = torch.optim.Adam(self.D.parameters(), lr=self.lr, betas=self.betas)
        opt_g = torch.optim.Adam(self.G.parameters(), lr=self.lr, betas=self.betas)
        return opt_d, opt_g

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
        self.after_step(batch_idx, {"d_loss": d_loss, "g_loss": g_loss}, pre)

    @torch.no_grad()
    def eval_outputs(self, n: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Fixed-noise samples in eval mode: (raw last layer, head output)."""
        g = torch.Generator().manual_seed(self.eval_seed)
        with eval_mode(self.G):
            return self.generate(self.G.sample_z(n, generator=g).to(self.device))

    def evaluate(self, log_step: int | None = None) -> dict[str, float]:
        """Metrics on decoded uint8 samples against the held-out real images; with
        ``log_step`` also scalars, sample grids and histograms to the logger."""
        real = self.eval_real
        pre, out = self.eval_outputs(len(real))
        stats = self.output_stats(out)
        fake = self.scaling.decode(out).cpu()
        metrics = {**swd(real, fake), **moment_gap(real, fake), **stats}
        if log_step is not None and self.logger is not None:
            self.logger.log_metrics({f"eval/{k}": v for k, v in metrics.items()}, step=log_step)
            log_images_and_histograms(self.logger, log_step, self.sample_grids(out), pre, out)
        return metrics

    def sample_grids(self, out: torch.Tensor | None = None, n: int = 64) -> dict[str, torch.Tensor]:
        """uint8 grids: decoded as a user gets them, and min/max-stretched as the article saw."""
        out = (self.eval_outputs(n)[1] if out is None else out)[:n]
        return {"decoded": to_grid(self.scaling.decode(out)),
                "stretched": to_grid(stretch_per_image(out))}
