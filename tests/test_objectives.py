"""Objectives as functions of log weights, and the DReG / PIWAE gradient surrogates.

The gradient checks use a linear-Gaussian model where every term is explicit:
p(z) = N(0, I₂), p(x|z) = N(W z + b, σ² I₃) with θ = (W, b), and the encoder
q(z|x) = N(A x + c, diag exp(2 s)) with φ = (A, c, s). Each parameter is stored as R identical
copies, one per replicate, and replicate r only ever touches copy r; the batch dimension holds
R copies of the same x. One backward pass of the batch-mean loss then gives all R per-replicate
gradients (times 1/R), which is what the mean / variance comparisons need, without a loop.
"""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from torch import Tensor
from torch.distributions import Normal

from deepgen.bounds import elbo as bounds_elbo
from deepgen.distributions import DiagonalNormal
from deepgen.errors import ConfigError, ShapeError
from deepgen.objectives import (
    beta_elbo,
    beta_elbo_closed_form,
    ciwae,
    dreg_surrogate,
    elbo,
    iwae,
    miwae,
    piwae_surrogate,
)

DT = torch.float64
DZ, DX, SIGMA_X = 2, 3, 0.7
TOL = 1e-9  # float64 rounding of log-sum-exps of weights up to ±200


def _assert_close(a: Tensor, b: Tensor, atol: float = 1e-10) -> None:
    torch.testing.assert_close(a, b, rtol=0, atol=atol)


# --- pure objective values ---------------------------------------------------------------------

log_weight_values = st.floats(-200, 200, allow_nan=False, allow_infinity=False)


@given(m=st.integers(1, 4), k=st.integers(1, 5), data=st.data())
def test_limits_miwae_and_ciwae(m: int, k: int, data: st.DataObject) -> None:
    """MIWAE with m = 1 is IWAE, with k = 1 is the ELBO; CIWAE at β = 1 / 0 is ELBO / IWAE."""
    s = m * k
    lw = torch.tensor(data.draw(st.lists(log_weight_values, min_size=2 * s, max_size=2 * s)))
    lw = lw.to(DT).reshape(s, 2)
    _assert_close(miwae(lw, 1), iwae(lw), TOL)
    _assert_close(miwae(lw, s), elbo(lw), TOL)
    _assert_close(ciwae(lw, 1.0), elbo(lw), TOL)
    _assert_close(ciwae(lw, 0.0), iwae(lw), TOL)
    # the grouping is "samples in order": group i is rows i·k … i·k + k − 1
    by_hand = torch.stack([iwae(lw[i * k : (i + 1) * k]) for i in range(m)]).mean(0)
    _assert_close(miwae(lw, m), by_hand, TOL)


@given(m=st.integers(1, 4), k=st.integers(1, 5), beta=st.floats(0, 1), data=st.data())
def test_ordering_elbo_le_miwae_ciwae_le_iwae(
    m: int, k: int, beta: float, data: st.DataObject
) -> None:
    """For any fixed weights: ELBO ≤ MIWAE_{m,k} ≤ IWAE_S and ELBO ≤ CIWAE_β ≤ IWAE_S (Jensen)."""
    s = m * k
    lw = torch.tensor(data.draw(st.lists(log_weight_values, min_size=2 * s, max_size=2 * s)))
    lw = lw.to(DT).reshape(s, 2)
    lo, hi = elbo(lw), iwae(lw)
    for mid in (miwae(lw, m), ciwae(lw, beta)):
        assert bool((lo <= mid + TOL).all()), (lo, mid)
        assert bool((mid <= hi + TOL).all()), (mid, hi)


@given(m=st.integers(1, 4), r=st.integers(2, 4), k=st.integers(1, 4), data=st.data())
def test_miwae_increases_as_m_decreases(m: int, r: int, k: int, data: st.DataObject) -> None:
    """At fixed S, MIWAE_{m, rk} ≥ MIWAE_{rm, k}: merging r groups of k into one (Jensen).

    For fixed weights this holds when the coarse groups are unions of the fine ones (m divides
    r·m), as here; for non-nested groupings it holds only in expectation.
    """
    s = m * r * k
    lw = torch.tensor(data.draw(st.lists(log_weight_values, min_size=2 * s, max_size=2 * s)))
    lw = lw.to(DT).reshape(s, 2)
    coarse, fine = miwae(lw, m), miwae(lw, r * m)
    assert bool((fine <= coarse + TOL).all()), (fine, coarse)


def test_miwae_is_strictly_between_for_unequal_weights() -> None:
    lw = torch.tensor([[0.0], [2.0], [-1.0], [3.0]], dtype=DT)
    assert elbo(lw).item() < miwae(lw, 2).item() < iwae(lw).item()


