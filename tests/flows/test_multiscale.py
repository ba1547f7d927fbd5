"""Multi-scale image flows: Squeeze, ActNorm2d, InvertibleConv1x1, ConvCoupling and MultiScale
checked as bijections in float64 against autograd; Squeeze's pixel order and its refusal of odd
sizes; the 1×1 convolution's log-det; MultiScale's output order; ImageFlow trains."""

from __future__ import annotations

import math
from collections.abc import Callable

import pytest
import torch
import torch.nn.functional as F

from deepgen.errors import ConfigError, ShapeError
from deepgen.flows.actnorm import ActNorm
from deepgen.flows.check import check_bijection
from deepgen.flows.dequantization import bits_per_dim, dequantized_nll, uniform_dequantize
from deepgen.flows.multiscale import (
    ActNorm2d,
    ConvCoupling,
    ImageFlow,
    InvertibleConv1x1,
    MultiScale,
    Squeeze,
)
from deepgen.flows.registry import randomize_parameters

DT = torch.float64


def randomized(t: torch.nn.Module, seed: int, scale: float) -> torch.nn.Module:
    """Random float64 parameters (so no coupling is the identity), ActNorms marked initialized.

    Deep stacks get a small scale: with large random weights a few conv couplings already
    have Jacobians of condition number ≫ 1e16, where no float64 check can be exact."""
    randomize_parameters(t, torch.Generator().manual_seed(seed), scale)
    for m in t.modules():
        if isinstance(m, ActNorm):
            m.initialized.fill_(True)
    return t


def one_line_error(excinfo: pytest.ExceptionInfo[Exception]) -> str:
    message = str(excinfo.value)
    assert message and "\n" not in message
    return message


# name → (build with random parameters, context channels); analytic inverses: atol 1e-8
BUILDERS: dict[str, tuple[Callable[[], torch.nn.Module], int]] = {
    "Squeeze": (lambda: Squeeze((2, 4, 6)).double(), 0),
    "ActNorm2d": (lambda: randomized(ActNorm2d((3, 2, 4)), 1, 0.5), 0),
    "InvertibleConv1x1": (lambda: randomized(InvertibleConv1x1((4, 2, 3), seed=3), 2, 0.5), 0),
    **{
        f"ConvCoupling({m}, {mask}, swap={swap})": (
            lambda m=m, mask=mask, swap=swap: randomized(
                ConvCoupling((3, 4, 4), 8, 1, m, mask, swap, bins=4, bound=3.0), 3, 0.2
            ),
            0,
        )
        for m in ("affine", "spline")
        for mask in ("channel", "checkerboard")
        for swap in (False, True)
    },
    "ConvCoupling(spline, checkerboard, context)": (
        lambda: randomized(
            ConvCoupling((1, 4, 4), 8, 1, "spline", "checkerboard", context_channels=2, bins=4),
            4,
            0.2,
        ),
        2,
    ),
    "ConvCoupling(affine, channel, context)": (
        lambda: randomized(ConvCoupling((2, 4, 4), 8, 2, context_channels=1), 5, 0.2),
        1,
    ),
    **{
        f"MultiScale({m}, {mask})": (
            lambda m=m, mask=mask: randomized(
                MultiScale((2, 4, 4), levels=2, steps=2, hidden=8, blocks=1, map=m, mask=mask),
                6,
                0.1,
            ),
            0,
        )
        for m in ("affine", "spline")
        for mask in ("channel", "checkerboard")
    },
    "MultiScale(1 channel, 1 level)": (
        lambda: randomized(MultiScale((1, 4, 4), levels=1, steps=2, hidden=8, blocks=1), 7, 0.1),
        0,
    ),
}


@pytest.mark.parametrize("name", sorted(BUILDERS))
def test_image_transforms_are_bijections_with_exact_logdets(name: str) -> None:
    build, context_channels = BUILDERS[name]
    t = build()
    g = torch.Generator().manual_seed(11)
    pixels = t.features // t.shape[0]
    x = 2 * torch.randn(3, t.features, generator=g, dtype=DT)
    y = 2 * torch.randn(3, t.features, generator=g, dtype=DT)
    c = (
        torch.randn(3, context_channels * pixels, generator=g, dtype=DT)
        if context_channels
        else None
    )
    report = check_bijection(t, x, c, atol=1e-8, name=name, y=y)
    assert report.ok, report.message
    # the check is of a map that moves points and (but for Squeeze) changes volume
    with torch.no_grad():
        out, logdet = t(x, c)
    assert (out - x).abs().max() > 1e-2
    if name != "Squeeze":
        assert logdet.abs().min() > 1e-3


