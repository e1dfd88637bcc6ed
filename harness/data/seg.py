"""Segmentation data: uint8 images (N, C, H, W) with uint8 class-id masks (N, H, W).

The embedded default is a texture mosaic (``harness.data.mosaic``), so the ``seg`` family runs
offline. Real data (VOC, Oxford-IIIT Pet, a folder of image/mask pairs) goes through one checked
loader.
"""
from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from harness.data.images import (UNREADABLE, DataError, Scan, check_background, image_files,
                                 resize_square, root_dir, unreadable)
from harness.data.mosaic import make_mosaic
from harness.data.sources import torchvision_set
from harness.data.stream import StepData, choose

# ------------------------------------------------------------------------------- real pairs
def resize_mask(m: torch.Tensor, size: int) -> torch.Tensor:
    """Class ids (N, H, W) with ``resize_uint8``'s geometry (shorter side, centre crop), nearest."""
    return resize_square(m, size, lambda t, hw: F.interpolate(
        t[:, None].float(), size=hw, mode="nearest-exact")[:, 0].to(t.dtype))


BINARY = 255  # data.binary_masks: a 0/255 mask's foreground, read as class 1


def read_mask(path: Path, n_classes: int, ignore_index: int, lut: np.ndarray | None,
              binary: bool = False) -> np.ndarray:
    """One mask of class ids; anything but ``0..n_classes-1`` or ``ignore_index`` is an error.
    ``binary``: 255 is class 1 (a 0/255 mask), not the ignore index."""
    try:
        with Image.open(path) as im:
            if im.mode not in ("1", "L", "P", "I", "I;16"):
                raise DataError(f"mask '{path}' is {im.mode}; expected one class id per pixel "
                                "(a grey or palette PNG)")
            raw = np.asarray(im).astype(np.int64)
    except UNREADABLE as e:
        raise unreadable(path, e, "mask") from None
    if binary:
        raw = np.where(raw == BINARY, 1, raw)
    m = raw if lut is None else np.where(raw < len(lut), lut[np.clip(raw, 0, len(lut) - 1)], -1)
    bad = (m < 0) | ((m >= n_classes) & (m != ignore_index))
    if bad.any():
        raise DataError(f"mask '{path}' holds unknown class id {int(raw[bad][0])} (valid: "
                        f"0..{n_classes - 1} or ignore_index {ignore_index})")
    return m.astype(np.uint8)


def load_pairs(pairs, root: Path, *, channels: int, image_size: int, n_classes: int,
               ignore_index: int, lut: np.ndarray | None = None, skip_unreadable: bool = False,
               background: str = "white", binary: bool = False):
    """(image path, mask path) pairs under ``root`` -> checked, resized uint8 images and masks,
    and the indices of the pairs they came from. Every pair is tried before an unreadable image
    or mask stops the run; ``skip_unreadable`` leaves such pairs out instead. Transparent image
    pixels are composited on ``background``; ``binary``: masks are 0/255 (``read_mask``)."""
    if not pairs:
        raise DataError("no image/mask pairs found")
    scan = Scan(root, len(pairs), image_size, "image/mask pairs", background)

    def read(item):
        i, (image_path, mask_path) = item
        x = scan.image(image_path, channels)  # at full size, checked against its mask
        m = read_mask(Path(mask_path), n_classes, ignore_index, lut, binary)
        if m.shape != x.shape[-2:]:
            raise DataError(f"mask '{mask_path}' is {m.shape[1]}x{m.shape[0]} but its image "
                            f"'{image_path}' is {x.shape[-1]}x{x.shape[-2]}")
        return i, scan.fit(x), resize_mask(torch.from_numpy(m)[None], image_size)
    read_ones = list(scan.each(enumerate(pairs), read))
    scan.finish(skip_unreadable)  # raises when none could be read
    kept, images, masks = zip(*read_ones)
    return torch.cat(images), torch.cat(masks), torch.tensor(kept)


def folder_pairs(root: str | None) -> list[tuple[Path, Path]]:
    """``root/images/<stem>.<png|jpg|...>`` with ``root/masks/<stem>.png``."""
    base = root_dir(root, "source 'folder'")
    files = image_files(base / "images")
    if not files:
        raise DataError(f"no images under '{base / 'images'}' (expected root/images/*.png|jpg "
                        "and root/masks/<same name>.png)")
    pairs = [(f, base / "masks" / f"{f.stem}.png") for f in files]
    for f, m in pairs:
        if not m.is_file():
            raise DataError(f"image '{f}' has no mask '{m}'")
    return pairs


