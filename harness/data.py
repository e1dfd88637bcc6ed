"""Image sources, all returned as uint8 tensors (N, C, H, W): scaling happens on the device.

Keeping pixels as uint8 until the model encodes them means every scaling sees exactly the same
data, and the loader does no per-step PIL or NumPy work.
"""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytorch_lightning as pl
import torch
import torch.nn.functional as F
from PIL import Image, UnidentifiedImageError
from torch.utils.data import DataLoader, RandomSampler, TensorDataset

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp"}


class DataError(ValueError):
    """Bad data input: the message names what was wrong and what is accepted."""


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


def _to_nchw(a: np.ndarray) -> torch.Tensor:
    t = torch.from_numpy(np.array(a, copy=True))
    return t.unsqueeze(1) if t.ndim == 3 else t.permute(0, 3, 1, 2)


def _match_channels(x: torch.Tensor, channels: int) -> torch.Tensor:
    if x.shape[1] == channels:
        return x
    if channels == 1:  # ITU-R 601 luma, as PIL's convert("L")
        w = torch.tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1)
        return (x.float() * w).sum(1, keepdim=True).round().clamp(0, 255).to(torch.uint8)
    return x.expand(-1, channels, -1, -1)


def load_digits() -> torch.Tensor:
    """scikit-learn's bundled 8x8 digits (values 0..16), as 0..255 uint8; no network."""
    from sklearn.datasets import load_digits as sk_digits

    d = sk_digits().images  # (1797, 8, 8) floats 0..16
    return _to_nchw((d * (255 / 16)).round().astype(np.uint8))


def load_folder(root: str, channels: int, size: int) -> torch.Tensor:
    """Every image under ``root`` (recursively), resized and centre-cropped."""
    path = Path(root).expanduser()
    if not path.is_dir():
        raise DataError(f"data.root '{root}' is not a directory (expected a folder of images)")
    files = sorted(p for p in path.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise DataError(f"no images under '{root}' (accepted: {', '.join(sorted(IMAGE_SUFFIXES))})")
    mode = "L" if channels == 1 else "RGB"
    out = []
    for f in files:
        try:
            with Image.open(f) as im:
                a = np.asarray(im.convert(mode))
        except (UnidentifiedImageError, OSError) as e:
            raise DataError(f"cannot read image '{f}': {e.__class__.__name__}") from None
        out.append(resize_uint8(_to_nchw(a[None]), size))
    return torch.cat(out)


def load_torchvision(name: str, root: str, download: bool) -> torch.Tensor:
    """MNIST / Fashion-MNIST / CIFAR-10 train split from ``root``; downloads only when asked."""
    import torchvision.datasets as tvd

    cls = {"mnist": tvd.MNIST, "fashion_mnist": tvd.FashionMNIST, "cifar10": tvd.CIFAR10}[name]
    try:
        ds = cls(root=str(Path(root).expanduser()), train=True, download=download)
    except RuntimeError as e:
        raise DataError(f"{name} not found under data.root '{root}' ({e}); "
                        "set data.download=true to fetch it") from None
    data = ds.data.numpy() if torch.is_tensor(ds.data) else ds.data
    return _to_nchw(data)


SOURCES = ("digits", "folder", "mnist", "fashion_mnist", "cifar10")


def load_images(source: str, *, channels: int, image_size: int, root: str | None = None,
                download: bool = False, limit: int | None = None) -> torch.Tensor:
    if channels not in (1, 3):
        raise DataError(f"data.channels must be 1 or 3, got {channels}")
    if source == "digits":
        x = load_digits()
    elif source == "folder":
        if not root:
            raise DataError("data.root must be set for source 'folder'")
        return load_folder(root, channels, image_size)[:limit]
    elif source in SOURCES:
        x = load_torchvision(source, root or "data", download)
    else:
        raise DataError(f"unknown data source '{source}'; valid choices: {', '.join(SOURCES)}")
    return resize_uint8(_match_channels(x[:limit], channels), image_size)


class StepData(pl.LightningDataModule):
    """A training stream of exactly ``steps`` batches, cut into epochs of ``chunk`` batches.

    Epoch ends are where a run checkpoints, and the batches of epoch ``e`` depend only on
    ``(seed, e)``, so a run resumed from a checkpoint sees the same data as one never stopped.
    The Trainer must reload the loader every epoch and run ``epochs`` of them.
    """

    def __init__(self, steps: int, seed: int, batch_size: int, chunk: int = 0):
        super().__init__()
        self.steps, self.seed, self.batch_size = steps, seed, batch_size
        self.chunk = chunk if 0 < chunk < steps else steps

    @property
    def epochs(self) -> int:
        return math.ceil(self.steps / self.chunk)

    def train_dataloader(self) -> DataLoader:
        epoch = self.trainer.current_epoch if self.trainer is not None else 0
        n = min(self.chunk, self.steps - epoch * self.chunk)
        g = torch.Generator().manual_seed(self.seed * 1_000_003 + epoch)
        return self.loader(n * self.batch_size, g)

    def loader(self, num_samples: int, generator: torch.Generator) -> DataLoader:
        """``num_samples`` training examples in batches of ``batch_size``, drawn with ``generator``."""
        raise NotImplementedError


class ImageData(StepData):
    """uint8 images in memory: the training stream, and a fixed held-out set of ``eval_size``
    images for metrics."""

    def __init__(self, source: str, channels: int, image_size: int, batch_size: int,
                 eval_size: int, steps: int, seed: int, root: str | None = None,
                 download: bool = False, limit: int | None = None, chunk: int = 0):
        super().__init__(steps, seed, batch_size, chunk)
        self.cfg = dict(source=source, channels=channels, image_size=image_size, root=root,
                        download=download, limit=limit)
        self.eval_size = eval_size
        self.train_images = self.eval_images = None

    def setup(self, stage: str | None = None) -> None:
        if self.train_images is not None:
            return
        x = load_images(**self.cfg)
        perm = torch.randperm(len(x), generator=torch.Generator().manual_seed(12345))
        n_eval = min(self.eval_size, len(x) // 4)
        self.eval_images, self.train_images = x[perm[:n_eval]], x[perm[n_eval:]]
        if len(self.train_images) < self.batch_size:
            raise DataError(f"only {len(self.train_images)} training images, fewer than "
                            f"data.batch_size={self.batch_size}")

    def loader(self, num_samples: int, generator: torch.Generator) -> DataLoader:
        ds = TensorDataset(self.train_images)
        sampler = RandomSampler(ds, num_samples=num_samples, generator=generator)
        return DataLoader(ds, batch_size=self.batch_size, sampler=sampler, drop_last=True)
