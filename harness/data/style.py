"""Content photos and a style image for the style family: offline, uint8, deterministic.

Content is random square crops of the photos bundled with scikit-image and scikit-learn (or of a
user's image folder). Whole photos are held out for evaluation, so the metrics measure
stylisation of unseen content; the held-out crops do not depend on the run's seed, so every
run of a study is scored on the same images. Crops are cut on the fly from uint8 photos held in
memory: a slice per sample, no per-step decoding.
"""
from __future__ import annotations

import logging
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from harness.data.images import (BACKGROUNDS, DataError, check_background, load_image,
                                 match_channels, resize_uint8, root_dir, to_nchw)
from harness.data.sources import load_folder
from harness.data.stream import StepData, choose, stream_rows

log = logging.getLogger("harness")

# Bundled RGB photos that load without network (skimage.data ships these files itself).
TRAIN_PHOTOS = ("coffee", "rocket", "hubble_deep_field", "immunohistochemistry", "retina",
                "motorcycle", "china", "flower")
EVAL_PHOTOS = ("astronaut", "chelsea")  # a person and a cat, never trained on: few flat crops
TEXTURES = ("brick", "grass", "gravel")  # skimage's greyscale textures, made RGB
EVAL_SEED = 12345
CROP_BLOCK = 4096  # crop positions drawn per block of the stream (any size gives the same stream)


@lru_cache(maxsize=None)
def bundled(name: str) -> torch.Tensor:
    """One bundled image as uint8 (1, C, H, W), C = 1 for the textures and 3 for photos."""
    if name in ("china", "flower"):
        from sklearn.datasets import load_sample_image

        a = load_sample_image(f"{name}.jpg")
    else:
        import skimage.data as skd

        if name not in TRAIN_PHOTOS + EVAL_PHOTOS + TEXTURES:
            raise DataError(f"unknown bundled image '{name}'")
        a = skd.stereo_motorcycle()[0] if name == "motorcycle" else getattr(skd, name)()
    return to_nchw(np.asarray(a, dtype=np.uint8)[None])


def shorter_side(x: torch.Tensor, size: int | None) -> torch.Tensor:
    """Resize so the shorter side is ``size`` (aspect kept, no crop); None keeps the image."""
    h, w = x.shape[-2:]
    if size is None or min(h, w) == size:
        return x
    s = size / min(h, w)
    y = F.interpolate(x.float(), size=(max(size, round(h * s)), max(size, round(w * s))),
                      mode="bilinear", antialias=True, align_corners=False)
    return y.round().clamp(0, 255).to(torch.uint8)


def load_style(style: str, size: int, channels: int = 3,
               background: str = "white") -> torch.Tensor:
    """A bundled image name or a path -> uint8 (1, C, size, size), centre-cropped; a file's
    transparent pixels composited on ``background`` (and said so)."""
    known = TEXTURES + TRAIN_PHOTOS + EVAL_PHOTOS
    if style in known:
        x = match_channels(bundled(style), channels)
    elif Path(style).expanduser().is_file():
        x, transparent = load_image(style, channels, background)
        if transparent:
            log.warning("style image '%s' has transparent pixels: composited on %s "
                        "(data.background: %s)", style, background, " | ".join(BACKGROUNDS))
    else:
        raise DataError(f"style image '{style}' not found (give an image file or a bundled "
                        f"texture: {', '.join(TEXTURES)})")
    return resize_uint8(x, size)


def cut_crops(photos: list[torch.Tensor], u, size: int) -> torch.Tensor:
    """uint8 crops (n, C, size, size), one per row of uniforms ``u`` (n, 3): the photo (uniform
    over photos), then its top and left (uniform over the positions that fit)."""
    u = torch.as_tensor(u, dtype=torch.float64)
    idx = (u[:, 0] * len(photos)).long()
    room = torch.tensor([[p.shape[-2] - size + 1, p.shape[-1] - size + 1] for p in photos])[idx]
    tl = (u[:, 1:] * room).long()
    return torch.stack([photos[i][:, t:t + size, l:l + size]
                        for i, (t, l) in zip(idx.tolist(), tl.tolist())])


