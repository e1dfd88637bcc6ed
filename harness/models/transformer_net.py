"""Fast style transfer's image transform network (Johnson et al. 2016, the pytorch/examples layout).

Reflection padding instead of zero padding (no dark borders), InstanceNorm (Ulyanov et al.:
per-image contrast normalisation is what makes a feed-forward stylisation work), and a decoder
that upsamples with nearest neighbour and then convolves, which avoids the checkerboard of
transposed convolutions. The last convolution returns the raw ``z``: the output head is applied
by the LightningModule, so one network serves every head.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def conv(c_in: int, c_out: int, k: int, stride: int = 1) -> nn.Sequential:
    """Reflection-padded convolution: 'same' size for stride 1, ceil(size / 2) for stride 2."""
    return nn.Sequential(nn.ReflectionPad2d(k // 2), nn.Conv2d(c_in, c_out, k, stride))


def conv_norm_relu(c_in: int, c_out: int, k: int, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(conv(c_in, c_out, k, stride), nn.InstanceNorm2d(c_out, affine=True),
                         nn.ReLU(inplace=True))


class ResidualBlock(nn.Module):
    """conv-IN-ReLU-conv-IN plus the identity (He et al. 2016, as Gross & Wilber's variant)."""

    def __init__(self, c: int):
        super().__init__()
        self.body = nn.Sequential(conv_norm_relu(c, c, 3), conv(c, c, 3),
                                  nn.InstanceNorm2d(c, affine=True))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


class UpConv(nn.Module):
    """Nearest-neighbour upsampling to a given size, then conv-IN-ReLU."""

    def __init__(self, c_in: int, c_out: int):
        super().__init__()
        self.conv = conv_norm_relu(c_in, c_out, 3)

    def forward(self, x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
        return self.conv(F.interpolate(x, size=size, mode="nearest"))


class TransformerNet(nn.Module):
    """9x9 conv, two stride-2 convs, ``n_res`` residual blocks, two upsample+convs, 9x9 conv.

    ``width`` is the first layer's channel count (the paper: 32, then 64 and 128; 5 residual
    blocks). The decoder upsamples to the encoder's sizes, so the output always has the input's
    height and width, even when they are not multiples of 4.
    """

    def __init__(self, channels: int, width: int, n_res: int):
        super().__init__()
        w = width
        self.inp = conv_norm_relu(channels, w, 9)
        self.down1 = conv_norm_relu(w, 2 * w, 3, stride=2)
        self.down2 = conv_norm_relu(2 * w, 4 * w, 3, stride=2)
        self.res = nn.Sequential(*(ResidualBlock(4 * w) for _ in range(n_res)))
        self.up1 = UpConv(4 * w, 2 * w)
        self.up2 = UpConv(2 * w, w)
        self.out = conv(w, channels, 9)  # raw z: no norm, no activation

    @property
    def last(self) -> nn.Module:
        """The layer whose output the head acts on (``model.module.last_lr_scale``)."""
        return self.out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h0 = self.inp(x)
        h1 = self.down1(h0)
        h = self.res(self.down2(h1))
        h = self.up2(self.up1(h, h1.shape[-2:]), h0.shape[-2:])
        return self.out(h)
