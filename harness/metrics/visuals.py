"""Pictures for TensorBoard and the run directory, always as uint8.

Grids are never min/max-normalised: the article's image saver stretched each sample to its
own range, which makes a wrongly-ranged generator look fine. The stretched view exists only to
show what that hid.
"""
from __future__ import annotations

import math

import torch
from torchvision.utils import make_grid


def to_grid(images: torch.Tensor) -> torch.Tensor:
    """uint8 (N, C, H, W) -> one uint8 (3, H', W') grid, square-ish, 2px black padding."""
    nrow = math.ceil(math.sqrt(len(images)))
    return make_grid(images.detach().cpu(), nrow=nrow, padding=2, pad_value=0)


def stretch_per_image(y: torch.Tensor) -> torch.Tensor:
    """Each image mapped from its own min/max to 0..255, like scipy's old ``imsave``."""
    y = y.detach().float().cpu()
    lo = y.flatten(1).min(1).values.view(-1, 1, 1, 1)
    hi = y.flatten(1).max(1).values.view(-1, 1, 1, 1)
    return ((y - lo) / (hi - lo).clamp_min(1e-12) * 255).round().clamp(0, 255).to(torch.uint8)


def stretch_grid(images: torch.Tensor) -> torch.Tensor:
    """The article's view: the whole batch mapped from its one min/max to 0..255 (its saver
    byte-scaled the merged 8x8 grid once, as scipy's ``bytescale``: rounding half up), so a
    batch too dark or too faint as a whole looks right. uint8 of the same shape; a batch with
    max == min maps to 0."""
    y = images.detach().cpu().double()  # exact for 8-bit inputs: k * 255 / range is rounded once
    lo, hi = y.min(), y.max()
    if hi == lo:
        return torch.zeros(y.shape, dtype=torch.uint8)
    return ((y - lo) * 255 / (hi - lo) + 0.5).floor().clamp(0, 255).to(torch.uint8)
