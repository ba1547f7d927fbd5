"""SPEC §2, change of variables: affine maps g of z₀ ~ N(0, I) inside a deepgen Flow give exactly
the Gaussians of the closed form, in float64.

* g(z₀) = μ + σ ∘ z₀ (``ElementwiseAffine``)                → N(μ, diag σ²),  log|det| = Σ log σ_i
* g(z₀) = μ + L z₀, L lower-triangular, L_ii > 0 (``LowerTriangularLinear``) → N(μ, L Lᵀ),
  log|det| = Σ log L_ii
* g(z₀) = μ + S z₀, S dense non-singular (``LULinear`` set from the LU factors of S, and a plain
  dense map with ``slogdet``)                                → N(μ, S Sᵀ),  log|det| = log|det S|

A Flow maps data to noise, so the flow's transform is ``InverseTransform(g)``; log p(x) =
log N(g⁻¹(x); 0, I) + log|det ∂g⁻¹/∂x|, compared with ``MultivariateNormal(μ, S Sᵀ).log_prob``.
Parameters are drawn by hypothesis (dimension, seed, spread) and written into the transforms'
nn.Parameters under no_grad. A Monte-Carlo check compares the sample mean and covariance of
``Flow.sample`` with μ and S Sᵀ at 5 standard errors.
"""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import assume, given
from hypothesis import strategies as st
from torch import Tensor
from torch.distributions import Independent, MultivariateNormal, Normal

from deepgen.flows import (
    ElementwiseAffine,
    FlowDistribution,
    InverseTransform,
    LowerTriangularLinear,
    LULinear,
    Transform,
)

DT = torch.float64
KINDS = ("diagonal", "triangular", "dense_lu", "dense_map")


def _standard(d: int) -> Independent:
    return Independent(Normal(torch.zeros(d, dtype=DT), torch.ones(d, dtype=DT)), 1)


class DenseAffine(Transform):
    """y = S x + μ for a general non-singular S; log|det J| = log|det S| by slogdet (O(K³))."""

    def __init__(self, matrix: Tensor, shift: Tensor) -> None:
        super().__init__()
        self.features = matrix.shape[0]
        self.matrix = torch.nn.Parameter(matrix.clone())
        self.shift = torch.nn.Parameter(shift.clone())

    def forward(self, x: Tensor, context: Tensor | None = None) -> tuple[Tensor, Tensor]:
        logabsdet = torch.linalg.slogdet(self.matrix).logabsdet
        return x @ self.matrix.T + self.shift, logabsdet.expand(x.shape[0])

    def inverse(self, y: Tensor, context: Tensor | None = None) -> tuple[Tensor, Tensor]:
        x = torch.linalg.solve(self.matrix, (y - self.shift).T).T
        return x, (-torch.linalg.slogdet(self.matrix).logabsdet).expand(y.shape[0])


def draw_parameters(kind: str, d: int, seed: int, spread: float) -> tuple[Tensor, Tensor]:
    """μ and the matrix S of g(z₀) = μ + S z₀ for the kind (S diagonal for ``diagonal``)."""
    g = torch.Generator().manual_seed(seed)
    mu = 2 * torch.randn(d, generator=g, dtype=DT)
    log_diag = spread * (2 * torch.rand(d, generator=g, dtype=DT) - 1)
    if kind == "diagonal":
        return mu, torch.diag(torch.exp(log_diag))
    if kind == "triangular":
        off = torch.tril(spread * torch.randn(d, d, generator=g, dtype=DT), -1)
        return mu, off + torch.diag(torch.exp(log_diag))
    return mu, spread * torch.randn(d, d, generator=g, dtype=DT) + torch.diag(log_diag)