def test_beta_elbo_limits_and_formula() -> None:
    g = torch.Generator().manual_seed(0)
    log_px_z, log_pz, log_qz = (torch.randn(7, 3, generator=g, dtype=DT) for _ in range(3))
    _assert_close(beta_elbo(log_px_z, log_pz, log_qz, 1.0), elbo(log_px_z + log_pz - log_qz))
    _assert_close(
        beta_elbo(log_px_z, log_pz, log_qz, 2.5),
        log_px_z.mean(0) - 2.5 * (log_qz - log_pz).mean(0),
    )
    _assert_close(beta_elbo(log_px_z, log_pz, log_qz, 0.0), log_px_z.mean(0))
    rec, kl = torch.randn(3, generator=g, dtype=DT), torch.rand(3, generator=g, dtype=DT)
    _assert_close(beta_elbo_closed_form(rec, kl, 1.0), bounds_elbo(rec, kl))
    _assert_close(beta_elbo_closed_form(rec, kl, 4.0), rec - 4.0 * kl)


def test_beta_elbo_sampled_kl_matches_closed_form() -> None:
    """With q Gaussian and p(z) = N(0, I), mean_s[log q − log p] estimates the closed-form KL,
    so the sampled and closed-form β-ELBOs agree within 5 s.e. (β = 3 weighs only the KL)."""
    g = torch.Generator().manual_seed(1)
    q = DiagonalNormal(torch.tensor([[0.5, -1.0]], dtype=DT), torch.tensor([[-0.4, 0.3]], dtype=DT))
    n, beta = 40_000, 3.0
    z = q.rsample_with((n,), g)  # [n, 1, 2]
    log_qz = q.log_prob(z)
    log_pz = Normal(0.0, 1.0).log_prob(z).sum(-1)
    log_px_z = -((z - 1.0) ** 2).sum(-1)  # any function of z
    sampled = beta_elbo(log_px_z, log_pz, log_qz, beta)
    closed = beta_elbo_closed_form(log_px_z.mean(0), q.kl_to_standard_normal(), beta)
    se = beta * (log_qz - log_pz).std() / math.sqrt(n)
    assert abs(sampled - closed).item() < 5 * se.item()


def _one_line(err: pytest.ExceptionInfo[BaseException]) -> bool:
    return "\n" not in str(err.value)


@pytest.mark.parametrize(
    ("s", "m"), [(10, 3), (7, 2), (4, 5), (6, 0), (6, -2), (6, 2.0), (6, True)]
)
def test_miwae_and_piwae_refuse_bad_groupings(s: int, m: object) -> None:
    lw = torch.zeros(s, 2, dtype=DT)
    with pytest.raises(ConfigError) as err:
        miwae(lw, m)
    assert _one_line(err)
    with pytest.raises(ConfigError):
        piwae_surrogate(lw, lw, m)


@pytest.mark.parametrize("beta", [-0.1, 1.1, float("nan"), float("inf")])
def test_ciwae_refuses_beta_outside_unit_interval(beta: float) -> None:
    with pytest.raises(ConfigError, match="CIWAE") as err:
        ciwae(torch.zeros(4, 2), beta)
    assert _one_line(err)


def test_other_bad_inputs() -> None:
    lw = torch.zeros(4, 2)
    with pytest.raises(ConfigError, match="β"):
        beta_elbo(lw, lw, lw, -1.0)
    with pytest.raises(ConfigError, match="β"):
        beta_elbo_closed_form(lw[0], lw[0], float("nan"))
    with pytest.raises(ShapeError):
        beta_elbo(lw, lw[:3], lw, 1.0)
    with pytest.raises(ShapeError):
        beta_elbo_closed_form(lw[0], lw[0, :1].expand(3), 1.0)
    with pytest.raises(ShapeError):
        elbo(torch.tensor(1.0))
    with pytest.raises(ShapeError):
        iwae(torch.zeros(0, 2))
    with pytest.raises(ShapeError):
        piwae_surrogate(lw, lw[:, :1], 2)


# --- the linear-Gaussian model for the gradient checks -------------------------------------------


