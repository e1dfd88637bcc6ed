"""DCGAN (Radford et al. 2015) in the pytorch/examples layout, for 32x32 or 64x64 images.

The generator ends at the last transposed convolution: the output head is applied by the
LightningModule, so the same network serves every head.
"""
import math

import torch
from torch import nn


def init_weights(m: nn.Module) -> None:
    """DCGAN init: conv weights N(0, 0.02), BatchNorm weights N(1, 0.02)."""
    if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
        nn.init.normal_(m.weight, 0.0, 0.02)
        if m.bias is not None:
            nn.init.zeros_(m.bias)
    elif isinstance(m, nn.BatchNorm2d):
        nn.init.normal_(m.weight, 1.0, 0.02)
        nn.init.zeros_(m.bias)


def _levels(image_size: int) -> int:
    n = int(math.log2(image_size)) - 2
    if image_size not in (32, 64):
        raise ValueError(f"dcgan supports image_size 32 or 64, got {image_size}")
    return n


class Generator(nn.Module):
    def __init__(self, channels: int, image_size: int, z_dim: int, width: int):
        super().__init__()
        self.z_dim = z_dim
        n = _levels(image_size)  # 3 up-convolutions for 32px, 4 for 64px
        ch = [width * 2 ** i for i in reversed(range(n))]  # e.g. 256, 128, 64
        layers = [nn.ConvTranspose2d(z_dim, ch[0], 4, 1, 0, bias=False),
                  nn.BatchNorm2d(ch[0]), nn.ReLU(True)]
        for a, b in zip(ch, ch[1:]):
            layers += [nn.ConvTranspose2d(a, b, 4, 2, 1, bias=False), nn.BatchNorm2d(b), nn.ReLU(True)]
        layers.append(nn.ConvTranspose2d(ch[-1], channels, 4, 2, 1, bias=False))
        self.net = nn.Sequential(*layers)
        self.apply(init_weights)

    @property
    def last(self) -> nn.Module:
        """The layer whose output the head acts on."""
        return self.net[-1]

    def sample_z(self, n: int, generator: torch.Generator | None = None, device=None) -> torch.Tensor:
        return torch.randn(n, self.z_dim, generator=generator, device=device)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z.view(len(z), self.z_dim, 1, 1))


class Discriminator(nn.Module):
    def __init__(self, channels: int, image_size: int, width: int):
        super().__init__()
        n = _levels(image_size)
        ch = [width * 2 ** i for i in range(n)]  # e.g. 64, 128, 256
        layers = [nn.Conv2d(channels, ch[0], 4, 2, 1, bias=False), nn.LeakyReLU(0.2, True)]
        for a, b in zip(ch, ch[1:]):
            layers += [nn.Conv2d(a, b, 4, 2, 1, bias=False), nn.BatchNorm2d(b), nn.LeakyReLU(0.2, True)]
        layers.append(nn.Conv2d(ch[-1], 1, 4, 1, 0, bias=False))  # one logit
        self.net = nn.Sequential(*layers)
        self.apply(init_weights)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x).flatten()
