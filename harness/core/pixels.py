"""Scalings and heads: the one definition of how pixels go in and come out.

A *scaling* maps uint8 pixels (0..255) to the network's space and back. Every scaling in the
design is affine per channel, ``encode(x) = (x - shift_c) / div_c``, so one class covers them
all and the data interval ``[lo, hi]`` (the image of 0 and 255) follows from the formula.

A *head* is the operation on the network's last layer. Each head states the range of its
output given the scaling's ``[lo, hi]``, which is all ``range_mismatch`` needs.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import torch
from torch import nn

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


class UnknownChoice(ValueError):
    """A name that is not one of a registry's choices; the message lists the valid ones."""


def _pick(kind: str, name: str, table: dict):
    if name not in table:
        raise UnknownChoice(f"unknown {kind} '{name}'; valid choices: {', '.join(table)}")
    return table[name]


# ----------------------------------------------------------------------------------- scalings
# name -> (shift, div) in 0..255 units, per channel (a 1-tuple applies to every channel).
SCALINGS: dict[str, tuple[tuple[float, ...], tuple[float, ...]]] = {
    "raw": ((0.0,), (1.0,)),
    "unit": ((0.0,), (255.0,)),
    "symmetric": ((127.5,), (127.5,)),
    "imagenet": (tuple(255 * m for m in IMAGENET_MEAN), tuple(255 * s for s in IMAGENET_STD)),
}


class Scaling(nn.Module):
    """``encode(x) = (x - shift_c) / div_c``; ``decode`` is its exact inverse, rounded and clipped.

    A module with (non-persistent) buffers, so it moves to the device with the family module that
    owns it and stays out of checkpoints: it is rebuilt from the config, never restored."""

    def __init__(self, name: str, shift: torch.Tensor, div: torch.Tensor):
        super().__init__()
        self.name = name
        self.register_buffer("shift", shift, persistent=False)  # (1, C, 1, 1)
        self.register_buffer("div", div, persistent=False)  # (1, C, 1, 1)

    @property
    def lo(self) -> torch.Tensor:
        return (0.0 - self.shift) / self.div

    @property
    def hi(self) -> torch.Tensor:
        return (255.0 - self.shift) / self.div

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """uint8 (or 0..255 float) images -> the network's space."""
        return (x.float() - self.shift) / self.div

    def to_pixels(self, y: torch.Tensor) -> torch.Tensor:
        """Differentiable exact inverse to 0..255 floats (no rounding, no clipping)."""
        return y * self.div + self.shift

    def decode(self, y: torch.Tensor) -> torch.Tensor:
        """What a user sees: inverse, round, clip to uint8."""
        return self.to_pixels(y.detach()).round().clamp(0, 255).to(torch.uint8)

    def extra_repr(self) -> str:
        return self.name


def make_scaling(name: str, channels: int) -> Scaling:
    shift, div = _pick("scaling", name, SCALINGS)
    if len(shift) == 1:
        shift, div = shift * channels, div * channels
    elif channels == 1:  # grey images: the channel average of a per-colour scaling
        shift, div = (sum(shift) / len(shift),), (sum(div) / len(div),)
    elif channels != len(shift):
        raise ValueError(f"scaling '{name}' is defined for {len(shift)} channels, got {channels}")
    as_t = lambda v: torch.tensor(v, dtype=torch.float32).view(1, -1, 1, 1)  # noqa: E731
    return Scaling(name, as_t(shift), as_t(div))


# -------------------------------------------------------------------------------------- heads
@dataclass(frozen=True)
class Head:
    """``apply(z, lo, hi)`` -> output; ``bounds(lo, hi)`` -> the closure of its output range."""

    name: str
    apply: Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]
    bounds: Callable[[torch.Tensor, torch.Tensor], tuple[torch.Tensor, torch.Tensor]]

    def __call__(self, z: torch.Tensor, scaling: Scaling) -> torch.Tensor:
        """The head on the last layer's ``z``, in ``scaling``'s space."""
        return self.apply(z, scaling.lo, scaling.hi)

    def preimage(self, y: torch.Tensor, scaling: Scaling) -> torch.Tensor:
        """The ``z`` the head maps to ``y`` (any shape), by bisection, since every head is
        increasing in ``z``: one rule for every head, none declares an inverse. A ``y`` the head
        cannot reach raises ValueError."""
        lo, hi = torch.full_like(y, -1e6), torch.full_like(y, 1e6)
        for _ in range(80):  # 2e6 / 2**80: far below float32's resolution
            mid = (lo + hi) / 2
            below = self(mid, scaling) < y
            lo, hi = torch.where(below, mid, lo), torch.where(below, hi, mid)
        z = (lo + hi) / 2
        if not torch.allclose(self(z, scaling), y, rtol=1e-4, atol=1e-4):
            raise ValueError(f"head '{self.name}' cannot output {y.flatten().tolist()} "
                             f"under scaling '{scaling.name}'")
        return z


