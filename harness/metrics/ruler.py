"""A recognisability ruler for samples of the embedded digits: does a sample read as a digit?

SWD and the moment gaps say how far samples are from the real images, patch by patch; they do
not say whether a person would read a digit in them. The ruler is a small CNN classifier,
trained once and deterministically on the training split of the embedded digits at the
study's image size, and these numbers computed with it on uint8 samples exactly as given:

- ``kid``: the kernel inception distance (Binkowski et al. 2018; torchmetrics'
  ``KernelInceptionDistance``) between the samples and real held-out digits, in the
  classifier's penultimate feature space instead of Inception's; lower is better. It is an
  unbiased estimate, so two sets from one distribution give about 0 (slightly below is
  possible); ``kid_std`` is its spread over the subsets.
- ``confident``: the fraction of samples the classifier gives one class with probability
  >= 0.9.
- ``coverage``: how many of the 10 classes the confident samples fall in (mode collapse shows
  as a low count; ``coverage_frac`` is the count out of 10), and ``entropy``: the entropy of
  the confident samples' class histogram divided by log 10 (1: all ten classes equally often,
  0: one class, or no confident sample).
- ``recognised``: ``confident`` x ``entropy``, the fraction of samples read as digits, weighted
  by how evenly they spread over the classes. 64 copies of one real digit are each confidently
  a digit (``confident`` 1) and score 0 here; a collapse onto two digits scores at most
  log 2 / log 10 = 0.30 of its confident fraction; real digits score about 0.96. ``coverage``
  would count a class reached by one stray sample as covered, which the entropy does not.

The classifier, its training and its cache are ``harness.metrics.digit_net``.
"""
from __future__ import annotations

import functools
import sys
import math
import warnings
from pathlib import Path

import torch

from harness.metrics.digit_net import (DigitNet, Given, embed, load_classifier, probabilities,
                                       torch_threads)
from harness.metrics.labelled import held_out, reported

CONFIDENT = 0.9  # the probability a sample's top class needs for it to count as recognised
KID_SUBSETS, KID_SUBSET_SIZE = 50, 100  # subsets of 100: fits a few hundred samples


