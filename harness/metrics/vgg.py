"""VGG16 perceptual loss (Johnson et al. 2016): one fixed ruler for every scaling.

Every image enters VGG the same way: 0..255 float pixels (a scaling's exact, differentiable
inverse; no rounding inside the loss), then /255 and ImageNet mean/std. So the loss, and the
metrics computed from decoded uint8 outputs, do not depend on the scaling the network saw.

Weights: ImageNet through torchvision when they can be loaded (torch.hub's cache first, a
download only when allowed, failing in seconds when there is no network), else seeded random
weights. ``VGGFeatures.weights_used`` says which, so the run records it, and ``fallback`` why
random weights stand in (the run warns with it, once per sweep).
"""
from __future__ import annotations

import socket
import threading
from pathlib import Path
from urllib.parse import urlparse

import torch
import torch.nn.functional as F
from torch import nn

from harness.core.pixels import IMAGENET_MEAN, IMAGENET_STD

# ReLU outputs of VGG16's ``features`` (torchvision indices) used by the losses.
LAYERS = {"relu1_2": 3, "relu2_2": 8, "relu3_3": 15, "relu4_3": 22}
CONTENT_LAYER = "relu2_2"
WEIGHT_CHOICES = ("auto", "imagenet", "random")


class VGGWeightsError(RuntimeError):
    """ImageNet weights were asked for and cannot be loaded; the message says what to do."""


def _weights_url() -> str:
    from torchvision.models import VGG16_Weights

    return VGG16_Weights.IMAGENET1K_V1.url


def cached_weights_file() -> Path:
    """Where torch.hub (and so torchvision) keeps the ImageNet VGG16 file."""
    return Path(torch.hub.get_dir()) / "checkpoints" / Path(urlparse(_weights_url()).path).name


def _reachable(host: str, timeout: float) -> str | None:
    """None if ``host:443`` accepts a connection within ``timeout`` seconds, else why not.

    Runs in a daemon thread because name resolution ignores socket timeouts."""
    result: list[str | None] = ["timed out"]

    def probe():
        try:
            socket.create_connection((host, 443), timeout=timeout).close()
            result[0] = None
        except OSError as e:
            result[0] = f"{type(e).__name__}: {e}"

    t = threading.Thread(target=probe, daemon=True)
    t.start()
    t.join(timeout)
    return result[0]


def _download(path: Path, timeout: float) -> None:
    url = _weights_url()
    why = _reachable(urlparse(url).hostname, timeout)
    if why is not None:
        raise VGGWeightsError(f"cannot download VGG16 ImageNet weights from {url} ({why})")
    path.parent.mkdir(parents=True, exist_ok=True)
    old = socket.getdefaulttimeout()
    socket.setdefaulttimeout(timeout)  # a stalled transfer fails instead of hanging
    try:
        prefix = torch.hub.HASH_REGEX.search(path.name).group(1)
        torch.hub.download_url_to_file(url, str(path), hash_prefix=prefix, progress=False)
    except Exception as e:  # noqa: BLE001 - any network/hash failure becomes one message
        raise VGGWeightsError(f"cannot download VGG16 ImageNet weights from {url} "
                              f"({type(e).__name__}: {e})") from None
    finally:
        socket.setdefaulttimeout(old)


def imagenet_state(download: bool, timeout: float) -> dict[str, torch.Tensor]:
    """The ``features`` tensors up to relu4_3, from the cache or (if allowed) a download."""
    path = cached_weights_file()
    if not path.is_file():
        if not download:
            raise VGGWeightsError(f"no VGG16 ImageNet weights at {path} and download is off "
                                  "(set model.module.vgg.download=true, or put the file there)")
        _download(path, timeout)
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # noqa: BLE001
        raise VGGWeightsError(f"cannot read VGG16 weights '{path}' ({type(e).__name__})") from None
    keep = {f"features.{i}." for i in range(LAYERS["relu4_3"] + 1)}
    return {k.removeprefix("features."): v for k, v in state.items()
            if any(k.startswith(p) for p in keep)}