def test_squeeze_puts_each_2x2_block_into_channels_in_order() -> None:
    c, h, w = 2, 4, 6
    x = torch.randn(3, c * h * w)
    t = Squeeze((c, h, w))
    assert t.out_shape == (8, 2, 3)
    y, logdet = t(x)
    img, out = x.view(3, c, h, w), y.view(3, 4 * c, h // 2, w // 2)
    for ch in range(c):
        for i in range(2):
            for j in range(2):
                torch.testing.assert_close(
                    out[:, 4 * ch + 2 * i + j], img[:, ch, i::2, j::2], rtol=0, atol=0
                )
    assert torch.equal(logdet, torch.zeros(3))
    assert torch.equal(t.inverse(y)[0], x)


@pytest.mark.parametrize("shape", [(1, 7, 7), (1, 4, 5), (3, 5, 4)])
def test_squeeze_refuses_an_odd_size_with_a_one_line_error(shape: tuple[int, int, int]) -> None:
    with pytest.raises(ShapeError) as excinfo:
        Squeeze(shape)
    assert "even" in one_line_error(excinfo)


def test_multiscale_refuses_more_levels_than_the_image_allows() -> None:
    with pytest.raises(ShapeError) as excinfo:
        MultiScale((1, 14, 14), levels=2, steps=1, hidden=4, blocks=0)
    assert "level 2" in one_line_error(excinfo)
    with pytest.raises(ShapeError) as excinfo:
        Squeeze((1, 4, 4))(torch.zeros(2, 15))
    one_line_error(excinfo)


def test_bad_coupling_options_are_one_line_errors() -> None:
    for kwargs, error in [
        ({"map": "cubic"}, ConfigError),
        ({"mask": "stripes"}, ConfigError),
        ({"hidden": 0}, ConfigError),
    ]:
        with pytest.raises(error) as excinfo:
            ConvCoupling((2, 4, 4), **kwargs)  # type: ignore[arg-type]
        one_line_error(excinfo)
    with pytest.raises(ShapeError) as excinfo:
        ConvCoupling((1, 4, 4), mask="channel")  # one channel cannot be split
    assert "checkerboard" in one_line_error(excinfo)


def test_actnorm2d_standardizes_each_channel_over_batch_and_pixels() -> None:
    g = torch.Generator().manual_seed(0)
    scale = torch.tensor([0.5, 2.0, 4.0], dtype=DT).view(1, 3, 1)
    loc = torch.tensor([-1.0, 0.0, 3.0], dtype=DT).view(1, 3, 1)
    x = (loc + scale * torch.randn(200, 3, 6, generator=g, dtype=DT)).view(200, 18)
    t = ActNorm2d((3, 2, 3)).double()
    assert isinstance(t, ActNorm) and not bool(t.initialized)  # experiment.py initializes it
    y, logdet = t(x)
    v = y.view(200, 3, 6)
    torch.testing.assert_close(v.mean((0, 2)), torch.zeros(3, dtype=DT), atol=1e-12, rtol=0)
    std = x.view(200, 3, 6).transpose(0, 1).reshape(3, -1).std(1)
    torch.testing.assert_close(v.transpose(0, 1).reshape(3, -1).std(1), torch.ones(3, dtype=DT))
    torch.testing.assert_close(logdet, (-6 * torch.log(std).sum()).expand(200))
    assert bool(t.initialized)
    before = t.loc.clone()
    t(x + 10)  # initialized once: a later batch does not move it
    assert torch.equal(t.loc, before)


def test_invertible_conv_logdet_is_pixels_times_log_abs_det_w() -> None:
    shape = (5, 3, 2)
    t = InvertibleConv1x1(shape, seed=4).double()
    w = t.weight()
    # a random rotation at the start, one per seed
    torch.testing.assert_close(w @ w.T, torch.eye(5, dtype=DT), atol=1e-6, rtol=0)
    assert not torch.allclose(w, InvertibleConv1x1(shape, seed=5).double().weight())
    randomized(t, 8, 0.5)
    w = t.weight()
    _, logabs = torch.linalg.slogdet(w)
    assert abs(logabs.item()) > 0.1
    x = torch.randn(4, t.features, dtype=DT)
    y, logdet = t(x)
    torch.testing.assert_close(logdet, (6 * logabs).expand(4), rtol=0, atol=1e-10)
    # it is the convolution with the kernel W (a 1×1 conv2d)
    conv = F.conv2d(x.view(4, *shape), w[:, :, None, None]).reshape(4, -1)
    torch.testing.assert_close(y, conv, rtol=0, atol=1e-12)
    torch.testing.assert_close(t.inverse_weight() @ w, torch.eye(5, dtype=DT), rtol=0, atol=1e-10)


@pytest.mark.parametrize("mask", ["channel", "checkerboard"])
@pytest.mark.parametrize("map_", ["affine", "spline"])
def test_conv_coupling_starts_as_the_identity(map_: str, mask: str) -> None:
    t = ConvCoupling((2, 4, 4), hidden=8, blocks=2, map=map_, mask=mask).double()
    x = 2 * torch.randn(5, 32, dtype=DT)
    y, logdet = t(x)
    torch.testing.assert_close(y, x, rtol=0, atol=1e-10)
    torch.testing.assert_close(logdet, torch.zeros(5, dtype=DT), rtol=0, atol=1e-10)


@pytest.mark.parametrize("swap", [False, True])
def test_a_checkerboard_coupling_changes_only_its_half_of_the_pixels(swap: bool) -> None:
    t = randomized(ConvCoupling((2, 4, 4), 8, 1, mask="checkerboard", swap=swap), 9, 0.2)
    x = torch.randn(3, 32, dtype=DT)
    y, _ = t(x)
    diff = (y - x).view(3, 2, 4, 4).abs().amax((0, 1))
    parity = (torch.arange(4)[:, None] + torch.arange(4)) % 2
    changed = parity == (0 if swap else 1)
    assert bool((diff[~changed] == 0).all()) and bool((diff[changed] > 1e-3).all())


def test_multiscale_output_order_is_factored_parts_then_the_last_level() -> None:
    t = randomized(MultiScale((1, 8, 8), levels=3, steps=1, hidden=8, blocks=1), 10, 0.1)
    assert t.out_shapes == [(2, 4, 4), (4, 2, 2), (16, 1, 1)]
    x = torch.randn(4, 64, dtype=DT)
    z, _ = t(x)
    blocks = t.unflatten(z)
    assert [tuple(b.shape[1:]) for b in blocks] == t.out_shapes
    # level 1's output: its last 2 of 4 channels are z_1, its first 2 go on to level 2
    h1, _ = t.stages[0](x)
    h1 = h1.view(4, 4, 4, 4)
    torch.testing.assert_close(blocks[0], h1[:, 2:], rtol=0, atol=0)
    h2, _ = t.stages[1](h1[:, :2].reshape(4, -1))
    h2 = h2.view(4, 8, 2, 2)
    torch.testing.assert_close(blocks[1], h2[:, 4:], rtol=0, atol=0)
    h3, _ = t.stages[2](h2[:, :4].reshape(4, -1))
    torch.testing.assert_close(blocks[2].reshape(4, -1), h3, rtol=0, atol=0)
    # changing the last level leaves the factored-out parts alone
    with torch.no_grad():
        for p in t.stages[2].parameters():
            p.add_(0.05)
    z2, _ = t(x)
    n = t.sizes[0] + t.sizes[1]
    assert torch.equal(z2[:, :n], z[:, :n]) and not torch.allclose(z2[:, n:], z[:, n:])


def test_multiscale_on_mnist_sizes() -> None:
    t = MultiScale((1, 28, 28), levels=2, steps=1, hidden=4, blocks=0)
    assert t.out_shapes == [(2, 14, 14), (8, 7, 7)] and sum(t.sizes) == 784
    assert MultiScale((1, 14, 14), levels=1, steps=1, hidden=4, blocks=0).out_shapes == [(4, 7, 7)]


def test_image_flow_is_a_distribution_on_the_unit_cube() -> None:
    torch.manual_seed(0)
    flow = ImageFlow((1, 28, 28))  # the defaults: 2 levels, 4 steps, 64 channels
    y = uniform_dequantize(torch.randint(0, 2, (2, 784)), levels=2)
    assert flow.log_prob(y).shape == (2,)
    assert flow.multiscale.out_shapes == [(2, 14, 14), (8, 7, 7)]
    small = ImageFlow((1, 8, 8), levels=2, steps=1, hidden=8, blocks=1, map="spline")
    small.log_prob(uniform_dequantize(torch.randint(0, 2, (20, 64)), 2))  # ActNorm's start
    x, log_p = small.sample_and_log_prob(5)
    assert x.shape == (5, 64) and bool(((x >= 0) & (x <= 1)).all())
    torch.testing.assert_close(small.log_prob(x), log_p, rtol=0, atol=1e-3)


def test_bits_per_dim() -> None:
    assert bits_per_dim(784 * math.log(2), 784) == pytest.approx(1.0, abs=1e-12)
    nats = torch.tensor([0.0, 64 * math.log(256)])
    torch.testing.assert_close(bits_per_dim(nats, 64), torch.tensor([0.0, 8.0]))


@pytest.mark.parametrize("map_", ["affine", "spline"])
def test_image_flow_training_lowers_the_dequantized_nll(map_: str) -> None:
    """64 random 8×8 binary images (pixels on with probability 0.1 or 0.9, fixed per pixel):
    30 Adam steps lower the uniform-dequantization bound by more than 3 nats per image (about
    9.4 for affine, 9.9 for spline; the start is about 42.8)."""
    torch.manual_seed(0)
    g = torch.Generator().manual_seed(0)
    probs = torch.where(torch.rand(64, generator=g) < 0.5, 0.1, 0.9)
    x = torch.bernoulli(probs.expand(64, 64), generator=g)
    flow = ImageFlow((1, 8, 8), levels=2, steps=2, hidden=16, blocks=1, map=map_)

    def nll() -> float:
        with torch.no_grad():
            bound, _ = dequantized_nll(
                flow.log_prob, x, 2, generator=torch.Generator().manual_seed(1)
            )
        return bound.mean().item()

    with torch.no_grad():
        flow.log_prob(uniform_dequantize(x, 2, g))  # ActNorm's data-dependent start
    before = nll()
    optimizer = torch.optim.Adam(flow.parameters(), lr=3e-3)
    for _ in range(30):
        loss = -flow.log_prob(uniform_dequantize(x, 2, g)).mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    after = nll()
    assert math.isfinite(after) and before - after > 3.0, (before, after)