# Pet trimaps: 1 pet, 2 background, 3 border -> classes 1, 0, 2; any other value is unknown (-1).
PET_LUT = np.full(256, -1, np.int64)
PET_LUT[[1, 2, 3]] = [1, 0, 2]


# -------------------------------------------------------------------------------- sources
# Every source is a function of the data module -> ((train images, masks), (val images, masks)).
def mosaic_splits(d: SegData):
    """The embedded mosaic: both splits fixed by ``dataset_seed``, disjoint texture halves."""
    kw = dict(dataset_seed=d.dataset_seed, image_size=d.image_size, n_classes=d.n_classes,
              channels=d.channels, **d.mosaic)
    return make_mosaic(d.n_train, split=0, **kw), make_mosaic(d.n_val, split=1, **kw)


def read_pairs(d: SegData, pairs, lut: np.ndarray | None = None):
    """``load_pairs`` with the data module's settings; names are shown relative to its root."""
    return load_pairs(pairs, Path(d.root or "data").expanduser(), channels=d.channels,
                      image_size=d.image_size, n_classes=d.n_classes, ignore_index=d.ignore_index,
                      lut=lut, skip_unreadable=d.skip_unreadable, background=d.background,
                      binary=d.binary_masks)


def load_splits(d: SegData, train, val, lut: np.ndarray | None = None):
    """Train and validation (image path, mask path) pairs -> checked uint8 tensors, read in one
    scan so that every unreadable file of both is named at once."""
    if not (train and val):
        raise DataError("no image/mask pairs found for the training or the validation split")
    images, masks, kept = read_pairs(d, list(train) + list(val), lut)
    is_train = kept < len(train)
    return (images[is_train], masks[is_train]), (images[~is_train], masks[~is_train])


