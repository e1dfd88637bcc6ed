"""The article's own DCGAN (Hellcatzm/DCGAN_TensorFlow, carpedm20 layout) at 48x48.

G: z ~ U(-1, 1) -> linear to 3x3x512 -> four 5x5 stride-2 transposed convs (256, 128, 64,
channels), BatchNorm + ReLU between. D: four 5x5 stride-2 convs (64 without BN, then 128, 256,
512 with BN, or none with ``norm="none"``), LeakyReLU(0.2), linear to one logit. ``width``
scales every channel count so the same shape fits a CPU budget; the head is applied by the
LightningModule.

Initialisation follows the TensorFlow original: conv weights truncated normal (std 0.02, redrawn
beyond 2 std, as ``tf.truncated_normal_initializer``), transposed-conv and linear weights normal
(std 0.02), biases 0, BatchNorm scale 1 and offset 0 (``tf.contrib.layers.batch_norm``; its
epsilon 1e-5 and decay 0.9 are PyTorch's defaults, eps=1e-5 and momentum=0.1). What still
differs:

- padding phase: TensorFlow's 'SAME' pads a stride-2 5x5 conv 1 before and 2 after; PyTorch's
  ``padding=2`` pads 2 on both sides (and the transposed convs crop to match), so the sampling
  grid sits one pixel over. The sizes, and everything else about the shapes, agree;
- random streams: PyTorch's generators, not TensorFlow's, so no run is the article's run.
"""
import torch
from torch import nn

NORMS = ("batch", "none")  # the discriminator's normalisation (GANModule.choices: checked first)


def _chans(width: float) -> list[int]:
    return [max(1, round(c * width)) for c in (512, 256, 128, 64)]


def _up(a: int, b: int) -> nn.ConvTranspose2d:
    """TensorFlow 'SAME' 5x5 stride-2 transposed conv: exactly doubles the size."""
    return nn.ConvTranspose2d(a, b, 5, 2, padding=2, output_padding=1)


def tf_init(m: nn.Module) -> None:
    """The TensorFlow original's initialisers (see the module docstring)."""
    if isinstance(m, nn.Conv2d):
        nn.init.trunc_normal_(m.weight, 0.0, 0.02, a=-0.04, b=0.04)
    elif isinstance(m, (nn.ConvTranspose2d, nn.Linear)):
        nn.init.normal_(m.weight, 0.0, 0.02)
    elif isinstance(m, nn.BatchNorm2d):
        nn.init.ones_(m.weight)
    if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear, nn.BatchNorm2d)):
        nn.init.zeros_(m.bias)


class Generator(nn.Module):
    def __init__(self, channels: int, image_size: int, z_dim: int, width: float):
        super().__init__()
        if image_size != 48:
            raise ValueError(f"the article's DCGAN is built for 48x48 images, got {image_size}")
        self.z_dim = z_dim
        c = _chans(width)
        self.c0 = c[0]
        self.fc = nn.Linear(z_dim, 3 * 3 * c[0])
        self.bn0 = nn.BatchNorm2d(c[0])
        layers = []
        for a, b in zip(c, c[1:]):
            layers += [_up(a, b), nn.BatchNorm2d(b), nn.ReLU(True)]
        layers.append(_up(c[-1], channels))
        self.net = nn.Sequential(*layers)
        self.apply(tf_init)

    @property
    def last(self) -> nn.Module:
        """The layer whose output the head acts on."""
        return self.net[-1]

    def sample_z(self, n: int, generator: torch.Generator | None = None, device=None) -> torch.Tensor:
        return torch.rand(n, self.z_dim, generator=generator, device=device) * 2 - 1

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        h = torch.relu(self.bn0(self.fc(z).view(len(z), self.c0, 3, 3)))
        return self.net(h)


class Discriminator(nn.Module):
    def __init__(self, channels: int, image_size: int, width: float, norm: str):
        super().__init__()
        if norm not in NORMS:
            raise ValueError(f"model.module.discriminator.norm={norm!r} is not accepted: "
                             f"give {' or '.join(NORMS)} (the discriminator's normalisation)")
        c = list(reversed(_chans(width)))  # 64, 128, 256, 512
        layers = [nn.Conv2d(channels, c[0], 5, 2, 2), nn.LeakyReLU(0.2, True)]
        for a, b in zip(c, c[1:]):
            layers += [nn.Conv2d(a, b, 5, 2, 2),
                       *([nn.BatchNorm2d(b)] if norm == "batch" else []),
                       nn.LeakyReLU(0.2, True)]
        self.net = nn.Sequential(*layers)
        self.fc = nn.Linear(c[-1] * (image_size // 16) ** 2, 1)
        self.apply(tf_init)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.net(x).flatten(1)).flatten()
