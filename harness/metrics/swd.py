"""Sliced Wasserstein distance on Laplacian-pyramid patches (Karras et al. 2018), two readings.

``swd``: both descriptor sets normalised by the *real* set's per-channel mean/std, a deviation
from ProGAN on purpose, so that global brightness/contrast shifts -- the kind of error a
pixel-scaling or output-head choice tends to introduce -- count. ``swd_own``: ProGAN's own
normalisation, each set by its own statistics, which ignores such shifts per level: a large
``swd`` with a small ``swd_own`` reads "right structure, wrong range".
"""
import torch
import torch.nn.functional as F

_BINOMIAL = torch.tensor([1.0, 4.0, 6.0, 4.0, 1.0]) / 16


def _check(real, fake):
    for name, x in (("real", real), ("fake", fake)):
        if x.dtype != torch.uint8:
            raise ValueError(f"{name} must be uint8, got {x.dtype}")
        if x.dim() != 4 or x.shape[1] not in (1, 3) or x.shape[0] == 0:
            raise ValueError(f"{name} must be (N, C, H, W) with N >= 1 and C in (1, 3), "
                             f"got {tuple(x.shape)}")
    if real.shape[1:] != fake.shape[1:]:
        raise ValueError(f"real and fake C/H/W differ: {tuple(real.shape[1:])} vs "
                         f"{tuple(fake.shape[1:])}")


def _blur(x, gain=1.0):
    """Depthwise 5x5 binomial blur with reflect padding."""
    c = x.shape[1]
    k = (torch.outer(_BINOMIAL, _BINOMIAL) * gain).to(x).expand(c, 1, 5, 5)
    return F.conv2d(F.pad(x, (2, 2, 2, 2), mode="reflect"), k, groups=c)


def _upsample(x, size):
    """Zero-insertion upsampling + blur (x4 gain keeps the mean), cropped to size."""
    n, c, h, w = x.shape
    up = x.new_zeros(n, c, 2 * h, 2 * w)
    up[:, :, ::2, ::2] = x
    return _blur(up, gain=4.0)[:, :, : size[0], : size[1]]


def laplacian_pyramid(x, min_res=16):
    """Levels from full resolution down to min_res; the coarsest is the Gaussian level itself."""
    levels = []
    while (x.shape[-2] + 1) // 2 >= min_res:
        down = _blur(x)[:, :, ::2, ::2]
        levels.append(x - _upsample(down, x.shape[-2:]))
        x = down
    levels.append(x)
    return levels


def _patch_draws(n, k, h, w, p, gen):
    """Top-left corners of k random p x p patches in each of n images of h x w."""
    return (torch.randint(0, h - p + 1, (n, k), generator=gen),
            torch.randint(0, w - p + 1, (n, k), generator=gen))


def _patches(x, p, k, gen):
    """k random p x p patches per image, flattened to (N*k, C, p*p)."""
    n, c, h, w = x.shape
    ys, xs = _patch_draws(n, k, h, w, p, gen)
    offs = torch.arange(p)
    rows = (ys[..., None] + offs)[:, :, :, None]      # (n, k, p, 1)
    cols = (xs[..., None] + offs)[:, :, None, :]      # (n, k, 1, p)
    idx = torch.arange(n)[:, None, None, None]
    out = x[idx, :, rows, cols]                        # (n, k, p, p, c)
    return out.permute(0, 1, 4, 2, 3).reshape(n * k, c, p * p)


# A channel whose descriptors' std is below this is flat (constant): float32 noise on a constant
# is ~1e-8, one grey level 4e-3, so no channel that varies at all comes near it.
FLAT = 1e-6


def _moments(d):
    """Per-channel mean and std of (count, C, p*p) descriptors; a channel that is flat in the
    set (a constant colour channel, at every level) keeps its scale, std 1, instead of being
    divided by its float noise: 1e-8 made any deviation from it count 1e8 times (SWD 1e10)."""
    std = d.std(dim=(0, 2), keepdim=True)
    return d.mean(dim=(0, 2), keepdim=True), torch.where(std < FLAT, torch.ones_like(std), std)


def _sort_rows(x):
    """In-place row sort: sorting dominates SWD and numpy's SIMD sort is ~3x faster than torch's."""
    x.numpy().sort(axis=1)
    return x


