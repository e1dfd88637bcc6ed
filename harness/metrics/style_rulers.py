"""Style-side rulers: how stylised an output is, measured against the style image, with no
ImageNet weights and not in the network the loss is computed in.

The style study's losses are the trained objective: a head that keeps more of the photo lowers
the content term and reads as "better" however little it paints. These two look at the other
side, each against the style image:

- ``style_gram_gap``: Johnson et al.'s Gram-matrix distance (``vgg.style_loss``) to the style
  image, in a second VGG16 with its own random seed (``model.module.ruler_seed``), so an output
  cannot score by matching the loss network's own random features;
- ``colour_hist_gap``: the total variation distance between the outputs' colour histograms and
  the style image's (per channel, 32 bins of 8 grey levels, averaged over channels): 0 for the
  same colours in the same proportions, 1 for none shared.
"""
from __future__ import annotations

import torch

from harness.metrics import vgg as V

BINS = 32


def colour_histograms(pixels: torch.Tensor) -> torch.Tensor:
    """(C, BINS) per-channel histograms (each summing to 1) of 0..255 pixels (N, C, H, W)."""
    x = pixels.detach().float().clamp(0, 255).transpose(0, 1).flatten(1)
    idx = (x * (BINS / 256)).long().clamp(max=BINS - 1)
    counts = torch.zeros(x.shape[0], BINS).scatter_add_(1, idx.cpu(), torch.ones_like(x).cpu())
    return counts / counts.sum(1, keepdim=True)


class StyleRuler:
    """The style image's statistics, computed once: ``ruler(pixels)`` gives both gaps of 0..255
    float outputs (N, C, H, W)."""

    def __init__(self, style_image: torch.Tensor, seed: int, device=None):
        self.vgg = V.VGGFeatures("random", seed=seed).to(device)
        with torch.no_grad():
            f = self.vgg(V.normalise(style_image.float().to(device)))
        self.grams = {k: V.gram(v) for k, v in f.items()}
        self.hist = colour_histograms(style_image)

    @torch.no_grad()
    def __call__(self, pixels: torch.Tensor) -> dict[str, float]:
        f = self.vgg(V.normalise(pixels.float()))
        hist = colour_histograms(pixels)
        return {"style_gram_gap": float(V.style_loss(f, self.grams)),
                "colour_hist_gap": float(0.5 * (hist - self.hist).abs().sum(1).mean())}