class LinearGaussianVAE:
    """θ = (W, b), φ = (A, c, s), each as R identical per-replicate copies (leading dim R)."""

    def __init__(self, r: int, seed: int = 0, exact_posterior: bool = False) -> None:
        g = torch.Generator().manual_seed(seed)
        if exact_posterior:  # orthogonal columns: the posterior covariance is diagonal
            w = torch.tensor([[1.0, 0.0], [0.0, 2.0], [0.0, 0.0]], dtype=DT)
        else:
            w = torch.randn(DX, DZ, generator=g, dtype=DT)
        b = 0.5 * torch.randn(DX, generator=g, dtype=DT)
        self.x = (
            b
            + w @ torch.randn(DZ, generator=g, dtype=DT)
            + SIGMA_X * torch.randn(DX, generator=g, dtype=DT)
        )
        if exact_posterior:  # q(z|x) = p(z|x) = N(Σ Wᵀ(x − b)/σ², Σ), Σ = (I + WᵀW/σ²)⁻¹
            cov = torch.linalg.inv(torch.eye(DZ, dtype=DT) + w.T @ w / SIGMA_X**2)
            a = cov @ w.T / SIGMA_X**2
            c = -a @ b
            s = 0.5 * torch.log(torch.diagonal(cov))
        else:  # a deliberately imperfect amortized encoder
            a = 0.3 * torch.randn(DZ, DX, generator=g, dtype=DT)
            c = 0.3 * torch.randn(DZ, generator=g, dtype=DT)
            s = torch.log(torch.tensor([0.9, 0.6], dtype=DT))
        self.r = r
        self.theta = [p.expand(r, *p.shape).clone().requires_grad_() for p in (w, b)]
        self.phi = [p.expand(r, *p.shape).clone().requires_grad_() for p in (a, c, s)]

    def log_joint(self, z: Tensor) -> Tensor:
        """log p(x|z) + log p(z) for z of shape [K, R, DZ] → [K, R]."""
        w, b = self.theta
        mean_x = torch.einsum("rij,krj->kri", w, z) + b
        log_px_z = Normal(mean_x, SIGMA_X).log_prob(self.x).sum(-1)
        return log_px_z + Normal(0.0, 1.0).log_prob(z).sum(-1)

    def log_weights(self, eps: Tensor, detach_q: bool) -> tuple[Tensor, Tensor]:
        """(log w [K, R], z [K, R, DZ]) with z = μ + σ ε; log q at detached (μ, σ) if asked."""
        a, c, s = self.phi
        mu = torch.einsum("rij,j->ri", a, self.x) + c
        std = s.exp()
        z = mu + std * eps
        q_mu, q_std = (mu.detach(), std.detach()) if detach_q else (mu, std)
        log_q = Normal(q_mu, q_std).log_prob(z).sum(-1)
        return self.log_joint(z) - log_q, z

    def grads(self, loss: Tensor, params: list[Tensor]) -> Tensor:
        """Per-replicate gradients [R, n_components] of a batch-mean loss (hence the × R)."""
        gs = torch.autograd.grad(loss, params)
        return torch.cat([g.reshape(self.r, -1) for g in gs], dim=1) * self.r


def _dreg_and_iwae_grads(
    model: LinearGaussianVAE, eps: Tensor
) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """(DReG φ, IWAE φ, DReG θ, IWAE θ) per-replicate gradients for the same draws ε."""
    lw_d, z_d = model.log_weights(eps, detach_q=True)
    loss_d = dreg_surrogate(lw_d, z_d)
    dreg = model.grads(loss_d, model.phi + model.theta)
    lw_i, _ = model.log_weights(eps, detach_q=False)
    _assert_close(lw_d, lw_i)  # detaching changes the graph, not the values
    plain = model.grads(-iwae(lw_i).mean(), model.phi + model.theta)
    n_phi = sum(p[0].numel() for p in model.phi)
    return dreg[:, :n_phi], plain[:, :n_phi], dreg[:, n_phi:], plain[:, n_phi:]


K, R = 64, 2000


@pytest.fixture(scope="module")
def dreg_vs_iwae() -> tuple[Tensor, Tensor, Tensor, Tensor]:
    model = LinearGaussianVAE(R, seed=0)
    eps = torch.randn(K, R, DZ, generator=torch.Generator().manual_seed(1), dtype=DT)
    return _dreg_and_iwae_grads(model, eps)