def _fixed(a: float, b: float):
    return lambda lo, hi: (torch.full_like(lo, a), torch.full_like(hi, b))


def _fit(lo, hi):
    return lo, hi


WIDE = 150 / 127.5  # fast style transfer's tanh * 150 + 127.5, relative to the half-width 127.5


def _wide_bounds(lo, hi):
    mid, half = (lo + hi) / 2, (hi - lo) / 2
    return mid - WIDE * half, mid + WIDE * half


HEADS: dict[str, Head] = {
    h.name: h
    for h in (
        Head("identity", lambda z, lo, hi: z, _fixed(-math.inf, math.inf)),
        # the identity under `symmetric`; under `raw`, "no activation, but at the right scale"
        Head("affine_fit", lambda z, lo, hi: lo + (z + 1) / 2 * (hi - lo),
             _fixed(-math.inf, math.inf)),
        Head("tanh", lambda z, lo, hi: torch.tanh(z), _fixed(-1.0, 1.0)),
        Head("sigmoid", lambda z, lo, hi: torch.sigmoid(z), _fixed(0.0, 1.0)),
        Head("tanh_fit", lambda z, lo, hi: lo + (torch.tanh(z) + 1) / 2 * (hi - lo), _fit),
        Head("sigmoid_fit", lambda z, lo, hi: lo + torch.sigmoid(z) * (hi - lo), _fit),
        Head("clamp_fit", lambda z, lo, hi: torch.clamp(z, lo, hi), _fit),
        Head("tanh_wide", lambda z, lo, hi: (lo + hi) / 2 + WIDE * (hi - lo) / 2 * torch.tanh(z),
             _wide_bounds),
    )
}


def get_head(name: str) -> Head:
    return _pick("head", name, HEADS)


def range_mismatch(head: Head, scaling: Scaling) -> bool:
    """True when the head cannot reach some value of the data interval on some channel."""
    h_lo, h_hi = head.bounds(scaling.lo, scaling.hi)
    eps = 1e-6
    return bool(((h_lo > scaling.lo + eps) | (h_hi < scaling.hi - eps)).any())


def out_of_range(y: torch.Tensor, scaling: Scaling) -> torch.Tensor:
    """Fraction of values outside ``[lo, hi]``: what the decode's clip hides."""
    return ((y < scaling.lo) | (y > scaling.hi)).float().mean()


def out_excess(y: torch.Tensor, scaling: Scaling) -> float:
    """Mean distance outside ``[lo, hi]`` of the values that are outside, in grey levels (0
    when none is): how far the clip moves the pixels it moves. Averaged over every pixel it
    would mostly count the pixels it leaves alone."""
    lo, hi = scaling.lo, scaling.hi
    outside = (y < lo) | (y > hi)  # the same test as out_of_range, in the scaling's space
    if not bool(outside.any()):
        return 0.0
    levels = ((lo - y).clamp_min(0) + (y - hi).clamp_min(0)) * scaling.div  # grey levels
    return float(levels[outside].mean())


def span(pixels: torch.Tensor) -> float:
    """1st to 99th percentile of the values, in grey levels (0..255 units, unclipped): how much
    of the range the images use, which a mean and a std can hide (real digits: about 255)."""
    v = pixels.detach().float().flatten().cpu()
    step = max(1, len(v) // 4_000_000)  # torch.quantile takes at most 16M values
    lo, hi = torch.quantile(v[::step], torch.tensor([0.01, 0.99]))
    return float(hi - lo)
