"""A small U-Net (Ronneberger et al. 2015): encoder-decoder with skip connections.

It returns raw class scores; the head (softmax or per-class sigmoid) lives in the module, so one
network serves both. ``norm="none"`` has no normalisation layer at all: there nothing absorbs
the input's scale, which is where the input scaling should matter most.

Initialisation: PyTorch's default shrinks the signal about 0.41x per conv + ReLU, so without
normalisation the input barely reaches the class scores at the start (std 1e-4 to 1e-2 of the
input's). ``init="kaiming"`` (He et al. 2015: normal, std sqrt(2 / fan-in) before a ReLU,
sqrt(1 / fan-in) before none, biases 0) keeps it; ``"auto"`` is kaiming without norm and
PyTorch's default with BatchNorm, which rescales every layer anyway.
"""
from __future__ import annotations

import torch
from torch import nn

NORMS = ("batch", "none")
INITS = ("auto", "kaiming", "pytorch")


def double_conv(a: int, b: int, norm: str) -> nn.Sequential:
    """Two 3x3 convolutions with ReLU; BatchNorm after each when ``norm="batch"``."""
    layers: list[nn.Module] = []
    for cin in (a, b):
        if norm == "batch":
            layers += [nn.Conv2d(cin, b, 3, padding=1, bias=False), nn.BatchNorm2d(b)]
        else:
            layers.append(nn.Conv2d(cin, b, 3, padding=1))
        layers.append(nn.ReLU(inplace=True))
    return nn.Sequential(*layers)


class UNet(nn.Module):
    """``depth`` 2x down-samplings; level ``i`` has ``width * 2**i`` channels."""

    def __init__(self, in_channels: int, n_classes: int, depth: int, width: int, norm: str,
                 init: str):
        super().__init__()
        if norm not in NORMS:
            raise ValueError(f"unknown norm '{norm}'; valid choices: {', '.join(NORMS)}")
        if init not in INITS:
            raise ValueError(f"model.module.net.init={init!r} is not accepted: give "
                             f"{' or '.join(INITS)} (the U-Net's initialisation)")
        if depth < 1:
            raise ValueError(f"depth must be at least 1, got {depth}")
        ch = [width * 2 ** i for i in range(depth + 1)]
        self.depth = depth
        self.down = nn.ModuleList([double_conv(in_channels, ch[0], norm)]
                                  + [double_conv(a, b, norm) for a, b in zip(ch, ch[1:])])
        self.pool = nn.MaxPool2d(2)
        self.up = nn.ModuleList([nn.ConvTranspose2d(b, a, 2, stride=2) for a, b in zip(ch, ch[1:])])
        self.merge = nn.ModuleList([double_conv(2 * a, a, norm) for a in ch[:-1]])
        self.out = nn.Conv2d(ch[0], n_classes, 1)
        if init == "auto":  # BatchNorm rescales every layer; without it the init must not shrink
            init = "kaiming" if norm == "none" else "pytorch"
        self.init = init
        if self.init == "kaiming":
            self.kaiming()

    @torch.no_grad()
    def kaiming(self) -> None:
        """He normal weights, biases 0: gain 2 where a ReLU follows (every 3x3 conv), 1 where
        none does (the up-convolutions, concatenated with the skips; the 1x1 output). A 2x2
        stride-2 up-convolution gives each output pixel one kernel tap: its fan-in is its
        input channels."""
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                gain = 1.0 if m is self.out else 2.0
                fan_in = m.in_channels * m.kernel_size[0] * m.kernel_size[1]
            elif isinstance(m, nn.ConvTranspose2d):
                gain, fan_in = 1.0, m.in_channels
            else:
                continue
            m.weight.normal_(0.0, (gain / fan_in) ** 0.5)
            if m.bias is not None:
                m.bias.zero_()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[-1] % 2 ** self.depth or x.shape[-2] % 2 ** self.depth:
            raise ValueError(f"U-Net of depth {self.depth} needs sides divisible by "
                             f"{2 ** self.depth}, got {tuple(x.shape[-2:])}")
        skips = []
        for i, block in enumerate(self.down):
            x = block(x if i == 0 else self.pool(x))
            skips.append(x)
        for i in reversed(range(self.depth)):
            x = self.merge[i](torch.cat([skips[i], self.up[i](x)], dim=1))
        return self.out(x)