def test_dreg_encoder_gradient_is_unbiased_and_decoder_gradient_is_iwae(
    dreg_vs_iwae: tuple[Tensor, Tensor, Tensor, Tensor],
) -> None:
    """E[DReG φ-gradient] = E[IWAE φ-gradient] (paired, 4 s.e. per component); θ identical.

    Both estimators are computed on the same R = 2000 draws, so we test the mean of the paired
    difference against its own standard error: under the null each of the 10 components is
    ~N(0, 1) in s.e. units, and 4 s.e. gives a family-wise false alarm of about 10 × 6e-5.
    The draws are seeded, so the outcome is fixed; the closing check shows the test has power:
    the "sticking the landing" IWAE estimator Σ w̃ ∂log w/∂z ∂z/∂φ (what dreg_surrogate gives
    without its hook), which is biased for K > 1, is rejected by the same criterion.
    """
    g_dreg, g_iwae, t_dreg, t_iwae = dreg_vs_iwae
    _assert_close(t_dreg, t_iwae)
    diff = g_dreg - g_iwae
    z_scores = diff.mean(0) / (diff.std(0) / math.sqrt(R))
    assert bool((z_scores.abs() < 4).all()), f"DReG vs IWAE φ-gradient z-scores: {z_scores}"

    # power: the same test rejects the biased STL estimator (no second factor of w̃)
    model = LinearGaussianVAE(R, seed=0)
    eps = torch.randn(K, R, DZ, generator=torch.Generator().manual_seed(1), dtype=DT)
    lw, _ = model.log_weights(eps, detach_q=True)
    w_tilde = torch.softmax(lw.detach(), 0)
    g_stl = model.grads(-(w_tilde * lw).sum(0).mean(), model.phi)
    diff_stl = g_stl - g_iwae
    z_stl = diff_stl.mean(0) / (diff_stl.std(0) / math.sqrt(R))
    assert bool((z_stl.abs() > 4).any()), f"STL vs IWAE z-scores unexpectedly small: {z_stl}"


def test_dreg_reduces_encoder_gradient_variance(
    dreg_vs_iwae: tuple[Tensor, Tensor, Tensor, Tensor],
) -> None:
    """Total variance (sum over φ's components) of DReG is well below plain IWAE's at K = 64."""
    g_dreg, g_iwae, _, _ = dreg_vs_iwae
    ratio = (g_dreg.var(0).sum() / g_iwae.var(0).sum()).item()
    assert ratio < 0.5, f"DReG / IWAE encoder-gradient variance ratio = {ratio:.4f}"


def test_dreg_encoder_gradient_vanishes_at_the_exact_posterior() -> None:
    """With q = p(z|x), log w = log p(x) for every z, so ∂log w/∂z = 0: DReG's φ-gradient is 0
    on every draw (zero variance at the optimum), while plain IWAE's is not."""
    model = LinearGaussianVAE(8, seed=2, exact_posterior=True)
    eps = torch.randn(16, 8, DZ, generator=torch.Generator().manual_seed(3), dtype=DT)
    g_dreg, g_iwae, _, _ = _dreg_and_iwae_grads(model, eps)
    _assert_close(g_dreg, torch.zeros_like(g_dreg))
    assert g_iwae.abs().max().item() > 1e-3


@pytest.mark.parametrize("m", [1, 4, 16, 64])
def test_piwae_gradients_are_iwae_for_theta_and_miwae_for_phi(m: int) -> None:
    model = LinearGaussianVAE(5, seed=4)
    eps = torch.randn(K, 5, DZ, generator=torch.Generator().manual_seed(5), dtype=DT)

    n_theta = sum(p[0].numel() for p in model.theta)

    def grads_of(objective: str) -> tuple[Tensor, Tensor]:
        """(θ, φ) per-replicate gradients of one surrogate loss, on the same draws ε."""
        lw, z = model.log_weights(eps, detach_q=False)
        if objective == "piwae":
            loss = piwae_surrogate(lw, model.log_joint(z.detach()), m)
        elif objective == "iwae":
            loss = -iwae(lw).mean()
        else:
            loss = -miwae(lw, m).mean()
        g = model.grads(loss, model.theta + model.phi)
        return g[:, :n_theta], g[:, n_theta:]

    theta_p, phi_p = grads_of("piwae")
    theta_i, phi_i = grads_of("iwae")
    theta_m, phi_m = grads_of("miwae")
    _assert_close(theta_p, theta_i)
    _assert_close(phi_p, phi_m)
    if m > 1:  # the two targets genuinely differ, so the check can tell θ's from φ's
        assert (phi_i - phi_m).abs().max().item() > 1e-6
        assert (theta_i - theta_m).abs().max().item() > 1e-6


def test_dreg_surrogate_refuses_bad_z() -> None:
    lw = torch.zeros(4, 2, requires_grad=True)
    with pytest.raises(ConfigError, match="requires_grad") as err:
        dreg_surrogate(lw, torch.zeros(4, 2, 3))
    assert _one_line(err)
    with pytest.raises(ShapeError):
        dreg_surrogate(lw, torch.zeros(4, 3, 3, requires_grad=True))
    z = torch.zeros(4, 2, 3, requires_grad=True)
    dreg_surrogate(lw, z)
    with pytest.raises(ConfigError, match="fresh z"):
        dreg_surrogate(lw, z)
