"""Bounds on a linear-Gaussian latent model, whose log p(x) and posterior are exact.

Model: z ~ N(0, I_k), x | z ~ N(W z + b, s² I_d), so p(x) = N(b, W Wᵀ + s² I) and the posterior
is N(Σ Wᵀ(x − b)/s², Σ) with Σ = (I + WᵀW/s²)⁻¹. A deliberately imperfect q (shifted mean, wider
diagonal) makes the inequalities ELBO ≤ L_K ≤ L_K' ≤ log p(x) strict.
"""

from __future__ import annotations

import itertools
import math

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from torch.distributions import MultivariateNormal

from deepgen.bounds import elbo, importance_sampled_log_px, iwae_bound, log_mean_exp
from deepgen.distributions import DiagonalNormal
from deepgen.errors import ConfigError

DT = torch.float64


class LinearGaussian:
    def __init__(self, seed: int, k: int = 2, d: int = 4, s: float = 0.6) -> None:
        g = torch.Generator().manual_seed(seed)
        self.k, self.d, self.s = k, d, s
        self.W = torch.randn(d, k, generator=g, dtype=DT)
        self.b = torch.randn(d, generator=g, dtype=DT)
        self.x = (
            self.b
            + self.W @ torch.randn(k, generator=g, dtype=DT)
            + s * torch.randn(d, generator=g, dtype=DT)
        )
        cov = self.W @ self.W.T + s**2 * torch.eye(d, dtype=DT)
        self.log_px = MultivariateNormal(self.b, cov).log_prob(self.x).item()
        prec = torch.eye(k, dtype=DT) + self.W.T @ self.W / s**2
        self.post_cov = torch.linalg.inv(prec)
        self.post_mean = self.post_cov @ self.W.T @ (self.x - self.b) / s**2

    def log_joint(self, z: torch.Tensor) -> torch.Tensor:
        prior = -0.5 * (z**2).sum(-1) - 0.5 * self.k * math.log(2 * math.pi)
        r = self.x - (z @ self.W.T + self.b)
        lik = -0.5 * (r**2).sum(-1) / self.s**2 - self.d * (
            0.5 * math.log(2 * math.pi) + math.log(self.s)
        )
        return prior + lik

    def q(self, exact: bool = False) -> DiagonalNormal | MultivariateNormal:
        if exact:
            return MultivariateNormal(self.post_mean, self.post_cov)
        var = torch.diagonal(self.post_cov) * 1.8
        return DiagonalNormal(self.post_mean + 0.4, var.log())

    def log_weights(self, n: int, g: torch.Generator, exact: bool = False) -> torch.Tensor:
        q = self.q(exact)
        if exact:
            eps = torch.randn(n, self.k, generator=g, dtype=DT)
            z = self.post_mean + eps @ torch.linalg.cholesky(self.post_cov).T
        else:
            z = q.rsample_with((n,), g)
        return self.log_joint(z) - q.log_prob(z)


def _mean_bound(model: LinearGaussian, k: int, reps: int, seed: int) -> tuple[float, float]:
    g = torch.Generator().manual_seed(seed)
    lw = model.log_weights(k * reps, g).reshape(k, reps)
    vals = iwae_bound(lw)
    return vals.mean().item(), vals.std().item() / math.sqrt(reps)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_bound_ordering_elbo_le_lk_le_lk2_le_log_px(seed: int) -> None:
    """L_1 ≤ L_5 ≤ L_50 ≤ log p(x), each E[L_K] estimated with its standard error (4 s.e.)."""
    m = LinearGaussian(seed)
    estimates = [
        _mean_bound(m, k, reps, seed + 10) for k, reps in ((1, 40_000), (5, 8000), (50, 2000))
    ]
    for (lo, se_lo), (hi, se_hi) in itertools.pairwise(estimates):
        assert lo < hi + 4 * math.hypot(se_lo, se_hi)
    top, se_top = estimates[-1]
    assert top <= m.log_px + 4 * se_top
    # The gaps are real, not noise: the imperfect q leaves the ELBO well below log p(x).
    assert estimates[0][0] < m.log_px - 10 * estimates[0][1]