# Every content source is a function of the data module -> (training photos, held-out photos),
# each a list of uint8 (C, H, W).
def bundled_photos(d: StyleData):
    """The photos bundled with scikit-image and scikit-learn; EVAL_PHOTOS held out."""
    def prep(name: str) -> torch.Tensor:
        return shorter_side(match_channels(bundled(name), d.channels), d.photo_size)[0].contiguous()
    return [prep(n) for n in TRAIN_PHOTOS], [prep(n) for n in EVAL_PHOTOS]


def folder_photos(d: StyleData):
    """The user's images (``data.root``), squared to ``photo_size``; every fifth held out."""
    root_dir(d.root, "content 'folder'")  # unset: name the key the user typed
    x = load_folder(d.root, False, d.channels, d.photo_size or 256, d.skip_unreadable,
                    d.background)
    if len(x) < 2:
        raise DataError(f"content folder '{d.root}' needs at least 2 images "
                        "(one is held out for evaluation)")
    held = set(range(4, len(x), 5)) or {len(x) - 1}  # every fifth image, sorted by name
    return [x[i] for i in range(len(x)) if i not in held], [x[i] for i in sorted(held)]


CONTENT = {"bundled": bundled_photos, "folder": folder_photos}


class StyleData(StepData):
    """Training stream of exactly ``steps`` batches of uint8 content crops (B, C, s, s);
    ``eval_images`` (fixed held-out crops) and ``style_image`` (uint8 (1, C, S, S)).

    Crop i of the stream is cut where a row of uniforms drawn from (seed, i) says, so the
    stream does not depend on how the run is cut into epochs."""

    # what it offers a family (FamilyModule.needs), declared so that a config is checked
    # against its family before anything is loaded; filled by ``setup``
    eval_images: torch.Tensor  # uint8 (eval_size, C, s, s), the held-out crops
    style_image: torch.Tensor  # uint8 (1, C, S, S)

    def __init__(self, steps: int, seed: int, content: str = "bundled", root: str | None = None,
                 crop_size: int = 64, batch_size: int = 4, eval_size: int = 16,
                 style: str = "brick", style_size: int = 128, photo_size: int | None = 256,
                 channels: int = 3, chunk: int = 0, skip_unreadable: bool = False,
                 background: str = "white"):
        super().__init__(steps, seed, batch_size, channels, chunk)
        self.content_photos = choose(CONTENT, content, "content source")
        check_background(background)
        self.background = background  # under the transparent pixels of the user's files
        self.content, self.root, self.skip_unreadable = content, root, skip_unreadable
        self.crop_size, self.photo_size = crop_size, photo_size
        self.eval_size = eval_size
        self.style, self.style_size = style, style_size
        self.train_photos: list[torch.Tensor] | None = None
        self.eval_images = self.style_image = None

    def setup(self, stage: str | None = None) -> None:
        if self.train_photos is not None:
            return
        train, held = self.content_photos(self)
        small = min(min(p.shape[-2:]) for p in train + held)
        if small < self.crop_size:
            raise DataError(f"data.crop_size={self.crop_size} is larger than a content photo "
                            f"({small} px); lower it or raise data.photo_size")
        self.train_photos = train
        u = torch.rand(self.eval_size, 3, dtype=torch.float64,
                       generator=torch.Generator().manual_seed(EVAL_SEED))
        self.eval_images = cut_crops(held, u, self.crop_size)
        self.style_image = load_style(self.style, self.style_size, self.channels,
                                      self.background)

    def stream(self, start: int, stop: int) -> np.ndarray:
        """One row of uniforms (photo, top, left) per crop."""
        def draw(rng: np.random.Generator) -> np.ndarray:
            return rng.random((CROP_BLOCK, 3))
        return stream_rows(self.seed, start, stop, CROP_BLOCK, draw)

    def take(self, rows: np.ndarray) -> torch.Tensor:
        return cut_crops(self.train_photos, rows, self.crop_size)
