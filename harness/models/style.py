"""The style family: a fast style-transfer network trained on one scaling and one head.

The network sees content encoded by the scaling and returns ``head(net(x))`` in the scaling's
space. The loss goes back to pixels through the scaling's exact inverse and then through one
fixed VGG normalisation, so the perceptual loss means the same thing for every scaling. The
metrics use the *decoded* uint8 output (the clip happens there), through the same path.
"""
from __future__ import annotations

import logging
from collections.abc import Mapping

import torch
from torch import nn

from .. import vgg as V
from ..visuals import log_images_and_histograms, stretch_per_image, to_grid
from .base import FamilyModule, eval_mode

log = logging.getLogger("harness")
TERMS = ("content_loss", "style_loss", "tv_loss")


class StyleModule(FamilyModule):
    family = "style"

    def __init__(self, net: nn.Module, scaling: str, head: str, channels: int,
                 vgg: Mapping | None = None, lr: float = 1e-3, content_weight: float = 1.0,
                 style_weight: float = 1.0, tv_weight: float = 0.0, eval_every: int = 0,
                 log_every: int = 25, blowup: float = 1e6):
        super().__init__(scaling, head, channels, log_every=log_every, eval_every=eval_every,
                         blowup=blowup)
        self.net = net
        self.vgg = V.VGGFeatures(**dict(vgg or {}))
        self.vgg_weights = self.vgg.weights_used  # "imagenet" or "random", for the run record
        log.info("VGG16 perceptual loss with %s weights", self.vgg_weights)
        self.lr = lr
        self.weights = {"content_loss": content_weight, "style_loss": style_weight,
                        "tv_loss": tv_weight}
        self.style_grams: dict[str, torch.Tensor] | None = None
        self.eval_images: torch.Tensor | None = None  # uint8 held-out content crops

    # ----------------------------------------------------------------------- data
    @torch.no_grad()
    def use_data(self, style_image: torch.Tensor, eval_images: torch.Tensor) -> None:
        """The style's Gram matrices (computed once) and the held-out content crops."""
        f = self.vgg(V.normalise(style_image.to(self.device).float()))
        self.style_grams = {k: V.gram(v) for k, v in f.items()}
        self.eval_images = eval_images

    def on_fit_start(self) -> None:
        super().on_fit_start()
        dm = self.trainer.datamodule
        self.use_data(dm.style_image, dm.eval_images)
        if self.initial_metrics:  # restored from a checkpoint
            return
        init = self.evaluate()
        self.initial_metrics = {f"{k}_init": init[k] for k in ("loss", *TERMS, "out_of_range")}
        # the ruler's other end: the content crops themselves, unstylised
        x = self.eval_images.to(self.device)
        self.initial_metrics["style_loss_content"] = float(self.perceptual(x.float(), x)["style_loss"])
        self.initial_metrics["vgg_imagenet"] = float(self.vgg_weights == "imagenet")

    def on_save_checkpoint(self, checkpoint: dict) -> None:
        """VGG is rebuilt from the config: keep its frozen 59 MB out of every checkpoint."""
        super().on_save_checkpoint(checkpoint)
        checkpoint["state_dict"] = {k: v for k, v in checkpoint["state_dict"].items()
                                    if not k.startswith("vgg.")}

    def on_load_checkpoint(self, checkpoint: dict) -> None:
        super().on_load_checkpoint(checkpoint)
        checkpoint["state_dict"].update({f"vgg.{k}": v for k, v in self.vgg.state_dict().items()})

    # ----------------------------------------------------------------------- loss
    def stylise(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """uint8 content -> (the last layer's raw z, head output in the scaling's space)."""
        z = self.net(self.scaling.encode(x))
        return z, self.apply_head(z)

    def features(self, out: torch.Tensor) -> dict[str, torch.Tensor]:
        """VGG features of an output in the scaling's space: the one differentiable path."""
        return self.vgg(V.normalise(self.scaling.to_pixels(out)))

    def perceptual(self, pixels: torch.Tensor, content: torch.Tensor) -> dict[str, torch.Tensor]:
        """Weighted loss and its terms for 0..255 float ``pixels`` against uint8 ``content``."""
        f = self.vgg(V.normalise(pixels))
        with torch.no_grad():
            target = self.vgg(V.normalise(content.float()), layers=(V.CONTENT_LAYER,))
        terms = {"content_loss": V.content_loss(f, target),
                 "style_loss": V.style_loss(f, self.style_grams),
                 "tv_loss": V.tv_loss(pixels)}
        return {"loss": sum(self.weights[k] * v for k, v in terms.items()), **terms}

    def step_losses(self, x: torch.Tensor) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
        z, out = self.stylise(x)
        return self.perceptual(self.scaling.to_pixels(out), x), z

    def configure_optimizers(self):
        return torch.optim.Adam(self.net.parameters(), lr=self.lr)

    def training_step(self, batch: torch.Tensor, batch_idx: int) -> torch.Tensor:
        losses, z = self.step_losses(batch)
        self.after_step(batch_idx, losses, z)
        return losses["loss"]

    # ----------------------------------------------------------------- evaluation
    @torch.no_grad()
    def eval_outputs(self, n: int | None = None):
        """Held-out content (uint8) and its stylisation (z, head output), in eval mode."""
        x = self.eval_images[:n].to(self.device)
        with eval_mode(self.net):
            z, out = self.stylise(x)
        return x, z, out

    @torch.no_grad()
    def evaluate(self, log_step: int | None = None) -> dict[str, float]:
        """Losses of the decoded uint8 outputs on the held-out crops, plus what the clip hid;
        with ``log_step`` also scalars, content|stylised pairs and histograms to TensorBoard."""
        x, z, out = self.eval_outputs()
        stats = self.output_stats(out)  # raises Diverged on a non-finite output
        seen = self.scaling.decode(out).float()
        metrics = {k: float(v) for k, v in self.perceptual(seen, x).items()}
        metrics.update(stats, out_mean=float(seen.mean() / 255), out_std=float(seen.std() / 255))
        if log_step is not None and self.logger is not None:
            self.logger.log_metrics({f"eval/{k}": v for k, v in metrics.items()}, step=log_step)
            log_images_and_histograms(self.logger, log_step, self._grids(x, out), z, out)
        return metrics

    def _grids(self, x: torch.Tensor, out: torch.Tensor) -> dict[str, torch.Tensor]:
        """Each content crop beside its stylisation: decoded, and min/max-stretched per image."""
        pair = lambda y: to_grid(torch.cat([x.cpu(), y], dim=-1))  # noqa: E731
        return {"decoded": pair(self.scaling.decode(out).cpu()),
                "stretched": pair(stretch_per_image(out))}

    def sample_grids(self, n: int = 16) -> dict[str, torch.Tensor]:
        x, _, out = self.eval_outputs(n)
        return self._grids(x, out)