def test_bounds_are_tight_for_the_exact_posterior() -> None:
    """With q = p(z|x) every weight equals p(x): ELBO = L_K = log p(x) up to rounding."""
    m = LinearGaussian(3)
    lw = m.log_weights(64, torch.Generator().manual_seed(0), exact=True)
    torch.testing.assert_close(lw, torch.full_like(lw, m.log_px), rtol=0, atol=1e-10)
    assert abs(iwae_bound(lw.unsqueeze(1)).item() - m.log_px) < 1e-10


def test_elbo_is_reconstruction_minus_kl_and_matches_l1() -> None:
    """E_q[log p(x|z)] − KL(q‖p) (closed-form KL) equals E_q[log p(x,z) − log q(z)]."""
    m = LinearGaussian(4)
    q = m.q()
    g = torch.Generator().manual_seed(1)
    z = q.rsample_with((200_000,), g)
    log_lik = m.log_joint(z) - (-0.5 * (z**2).sum(-1) - 0.5 * m.k * math.log(2 * math.pi))
    kl = q.kl_to_standard_normal()
    via_terms = elbo(log_lik, kl.expand(()))
    direct = (m.log_joint(z) - q.log_prob(z)).mean()
    se = (m.log_joint(z) - q.log_prob(z)).std() / math.sqrt(len(z))
    assert abs(via_terms.item() - direct.item()) < 5 * se.item()


def test_importance_sampled_estimate_converges_to_log_px() -> None:
    """|log p̂ − log p| shrinks with K and stays within 4 stated standard errors."""
    m = LinearGaussian(5)
    errors, stderrs = [], []
    for k in (10, 100, 5000):
        g = torch.Generator().manual_seed(k)
        est = importance_sampled_log_px(lambda n, g=g: m.log_weights(n, g).unsqueeze(1), k, 256)
        errors.append(abs(est.log_px.item() - m.log_px))
        stderrs.append(est.stderr.item())
        assert errors[-1] < 4 * stderrs[-1] + 1e-3
    assert errors[-1] < errors[0]
    # the stated standard error falls like 1/sqrt(K): sqrt(5000/100) ≈ 7.1 (allow 3.5 to 14)
    assert 3.5 < stderrs[1] / stderrs[2] < 14


@given(k=st.integers(1, 300), chunk=st.integers(1, 64), seed=st.integers(0, 1000))
def test_chunked_estimate_equals_all_at_once(k: int, chunk: int, seed: int) -> None:
    """Chunking over samples changes memory, not the value: same weights, same log-mean-exp."""
    g = torch.Generator().manual_seed(seed)
    lw = 30 * torch.randn(k, 3, generator=g, dtype=DT)  # wide range: tests the streaming logsumexp
    pos = 0

    def feed(n: int) -> torch.Tensor:
        nonlocal pos
        out = lw[pos : pos + n]
        pos += n
        return out

    est = importance_sampled_log_px(feed, k, chunk)
    torch.testing.assert_close(est.log_px, log_mean_exp(lw, 0))
    if k > 1:
        w = torch.exp(lw - lw.max(0).values)
        ratio = (w**2).mean(0) / w.mean(0) ** 2
        torch.testing.assert_close(est.stderr, torch.sqrt((ratio - 1).clamp(min=0) / (k - 1)))


def test_log_mean_exp_does_not_overflow() -> None:
    x = torch.tensor([1000.0, 1000.0], dtype=DT)
    assert log_mean_exp(x).item() == pytest.approx(1000.0)


def test_bad_arguments() -> None:
    with pytest.raises(ConfigError, match="importance samples"):
        importance_sampled_log_px(lambda n: torch.zeros(n, 1), 0)
    with pytest.raises(ConfigError, match="chunk_size"):
        importance_sampled_log_px(lambda n: torch.zeros(n, 1), 5, chunk_size=0)
