"""The GAN's image sources (the embedded digits, colour digits, a folder, torchvision's sets) and
their data module, all uint8 tensors (N, C, H, W): scaling happens on the device.

Keeping pixels as uint8 until the model encodes them means every scaling sees exactly the same
data, and the loader does no per-step PIL or NumPy work.
"""
from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from harness.data.faces import groups, load_faces
from harness.data.images import (ACCEPTED, DataError, Scan, check_background, check_channels,
                                 image_files, match_channels, resize_uint8, root_dir, to_nchw)
from harness.data.stream import StepData, choose


# ------------------------------------------------------------------------------------ sources
# Every loader takes (root, download, channels, image_size, skip_unreadable, background, and
# its source's own settings as keywords) and returns uint8 (N, 1|3, H, W); load_images then matches the channels and resizes, which is a
# no-op where the loader did it. Only files have transparency for ``background`` to fill.
def load_digits(root: str | None, download: bool, channels: int, image_size: int,
                skip_unreadable: bool = False, background: str = "white") -> torch.Tensor:
    """scikit-learn's bundled 8x8 digits (values 0..16), as 0..255 uint8; no network."""
    from sklearn.datasets import load_digits as sk_digits

    d = sk_digits().images  # (1797, 8, 8) floats 0..16
    return to_nchw((d * (255 / 16)).round().astype(np.uint8))


COLOUR_SEED = 2026  # the colours are part of the data set: fixed, whatever the run's seed
BACKGROUND = (64, 192)  # grey levels of the backgrounds: mid-grey, never the range's bound


def load_colour_digits(root: str | None, download: bool, channels: int, image_size: int,
                       skip_unreadable: bool = False, background: str = "white") -> torch.Tensor:
    """The digits drawn in a random colour on a random mid-grey background, one pair per image
    (``COLOUR_SEED``): colour data on which the background is not black, so clipping at 0 no
    longer gives every head the most common pixel value for free."""
    grey = load_digits(root, download, 1, image_size).float() / 255  # ink, 0..1
    rng = np.random.default_rng(COLOUR_SEED)
    n = len(grey)
    ink = torch.from_numpy(rng.integers(0, 256, (n, 3))).float().view(n, 3, 1, 1)
    back = torch.from_numpy(rng.integers(*BACKGROUND, n, endpoint=True)).float().view(n, 1, 1, 1)
    return (back + (ink - back) * grey).round().clamp(0, 255).to(torch.uint8)


def load_folder(root: str | None, download: bool, channels: int, image_size: int,
                skip_unreadable: bool = False, background: str = "white") -> torch.Tensor:
    """Every image under ``root`` (recursively), resized and centre-cropped, transparent pixels
    composited on ``background``. All files are tried before any unreadable one stops the run;
    ``skip_unreadable`` leaves them out instead."""
    path = root_dir(root, "source 'folder'")
    if not path.is_dir():
        raise DataError(f"data.root '{root}' is not a directory (expected a folder of images)")
    files = image_files(path, "**/*")
    if not files:
        raise DataError(f"no images under '{root}' (accepted: {ACCEPTED})")
    scan = Scan(path, len(files), image_size, background=background)
    images = [scan.fit(x) for x in scan.each(files, lambda f: scan.image(f, channels))]
    scan.finish(skip_unreadable)
    return torch.cat(images)


def torchvision_set(name: str, root: str | None, make):
    """``make(path)`` for torchvision's set ``name`` under ``data.root`` (``data`` when unset);
    a set that is not there (and not asked to download) is one line saying how to fetch it."""
    root = root or "data"
    try:
        return make(str(Path(root).expanduser()))
    except RuntimeError as e:
        raise DataError(f"{name} not found under data.root '{root}' ({e}); "
                        "set data.download=true to fetch it") from None


def torchvision_loader(name: str, dataset: str):
    """A loader for torchvision's ``dataset`` train split; it downloads only when asked."""
    def load(root: str | None, download: bool, channels: int, image_size: int,
             skip_unreadable: bool = False, background: str = "white") -> torch.Tensor:
        import torchvision.datasets as tvd

        ds = torchvision_set(name, root, lambda path: getattr(tvd, dataset)(
            root=path, train=True, download=download))
        return to_nchw(ds.data.numpy() if torch.is_tensor(ds.data) else ds.data)
    return load


SOURCES: dict[str, Callable[..., torch.Tensor]] = {
    "digits": load_digits,
    "colour_digits": load_colour_digits,
    "faces": load_faces,
    "folder": load_folder,
    "mnist": torchvision_loader("mnist", "MNIST"),
    "fashion_mnist": torchvision_loader("fashion_mnist", "FashionMNIST"),
    "cifar10": torchvision_loader("cifar10", "CIFAR10"),
}


# a source's own settings (``data.<source>.*``), passed to its loader alone
OPTIONS = {"faces": "faces"}


def load_images(source: str, *, channels: int, image_size: int, root: str | None = None,
                download: bool = False, limit: int | None = None,
                skip_unreadable: bool = False, background: str = "white",
                options: dict | None = None) -> torch.Tensor:
    """``source``'s images as uint8 (N, channels, image_size, image_size), at most ``limit``;
    ``options``: the source's own settings (``data.faces``)."""
    load = choose(SOURCES, source)
    x = load(root, download, check_channels(channels), image_size, skip_unreadable,
             background, **(options or {}))[:limit]
    return resize_uint8(match_channels(x, channels), image_size)