# ------------------------------------------------------------------------------ measuring
class Ruler:
    """A trained classifier and one fixed set of real digits: ``ruler(samples)`` gives the
    recognisability metrics of uint8 samples (N, 1, S, S), N >= 2.

    KID uses subsets of ``min(100, N, len(reference))`` images (torchmetrics needs subsets no
    bigger than either set; 100 fits a few hundred samples and keeps the estimate's spread
    small), ``subsets`` of them, drawn with a fixed seed: the same samples give the same KID."""

    def __init__(self, net: DigitNet, reference: torch.Tensor, info: dict | None = None,
                 subsets: int = KID_SUBSETS, subset_size: int = KID_SUBSET_SIZE, seed: int = 0,
                 source: str = "digits"):
        self.net, self.info = net.eval(), info or {}
        self.reported = reported(source)  # what a run's record keeps, per view
        self.image_size = reference.shape[-1]
        self.reference = self._check(reference, "reference")
        self.subsets, self.subset_size, self.seed = subsets, subset_size, seed

    def _check(self, x: torch.Tensor, name: str) -> torch.Tensor:
        want = (self.net.channels, self.image_size, self.image_size)
        if x.dtype != torch.uint8 or x.dim() != 4 or tuple(x.shape[1:]) != want or len(x) < 2:
            raise ValueError(f"{name} must be uint8 (N, {', '.join(map(str, want))}) with "
                             f"N >= 2, got {x.dtype} {tuple(x.shape)}")
        return x.detach().cpu()

    def features(self, samples: torch.Tensor) -> torch.Tensor:
        """``embed``'s features of uint8 samples, checked."""
        return embed(self.net, self._check(samples, "samples"))

    @functools.cached_property
    def reference_features(self) -> torch.Tensor:
        """The reference's features: the same at every evaluation, so embedded once."""
        return embed(self.net, self.reference)

    @torch.no_grad()
    def kid(self, samples: torch.Tensor) -> tuple[float, float]:
        """(mean, std over subsets) of KID between ``samples`` and the reference."""
        return self._kid(self.features(samples))

    @torch.no_grad()
    def _kid(self, features: torch.Tensor) -> tuple[float, float]:
        from torchmetrics.image.kid import KernelInceptionDistance

        size = min(self.subset_size, len(features), len(self.reference))
        with warnings.catch_warnings():  # "will save all extracted features": a few hundred
            warnings.filterwarnings("ignore", "Metric `Kernel Inception Distance`")
            kid = KernelInceptionDistance(feature=Given(), subsets=self.subsets,
                                          subset_size=size)
        scale = self.net.feature_scale  # O(1) features for the polynomial kernel
        kid.update(self.reference_features / scale, real=True)
        kid.update(features / scale, real=False)
        # 100x100 kernels: one thread is fastest (on a busy 2-core machine two threads spun
        # 300x slower) and makes KID's value independent of the run's thread count
        with torch_threads(1), torch.random.fork_rng(devices=[]):  # compute() draws subsets
            torch.manual_seed(self.seed)                            # from the global RNG
            mean, std = kid.compute()
        return mean.item(), std.item()

    def __call__(self, samples: torch.Tensor) -> dict[str, float]:
        features = self.features(samples)  # once, for KID and the classifier
        kid, kid_std = self._kid(features)
        return {"kid": kid, "kid_std": kid_std, **self._classified(features)}

    def classify(self, samples: torch.Tensor) -> dict[str, float]:
        """The classifier's part alone: ``confident``, ``coverage`` (and its fraction),
        ``entropy`` and ``recognised``."""
        return self._classified(self.features(samples))

    def _classified(self, features: torch.Tensor) -> dict[str, float]:
        probs = probabilities(self.net, features)
        top, cls = probs.max(1)
        sure = top >= CONFIDENT
        coverage, classes = len(cls[sure].unique()), self.net.classes
        hist = torch.bincount(cls[sure], minlength=classes).double()
        hist = hist[hist > 0] / max(1, int(sure.sum()))
        entropy = 0.0 - (hist * hist.log()).sum().item() / math.log(classes)  # never -0.0
        confident = sure.float().mean().item()
        return {"confident": confident, "coverage": coverage,
                "coverage_frac": coverage / classes, "entropy": entropy,
                "recognised": confident * entropy}


def views(ruler: Ruler, decoded: torch.Tensor, article: torch.Tensor) -> dict[str, float]:
    """The ruler's ``reported`` metrics of the decoded samples (``kid``, ...) and of the
    article's view of the same samples (``kid_article``, ...): recognisable as a user gets
    them, and as the article saw them."""
    out: dict[str, float] = {}
    for suffix, samples in (("", decoded), ("_article", article)):
        metrics = ruler(samples)
        out.update({f"{k}{suffix}": float(metrics[k]) for k in ruler.reported})
    return out


def load_ruler(image_size: int, data_dir: str | Path = "data",
               reference: torch.Tensor | None = None, source: str = "digits",
               root: str | None = None, options: dict | None = None) -> Ruler:
    """The ruler for ``image_size`` (32 and 48 px studies) and ``source`` (``options``: its
    own settings, ``data.faces``): the cached classifier (trained on first use) and, unless
    given, the held-out images as KID's reference."""
    net, info, path = load_classifier(image_size, data_dir, source, root, options)
    ref = held_out(image_size, source, root, options)[0] if reference is None else reference
    return Ruler(net, ref, {**info, "path": str(path)}, source=source)