def build_map(kind: str, mu: Tensor, s: Tensor) -> tuple[Transform, Tensor]:
    """deepgen's transform for g(z₀) = μ + W z₀, its parameters set from (μ, S), and W.

    W = S except for ``dense_lu``, where W = S D with D = diag(±1) making U's diagonal positive
    (LULinear's U has diagonal exp(s) > 0); S D Dᵀ Sᵀ = S Sᵀ, so the Gaussian is the same.
    """
    d = len(mu)
    with torch.no_grad():
        if kind == "diagonal":
            t: Transform = ElementwiseAffine(d).to(DT)
            t.shift.copy_(mu)
            t.log_scale.copy_(torch.log(torch.diagonal(s)))
            return t, s
        if kind == "triangular":
            t = LowerTriangularLinear(d).to(DT)
            t.lower.copy_(s)  # only the strictly-lower part is used
            t.log_diag.copy_(torch.log(torch.diagonal(s)))
            t.bias.copy_(mu)
            return t, s
        if kind == "dense_lu":
            perm, lower, upper = torch.linalg.lu(s)  # s = P L U
            signs = torch.sign(torch.diagonal(upper))
            t = LULinear(d).to(DT)
            t.perm.copy_(perm.argmax(0))  # LULinear: W[perm[i]] = (L U)[i], i.e. W = P (L U)
            t.lower.copy_(lower)
            t.upper.copy_(upper * signs)  # scales column j by sign(u_jj)
            t.log_diag.copy_(torch.log(torch.abs(torch.diagonal(upper))))
            t.bias.copy_(mu)
            return t, s * signs
        if kind == "dense_map":
            return DenseAffine(s, mu), s
    raise ValueError(kind)


def model_matrix(t: Transform) -> Tensor:
    if isinstance(t, ElementwiseAffine):
        return torch.diag(torch.exp(t.log_scale))
    return t.matrix() if callable(t.matrix) else t.matrix


def _case(
    kind: str, d: int, seed: int, spread: float
) -> tuple[FlowDistribution, Transform, Tensor, Tensor]:
    mu, s = draw_parameters(kind, d, seed, spread)
    if kind in ("dense_lu", "dense_map"):
        assume(torch.linalg.cond(s).item() < 1e4)  # keep S Sᵀ comfortably invertible in float64
    g_map, _ = build_map(kind, mu, s)
    return FlowDistribution(_standard(d), InverseTransform(g_map)), g_map, mu, s


@pytest.mark.parametrize("kind", KINDS)
@given(
    d=st.integers(1, 6),
    seed=st.integers(0, 10_000),
    spread=st.floats(0.1, 1.5),
    batch=st.integers(1, 6),
)
def test_affine_flow_density_is_the_closed_form_gaussian(
    kind: str, d: int, seed: int, spread: float, batch: int
) -> None:
    """log p(x) of the flow = log N(x; μ, S Sᵀ) at points near and far from μ."""
    flow, g_map, mu, s = _case(kind, d, seed, spread)
    torch.testing.assert_close(
        model_matrix(g_map).detach() @ model_matrix(g_map).detach().T, s @ s.T
    )
    ref = MultivariateNormal(mu, s @ s.T)
    z = 3 * torch.randn(batch, d, generator=torch.Generator().manual_seed(seed + 1), dtype=DT)
    x = mu + z @ s.T
    with torch.no_grad():
        torch.testing.assert_close(flow.log_prob(x), ref.log_prob(x))
        # samples carry their own log-density from one inverse pass
        torch.manual_seed(seed)
        xs, lp = flow.sample_and_log_prob((batch,))
        torch.testing.assert_close(lp, ref.log_prob(xs))


