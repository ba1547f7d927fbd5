"""Masks A/B in both conventions, the orderings they imply, and colour-channel masks."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from deepgen.autoregressive.masks import (
    channel_mask,
    horizontal_stack_mask,
    mask_offsets,
    ordering,
    precedes,
    spatial_mask,
    vertical_stack_mask,
)
from deepgen.autoregressive.pixelcnn import MaskedConv2d
from deepgen.errors import ConfigError

ODD = st.sampled_from([1, 3, 5, 7])
KIND = st.sampled_from(["A", "B"])
CONV = st.sampled_from(["seed", "pixelcnn"])


def spec_mask(kind: str, k: int) -> torch.Tensor:
    """SPEC §4 literally, 1-indexed (i, j), centre c = (k + 1) / 2 (c = 2 for 3×3)."""
    c = (k + 1) // 2
    m = torch.zeros(k, k)
    for i in range(1, k + 1):
        for j in range(1, k + 1):
            left = j < c if kind == "A" else j <= c
            m[i - 1, j - 1] = float((i == c and left) or i > c)
    return m


def test_seed_3x3_masks_are_specs_definition() -> None:
    # M^A_ij = 1 if i = 2 and j < 2, or i = 3;  M^B_ij = 1 if i = 2 and j <= 2, or i = 3.
    a, b = spatial_mask("A", 3, "seed"), spatial_mask("B", 3, "seed")
    assert torch.equal(a, spec_mask("A", 3))
    assert torch.equal(b, spec_mask("B", 3))
    assert a.sum() == 4 and b.sum() == 5 and a[1, 1] == 0 and b[1, 1] == 1


@given(kind=KIND, k=ODD)
def test_seed_masks_follow_spec_for_any_odd_kernel(kind: str, k: int) -> None:
    assert torch.equal(spatial_mask(kind, k, "seed"), spec_mask(kind, k))


@given(kind=KIND, k=ODD)
def test_pixelcnn_masks_are_the_vertical_mirror_of_seed(kind: str, k: int) -> None:
    assert torch.equal(spatial_mask(kind, k, "pixelcnn"), spatial_mask(kind, k, "seed").flip(0))


@given(k=ODD, conv=CONV)
def test_a_and_b_differ_only_at_the_centre(k: int, conv: str) -> None:
    diff = spatial_mask("B", k, conv) - spatial_mask("A", k, conv)
    expected = torch.zeros(k, k)
    expected[k // 2, k // 2] = 1
    assert torch.equal(diff, expected)


@given(kind=KIND, k=ODD, conv=CONV)
def test_every_offset_of_a_mask_precedes_the_centre(kind: str, k: int, conv: str) -> None:
    # Orders are translation invariant, so an offset o is "earlier" iff o precedes (0, 0).
    for o in mask_offsets(spatial_mask(kind, k, conv)):
        assert precedes(o, (0, 0), conv) or (kind == "B" and o == (0, 0))
    for o in mask_offsets(horizontal_stack_mask(kind, k)):
        assert o[0] == 0 and (o[1] < 0 or (kind == "B" and o[1] == 0))
    # The vertical stack reads its own row too, but the horizontal stack reads it one row
    # further along the order (shifted), where every offset is strictly earlier.
    step = 1 if conv == "seed" else -1
    for dr, dc in mask_offsets(vertical_stack_mask(k, conv)):
        assert precedes((dr + step, dc), (0, 0), conv)


@given(h=st.integers(1, 5), w=st.integers(1, 5), conv=CONV)
def test_precedes_is_the_generation_order(h: int, w: int, conv: str) -> None:
    order = ordering(h, w, conv)
    assert sorted(order) == [(r, c) for r in range(h) for c in range(w)]
    index = {p: i for i, p in enumerate(order)}
    for p in order:
        for q in order:
            assert precedes(p, q, conv) == (index[p] < index[q])
    # seed: the bottom-left pixel comes first; pixelcnn: the top-left one
    assert order[0] == ((h - 1, 0) if conv == "seed" else (0, 0))


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: spatial_mask("A", 4), "odd"),
        (lambda: spatial_mask("A", 0), "odd"),
        (lambda: spatial_mask("C", 3), "unknown mask type 'C'"),
        (lambda: spatial_mask("A", 3, "raster"), "unknown mask convention"),
        (lambda: channel_mask("A", 3, 4, 6, colors=3), "multiple of colors"),
    ],
)
def test_bad_arguments_get_clear_errors(call, message: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ConfigError, match=message):
        call()


@pytest.mark.parametrize("conv", ["seed", "pixelcnn"])
def test_colour_masks_order_r_then_g_then_b_by_jacobian(conv: str) -> None:
    # Channel (pixel p, colour g) may read (q, g') iff q precedes p, or q = p and g' < g.
    torch.manual_seed(0)
    h = w = 4
    net = torch.nn.Sequential(
        MaskedConv2d(3, 6, 3, "A", conv, colors=3),
        torch.nn.Tanh(),
        MaskedConv2d(6, 6, 3, "B", conv, colors=3),
        torch.nn.Tanh(),
        MaskedConv2d(6, 3, 1, "B", conv, colors=3),
    ).double()
    x = torch.randn(1, 3, h, w, dtype=torch.float64)
    jac = torch.autograd.functional.jacobian(lambda t: net(t)[0], x)[:, :, :, 0]  # [3,h,w,3,h,w]
    pixels = [(r, c) for r in range(h) for c in range(w)]
    for g in range(3):
        for p in pixels:
            for g2 in range(3):
                for q in pixels:
                    allowed = precedes(q, p, conv) or (q == p and g2 < g)
                    value = jac[g, p[0], p[1], g2, q[0], q[1]]
                    if not allowed:
                        assert value == 0, (g, p, g2, q)
    # and the same-pixel links that are allowed do exist: G reads R, B reads R and G
    assert jac[1, 1, 1, 0, 1, 1] != 0 and jac[2, 1, 1, 0, 1, 1] != 0 and jac[2, 1, 1, 1, 1, 1] != 0


def test_single_layer_channel_mask_centre_pattern() -> None:
    a = channel_mask("A", 3, 3, 3, "pixelcnn", colors=3)[:, :, 1, 1]
    b = channel_mask("B", 3, 3, 3, "pixelcnn", colors=3)[:, :, 1, 1]
    assert torch.equal(a, torch.tril(torch.ones(3, 3), diagonal=-1))
    assert torch.equal(b, torch.tril(torch.ones(3, 3)))
    # off-centre kept offsets read all channels
    assert channel_mask("A", 3, 3, 3, "pixelcnn", colors=3)[:, :, 0, 2].eq(1).all()
