"""Image files and uint8 tensors (N, C, H, W): the one reading, channel and resizing path.

Every data source (image folders, segmentation pairs, style images) reads files here and keeps
pixels as uint8 until the model encodes them, so every scaling sees exactly the same data and
a bad file or channel count gives the same one-line error whichever family met it.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, UnidentifiedImageError

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp"}
ACCEPTED = ", ".join(sorted(IMAGE_SUFFIXES))
PIL_MODES = {1: "L", 3: "RGB"}  # data.channels -> the PIL mode an image is converted to


class DataError(ValueError):
    """Bad data input: the message names what was wrong and what is accepted."""


def check_channels(channels: int) -> int:
    """``channels`` if it is 1 (grey) or 3 (RGB), the only counts the models and scalings know."""
    if channels not in PIL_MODES:
        raise DataError(f"data.channels must be 1 or 3, got {channels}")
    return channels


def root_dir(root: str | None, what: str) -> Path:
    """``data.root`` as a path, for ``what`` (a source that reads the user's files)."""
    if not root:
        raise DataError(f"data.root must be set for {what}")
    return Path(root).expanduser()


def image_files(folder: Path, pattern: str = "*") -> list[Path]:
    """Files matching ``pattern`` under ``folder`` with an image suffix, sorted by path."""
    return sorted(p for p in folder.glob(pattern) if p.suffix.lower() in IMAGE_SUFFIXES)


def to_nchw(a: np.ndarray) -> torch.Tensor:
    """uint8 (N, H, W) or (N, H, W, C) -> a tensor (N, C, H, W) that owns its memory."""
    t = torch.from_numpy(np.array(a, copy=True))
    return t.unsqueeze(1) if t.ndim == 3 else t.permute(0, 3, 1, 2)


def read_image(path: str | Path, channels: int) -> torch.Tensor:
    """An image file as uint8 (1, C, H, W), converted by PIL to grey (C=1) or RGB (C=3)."""
    mode = PIL_MODES[check_channels(channels)]
    try:
        with Image.open(Path(path).expanduser()) as im:
            a = np.asarray(im.convert(mode))
    except (UnidentifiedImageError, OSError) as e:
        raise DataError(f"cannot read image '{path}': {e.__class__.__name__} "
                        f"(expected an image file: {ACCEPTED})") from None
    return to_nchw(a[None])


def match_channels(x: torch.Tensor, channels: int) -> torch.Tensor:
    """uint8 (N, 1|3, H, W) -> ``channels``: RGB to grey as PIL's convert("L"), grey repeated."""
    if x.shape[1] == channels:
        return x
    if channels == 1:  # ITU-R 601 luma, as PIL's convert("L")
        w = torch.tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1)
        return (x.float() * w).sum(1, keepdim=True).round().clamp(0, 255).to(torch.uint8)
    return x.expand(-1, channels, -1, -1)


def resize_square(x: torch.Tensor, size: int, resize) -> torch.Tensor:
    """Resize the shorter side to ``size`` with ``resize(x, (h, w))``, then centre-crop."""
    h, w = x.shape[-2:]
    if (h, w) != (size, size):
        scale = size / min(h, w)
        nh, nw = max(size, round(h * scale)), max(size, round(w * scale))
        x = resize(x, (nh, nw))
        top, left = (nh - size) // 2, (nw - size) // 2
        x = x[..., top:top + size, left:left + size]
    return x.contiguous()


def resize_uint8(x: torch.Tensor, size: int) -> torch.Tensor:
    """Images (N, C, H, W): shorter side to ``size``, centre crop, staying uint8."""
    return resize_square(x, size, lambda t, hw: F.interpolate(
        t.float(), size=hw, mode="bilinear", antialias=True, align_corners=False
    ).round().clamp(0, 255).to(torch.uint8))
