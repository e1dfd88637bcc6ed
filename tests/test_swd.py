"""SWD sanity checks on sklearn's bundled digits (no downloads) and smooth random images."""
import pytest
import torch
import torch.nn.functional as F
from sklearn.datasets import load_digits

from harness.metrics.swd import RealSWD, moment_gap, swd

# Fewer patches/directions than the defaults keep this file fast; margins measured with these.
FAST = dict(patches_per_image=32, dir_repeats=2, dirs_per_repeat=64)


@pytest.fixture(scope="module")
def digits():
    """Two disjoint halves of the digits, 32x32 uint8 (0..16 -> 0..255)."""
    x = torch.tensor(load_digits().images, dtype=torch.float32)[:, None]
    x = F.interpolate(x, size=32, mode="bilinear", align_corners=False)
    x = (x * 255 / 16).round().clamp(0, 255).to(torch.uint8)
    perm = torch.randperm(len(x), generator=torch.Generator().manual_seed(0))
    return x[perm[:600]], x[perm[600:1200]]


@pytest.fixture(scope="module")
def baseline(digits):
    """Real-vs-real SWD: the floor every degradation is compared with."""
    return swd(*digits, **FAST)


def smooth_images(n, c, size, seed):
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(n, c, 6, 6, generator=g)
    x = F.interpolate(x, size=size, mode="bicubic", align_corners=False)
    return (x.clamp(0, 1) * 255).round().to(torch.uint8)


def half(x):
    return (x.float() * 0.5).round().to(torch.uint8)


def test_noise_far_real_close(digits, baseline):
    """Noise is far in both readings: its structure is wrong, not only its range."""
    real, rr = digits[0], baseline
    g = torch.Generator().manual_seed(1)
    noise = torch.randint(0, 256, real.shape, dtype=torch.uint8, generator=g)
    rn = swd(real, noise, **FAST)
    assert set(rr) == {"swd", "swd_l32", "swd_l16", "swd_own", "swd_own_l32", "swd_own_l16"}
    assert rr["swd"] == pytest.approx((rr["swd_l32"] + rr["swd_l16"]) / 2)
    assert rr["swd_own"] == pytest.approx((rr["swd_own_l32"] + rr["swd_own_l16"]) / 2)
    assert 0 < rr["swd"] < 50 and 0 < rr["swd_own"] < 50  # measured ~14 both
    assert rn["swd"] > 20 * rr["swd"]  # measured ~140x
    assert rn["swd_own"] > 5 * rr["swd_own"]  # measured ~15x
    assert min(rn["swd_own_l32"], rn["swd_own_l16"]) > 5 * max(rr["swd_own_l32"], rr["swd_own_l16"])


def test_real_set_normalisation_unchanged(digits):
    """``swd`` as computed before ``swd_own`` existed (same draws, same numbers): equal, fewer
    and more fake images than real. Tolerance for other BLAS builds; one extra draw moves >1%."""
    real, other = digits[0][:300], digits[1]
    before = {300: (20.278455689549446, 21.44765481352806, 19.10925656557083),
              250: (21.09623607248068, 22.25913293659687, 19.933339208364487),
              400: (21.630135364830494, 21.338069811463356, 21.922200918197632)}
    for n, values in before.items():
        out = swd(real, other[:n], **FAST)
        assert (out["swd"], out["swd_l32"], out["swd_l16"]) == pytest.approx(values, rel=1e-5)


def test_range_error_only_in_real_set_normalisation(digits, baseline):
    """Right structure, wrong range: the real set at half brightness against itself."""
    real = digits[0]
    out = swd(real, half(real), **FAST)
    assert out["swd"] > 20 * baseline["swd"]  # measured ~35x
    assert out["swd_own"] == pytest.approx(baseline["swd_own"], rel=0.25)  # measured 14.1 vs 14.3
    assert out["swd_own"] < out["swd"] / 20