def folder_splits(d: SegData):
    """The user's pairs, ``n_val`` of them (at most a quarter) held out by ``dataset_seed``;
    the split is drawn over the readable pairs."""
    images, masks, _ = read_pairs(d, folder_pairs(d.root))
    check_labels(d, masks)
    n = len(images)
    if n < 2:
        raise DataError(f"'{d.root}' needs at least 2 image/mask pairs (train and validation)")
    perm = torch.from_numpy(np.random.default_rng(d.dataset_seed).permutation(n))
    n_val = max(1, min(d.n_val or n // 4, n // 4))
    train, val = perm[n_val:][:d.n_train], perm[:n_val]
    return (images[train], masks[train]), (images[val], masks[val])


def check_labels(d: SegData, masks: torch.Tensor) -> None:
    """The user's masks label something: masks holding only 0 and the ignore index are 0/255
    binary masks read with 255 as "ignore", which would train on background alone (mIoU 0)."""
    labels = set(torch.unique(masks).tolist())
    if d.ignore_index in labels and labels <= {0, d.ignore_index}:
        raise DataError(
            f"every mask under '{Path(d.root) / 'masks'}' holds only 0 and {d.ignore_index} "
            f"(data.ignore_index): all foreground would be ignored and the run would learn "
            f"nothing; for 0/{BINARY} binary masks set data.binary_masks=true ({BINARY} is class "
            f"1, with data.n_classes=2), else relabel them 0..{d.n_classes - 1}")


def torchvision_splits(files, lut: np.ndarray | None = None):
    """A source for a torchvision set whose ``files(path, train, d)`` lists (image, mask) pairs;
    its own train and validation splits, capped at ``n_train``/``n_val``."""
    def load(d: SegData):
        train, val = [torchvision_set(d.source, d.root, lambda path: files(path, split, d))
                      for split in (True, False)]
        return load_splits(d, train[:d.n_train], val[:d.n_val], lut)
    return load


def voc_files(path: str, train: bool, d: SegData) -> list[tuple[str, str]]:
    """PASCAL VOC segmentation, image_set train or val."""
    import torchvision.datasets as tvd

    ds = tvd.VOCSegmentation(path, year=d.year, download=d.download,
                             image_set="train" if train else "val")
    return list(zip(ds.images, ds.masks))


def pet_files(path: str, train: bool, d: SegData) -> list[tuple[str, str]]:
    """Oxford-IIIT Pet trimaps, split trainval or test."""
    import torchvision.datasets as tvd

    ds = tvd.OxfordIIITPet(path, target_types="segmentation", download=d.download,
                           split="trainval" if train else "test")
    return list(zip(ds._images, ds._segs))  # torchvision keeps the file lists private


SOURCES = {"mosaic": mosaic_splits, "voc": torchvision_splits(voc_files),
           "pet": torchvision_splits(pet_files, PET_LUT), "folder": folder_splits}


# ------------------------------------------------------------------------------ data module
EVAL_SPLITS = ("test", "validation")


class SegData(StepData):
    """Images and masks in memory: the training stream of ``(uint8 images, uint8 masks)``
    batches, and a fixed validation split (``val_images``, ``val_masks``).

    ``dataset_seed`` fixes the mosaic (and the folder's split) independently of the run seed,
    which only orders the training stream. For real sources ``n_train``/``n_val`` are caps.

    ``eval_split="validation"`` is for tuning: the first ``n_val`` training images (at most a
    quarter) are measured and not trained on, and the held-out split is never loaded into the
    run, so a search cannot fit the split the comparison is measured on (``"test"``).
    """

    # what it offers a family (FamilyModule.needs), declared so that a config is checked
    # against its family before anything is loaded; filled by ``setup``
    train_images: torch.Tensor  # uint8 (N, C, H, W)
    train_masks: torch.Tensor  # uint8 (N, H, W) class ids
    val_images: torch.Tensor  # the held-out split (or the validation images carved out)
    val_masks: torch.Tensor

    def __init__(self, source: str, channels: int, image_size: int, n_classes: int,
                 batch_size: int, steps: int, seed: int, n_train: int | None = 512,
                 n_val: int | None = 128, dataset_seed: int = 0, ignore_index: int = 255,
                 root: str | None = None, download: bool = False, year: str = "2012",
                 mosaic: Mapping | None = None, chunk: int = 0, skip_unreadable: bool = False,
                 eval_split: str = "test", background: str = "white", binary_masks: bool = False):
        super().__init__(steps, seed, batch_size, channels, chunk)
        self.splits = choose(SOURCES, source)
        if eval_split not in EVAL_SPLITS:
            raise DataError(f"data.eval_split={eval_split!r} is not accepted: give "
                            f"{' or '.join(EVAL_SPLITS)} (what a run is measured on)")
        self.eval_split = eval_split
        if not n_classes <= ignore_index <= 255:
            raise DataError(f"data.ignore_index must be in n_classes..255, got {ignore_index}")
        self.source, self.image_size, self.n_classes = source, image_size, n_classes
        self.n_train, self.n_val, self.dataset_seed = n_train, n_val, dataset_seed
        self.ignore_index, self.root, self.download, self.year = ignore_index, root, download, year
        if binary_masks and n_classes != 2:
            raise DataError(f"data.binary_masks=true reads 0/{BINARY} masks as classes 0 and 1: "
                            f"set data.n_classes=2 (got {n_classes})")
        self.skip_unreadable, self.binary_masks = skip_unreadable, binary_masks
        self.background = background  # under the transparent pixels of the user's images
        check_background(background)
        self.mosaic = dict(mosaic or {})  # the mosaic's own settings (``make_mosaic``)
        self.train_images = self.train_masks = self.val_images = self.val_masks = None

    def setup(self, stage: str | None = None) -> None:
        if self.train_images is not None:
            return
        (images, masks), held_out = self.splits(self)
        if self.eval_split == "validation":  # carved from the training images, held out unseen
            n = max(1, min(len(held_out[0]), len(images) // 4))
            (images, masks), held_out = (images[n:], masks[n:]), (images[:n], masks[:n])
        (self.train_images, self.train_masks), (self.val_images, self.val_masks) = \
            (images, masks), held_out
        self.check_enough()

    def training_tensors(self) -> tuple[torch.Tensor, ...]:
        return self.train_images, self.train_masks

    def class_counts(self) -> torch.Tensor:
        """Training pixels per class (ignored pixels left out): the majority baseline."""
        m = self.train_masks.flatten().long()
        return torch.bincount(m[m != self.ignore_index], minlength=self.n_classes)
