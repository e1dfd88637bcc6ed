"""Scalings and heads against their definitions (docs/meanings.md)."""
import pytest
import torch

from harness.core.pixels import (HEADS, SCALINGS, UnknownChoice, get_head, make_scaling, out_excess,
                            out_of_range, range_mismatch)
from helpers import check_head

ALL_U8 = torch.arange(256, dtype=torch.uint8)


@pytest.mark.parametrize("name", list(SCALINGS))
@pytest.mark.parametrize("channels", [1, 3])
def test_round_trip_every_uint8_value(name, channels):
    s = make_scaling(name, channels)
    x = ALL_U8.view(1, 1, 16, 16).expand(2, channels, 16, 16)
    assert torch.equal(s.decode(s.encode(x)), x)
    # the data interval is the image of 0 and 255
    assert torch.allclose(s.encode(torch.zeros(1, channels, 1, 1)), s.lo)
    assert torch.allclose(s.encode(torch.full((1, channels, 1, 1), 255.0)), s.hi)


def test_scaling_formulas():
    x = torch.tensor([0.0, 51.0, 255.0]).view(1, 1, 1, 3)
    assert torch.allclose(make_scaling("raw", 1).encode(x), x)
    assert torch.allclose(make_scaling("unit", 1).encode(x), x / 255)
    assert torch.allclose(make_scaling("symmetric", 1).encode(x), x / 127.5 - 1)
    rgb = torch.full((1, 3, 1, 1), 128.0)
    mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
    assert torch.allclose(make_scaling("imagenet", 3).encode(rgb), (128 / 255 - mean) / std)


def test_decode_rounds_and_clips():
    s = make_scaling("symmetric", 1)
    y = torch.tensor([-3.0, -1.0, 0.0, 1.0, 5.0]).view(1, 1, 1, 5)
    assert s.decode(y).flatten().tolist() == [0, 0, 128, 255, 255]


@pytest.mark.parametrize("scaling", list(SCALINGS))
@pytest.mark.parametrize("head", list(HEADS))
def test_head_stays_in_its_range_with_finite_gradients(scaling, head):
    check_head(get_head(head), make_scaling(scaling, 3))


def test_head_formulas_with_raw():
    s = make_scaling("raw", 1)
    z = torch.tensor([-100.0, 0.0, 100.0]).view(1, 1, 1, 3)
    assert get_head("tanh_fit").apply(z, s.lo, s.hi).flatten().tolist() == pytest.approx([0, 127.5, 255])
    assert get_head("tanh_wide").apply(z, s.lo, s.hi).flatten().tolist() == pytest.approx([-22.5, 127.5, 277.5])
    assert get_head("sigmoid_fit").apply(z, s.lo, s.hi).flatten().tolist() == pytest.approx([0, 127.5, 255])
    assert get_head("clamp_fit").apply(z, s.lo, s.hi).flatten().tolist() == pytest.approx([0, 0, 100])
    assert get_head("identity").apply(z, s.lo, s.hi).flatten().tolist() == [-100, 0, 100]


def test_affine_fit_is_identity_under_symmetric_and_the_data_scale_under_raw():
    """affine_fit round-trips: the last layer's z read as a [-1, 1] value gives the same pixels
    under every scaling (no squashing, no clip inside the network)."""
    sym, raw = make_scaling("symmetric", 1), make_scaling("raw", 1)
    head = get_head("affine_fit")
    x = ALL_U8.view(1, 1, 16, 16)
    z = sym.encode(x)  # a last layer that already outputs the right [-1, 1] values
    assert torch.allclose(head(z, sym), z, atol=1e-6)  # up to float rounding
    assert torch.equal(raw.decode(head(z, raw)), x)
    assert head(torch.tensor([[[[-3.0, 3.0]]]]), raw).flatten().tolist() == [-255.0, 510.0]
    assert not range_mismatch(head, raw) and not range_mismatch(head, sym)


def test_clamp_fit_has_zero_gradient_outside():
    s = make_scaling("unit", 1)
    z = torch.tensor([-1.0, 0.5, 2.0]).view(1, 1, 1, 3).requires_grad_(True)
    get_head("clamp_fit").apply(z, s.lo, s.hi).sum().backward()
    assert z.grad.flatten().tolist() == [0.0, 1.0, 0.0]


# Expected from the definitions by hand: a fixed-range head mismatches every scaling whose
# interval it cannot cover; every *_fit / wide head and identity cover all of them.
MISMATCH = {
    ("raw", "tanh"), ("raw", "sigmoid"),
    ("symmetric", "sigmoid"),
    ("imagenet", "tanh"), ("imagenet", "sigmoid"),
}


@pytest.mark.parametrize("scaling", list(SCALINGS))
@pytest.mark.parametrize("head", list(HEADS))
def test_range_mismatch_exactly_where_the_head_cannot_cover(scaling, head):
    for channels in (1, 3):
        got = range_mismatch(get_head(head), make_scaling(scaling, channels))
        assert got == ((scaling, head) in MISMATCH)


def test_out_of_range_fraction():
    s = make_scaling("unit", 1)
    y = torch.tensor([-0.1, 0.0, 0.5, 1.0, 1.2, 3.0, 0.2, 0.3]).view(1, 1, 2, 4)
    assert float(out_of_range(y, s)) == pytest.approx(3 / 8)


def test_unknown_names_list_the_choices():
    with pytest.raises(UnknownChoice, match="unknown scaling 'foo'; valid choices: raw, unit"):
        make_scaling("foo", 1)
    with pytest.raises(UnknownChoice) as e:
        get_head("bar")
    assert str(e.value) == f"unknown head 'bar'; valid choices: {', '.join(HEADS)}"


def test_out_excess_averages_only_the_values_outside():
    s = make_scaling("symmetric", 1)  # 1 unit = 127.5 grey levels
    y = torch.tensor([-1.2, 0.0, 0.5, 1.0, 1.4, 0.9, -0.3, 0.2]).view(1, 1, 2, 4)
    # outside: -1.2 (0.2 below) and 1.4 (0.4 above): 25.5 and 51 grey levels, mean 38.25
    assert out_excess(y, s) == pytest.approx(38.25, rel=1e-5)
    assert out_excess(y.clamp(-1, 1), s) == 0.0


@pytest.mark.parametrize("head", sorted(HEADS))
def test_every_heads_preimage_maps_back(head):
    """``Head.preimage``: the last layer's value at which the head outputs ``y``, for every
    head (the black-start arm's bias); a value the head cannot output is refused."""
    h = get_head(head)
    for name in ("raw", "symmetric", "unit"):
        s = make_scaling(name, 3)
        lo, hi = s.lo, s.hi
        y = lo + torch.tensor([0.1, 0.5, 0.9]).view(1, 3, 1, 1) * (hi - lo)
        lo_h, hi_h = h.bounds(lo, hi)
        if bool(((y <= lo_h) | (y >= hi_h)).any()):
            with pytest.raises(ValueError, match=f"head '{head}' cannot output"):
                h.preimage(y, s)
            continue
        assert torch.allclose(h(h.preimage(y, s), s), y, rtol=1e-5, atol=1e-4), (head, name)
