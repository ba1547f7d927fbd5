"""The invertible residual block: Lipschitz bound, fixed-point inverse, log-det estimators."""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from deepgen.errors import ConfigError, TrainingError
from deepgen.flows.registry import randomize_parameters
from deepgen.flows.residual import ResidualBlock, _jacobian

DT = torch.float64


def block(d: int, seed: int, scale: float = 2.0, **kw) -> ResidualBlock:
    b = ResidualBlock(d, hidden=8, **kw)
    randomize_parameters(b, torch.Generator().manual_seed(seed), scale)
    return b


@given(
    d=st.integers(1, 6), layers=st.integers(1, 3), c=st.floats(0.1, 0.99), seed=st.integers(0, 999)
)
def test_g_is_a_contraction_with_lipschitz_constant_at_most_c(
    d: int, layers: int, c: float, seed: int
) -> None:
    b = block(d, seed, scale=3.0, layers=layers, lipschitz=c)
    for w in b.g.weights():
        assert torch.linalg.matrix_norm(w, ord=2).item() <= c * (1 + 1e-12)
    g = torch.Generator().manual_seed(seed)
    x, y = torch.randn(200, d, generator=g, dtype=DT), torch.randn(200, d, generator=g, dtype=DT)
    with torch.no_grad():
        ratio = (b.g(x) - b.g(y)).norm(dim=-1) / (x - y).norm(dim=-1)
    assert ratio.max().item() <= c + 1e-12
    # and J_g's spectral norm too, at every point: so I + J_g is never singular
    with torch.no_grad():
        _, slopes, weights = b.g.forward_with_slopes(x)
        assert torch.linalg.matrix_norm(_jacobian(slopes, weights), ord=2).max() <= c + 1e-12


def test_explicit_jacobian_matches_autograd() -> None:
    b = block(4, 1)
    x = torch.randn(3, 4, dtype=DT)
    _, slopes, weights = b.g.forward_with_slopes(x)
    for i in range(3):
        ref = torch.autograd.functional.jacobian(lambda v: b.g(v.unsqueeze(0))[0], x[i])
        torch.testing.assert_close(_jacobian(slopes, weights)[i], ref)


@given(seed=st.integers(0, 999), c=st.floats(0.5, 0.97))
def test_fixed_point_inverse_converges_to_the_stated_tolerance(seed: int, c: float) -> None:
    b = block(3, seed, lipschitz=c, tol=1e-11)
    x = 3 * torch.randn(16, 3, dtype=DT, generator=torch.Generator().manual_seed(seed))
    with torch.no_grad():
        y, _ = b(x)
        x_back, _ = b.inverse(y)
    assert (x_back - x).abs().max().item() <= 1e-10


def test_inverse_that_hits_the_iteration_cap_is_an_error_not_a_wrong_answer() -> None:
    b = block(3, 0, lipschitz=0.99, tol=1e-14, max_iter=2)
    y = 5 * torch.randn(4, 3, dtype=DT)
    with pytest.raises(TrainingError, match="did not reach tolerance"):
        b.inverse(y)


def _exact_series(b: ResidualBlock, x: torch.Tensor, n: int) -> torch.Tensor:
    """Σ_{k≤n} (−1)^{k+1} tr(J^k)/k from the explicit Jacobian."""
    _, slopes, weights = b.g.forward_with_slopes(x)
    jac = _jacobian(slopes, weights)
    power, total = torch.eye(x.shape[1], dtype=DT).expand_as(jac), torch.zeros(x.shape[0], dtype=DT)
    for k in range(1, n + 1):
        power = power @ jac
        total = total + (-1) ** (k + 1) / k * torch.diagonal(power, dim1=-2, dim2=-1).sum(-1)
    return total


def _mean_and_stderr(draws: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    return draws.mean(0), draws.std(0) / math.sqrt(draws.shape[0])


def strong_block(d: int, c: float, **kw) -> ResidualBlock:
    """g(x) = −c² x near 0 (W₁ = cI, W₂ = −cI, ELU on its linear part): log det = d log(1 − c²),
    far from the first terms of the series, so a truncation bias is large enough to see."""
    b = ResidualBlock(d, hidden=d, layers=1, lipschitz=c, **kw).double()
    with torch.no_grad():
        first, last = b.g.linears
        first.weight.copy_(c * torch.eye(d))
        first.bias.fill_(10.0)
        last.weight.copy_(-c * torch.eye(d))
        last.bias.fill_(10.0 * c)
    return b


def test_hutchinson_series_is_unbiased_for_the_truncated_series_whose_bias_is_bounded() -> None:
    d, n, c = 4, 2, 0.95
    b = strong_block(d, c, logdet="series", terms=n)
    x = torch.randn(3, d, dtype=DT, generator=torch.Generator().manual_seed(1))
    g = torch.Generator().manual_seed(2)
    with torch.no_grad():
        draws = torch.stack([b.logdet(x, generator=g) for _ in range(5000)])
        truncated, exact = _exact_series(b, x, n), b.logdet(x, "exact")
    torch.testing.assert_close(exact, torch.full((3,), d * math.log(1 - c**2), dtype=DT))
    mean, se = _mean_and_stderr(draws)
    assert ((mean - truncated).abs() <= 4 * se).all()  # Hutchinson: unbiased for Σ tr(J^k)/k
    bias = (truncated - exact).abs()
    lip = c**2  # Lip(g) ≤ c^(number of linear maps)
    assert (bias <= d * lip ** (n + 1) / ((n + 1) * (1 - lip))).all()
    assert (bias > 10 * se).all()  # the truncation bias is real and detectable


@pytest.mark.parametrize("strong", [False, True])
def test_russian_roulette_estimator_is_unbiased_within_monte_carlo_error(strong: bool) -> None:
    """E[estimate] = log det(I + J) exactly, also where the truncated series is far off; the
    stopping probability must satisfy (1 − p) > Lip(g) for a finite variance."""
    d = 4
    kw = {"logdet": "roulette", "terms": 2}
    if strong:
        b = strong_block(d, 0.95, roulette_p=0.05, **kw)
    else:
        b = block(d, 3, lipschitz=0.95, roulette_p=0.5, **kw)
    x = torch.randn(3, d, dtype=DT, generator=torch.Generator().manual_seed(1))
    g = torch.Generator().manual_seed(5)
    with torch.no_grad():
        draws = torch.stack([b.logdet(x, generator=g) for _ in range(5000)])
        exact = b.logdet(x, "exact")
    mean, se = _mean_and_stderr(draws)
    assert ((mean - exact).abs() <= 4 * se).all(), (mean - exact, se)


def test_auto_uses_exact_for_small_and_roulette_for_large_dimension() -> None:
    assert ResidualBlock(16).logdet_method == "exact"
    assert ResidualBlock(17).logdet_method == "roulette"


def test_stochastic_logdet_gives_gradients_to_the_parameters() -> None:
    b = block(20, 0, scale=0.5, terms=3)
    x = torch.randn(5, 20)
    b.float()
    y, ld = b(x.float())
    (y.square().sum() - ld.sum()).backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in b.parameters())


@settings(max_examples=5)
@given(bad=st.sampled_from([0.0, 1.0, -0.5, 1.5]))
def test_bad_configuration_is_a_clear_error(bad: float) -> None:
    with pytest.raises(ConfigError, match="Lipschitz"):
        ResidualBlock(3, lipschitz=bad)
    with pytest.raises(ConfigError, match="log-det"):
        ResidualBlock(3, logdet="cholesky")  # type: ignore[arg-type]
