"""The digit classifier behind the recognisability ruler (``harness.metrics.ruler``): its network,
its deterministic training on the training split of the data module's hold-out
(``harness.data.sources.hold_out``), and its cache.

The classifier reads ``x / 255``, with no per-image normalisation, so brightness and contrast
count: a dim digit is not a digit to it, whatever a min/max-stretched view of it shows. Whether
the samples are the decoded images or the article's stretched view
(``harness.metrics.visuals.stretch_grid``) is the caller's choice. It is also trained to give smooth
random blobs and flat grey images a flat prediction (outlier exposure, Hendrycks et al. 2019),
so that a noisy, blurry or blank sample is not confidently a digit, as a plain classifier
finds most of them (without the flat ones, an all-black batch read as 100% one digit). Beside
the blobs it sees a small texture tiled over the image (``negatives``), what a generator stuck
on one local pattern makes. A batch of one repeated real digit is a digit in every image, which
no classifier of one image can refuse: the ruler's ``recognised`` weighs the confident fraction
by the spread of its classes for that. Not trained on: blends of 2 to 5 digits, of which the
48 px classifier calls 39% confident digits (over 9 classes); trained on them too, it called
only 88% of real held-out digits confident instead of 96% (measured 2026-12-06).

The trained weights are cached as ``<data_dir>/ruler/digits-<size>px-<key>.pt``, ``<key>``
naming the training recipe and the torch version: a second call loads the file. It trains on
one torch thread whatever the caller's count (the count changes the float order, so the
weights), so a study's one-thread jobs, a two-thread benchmark and a test session share one
file per size.
"""
from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import pickle
import time
from contextlib import contextmanager
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from harness.data.sources import HOLD_OUT_SEED
from harness.metrics.labelled import labelled, split

# The held-out split is ImageData's (``hold_out``: the same permutation and a quarter of the
# set, 449 of 1797), so with data.eval_size >= 449 the ruler never trained on the images a GAN
# run is measured against, and trained on exactly the GAN's training images.
RECIPE = dict(width=16, features=64, epochs=20, batch_size=64, lr=5e-3, outliers=0.5, flat=0.25,
              negatives=("blobs", "tiles"), seed=0)
# data sources (``data.source``) with labels a ruler is trained on: the embedded digits, and
# torchvision's sets where they are on disk (under ``data.root``; a test never downloads)
FACE_CLASSES = 32  # emoji subcategories of the kept faces and people (harness.data.faces)
MAX_TRAIN = 6000  # training images of the larger sets: about a minute on one CPU core
TRAIN_THREADS = 1  # the float order the weights are trained in, whoever asks


