"""Image files and uint8 tensors (N, C, H, W): the one reading, channel and resizing path.

Every data source (image folders, segmentation pairs, style images) reads files here and keeps
pixels as uint8 until the model encodes them, so every scaling sees exactly the same data and
a bad file or channel count gives the same one-line error whichever family met it.
"""
from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, UnidentifiedImageError

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp"}
ACCEPTED = ", ".join(sorted(IMAGE_SUFFIXES))
PIL_MODES = {1: "L", 3: "RGB"}  # data.channels -> the PIL mode an image is converted to
PIXELS = "8-bit grey, palette or colour, or 16-bit grey (scaled to 0..255)"
SHOWN = 3  # unreadable files named in a folder's message; the rest are counted
# data.background: the grey level transparent pixels are composited on. Dropping alpha instead
# would train every fully transparent pixel as the colour it happens to hide.
BACKGROUNDS = {"white": 255, "grey": 128, "black": 0}
# data settings that name one of a few choices, checked before any work with the families' own
# (``FamilyModule.choices``, harness.core.settings): config key -> (accepted values, meaning)
DATA_CHOICES = {"data.background": (tuple(BACKGROUNDS), "the colour transparent pixels of an "
                                                         "image file are composited on")}
ALPHA_MODES = ("RGBA", "LA", "PA", "RGBa", "La")

log = logging.getLogger("harness")


class DataError(ValueError):
    """Bad data input: the message names what was wrong and what is accepted."""


class Unreadable(DataError):
    """One file that cannot be read as an image or mask. ``path`` and a short ``reason`` (the
    exception's class, or the refused pixel mode) let a folder scan name every such file in one
    message; the defaults keep the exception picklable."""

    def __init__(self, message: str, path: str | Path | None = None, reason: str = ""):
        super().__init__(message)
        self.path, self.reason = path, reason


def check_channels(channels: int) -> int:
    """``channels`` if it is 1 (grey) or 3 (RGB), the only counts the models and scalings know."""
    if channels not in PIL_MODES:
        raise DataError(f"data.channels must be 1 or 3, got {channels}")
    return channels


def check_background(background: str) -> int:
    """The grey level of ``data.background``; any other name is one line."""
    if background not in BACKGROUNDS:
        raise DataError(f"data.background={background!r} is not accepted: give "
                        f"{' or '.join(BACKGROUNDS)} ({DATA_CHOICES['data.background'][1]})")
    return BACKGROUNDS[background]


def root_dir(root: str | None, what: str) -> Path:
    """``data.root`` as a path, for ``what`` (a source that reads the user's files)."""
    if not root:
        raise DataError(f"data.root must be set for {what}")
    return Path(root).expanduser()


def image_files(folder: Path, pattern: str = "*") -> list[Path]:
    """Files matching ``pattern`` under ``folder`` with an image suffix, sorted by path. Hidden
    files (``.DS_Store``, macOS's ``._name`` copies, anything in a hidden folder) are never
    data, so they are neither read nor reported."""
    return sorted(p for p in folder.glob(pattern) if p.suffix.lower() in IMAGE_SUFFIXES
                  and not any(part.startswith(".") for part in p.relative_to(folder).parts))


def to_nchw(a: np.ndarray) -> torch.Tensor:
    """uint8 (N, H, W) or (N, H, W, C) -> a tensor (N, C, H, W) that owns its memory."""
    t = torch.from_numpy(np.array(a, copy=True))
    return t.unsqueeze(1) if t.ndim == 3 else t.permute(0, 3, 1, 2)


def refuse(path: str | Path, mode: str, why: str) -> Unreadable:
    """The error for an image whose pixels have no meaningful 0..255 scale."""
    return Unreadable(f"cannot read image '{path}': mode {mode} {why}; accepted: {PIXELS}",
                      path, f"mode {mode}")


