"""Content photos and a style image for the style family: offline, uint8, deterministic.

Content is random square crops of the photos bundled with scikit-image and scikit-learn (or of a
user's image folder). Whole photos are held out for evaluation, so the metrics measure
stylisation of unseen content; the held-out crops do not depend on the run's seed, so every
run of a study is scored on the same images. Crops are cut on the fly from uint8 photos held in
memory: a slice per sample, no per-step decoding.
"""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, UnidentifiedImageError
from torch.utils.data import DataLoader, Dataset

from .data import DataError, StepData, _match_channels, _to_nchw, load_folder, resize_uint8

# Bundled RGB photos that load without network (skimage.data ships these files itself).
TRAIN_PHOTOS = ("coffee", "rocket", "hubble_deep_field", "immunohistochemistry", "retina",
                "motorcycle", "china", "flower")
EVAL_PHOTOS = ("astronaut", "chelsea")  # a person and a cat, never trained on: few flat crops
TEXTURES = ("brick", "grass", "gravel")  # skimage's greyscale textures, made RGB
EVAL_SEED = 12345


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
    return _to_nchw(np.asarray(a, dtype=np.uint8)[None])


def shorter_side(x: torch.Tensor, size: int | None) -> torch.Tensor:
    """Resize so the shorter side is ``size`` (aspect kept, no crop); None keeps the image."""
    h, w = x.shape[-2:]
    if size is None or min(h, w) == size:
        return x
    s = size / min(h, w)
    y = F.interpolate(x.float(), size=(max(size, round(h * s)), max(size, round(w * s))),
                      mode="bilinear", antialias=True, align_corners=False)
    return y.round().clamp(0, 255).to(torch.uint8)


def read_image(path: str, channels: int) -> torch.Tensor:
    """An image file as uint8 (1, C, H, W); a missing or unreadable file is one DataError line."""
    p = Path(path).expanduser()
    if not p.is_file():
        raise DataError(f"style image '{path}' not found (give an image file or a bundled "
                        f"texture: {', '.join(TEXTURES)})")
    try:
        with Image.open(p) as im:
            a = np.asarray(im.convert("L" if channels == 1 else "RGB"))
    except (UnidentifiedImageError, OSError) as e:
        raise DataError(f"cannot read style image '{path}': {e.__class__.__name__}") from None
    return _to_nchw(a[None])


def load_style(style: str, size: int, channels: int = 3) -> torch.Tensor:
    """A bundled image name or a path -> uint8 (1, C, size, size), centre-cropped."""
    known = TEXTURES + TRAIN_PHOTOS + EVAL_PHOTOS
    x = bundled(style) if style in known else read_image(style, channels)
    return resize_uint8(_match_channels(x, channels), size)


def crop_positions(photos: list[torch.Tensor], n: int, size: int, gen: torch.Generator):
    """n random (photo, top, left) triples, uniform over photos, then over positions.
    One uniform triple per crop, so the first k of n crops are the k crops of a shorter draw."""
    u = torch.rand(n, 3, dtype=torch.float64, generator=gen)
    idx = (u[:, 0] * len(photos)).long()
    room = torch.tensor([[p.shape[-2] - size + 1, p.shape[-1] - size + 1] for p in photos])[idx]
    tl = (u[:, 1:] * room).long()
    return idx.tolist(), tl[:, 0].tolist(), tl[:, 1].tolist()


class RandomCrops(Dataset):
    """``n`` crops at positions drawn once from ``gen``: the stream is fixed by the seed."""

    def __init__(self, photos: list[torch.Tensor], n: int, size: int, gen: torch.Generator):
        self.photos, self.size = photos, size
        self.idx, self.top, self.left = crop_positions(photos, n, size, gen)

    def __len__(self) -> int:
        return len(self.idx)

    def __getitem__(self, i: int) -> torch.Tensor:
        t, l, s = self.top[i], self.left[i], self.size
        return self.photos[self.idx[i]][:, t:t + s, l:l + s]


class StyleData(StepData):
    """Training stream of exactly ``steps`` batches of uint8 content crops (B, C, s, s);
    ``eval_images`` (fixed held-out crops) and ``style_image`` (uint8 (1, C, S, S))."""

    def __init__(self, steps: int, seed: int, content: str = "bundled", root: str | None = None,
                 crop_size: int = 64, batch_size: int = 4, eval_size: int = 16,
                 style: str = "brick", style_size: int = 128, photo_size: int | None = 256,
                 channels: int = 3, chunk: int = 0):
        super().__init__(steps, seed, batch_size, chunk)
        if channels not in (1, 3):
            raise DataError(f"data.channels must be 1 or 3, got {channels}")
        if content not in ("bundled", "folder"):
            raise DataError(f"unknown content '{content}'; valid choices: bundled, folder")
        self.content, self.root, self.channels = content, root, channels
        self.crop_size, self.photo_size = crop_size, photo_size
        self.eval_size = eval_size
        self.style, self.style_size = style, style_size
        self.train_photos: list[torch.Tensor] | None = None
        self.eval_images = self.style_image = None

    def _photos(self) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
        """(training photos, held-out photos), each uint8 (C, H, W)."""
        if self.content == "bundled":
            prep = lambda n: shorter_side(_match_channels(bundled(n), self.channels),  # noqa: E731
                                          self.photo_size)[0].contiguous()
            return [prep(n) for n in TRAIN_PHOTOS], [prep(n) for n in EVAL_PHOTOS]
        if not self.root:
            raise DataError("data.root must be set for content 'folder'")
        x = load_folder(self.root, self.channels, self.photo_size or 256)
        if len(x) < 2:
            raise DataError(f"content folder '{self.root}' needs at least 2 images "
                            "(one is held out for evaluation)")
        held = set(range(4, len(x), 5)) or {len(x) - 1}  # every fifth image, sorted by name
        return ([x[i] for i in range(len(x)) if i not in held], [x[i] for i in sorted(held)])

    def setup(self, stage: str | None = None) -> None:
        if self.train_photos is not None:
            return
        train, held = self._photos()
        small = min(min(p.shape[-2:]) for p in train + held)
        if small < self.crop_size:
            raise DataError(f"data.crop_size={self.crop_size} is larger than a content photo "
                            f"({small} px); lower it or raise data.photo_size")
        self.train_photos = train
        gen = torch.Generator().manual_seed(EVAL_SEED)
        self.eval_images = torch.stack(list(RandomCrops(held, self.eval_size, self.crop_size, gen)))
        self.style_image = load_style(self.style, self.style_size, self.channels)

    def loader(self, num_samples: int, generator: torch.Generator) -> DataLoader:
        crops = RandomCrops(self.train_photos, num_samples, self.crop_size, generator)
        return DataLoader(crops, batch_size=self.batch_size, shuffle=False, drop_last=True)
