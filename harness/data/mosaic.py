"""The embedded segmentation data: a texture mosaic built from scikit-image's bundled pictures,
so the ``seg`` family runs offline. Random shapes, each filled with its class's texture (and,
in colour, its tint), and every image gets its own brightness/contrast jitter: absolute pixel
values carry little class information, which is where input scaling can matter."""
from __future__ import annotations

import colorsys
import math

import numpy as np
import torch

from harness.data.images import DataError, resize_uint8, to_nchw

# Class k fills its shapes with TEXTURES[k]; class 0 is the background. All ship with scikit-image.
TEXTURES = ("gravel", "brick", "grass", "coins", "text", "moon", "cell", "clock", "camera", "page")


def load_textures(n: int, size: int) -> torch.Tensor:
    """The first ``n`` bundled textures as uint8 (n, size, size), centre-cropped squares."""
    import skimage.data as skd

    if not 2 <= n <= len(TEXTURES):
        raise DataError(f"mosaic n_classes must be 2..{len(TEXTURES)} (one bundled texture each), got {n}")
    return torch.cat([resize_uint8(torch.from_numpy(getattr(skd, t)())[None, None], size)
                      for t in TEXTURES[:n]])[:, 0]


def class_tints(n: int, strength: float) -> np.ndarray:
    """(n, 3) RGB gains: class k >= 1 is tinted towards hue (k-1)/(n-1); the background stays grey."""
    hues = np.array([(1.0, 1.0, 1.0)] + [colorsys.hsv_to_rgb((k - 1) / (n - 1), 1.0, 1.0)
                                          for k in range(1, n)])
    return 1 - strength + strength * hues


def random_shape(rng: np.random.Generator, size: int) -> tuple[np.ndarray, np.ndarray]:
    """Pixel coordinates of a random ellipse or star-shaped polygon, clipped to the image."""
    from skimage.draw import ellipse, polygon

    r, c = rng.uniform(0.15, 0.85, 2) * size
    radius = rng.uniform(0.15, 0.4) * size
    if rng.random() < 0.5:
        return ellipse(r, c, radius, radius * rng.uniform(0.5, 1.0), shape=(size, size),
                       rotation=rng.uniform(-math.pi, math.pi))
    k = rng.integers(3, 8)
    angles, radii = np.sort(rng.uniform(0, 2 * math.pi, k)), radius * rng.uniform(0.6, 1.2, k)
    return polygon(r + radii * np.sin(angles), c + radii * np.cos(angles), shape=(size, size))


def make_mosaic(n: int, *, split: int, dataset_seed: int, image_size: int, n_classes: int,
                channels: int, max_shapes: int = 5, texture_size: int = 256, tint: float = 0.3,
                contrast_jitter: float = 0.5, brightness_jitter: float = 0.25):
    """``n`` mosaics for ``split`` (0 train, 1 validation), a pure function of its arguments.

    The splits use disjoint halves of every texture (top rows / bottom rows), so validation
    pixels were never seen in training. Returns uint8 images (n, C, S, S) and masks (n, S, S).
    """
    s = image_size
    if texture_size < 2 * s:
        raise DataError(f"mosaic texture_size ({texture_size}) must be at least 2 x image_size ({s})")
    tex = load_textures(n_classes, texture_size).numpy().astype(np.float32)
    rows = (0, texture_size // 2) if split == 0 else (texture_size // 2, texture_size)
    tints = class_tints(n_classes, tint if channels == 3 else 0.0).astype(np.float32)
    rng = np.random.default_rng([dataset_seed, split])
    images = np.empty((n, s, s, channels), np.uint8)
    masks = np.zeros((n, s, s), np.uint8)
    for i in range(n):
        for _ in range(rng.integers(2, max_shapes + 1)):
            masks[i][random_shape(rng, s)] = rng.integers(1, n_classes)
        grey = np.empty((s, s), np.float32)
        for k in range(n_classes):  # one crop per class, drawn for every class: stable streams
            top, left = rng.integers(rows[0], rows[1] - s + 1), rng.integers(0, texture_size - s + 1)
            sel = masks[i] == k
            grey[sel] = tex[k, top:top + s, left:left + s][sel]
        img = grey[..., None] * tints[masks[i]][..., :channels]
        gain = rng.uniform(1 - contrast_jitter, 1 + contrast_jitter)
        shift = rng.uniform(-brightness_jitter, brightness_jitter) * 255
        img = (img - img.mean()) * gain + img.mean() + shift
        images[i] = np.clip(np.round(img), 0, 255)
    return to_nchw(images), torch.from_numpy(masks)
