"""The labelled sets a ruler is trained on (``harness.metrics.digit_net``), loaded as a GAN run
loads them, with the split a GAN run is measured on.

- the embedded digits, and MNIST or Fashion-MNIST where they are on disk: one channel, ten
  classes; the ruler reports recognisability (``confident``, ``coverage``, ``recognised``) and
  ``kid``;
- the cartoon faces (``data=faces``): three channels, a class per emoji subcategory
  (``face-smiling``, ``person-gesture``, ...). A subcategory is no answer to "is this a face",
  so on the faces the ruler reports ``kid`` alone: a KID on features of a network that has
  learnt what tells faces apart.
"""
from __future__ import annotations

import torch

from harness.data.sources import hold_out, load_images

CHANNELS = {"digits": 1, "mnist": 1, "fashion_mnist": 1, "faces": 3}  # a ruler per source
REPORTED = {"faces": ("kid",)}  # what a run's record keeps, per view; the rest:
RECOGNISABILITY = ("kid", "confident", "coverage", "recognised")


def ruled(source: str | None, channels: int) -> bool:
    """Whether a ruler can be trained for ``source`` seen in ``channels``."""
    return CHANNELS.get(source) == channels


def reported(source: str) -> tuple[str, ...]:
    return REPORTED.get(source, RECOGNISABILITY)


def labelled(source: str, image_size: int, root: str | None = None,
             options: dict | None = None) -> tuple[torch.Tensor, torch.Tensor, list | None]:
    """``source``'s images as the harness loads them (uint8 (N, C, S, S)), their labels, and the
    groups its held-out split keeps together (None: none), in the order ImageData splits
    them. ``options``: the source's own settings (``data.faces``)."""
    images = load_images(source, channels=CHANNELS[source], image_size=image_size, root=root,
                         options=options)
    if source == "digits":
        from sklearn.datasets import load_digits as sk_digits

        return images, torch.from_numpy(sk_digits().target).long(), None
    if source == "faces":
        from harness.data.faces import listing

        kept = listing(root, options["package"])
        names = sorted({e["subcategory"] for e in kept})
        labels = torch.tensor([names.index(e["subcategory"]) for e in kept])
        return images, labels, [e["base"] for e in kept]
    import torchvision.datasets as tvd

    from harness.data.sources import torchvision_set

    name = {"mnist": "MNIST", "fashion_mnist": "FashionMNIST"}[source]
    ds = torchvision_set(source, root, lambda path: getattr(tvd, name)(root=path, train=True))
    return images, torch.as_tensor(ds.targets).long(), None


def split(n: int, groups: list | None) -> tuple[torch.Tensor, torch.Tensor]:
    """(held-out, training) indices: the quarter a GAN run with ``data.eval_size`` at least a
    quarter of the set is measured on (``hold_out``), so the ruler never trains on it."""
    return hold_out(n, None, groups)


def held_out(image_size: int, source: str = "digits", root: str | None = None,
             options: dict | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """The held-out images (uint8) and labels: never seen by the classifier."""
    images, labels, groups = labelled(source, image_size, root, options)
    idx, _ = split(len(images), groups)
    return images[idx], labels[idx]
