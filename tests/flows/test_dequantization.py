"""Dequantization: uniform noise lands in each pixel's cell; the bounds in nats per image (exact
for a uniform density); the variational dequantizer's log q(u | x) against autograd's Jacobian,
its dependence on x, and that training it tightens the bound without crossing −log P(x)."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from torch import Tensor

from deepgen.errors import ConfigError, DataError
from deepgen.flows.dequantization import (
    VariationalDequantizer,
    bits_per_dim,
    dequantized_nll,
    uniform_dequantize,
)
from deepgen.flows.distribution import standard_normal_log_prob
from deepgen.flows.registry import randomize_parameters

DT = torch.float64


@pytest.mark.parametrize("levels", [2, 256])
def test_uniform_dequantization_stays_in_each_pixels_cell(levels: int) -> None:
    g = torch.Generator().manual_seed(0)
    x = torch.randint(0, levels, (50, 30), generator=g, dtype=torch.uint8 if levels > 2 else None)
    y = uniform_dequantize(x, levels, torch.Generator().manual_seed(1))
    assert y.is_floating_point() and bool(((y >= 0) & (y < 1)).all())
    assert torch.equal(torch.floor(y * levels).long(), x.long())
    again = uniform_dequantize(x, levels, torch.Generator().manual_seed(1))
    assert torch.equal(y, again)
    assert not torch.equal(y, uniform_dequantize(x, levels, torch.Generator().manual_seed(2)))


def test_values_that_are_not_pixels_of_the_levels_are_one_line_errors() -> None:
    for x, levels in [(torch.tensor([0.0, 2.0]), 2), (torch.tensor([0.5]), 2), (-torch.ones(1), 4)]:
        with pytest.raises(DataError) as excinfo:
            uniform_dequantize(x, levels)
        assert "\n" not in str(excinfo.value)
    with pytest.raises(ConfigError):
        uniform_dequantize(torch.zeros(2), 1)
    with pytest.raises(ConfigError):
        dequantized_nll(lambda y: y.sum(-1), torch.zeros(2, 3), 2, k=0)


@pytest.mark.parametrize("levels", [2, 256])
def test_a_uniform_density_gives_exactly_d_log_levels(levels: int) -> None:
    """p(y) = 1 on [0, 1)^D and uniform q: P(x) = L^{−D} exactly, so both bounds are tight."""
    x = torch.randint(0, levels, (6, 10), generator=torch.Generator().manual_seed(0)).to(DT)
    jensen, iw = dequantized_nll(lambda y: y.new_zeros(len(y)), x, levels, k=4)
    expected = torch.full((6,), 10 * math.log(levels), dtype=DT)
    torch.testing.assert_close(jensen, expected)
    torch.testing.assert_close(iw, expected)
    torch.testing.assert_close(
        bits_per_dim(jensen, 10), torch.full((6,), math.log2(levels), dtype=DT)
    )


def gaussian_log_prob(y: Tensor) -> Tensor:
    return standard_normal_log_prob(4 * (y - 0.5)) + y.shape[-1] * math.log(4)


def test_the_bounds_are_the_stated_averages_of_the_draws() -> None:
    x = torch.randint(0, 2, (5, 8), generator=torch.Generator().manual_seed(0)).to(DT)
    jensen, iw = dequantized_nll(
        gaussian_log_prob, x, 2, k=3, generator=torch.Generator().manual_seed(7)
    )
    g = torch.Generator().manual_seed(7)
    w = torch.stack(
        [gaussian_log_prob((x + torch.rand(x.shape, generator=g, dtype=DT)) / 2) for _ in range(3)]
    )
    offset = 8 * math.log(2)
    torch.testing.assert_close(jensen, -w.mean(0) + offset)
    torch.testing.assert_close(iw, -torch.logsumexp(w, 0) + math.log(3) + offset)
    assert bool((iw < jensen).all())  # log-mean-exp exceeds the mean unless all draws agree
    one, one_iw = dequantized_nll(gaussian_log_prob, x, 2, k=1)
    torch.testing.assert_close(one, one_iw)


def randomized_dequantizer(seed: int) -> VariationalDequantizer:
    q = VariationalDequantizer((2, 4, 4), levels=4, hidden=8, blocks=1, steps=3, map="spline")
    randomize_parameters(q, torch.Generator().manual_seed(seed), 0.1)
    return q


def test_variational_log_q_matches_the_autograd_jacobian() -> None:
    """log q(u | x) = log N(ε) − log|det ∂u/∂ε|, with the Jacobian from autograd."""
    q = randomized_dequantizer(0)
    x = torch.randint(0, 4, (3, 32), generator=torch.Generator().manual_seed(1)).to(DT)
    u, log_q = q(x, torch.Generator().manual_seed(2))
    eps = torch.randn(x.shape, generator=torch.Generator().manual_seed(2), dtype=DT)
    assert bool(((u > 0) & (u < 1)).all())
    for i in range(3):
        jac = torch.autograd.functional.jacobian(
            lambda e, i=i: q.warp(e[None], x[i : i + 1])[0][0], eps[i]
        )
        sign, logabs = torch.linalg.slogdet(jac)
        assert sign.item() != 0
        expected = standard_normal_log_prob(eps[i]) - logabs
        assert abs(log_q[i].item() - expected.item()) < 1e-8
        start = (F.logsigmoid(eps[i]) + F.logsigmoid(-eps[i])).sum()  # u = σ(ε) at the start
        assert abs(logabs.item() - start.item()) > 1.0


def test_the_variational_dequantizer_depends_on_x() -> None:
    q = randomized_dequantizer(3)
    x = torch.zeros(2, 32, dtype=DT)
    x[1] = 3
    eps = torch.randn(1, 32, dtype=DT).expand(2, 32)
    u, _ = q.warp(eps, x)
    assert (u[0] - u[1]).abs().max() > 1e-3


def test_training_the_dequantizer_tightens_the_bound_but_not_past_the_nll() -> None:
    """p(y) = Π 6y(1 − y) (Beta(2, 2)) gives P(x) = 2^{−D} for every binary x; uniform q
    leaves a gap of about 0.21 nats per pixel, which 30 Adam steps on q mostly close."""
    d = 16

    def log_p(y: Tensor) -> Tensor:
        return torch.log(6 * y * (1 - y)).sum(-1)

    g = torch.Generator().manual_seed(0)
    x = torch.bernoulli(torch.full((64, d), 0.5), generator=g)
    exact = d * math.log(2)
    torch.manual_seed(0)
    q = VariationalDequantizer((1, 4, 4), levels=2, hidden=16, blocks=1, steps=2)

    def bounds(dequantizer: VariationalDequantizer | None) -> tuple[float, float]:
        with torch.no_grad():
            j, iw = dequantized_nll(log_p, x, 2, dequantizer, 8, torch.Generator().manual_seed(5))
        return j.mean().item(), iw.mean().item()

    uniform, _ = bounds(None)
    start, _ = bounds(q)
    optimizer = torch.optim.Adam(q.parameters(), lr=1e-2)
    for _ in range(30):
        loss = dequantized_nll(log_p, x, 2, q, generator=g)[0].mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    jensen, iw = bounds(q)
    assert uniform - exact > 0.19 * d  # the uniform gap, ≈ 0.208 nats per pixel
    assert start - jensen > 1.5 and uniform - jensen > 1.5, (uniform, start, jensen)
    # upper bounds on exact (up to Monte Carlo error: standard error ≈ 0.02 here)
    assert jensen > exact - 0.2 and iw > exact - 0.2 and iw <= jensen, (exact, jensen, iw)