class RealSWD:
    """SWD against one fixed real set, in both readings, its half of the work done once.

    The real side is normalised by its own statistics in both readings, so the readings share
    everything but the fake set's normalisation: ``swd`` uses the real set's mean/std (range
    errors count), ``swd_own`` the fake set's own (ProGAN's; structure only).

    Every evaluation of a run compares new samples with the same held-out images, and every
    random draw depends on the shapes alone, so the real side (patches, their normalisation and
    their sorted projections, a third of a fresh call's time) is computed on the first call and
    replayed after: ``RealSWD(real)(fake)`` equals ``swd(real, fake)`` bit for bit. The sorted
    projections are kept per fake-set size: about 120 MB per pyramid level for 449 images.
    """

    def __init__(self, real, *, patch_size=7, patches_per_image=128, dir_repeats=4,
                 dirs_per_repeat=128, min_res=16, seed=0):
        _check(real, real)
        if min(real.shape[-2:]) < patch_size:
            raise ValueError(f"images {tuple(real.shape[-2:])} smaller than patch_size={patch_size}")
        self.real, self.p, self.k, self.min_res, self.seed = (real, patch_size, patches_per_image,
                                                              min_res, seed)
        self.dirs = (dir_repeats, dirs_per_repeat)
        self.pyramid = laplacian_pyramid(real.cpu().float() / 255, min_res)  # sorting via numpy
        self.kept: dict[int, list] = {}  # fake count -> per level (mean, std, sorted rows)

    @torch.no_grad()
    def __call__(self, fake) -> dict[str, float]:
        """SWD (x1e3) per Laplacian level and averaged, fake set normalised by the real set's
        statistics and by its own: {"swd", "swd_l<res>", ..., "swd_own", "swd_own_l<res>", ...}."""
        _check(self.real, fake)
        kept = self.kept.get(len(fake))
        fresh = []
        gen = torch.Generator().manual_seed(self.seed)
        by_real, by_own = {}, {}
        for i, (lr, lf) in enumerate(zip(self.pyramid, laplacian_pyramid(fake.cpu().float() / 255,
                                                                          self.min_res))):
            p = min(self.p, *lr.shape[-2:])
            if kept:
                _patch_draws(len(lr), self.k, *lr.shape[-2:], p, gen)  # as the real set's draw
                mean, std, rows_real = kept[i]
            else:
                dr = _patches(lr, p, self.k, gen)
                mean, std = _moments(dr)
                dr = ((dr - mean) / std).flatten(1)
            pf = _patches(lf, p, self.k, gen)
            own_mean, own_std = _moments(pf)
            df, df_own = ((pf - mean) / std).flatten(1), ((pf - own_mean) / own_std).flatten(1)
            n_real, n_fake = len(lr) * self.k, len(df)
            if n_real != n_fake:  # the bigger set is subsampled to the smaller
                perm = torch.randperm(max(n_real, n_fake), generator=gen)[:min(n_real, n_fake)]
                if n_fake > n_real:
                    df, df_own = df[perm], df_own[perm]
                elif not kept:
                    dr = dr[perm]
            dirs = []
            for _ in range(self.dirs[0]):
                d = torch.randn(self.dirs[1], df.shape[1], generator=gen)
                dirs.append(d / d.norm(dim=1, keepdim=True))
            if not kept:
                rows_real = [_sort_rows(d @ dr.T) for d in dirs]  # (dirs, count): rows contiguous
                fresh.append((mean, std, rows_real))
            for out, key, x in ((by_real, "swd", df), (by_own, "swd_own", df_own)):
                dist = torch.stack([(a - _sort_rows(d @ x.T)).abs().mean()
                                    for a, d in zip(rows_real, dirs)]).mean().item()
                out[f"{key}_l{lr.shape[-2]}"] = 1e3 * dist
        if not kept:
            self.kept[len(fake)] = fresh
        return {"swd": sum(by_real.values()) / len(by_real), **by_real,
                "swd_own": sum(by_own.values()) / len(by_own), **by_own}


def swd(real, fake, **kwargs):
    """SWD (x1e3) per Laplacian level and averaged, both readings (see ``RealSWD.__call__``).
    Keep a ``RealSWD`` to compare many sets with one real set."""
    return RealSWD(real, **kwargs)(fake)


def moment_gap(real, fake):
    """Per-channel mean/std gaps in [0, 1] units: the global shift SWD's patches may dilute."""
    _check(real, fake)
    stats = {}
    for name, x in (("real", real), ("fake", fake)):
        x = x.float().div(255).transpose(0, 1).flatten(1)  # (C, N*H*W)
        stats[name] = (x.mean(dim=1), x.std(dim=1))
    (mr, sr), (mf, sf) = stats["real"], stats["fake"]
    return {
        "mean_gap": (mf - mr).abs().mean().item(),
        "std_gap": (sf - sr).abs().mean().item(),
        "fake_mean": mf.mean().item(),
        "fake_std": sf.mean().item(),
        "real_mean": mr.mean().item(),
        "real_std": sr.mean().item(),
    }