class DigitNet(nn.Module):
    """Three 3x3 conv + ReLU stages (two 2x max-pools), average-pooled to 4x4, one hidden
    layer (the penultimate features KID reads), a logit per class. Reads uint8 (N, C, S, S): 32
    and 48 px (any S >= 16)."""

    def __init__(self, width: int = 16, features: int = 64, channels: int = 1,
                 classes: int = 10):
        super().__init__()
        w = width
        self.channels, self.classes = channels, classes
        self.body = nn.Sequential(
            nn.Conv2d(channels, w, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(w, 2 * w, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(2 * w, 4 * w, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(4),
            nn.Flatten(), nn.Linear(4 * w * 16, features), nn.ReLU())
        self.head = nn.Linear(features, classes)
        # KID's features are divided by this: their RMS over the training digits, set after
        # training, so the polynomial kernel sees O(1) values (as Inception's pooled features).
        self.register_buffer("feature_scale", torch.ones(()))

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """uint8 images -> penultimate features (N, features)."""
        return self.body(x.float() / 255)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.embed(x))


class Given(nn.Module):
    """torchmetrics' KID ``feature`` for features computed before: they pass through."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x


# ---------------------------------------------------------------------------------- data
def digits(image_size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The embedded digits as the harness loads them (uint8 (1797, 1, S, S)) and their labels
    (int64 (1797,)), in scikit-learn's order."""
    return labelled("digits", image_size)[:2]


# ----------------------------------------------------------------------------- training
def recipe(image_size: int, source: str = "digits", options: dict | None = None) -> dict:
    """Everything the trained weights depend on. The faces: three channels, a class per
    subcategory, no outlier exposure (their ruler reports KID alone), and the files digest."""
    extra = {} if source == "digits" else {"max_train": MAX_TRAIN}
    if source == "faces":
        extra = {"channels": 3, "classes": FACE_CLASSES, "outliers": 0.0,
                 "files": (options or {}).get("files")}
    return dict(RECIPE, image_size=image_size, split_seed=HOLD_OUT_SEED, source=source, **extra,
                torch=torch.__version__.split("+")[0], threads=TRAIN_THREADS)


def recipe_key(r: dict) -> str:
    return hashlib.sha256(json.dumps(r, sort_keys=True).encode()).hexdigest()[:8]


BATCH = 512  # images per forward pass: a whole held-out set of the embedded digits (449)


@torch.no_grad()
def embed(net: DigitNet, images: torch.Tensor, batch: int = BATCH) -> torch.Tensor:
    """Penultimate features (N, features) of uint8 images, in eval mode, in batches: what the
    classifier's head and KID both read, so a measurement embeds each image once."""
    net.eval()
    return torch.cat([net.embed(images[i:i + batch]) for i in range(0, len(images), batch)])


@torch.no_grad()
def probabilities(net: DigitNet, features: torch.Tensor, batch: int = BATCH) -> torch.Tensor:
    """Class probabilities (N, 10) from ``embed``'s features, in the same batches."""
    return torch.cat([F.softmax(net.head(features[i:i + batch]), 1)
                      for i in range(0, len(features), batch)])


def predict(net: DigitNet, images: torch.Tensor, batch: int = BATCH) -> torch.Tensor:
    """Class probabilities (N, 10) of uint8 images."""
    return probabilities(net, embed(net, images, batch), batch)


def accuracy(net: DigitNet, images: torch.Tensor, labels: torch.Tensor) -> float:
    return (predict(net, images).argmax(1) == labels).float().mean().item()


def initial(r: dict) -> DigitNet:
    """The untrained network of recipe ``r``, seeded; the caller's global RNG is untouched."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(r["seed"])
        return DigitNet(r["width"], r["features"], r.get("channels", 1), r.get("classes", 10))


def smooth_noise(n: int, size: int, gen: torch.Generator, flat: float = 0.0) -> torch.Tensor:
    """``n`` uint8 images of smooth random blobs: uniform noise on a grid of 2..8 cells,
    bilinearly upsampled to ``size``. Not digits, but the scale of their strokes. The first
    ``flat`` of them are one random grey level each (black included): what an untrained or
    collapsed generator decodes to, and what a plain classifier calls a digit."""
    cells = int(torch.randint(2, 9, (), generator=gen))
    z = torch.rand(n, 1, cells, cells, generator=gen)
    z = F.interpolate(z, size=size, mode="bilinear", align_corners=False)
    k = round(n * flat)
    z[:k] = torch.rand(k, 1, 1, 1, generator=gen).pow(2)  # dark levels more often
    return (z * 255).round().to(torch.uint8)


def tiles(n: int, size: int, gen: torch.Generator, digits: torch.Tensor) -> torch.Tensor:
    """``n`` uint8 images of one small patch (3..size/3 px) repeated over the whole image: half
    of them random strokes, half a crop of a real digit. A repeated texture has a digit's
    strokes and no digit's shape."""
    out = torch.empty(n, 1, size, size, dtype=torch.uint8)
    for i in range(n):
        p = int(torch.randint(3, max(4, size // 3 + 1), (), generator=gen))
        if i % 2:
            d = digits[int(torch.randint(len(digits), (), generator=gen))]
            y, x = (int(torch.randint(size - p + 1, (), generator=gen)) for _ in range(2))
            patch = d[:, y:y + p, x:x + p]
        else:
            patch = ((torch.rand(1, p, p, generator=gen) > 0.6) * 255).to(torch.uint8)
        reps = -(-size // p)
        out[i] = patch.repeat(1, reps, reps)[:, :size, :size]
    return out


def negatives(n: int, size: int, gen: torch.Generator, digits: torch.Tensor, kinds: tuple,
              flat: float) -> torch.Tensor:
    """``n`` images that are not one digit, of the recipe's ``kinds`` in equal parts (the
    blobs take what does not divide): the outlier-exposure batch of one training step."""
    share = n // len(kinds)
    make = {"blobs": lambda k: smooth_noise(k, size, gen, flat),
            "tiles": lambda k: tiles(k, size, gen, digits)}
    counts = [n - share * (len(kinds) - 1)] + [share] * (len(kinds) - 1)
    return torch.cat([make[kind](k) for kind, k in zip(kinds, counts)])


@contextmanager
def torch_threads(n: int):
    """``n`` torch threads inside, the caller's count given back after: the count changes the
    float order, so what the ruler trains and measures must not depend on the caller's."""
    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def train(image_size: int, source: str = "digits", root: str | None = None,
          options: dict | None = None) -> tuple[DigitNet, dict]:
    """A DigitNet trained on the training split (its first ``max_train`` images where the
    recipe caps them): Adam, fixed epochs, minibatches in a seeded order, on the CPU with
    ``TRAIN_THREADS`` threads. The caller's global RNG and thread count are left as they were.
    Returns the network and what to record (held-out accuracy, seconds)."""
    with torch_threads(TRAIN_THREADS):
        return _train(recipe(image_size, source, options), root, options)


def _train(r: dict, root: str | None, options: dict | None = None) -> tuple[DigitNet, dict]:
    image_size, source = r["image_size"], r["source"]
    images, labels, groups = labelled(source, image_size, root, options)
    if int(labels.max()) >= r.get("classes", 10):
        raise ValueError(f"{source} has {int(labels.max()) + 1} classes, the recipe "
                         f"{r.get('classes', 10)}: the ruler's recipe needs updating")
    held, tr = split(len(images), groups)
    tr = tr[:r.get("max_train")]
    x, y = images[tr], labels[tr]
    start = time.perf_counter()
    net = initial(r)
    order = torch.Generator().manual_seed(r["seed"])
    opt = torch.optim.Adam(net.parameters(), lr=r["lr"])
    steps = r["epochs"] * math.ceil(len(x) / r["batch_size"])
    decay = torch.optim.lr_scheduler.CosineAnnealingLR(opt, steps)  # a quiet last epoch
    net.train()
    for _ in range(r["epochs"]):
        for idx in torch.randperm(len(x), generator=order).split(r["batch_size"]):
            loss = F.cross_entropy(net(x[idx]), y[idx])
            if r["outliers"]:  # outlier exposure: what is no digit gets a flat prediction
                other = negatives(len(idx) // 2, image_size, order, x, tuple(r["negatives"]),
                                  r["flat"])
                loss = loss - r["outliers"] * F.log_softmax(net(other), 1).mean()
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            decay.step()
    net.eval()
    with torch.no_grad():
        net.feature_scale.fill_(net.embed(x).pow(2).mean().sqrt())
    seconds = time.perf_counter() - start
    return net, dict(recipe=r, held_out_accuracy=accuracy(net, images[held], labels[held]),
                     train_seconds=seconds)


def load_classifier(image_size: int, data_dir: str | Path = "data", source: str = "digits",
                    root: str | None = None, options: dict | None = None
                    ) -> tuple[DigitNet, dict, Path]:
    """The trained classifier for ``image_size``: loaded from the cache under ``data_dir``,
    or trained and saved there (atomically: parallel runs never read half a file). Returns the
    network (eval mode), its record (recipe, held-out accuracy, training seconds, whether it
    was loaded) and the cache file."""
    r = recipe(image_size, source, options)
    path = Path(data_dir) / "ruler" / f"{source}-{image_size}px-{recipe_key(r)}.pt"
    try:
        saved = torch.load(path, map_location="cpu", weights_only=True)
    except (OSError, RuntimeError, EOFError, pickle.UnpicklingError):  # absent or unreadable
        saved = {}
    if saved.get("recipe") == r:
        net = initial(r)
        net.load_state_dict(saved["state_dict"])
        info = {k: v for k, v in saved.items() if k != "state_dict"}
        return net.eval(), {**info, "loaded": True}, path
    logging.getLogger("harness").info(
        "training the %s ruler at %d px once (a minute or two on a CPU); cached in %s",
        source, image_size, path)
    net, info = train(image_size, source, root, options)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    torch.save({**info, "state_dict": net.state_dict()}, tmp)
    os.replace(tmp, path)
    return net, {**info, "loaded": False}, path