def test_own_normalisation_ignores_exact_scaling(digits):
    """Even values halved exactly (no rounding): each set's own statistics cancel the factor
    per channel, so ``swd_own`` keeps its value while ``swd`` does not."""
    real, even = digits[0][:300], digits[1][:300] & 0xFE
    a, b = swd(real, even, **FAST), swd(real, even // 2, **FAST)
    assert b["swd"] > 10 * a["swd"]
    for k in ("swd_own", "swd_own_l32", "swd_own_l16"):
        assert b[k] == pytest.approx(a[k], rel=1e-4)
    rgb, other = smooth_images(64, 3, 32, seed=0), smooth_images(64, 3, 32, seed=1) & 0xFE
    dimmed = other.clone()
    dimmed[:, 0] //= 2  # one channel only: the normalisation is per channel
    a, b = swd(rgb, other, **FAST), swd(rgb, dimmed, **FAST)
    assert b["swd"] > 2 * a["swd"]
    assert b["swd_own"] == pytest.approx(a["swd_own"], rel=1e-4)


SHIFTS = {"plus40": lambda x: (x.int() + 40).clamp(max=255), "times0.6": lambda x: x.float() * 0.6}


@pytest.mark.parametrize("shift", SHIFTS.values(), ids=SHIFTS.keys())
def test_global_shift_visible(digits, baseline, shift):
    """ProGAN's per-set normalisation would hide this; real-set normalisation must not."""
    real, other = digits
    shifted = shift(other).round().to(torch.uint8)
    out = swd(real, shifted, **FAST)
    assert out["swd"] > 5 * baseline["swd"]  # measured ~15-35x
    assert out["swd_own"] < 2 * baseline["swd_own"]  # measured ~1-1.4x: hidden there
    gap, gap_rr = moment_gap(real, shifted), moment_gap(real, other)
    assert gap["mean_gap"] > 0.08 and gap_rr["mean_gap"] < 0.01
    assert gap["real_mean"] == pytest.approx(gap_rr["real_mean"])


def test_moment_gap_values():
    real = torch.zeros(2, 3, 4, 4, dtype=torch.uint8)
    fake = torch.full((3, 3, 4, 4), 51, dtype=torch.uint8)
    fake[:, :, :2] = 153  # half 0.2, half 0.6: mean 0.4, std ~0.2
    gap = moment_gap(real, fake)
    assert gap["real_mean"] == 0 and gap["real_std"] == 0
    assert gap["mean_gap"] == pytest.approx(0.4, abs=1e-6)
    assert gap["fake_std"] == pytest.approx(0.2, abs=0.01)
    assert gap["std_gap"] == pytest.approx(gap["fake_std"])


def test_deterministic(digits):
    real, other = digits[0][:300], digits[1][:300]
    shifted = (other.int() + 40).clamp(max=255).to(torch.uint8)
    a, b = swd(real, shifted, seed=3, **FAST), swd(real, shifted, seed=3, **FAST)
    assert a == b
    c = swd(real, shifted, seed=4, **FAST)
    assert c["swd"] != a["swd"]
    assert c["swd"] == pytest.approx(a["swd"], rel=0.2)


def test_unequal_counts(digits):
    real, other = digits
    out = swd(real, other[:250], **FAST)
    assert 0 < out["swd"] < 50


@pytest.mark.parametrize("n_fake", [300, 250, 400])
def test_a_kept_real_side_gives_the_numbers_of_a_fresh_one(digits, n_fake):
    """An evaluation reuses the held-out set's half of the work: later calls, with other
    samples, of the same or another count, must equal a computation from scratch."""
    real, other = digits[0][:300], digits[1]
    kept = RealSWD(real, seed=5, **FAST)
    first = kept(other[:n_fake])
    assert list(kept.kept) == [n_fake]
    assert kept(other[:n_fake]) == first  # replayed real side, both readings
    assert first["swd_own"] != first["swd"]
    for shift in (0, 40, 90):
        fake = (other[:n_fake].int() + shift).clamp(max=255).to(torch.uint8)
        assert kept(fake) == RealSWD(real, seed=5, **FAST)(fake)
    assert list(kept.kept) == [n_fake]


def test_bad_inputs():
    x = torch.zeros(4, 3, 32, 32, dtype=torch.uint8)
    with pytest.raises(ValueError, match="uint8"):
        swd(x, x.float())
    with pytest.raises(ValueError, match="differ"):
        swd(x, torch.zeros(4, 3, 16, 16, dtype=torch.uint8))
    with pytest.raises(ValueError, match="differ"):
        moment_gap(x, torch.zeros(4, 1, 32, 32, dtype=torch.uint8))
    with pytest.raises(ValueError, match="C in"):
        two = torch.zeros(4, 2, 32, 32, dtype=torch.uint8)
        swd(two, two)
    with pytest.raises(ValueError, match=r"\(N, C, H, W\)"):
        swd(x[0], x[0])


def test_rgb_48_levels():
    real, other = smooth_images(256, 3, 48, seed=0), smooth_images(256, 3, 48, seed=1)
    out = swd(real, other, **FAST)
    assert set(out) == {"swd", "swd_l48", "swd_l24", "swd_own", "swd_own_l48", "swd_own_l24"}
    g = torch.Generator().manual_seed(2)
    noisy = real.int() + torch.randint(-60, 61, real.shape, generator=g)
    far = swd(real, noisy.clamp(0, 255).to(torch.uint8), **FAST)
    assert far["swd_l48"] > 5 * out["swd_l48"]


@pytest.mark.parametrize("size,keys", [(64, {"swd_l64", "swd_l32", "swd_l16"}), (12, {"swd_l12"})])
def test_level_sizes(size, keys):
    x = smooth_images(16, 1, size, seed=0)
    keys = keys | {"swd"}
    own = {k.replace("swd", "swd_own") for k in keys}
    assert set(swd(x, x, patches_per_image=8, dirs_per_repeat=16)) == keys | own