def groups_of(source: str, root: str | None, options: dict | None) -> list[str] | None:
    """Each image's group, in load order, where a source has near-copies to keep on one side of
    the held-out split (the faces' skin-tone variants); None elsewhere."""
    return groups(root, options["package"]) if source == "faces" else None


HOLD_OUT_SEED = 12345  # the held-out split is part of the data set: fixed, whatever the run's seed


def hold_out(n: int, size: int | None = None, groups: list | None = None
             ) -> tuple[torch.Tensor, torch.Tensor]:
    """(held-out, rest) indices of ``n`` images: the first ``size`` (at most a quarter of the
    set; all of that quarter without ``size``) of one fixed permutation. The images a GAN run is
    measured against, and those the digit ruler never trains on (``harness.metrics.digit_net``).
    With ``groups`` (one per image), whole groups in a fixed order, each held out while it fits
    in those ``size``: no image has a member of its group on the other side."""
    k = n // 4 if size is None else min(size, n // 4)
    if groups is None:
        perm = torch.randperm(n, generator=torch.Generator().manual_seed(HOLD_OUT_SEED))
        return perm[:k], perm[k:]
    members: dict = {}
    for i, g in enumerate(groups):
        members.setdefault(g, []).append(i)
    order = torch.randperm(len(members), generator=torch.Generator().manual_seed(HOLD_OUT_SEED))
    names, held = list(members), []
    for j in order.tolist():
        if len(held) + len(members[names[j]]) <= k:
            held += members[names[j]]
    kept = set(held)
    return torch.tensor(held, dtype=torch.long), torch.tensor(
        [i for i in range(n) if i not in kept], dtype=torch.long)


EVAL_MIN = 2  # held-out images a GAN's metrics need: KID compares subsets of two at least


def images_needed(eval_size: int, batch_size: int) -> int:
    """The fewest images that leave ``min(eval_size, EVAL_MIN)`` held out (``hold_out`` keeps
    at most a quarter) and a batch of distinct training images."""
    n = batch_size
    while min(eval_size, n // 4) < min(eval_size, EVAL_MIN) \
            or n - min(eval_size, n // 4) < batch_size:
        n += 1
    return n


class ImageData(StepData):
    """uint8 images in memory: the training stream, and a fixed held-out set of ``eval_size``
    images for metrics."""

    # what it offers a family (FamilyModule.needs), declared so that a config is checked
    # against its family before anything is loaded; filled by ``setup``
    train_images: torch.Tensor  # uint8 (N, C, H, W)
    eval_images: torch.Tensor  # uint8 (eval_size, C, H, W), the held-out set

    def __init__(self, source: str, channels: int, image_size: int, batch_size: int,
                 eval_size: int, steps: int, seed: int, root: str | None = None,
                 download: bool = False, limit: int | None = None, chunk: int = 0,
                 skip_unreadable: bool = False, background: str = "white",
                 faces: Mapping | None = None):
        super().__init__(steps, seed, batch_size, channels, chunk)
        check_background(background)
        given = {k: v for k, v in {"faces": faces}.items() if v is not None}
        wrong = [k for k in given if OPTIONS.get(source) != k]
        if wrong:
            raise DataError(f"data.{wrong[0]} does nothing here: it is the {wrong[0]} source's "
                            f"own settings, and data.source is {source}")
        self.cfg = dict(source=source, channels=channels, image_size=image_size, root=root,
                        download=download, limit=limit, skip_unreadable=skip_unreadable,
                        background=background, options=dict(given.get(OPTIONS.get(source)) or {}))
        self.eval_size = eval_size
        self.train_images = self.eval_images = None

    def setup(self, stage: str | None = None) -> None:
        if self.train_images is not None:
            return
        x = load_images(**self.cfg)
        self.check_size(len(x))
        groups = groups_of(self.cfg["source"], self.cfg["root"], self.cfg["options"])
        held, rest = hold_out(len(x), self.eval_size, groups and groups[:len(x)])
        self.eval_images, self.train_images = x[held], x[rest]
        self.check_enough()

    def check_size(self, n: int) -> None:
        """Enough images for a held-out set and a training batch: fewer is one line saying how
        many there are and how many are needed, before the metrics meet an empty set."""
        need = images_needed(self.eval_size, self.batch_size)
        if n < need:
            where = f" under '{self.cfg['root']}'" if self.cfg["source"] == "folder" else ""
            limit = f" (data.limit={self.cfg['limit']})" if self.cfg["limit"] else ""
            raise DataError(
                f"only {n} images{where}{limit}: the held-out set the metrics compare against "
                f"takes a quarter of them (at most data.eval_size={self.eval_size}) and needs "
                f"at least {min(self.eval_size, EVAL_MIN)}, and training a batch of "
                f"data.batch_size={self.batch_size} more: give at least {need} images"
                + (" or lower data.batch_size" if need > images_needed(self.eval_size, 1)
                   else ""))

    def training_tensors(self) -> tuple[torch.Tensor, ...]:
        return (self.train_images,)