class VGGFeatures(nn.Module):
    """VGG16 up to relu4_3; frozen, always in eval mode; returns ``{layer name: activation}``."""

    def __init__(self, weights: str = "auto", download: bool = False, seed: int = 0,
                 timeout: float = 5.0):
        super().__init__()
        from torchvision.models.vgg import cfgs, make_layers

        if weights not in WEIGHT_CHOICES:
            raise ValueError(f"unknown vgg weights '{weights}'; valid choices: "
                             f"{', '.join(WEIGHT_CHOICES)}")
        self.features = make_layers(cfgs["D"][:13])  # conv1_1 .. relu4_3, torchvision's indices
        self.weights_used = "random"
        self.fallback: str | None = None  # why random weights stand in for ImageNet's
        if weights != "random":
            try:
                self.features.load_state_dict(imagenet_state(download, timeout))
                self.weights_used = "imagenet"
            except VGGWeightsError as e:
                if weights == "imagenet":
                    raise
                self.fallback = f"{e}; using random VGG16 weights (seed {seed})"
        if self.weights_used == "random":
            self._random_init(seed)
        self.requires_grad_(False)
        super().train(False)

    def _random_init(self, seed: int) -> None:
        """He normal init (fan-in) from its own generator: reproducible, and it keeps the
        activations' scale from layer to layer (torchvision's fan-out init halves it at every
        channel doubling), so every style layer counts and random features still see texture."""
        g = torch.Generator().manual_seed(seed)
        for m in self.features:
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_in", nonlinearity="relu", generator=g)
                nn.init.zeros_(m.bias)

    def train(self, mode: bool = True) -> "VGGFeatures":
        """Stays in eval mode whatever Lightning or a parent module asks."""
        return super().train(False)

    def forward(self, x: torch.Tensor, layers=tuple(LAYERS)) -> dict[str, torch.Tensor]:
        """Activations of ``layers``; stops after the deepest one asked for."""
        wanted = {LAYERS[k]: k for k in layers}
        out = {}
        for i, layer in enumerate(self.features[:max(wanted) + 1]):
            x = layer(x)
            if i in wanted:
                out[wanted[i]] = x
        return out


def normalise(pixels: torch.Tensor) -> torch.Tensor:
    """0..255 float pixels -> VGG's input (ImageNet mean/std); grey images become RGB."""
    if pixels.shape[1] == 1:
        pixels = pixels.expand(-1, 3, -1, -1)
    mean = pixels.new_tensor(IMAGENET_MEAN).view(1, 3, 1, 1)
    std = pixels.new_tensor(IMAGENET_STD).view(1, 3, 1, 1)
    return (pixels / 255 - mean) / std


def gram(f: torch.Tensor) -> torch.Tensor:
    """(N, C, H, W) -> (N, C, C), normalised by C*H*W so images of any size compare."""
    n, c, h, w = f.shape
    f = f.flatten(2)
    return f @ f.transpose(1, 2) / (c * h * w)


def content_loss(f: dict, target: dict) -> torch.Tensor:
    return F.mse_loss(f[CONTENT_LAYER], target[CONTENT_LAYER])


def style_loss(f: dict, target_grams: dict) -> torch.Tensor:
    """Johnson et al.'s squared Frobenius distance of Gram matrices, summed over the layers,
    averaged over the batch; a (1, C, C) target broadcasts. Not the mean over the C*C entries:
    with Grams normalised by C*H*W that would shrink a layer's share by 1/C^2 (relu4_3's by
    ~1e-5 against relu1_2), leaving the deep layers out of the loss."""
    return sum(((gram(f[k]) - target_grams[k]) ** 2).sum((1, 2)).mean() for k in LAYERS)


def tv_loss(pixels: torch.Tensor) -> torch.Tensor:
    """Mean squared difference of neighbouring pixels, in [0, 1] units."""
    x = pixels / 255
    return ((x[..., 1:, :] - x[..., :-1, :]) ** 2).mean() + ((x[..., 1:] - x[..., :-1]) ** 2).mean()
