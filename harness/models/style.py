"""The style family: a fast style-transfer network trained on one scaling and one head.

The network sees content encoded by the scaling and returns ``head(net(x))`` in the scaling's
space. The loss goes back to pixels through the scaling's exact inverse and then through one
fixed VGG normalisation, so the perceptual loss means the same thing for every scaling. The
metrics use the *decoded* uint8 output (the clip happens there), through the same path.
"""
from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Protocol

import torch
from torch import nn

from harness.metrics import vgg as V
from harness.core.pixels import span
from harness.metrics.style_rulers import StyleRuler
from harness.metrics.swd import moment_gap
from harness.metrics.visuals import stretch_per_image, to_grid
from harness.models.base import (Evaluation, FamilyModule, ReportSections, eval_mode,
                                 param_groups)

log = logging.getLogger("harness")
TERMS = ("content_loss", "style_loss", "tv_loss")


def content_rulers(seen: torch.Tensor, content: torch.Tensor) -> dict[str, float]:
    """Rulers that need no ImageNet weights, on 0..255 float outputs against their uint8
    content: ``ssim`` (structure kept, 1 for the content itself), the per-channel colour
    mean and std gaps (in 0..1 units) and the decoded outputs' 1st-99th percentile span."""
    from torchmetrics.functional.image import structural_similarity_index_measure

    gaps = moment_gap(content, seen.to(torch.uint8))  # decoded: whole grey levels already
    return {"ssim": float(structural_similarity_index_measure(seen, content.float(),
                                                              data_range=255.0)),
            "colour_mean_gap": gaps["mean_gap"], "colour_std_gap": gaps["std_gap"],
            "span_decoded": span(seen)}


class StyleData(Protocol):
    style_image: torch.Tensor  # uint8 (1, C, S, S)
    eval_images: torch.Tensor  # uint8 held-out content crops, the same for every seed


class StyleModule(FamilyModule):
    family = "style"
    primary = ("loss", "min")  # the trained objective (weighted content + style + TV), decoded
    units = "weighted content + style + TV loss on decoded outputs"
    hparam_metrics = ("loss_init", "content_loss", "style_loss", "tv_loss", "style_gram_gap",
                      "colour_hist_gap", "ssim", "colour_mean_gap", "out_of_range", "out_excess",
                      "vgg_imagenet")
    needs = StyleData
    bench = (("scaling=raw", "head=tanh_fit"), 60)  # 6 groups of 10 for the interval
    report = ReportSections(
        caption="each held-out content crop beside its stylisation",
        panels=("content_loss", "style_loss", "style_gram_gap", "out_of_range"),
        floors={"style_gram_gap": ("style_gram_gap_content", "the photos, unstylised")},
        # the objective, its two terms (co-primary: a head that keeps more of the photo lowers
        # the content term however little it paints), and the rulers of each side
        paired=(("loss", "min"), ("content_loss", "min"), ("style_loss", "min"),
                ("style_gram_gap", "min"), ("colour_hist_gap", "min"), ("ssim", "max")),
        caveats={"vgg_imagenet": (0, "VGG ran with seeded random weights (no ImageNet weights "
                                     "file was cached), so the style and content losses are "
                                     "measured in a random network's features, not in the "
                                     "perceptual space fast style transfer uses")})

    def __init__(self, net: nn.Module, vgg: Mapping, lr: float, content_weight: float,
                 style_weight: float, tv_weight: float, ruler_seed: int, last_lr_scale: float,
                 **common):
        super().__init__(**common)
        self.last_lr_scale = float(last_lr_scale)  # the network's last layer's lr, x lr
        param_groups(net, lr, self.last_lr_scale)  # refused here, before any work
        self.ruler_seed = ruler_seed  # the style-side ruler's own random VGG16
        self.style_ruler: StyleRuler | None = None
        self.net = net
        self.vgg = V.VGGFeatures(**dict(vgg or {}))
        self.vgg_weights = self.vgg.weights_used  # "imagenet" or "random", for the run record
        if self.vgg.fallback:
            self.notes["vgg-random-weights"] = self.vgg.fallback
        if self.vgg_weights == "imagenet":
            log.info("VGG16 perceptual loss with ImageNet weights")
        self.lr = lr
        self.weights = {"content_loss": content_weight, "style_loss": style_weight,
                        "tv_loss": tv_weight}
        self.style_grams: dict[str, torch.Tensor] | None = None
        self.eval_images: torch.Tensor | None = None

    @torch.no_grad()
    def use_data(self, data) -> None:
        """The style's Gram matrices (computed once) and the held-out content crops."""
        f = self.vgg(V.normalise(data.style_image.to(self.device).float()))
        self.style_grams = {k: V.gram(v) for k, v in f.items()}
        self.eval_images = data.eval_images
        self.style_ruler = StyleRuler(data.style_image, self.ruler_seed, self.device)

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

    def perceptual(self, pixels: torch.Tensor, content: torch.Tensor) -> dict[str, torch.Tensor]:
        """Weighted loss and its terms for 0..255 float ``pixels`` against uint8 ``content``."""
        f = self.vgg(V.normalise(pixels))
        with torch.no_grad():
            target = self.vgg(V.normalise(content.float()), layers=(V.CONTENT_LAYER,))
        terms = {"content_loss": V.content_loss(f, target),
                 "style_loss": V.style_loss(f, self.style_grams),
                 "tv_loss": V.tv_loss(pixels)}
        return {"loss": sum(self.weights[k] * v for k, v in terms.items()), **terms}

    def configure_optimizers(self):
        return torch.optim.Adam(param_groups(self.net, self.lr, self.last_lr_scale), lr=self.lr)

    def train_step(self, batch, opts, backward, rng):
        (opt,) = opts
        z, out = self.stylise(batch)
        losses = self.perceptual(self.scaling.to_pixels(out), batch)
        opt.zero_grad(set_to_none=True)
        backward(losses["loss"])
        opt.step()
        return losses, z

    # ----------------------------------------------------------------- evaluation
    def baseline(self) -> dict[str, float]:
        """The untrained network, and the ruler's other end: the content crops, unstylised."""
        init = self.evaluate(log_step=0)  # the untrained model: step 0 of the curves
        x = self.eval_images.to(self.device)
        with torch.no_grad():
            content = float(self.perceptual(x.float(), x)["style_loss"])
        unstyled = {f"{k}_content": v for k, v in self.style_ruler(x.float()).items()}
        return {**{f"{k}_init": init[k] for k in ("loss", *TERMS, "out_of_range")},
                "style_loss_content": content, **unstyled,
                "vgg_imagenet": float(self.vgg_weights == "imagenet")}

    @torch.no_grad()
    def measure(self) -> Evaluation:
        """Losses of the decoded uint8 outputs on the held-out crops, plus what the clip hid;
        each content crop beside its stylisation, decoded and min/max-stretched per image."""
        x = self.eval_images.to(self.device)
        with eval_mode(self.net):
            z, out = self.stylise(x)
        stats = self.output_stats(out)  # raises Diverged on a non-finite output
        seen = self.scaling.decode(out).float()
        metrics = {k: float(v) for k, v in self.perceptual(seen, x).items()}
        metrics.update(stats, out_mean=float(seen.mean() / 255), out_std=float(seen.std() / 255),
                       **content_rulers(seen, x), **self.style_ruler(seen))
        pair = lambda y: to_grid(torch.cat([x.cpu(), y], dim=-1))  # noqa: E731
        return Evaluation(metrics, {"decoded": pair(seen.to(torch.uint8).cpu()),
                                    "stretched": pair(stretch_per_image(out))}, z, out)