@pytest.mark.parametrize("kind", KINDS)
@given(d=st.integers(1, 6), seed=st.integers(0, 10_000), spread=st.floats(0.1, 1.5))
def test_logabsdet_of_each_map_is_its_closed_form(
    kind: str, d: int, seed: int, spread: float
) -> None:
    """log|det ∂g/∂z₀|: Σ log σ_i (diagonal), Σ log L_ii (triangular), slogdet(S) (dense) —
    the same number as slogdet of the map's matrix and as autograd's Jacobian."""
    _, g_map, _, s = _case(kind, d, seed, spread)
    z = torch.randn(2, d, generator=torch.Generator().manual_seed(seed), dtype=DT)
    with torch.no_grad():
        _, logabsdet = g_map(z)
        _, inv_logabsdet = g_map.inverse(z)
    closed = {
        "diagonal": torch.log(torch.diagonal(s)).sum(),
        "triangular": torch.log(torch.diagonal(s)).sum(),
    }.get(kind, torch.linalg.slogdet(s).logabsdet)
    torch.testing.assert_close(logabsdet, closed.expand(2))
    torch.testing.assert_close(inv_logabsdet, -closed.expand(2))
    jac = torch.autograd.functional.jacobian(lambda v: g_map(v.unsqueeze(0))[0][0], z[0])
    torch.testing.assert_close(torch.linalg.slogdet(jac).logabsdet, closed)


SE_TOLERANCE = 5.0  # Monte-Carlo checks: |estimate − truth| ≤ 5 standard errors
MC_SAMPLES = 100_000


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("d", [1, 3, 6])
def test_flow_samples_have_mean_mu_and_covariance_s_st(kind: str, d: int) -> None:
    """Monte Carlo: n = 100,000 samples of the flow; the sample mean is within 5 standard errors
    √(Σ_ii/n) of μ, and each sample covariance entry within 5·√((Σ_ii Σ_jj + Σ_ij²)/n) of
    Σ = S Sᵀ (the Gaussian variance of a covariance estimate)."""
    seed = 100 * d + KINDS.index(kind)
    mu, s = draw_parameters(kind, d, seed, 1.0)
    g_map, _ = build_map(kind, mu, s)
    flow = FlowDistribution(_standard(d), InverseTransform(g_map))
    sigma = s @ s.T
    torch.manual_seed(seed)
    with torch.no_grad():
        x = flow.sample((MC_SAMPLES,))
    n = MC_SAMPLES
    mean = x.mean(0)
    cov = torch.cov(x.T).reshape(d, d)
    var = torch.diagonal(sigma)
    assert bool((torch.abs(mean - mu) <= SE_TOLERANCE * torch.sqrt(var / n)).all()), (mean, mu)
    cov_se = torch.sqrt((var.unsqueeze(0) * var.unsqueeze(1) + sigma**2) / n)
    assert bool((torch.abs(cov - sigma) <= SE_TOLERANCE * cov_se).all()), (cov, sigma)


def test_the_check_would_catch_a_wrong_covariance() -> None:
    """The Monte-Carlo tolerance is tight enough to reject S Sᵀ scaled by 1.05 (d = 3)."""
    mu, s = draw_parameters("dense_map", 3, 7, 1.0)
    g_map, _ = build_map("dense_map", mu, s)
    flow = FlowDistribution(_standard(3), InverseTransform(g_map))
    torch.manual_seed(7)
    with torch.no_grad():
        x = flow.sample((MC_SAMPLES,))
    wrong = 1.05 * s @ s.T
    var = torch.diagonal(wrong)
    cov_se = torch.sqrt((var.unsqueeze(0) * var.unsqueeze(1) + wrong**2) / MC_SAMPLES)
    assert not bool((torch.abs(torch.cov(x.T) - wrong) <= SE_TOLERANCE * cov_se).all())


def test_dense_lu_parameters_reproduce_s_up_to_column_signs() -> None:
    """LULinear set from torch.linalg.lu(S) has matrix S D, D = diag(sign u_jj): same S Sᵀ."""
    g = torch.Generator().manual_seed(3)
    s = torch.randn(5, 5, generator=g, dtype=DT)
    mu = torch.zeros(5, dtype=DT)
    t, w = build_map("dense_lu", mu, s)
    torch.testing.assert_close(t.matrix().detach(), w)
    torch.testing.assert_close(torch.abs(w), torch.abs(s))
    assert math.isclose(
        abs(torch.linalg.det(w).item()), abs(torch.linalg.det(s).item()), rel_tol=1e-10
    )