def card(image_size: int, data_dir: str | Path = "data") -> dict[str, dict[str, float]]:
    """What the ruler says of sets whose answer is known, on the held-out digits (the first
    half as KID's reference, the second measured): real digits; 64 different real digits; 64
    copies of one real digit that it reads confidently (a total collapse onto a real digit);
    64 tiled textures, 64 smooth blobs and a black batch (no digit). ``accuracy``: its
    held-out accuracy."""
    from harness.metrics.digit_net import smooth_noise, tiles

    net, info, _ = load_classifier(image_size, data_dir)
    held = held_out(image_size)[0]
    ruler, real = Ruler(net, held[:len(held) // 2]), held[len(held) // 2:]
    sure = probabilities(net, embed(net, real)).max(1).values >= CONFIDENT
    one = real[int(sure.nonzero()[0])]
    gen = torch.Generator().manual_seed(0)
    sets = {"real digits": real, "64 different real digits": real[:64],
            "64 copies of one real digit": one.expand(64, -1, -1, -1).contiguous(),
            "64 tiled textures": tiles(64, image_size, gen, real),
            "64 smooth blobs": smooth_noise(64, image_size, gen),
            "64 black images": torch.zeros_like(real[:64])}
    out = {name: {k: float(v) for k, v in ruler(x).items()
                  if k in ("kid", "confident", "coverage", "recognised")}
           for name, x in sets.items()}
    return {"held-out accuracy": {"accuracy": float(info["held_out_accuracy"])}, **out}


def faces_card(image_size: int, data_dir: str | Path = "data", root: str | None = None,
               options: dict | None = None) -> dict[str, float]:
    """The faces ruler's KID for sets whose answer is known, against the first half of the
    held-out faces (a GAN run measures against all of them): the second half (real against
    real), 64 of them, 64 copies of one face, and the flat images a generator starts from or
    gets stuck at (black: raw + identity's start; mid-grey: the untrained tanh generator's;
    the faces' mean colour; white: their background). Without it a faces KID has no scale.
    ``accuracy``: the held-out accuracy over the faces' subcategories."""
    net, info, _ = load_classifier(image_size, data_dir, "faces", root, options)
    held = held_out(image_size, "faces", root, options)[0]
    ruler, real = Ruler(net, held[:len(held) // 2], source="faces"), held[len(held) // 2:]

    def flat(colour) -> torch.Tensor:
        return torch.as_tensor(colour).to(torch.uint8).view(1, -1, 1, 1).expand(
            64, -1, image_size, image_size).contiguous()

    mean = held.double().mean((0, 2, 3)).round()
    sets = {"real faces": real, "64 different real faces": real[:64],
            "64 copies of one real face": real[:1].expand(64, -1, -1, -1).contiguous(),
            "64 black images": flat([0] * 3), "64 mid-grey images": flat([128] * 3),
            "64 images of the faces' mean colour": flat(mean), "64 white images": flat([255] * 3)}
    return {"accuracy": float(info["held_out_accuracy"]),
            **{name: ruler.kid(x)[0] for name, x in sets.items()}}


def main(argv: list[str] | None = None) -> int:
    """``python -m harness.metrics.ruler [SIZE ...]``: the digit ruler's card (``card``) as a
    table; ``python -m harness.metrics.ruler faces [SIZE ...]``: the faces ruler's
    (``faces_card``, on the faces under data/: ``make faces`` first)."""
    args = list(argv if argv is not None else sys.argv[1:])
    if args[:1] == ["faces"]:
        from harness.data.faces import pinned_settings

        for size in map(int, args[1:] or ["48"]):
            rows = faces_card(size, root="data", options=pinned_settings())
            print(f"faces ruler at {size} px: held-out accuracy {rows.pop('accuracy'):.4f} "
                  f"over the subcategories\n\n| set | kid |\n|---|---|")
            print("\n".join(f"| {name} | {kid:.3f} |" for name, kid in rows.items()) + "\n")
        return 0
    for size in map(int, args or ["48"]):
        rows = card(size)
        print(f"digit ruler at {size} px: held-out accuracy "
              f"{rows.pop('held-out accuracy')['accuracy']:.4f}\n")
        print("| set | kid | confident | coverage | recognised |\n|---|---|---|---|---|")
        for name, m in rows.items():
            print(f"| {name} | {m['kid']:.3f} | {m['confident']:.3f} | {m['coverage']:.0f} | "
                  f"{m['recognised']:.3f} |")
        print()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