def scale_16bit(im: Image.Image, path: str | Path) -> Image.Image:
    """16-bit grey (or 32-bit ``I`` holding 0..65535) as 8-bit grey, x / 257 rounded. PIL's own
    convert("L") clips at 255 instead, turning a 16-bit picture almost white."""
    a = np.asarray(im).astype(np.int64)
    lo, hi = int(a.min()), int(a.max())
    if lo < 0 or hi > 65535:
        raise refuse(path, im.mode, f"holds values {lo}..{hi}, outside 16-bit 0..65535")
    return Image.fromarray(((a + 128) // 257).astype(np.uint8), "L")


def flatten(im: Image.Image, background: str) -> tuple[Image.Image, bool]:
    """``im`` composited on ``background`` when it has transparent pixels (and True); otherwise
    ``im`` itself (and False), so an opaque image reads exactly as it always did."""
    if im.mode not in ALPHA_MODES and "transparency" not in im.info:
        return im, False
    if im.mode in ("I", "F") or im.mode.startswith("I;16"):  # a 16-bit colour key: left as is
        return im, False
    rgba = im.convert("RGBA")
    if rgba.getchannel("A").getextrema()[0] == 255:
        return im, False
    level = check_background(background)
    under = Image.new("RGBA", im.size, (level, level, level, 255))
    return Image.alpha_composite(under, rgba).convert("RGB"), True


def to_mode(im: Image.Image, mode: str, path: str | Path) -> np.ndarray:
    """The pixels of ``im`` as uint8 in PIL ``mode``: 16-bit grey scaled, floats refused (they
    have no fixed 0..255 scale), any other mode converted by PIL where it can."""
    if im.mode == "F":
        raise refuse(path, im.mode, "holds floating-point pixels with no fixed 0..255 scale")
    if im.mode == "I" or im.mode.startswith("I;16"):
        im = scale_16bit(im, path)
    try:
        return np.asarray(im.convert(mode))
    except ValueError:  # PIL has no conversion for it (e.g. LAB)
        raise refuse(path, im.mode, f"cannot be converted to {mode}") from None


UNREADABLE = (UnidentifiedImageError, OSError, Image.DecompressionBombError)


def unreadable(path: str | Path, e: Exception, what: str = "image") -> Unreadable:
    """The error for a file Pillow cannot read: one over its pixel limit (a
    DecompressionBombError, which is no OSError) says so, and is named or skipped by a folder
    scan like any other unreadable file."""
    if isinstance(e, Image.DecompressionBombError):
        reason = f"{e.__class__.__name__}: {str(e).split(', could')[0]}"
        return Unreadable(f"cannot read {what} '{path}': {reason}", path, reason)
    return Unreadable(f"cannot read {what} '{path}': {e.__class__.__name__} (expected an image "
                      f"file: {ACCEPTED})", path, e.__class__.__name__)


def load_image(path: str | Path, channels: int,
               background: str = "white") -> tuple[torch.Tensor, bool]:
    """An image file as uint8 (1, C, H, W), grey (C=1) or RGB (C=3), and whether it had
    transparent pixels (composited on ``background``); 16-bit grey is scaled to 0..255. Every
    failure is an ``Unreadable`` naming the file."""
    mode = PIL_MODES[check_channels(channels)]
    try:
        with Image.open(Path(path).expanduser()) as im:
            flat, transparent = flatten(im, background)
            a = to_mode(flat, mode, path)
    except UNREADABLE as e:
        raise unreadable(path, e) from None
    return to_nchw(a[None]), transparent


def read_image(path: str | Path, channels: int, background: str = "white") -> torch.Tensor:
    """``load_image``'s pixels alone."""
    return load_image(path, channels, background)[0]


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


class Scan:
    """One pass over a folder's files, tallying what was loaded, what could not be read (by
    name and reason) and what had to be upscaled. Every file is tried before anything is
    reported, so a user fixes a folder in one go, not one re-run per bad file."""

    def __init__(self, root: Path, total: int, size: int, what: str = "images",
                 background: str = "white"):
        self.root, self.total, self.size, self.what = Path(root), total, size, what
        self.background = background
        self.bad: list[str] = []
        self.upscaled = self.transparent = 0

    def image(self, path: str | Path, channels: int) -> torch.Tensor:
        """``read_image`` on ``data.background``, counting the images with transparent pixels."""
        x, transparent = load_image(path, channels, self.background)
        self.transparent += transparent
        return x

    def each(self, items, read):
        """``read(item)`` for every item that can be read; the others are noted, not raised."""
        for item in items:
            try:
                yield read(item)
            except Unreadable as e:
                path = Path(e.path)
                name = path.relative_to(self.root) if path.is_relative_to(self.root) else path
                self.bad.append(f"{name} ({e.reason})")

    def fit(self, x: torch.Tensor) -> torch.Tensor:
        """``x`` resized to the training size; counted when it was smaller and so upscaled."""
        self.upscaled += min(x.shape[-2:]) < self.size
        return resize_uint8(x, self.size)

    def finish(self, skip: bool) -> None:
        """Unreadable files stop the run with one line naming them, unless ``skip`` (and some
        are left): then a warning. Either way the log says what was loaded."""
        if self.bad:
            more = f" and {len(self.bad) - SHOWN} more" if len(self.bad) > SHOWN else ""
            what = (f"{len(self.bad)} of {self.total} {self.what} under '{self.root}' cannot be "
                    f"read: {', '.join(self.bad[:SHOWN])}{more}; accepted: {ACCEPTED} files of "
                    f"{PIXELS}")
            if len(self.bad) == self.total:
                raise DataError(f"{what}; none is left to train on")
            if not skip:
                raise DataError(f"{what}; set data.skip_unreadable=true to train without them")
            log.warning("%s; training without them (data.skip_unreadable=true)", what)
        if self.transparent:
            log.warning("%d of %d images under '%s' have transparent pixels: composited on %s "
                        "(data.background: %s)", self.transparent, self.total - len(self.bad),
                        self.root, self.background, " | ".join(BACKGROUNDS))
        log.info("data: %d %s loaded from '%s', %d skipped (unreadable), %d upscaled from "
                 "smaller than %d px", self.total - len(self.bad), self.what, self.root,
                 len(self.bad), self.upscaled, self.size)
