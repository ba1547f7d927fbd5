"""Reverse-KL fitting (deepgen.flows.fit_reverse_kl): a flow fitted to an unnormalized density
with a known normalizer recovers log Z by importance sampling, and its ELBO lies below it."""

from __future__ import annotations

import math

import pytest
import torch
from torch import Tensor
from torch.distributions import MultivariateNormal, Normal

from deepgen import flows
from deepgen.errors import ConfigError, ShapeError, TrainingError
from deepgen.flows import ReverseKLResult, fit_reverse_kl
from deepgen.flows.registry import randomize_parameters

K = 20_000  # importance samples of the final estimates


def _check_log_z(r: ReverseKLResult, true_log_z: float, slack: float) -> None:
    """log Ẑ within 4 standard errors + ``slack`` of the truth; ELBO ≤ log Z (up to 4 se)."""
    log_z, se = r.log_z.item(), r.log_z_stderr.item()
    elbo, elbo_se = r.elbo.item(), r.elbo_stderr.item()
    assert r.eval_samples == K and 0 < se < 0.01, se
    assert abs(log_z - true_log_z) <= 4 * se + slack, (log_z, se, true_log_z)
    assert elbo <= true_log_z + 4 * elbo_se, (elbo, elbo_se, true_log_z)
    assert elbo <= log_z  # same draws: Jensen, exactly
    torch.testing.assert_close(r.kl, r.log_z - r.elbo)


def test_an_iaf_fits_an_unnormalized_gaussian_and_recovers_log_z() -> None:
    """p̃ = Z·N(μ, Σ) with log Z = 3.7: an affine autoregressive map of N(0, I) can be exactly
    N(μ, Σ), so after fitting the ELBO is within 0.05 of log Z and the importance-sampled
    log Z within 4 standard errors + 0.02 of it."""
    log_z_true = 3.7
    target = MultivariateNormal(torch.tensor([1.0, -2.0]), torch.tensor([[2.0, 1.2], [1.2, 1.0]]))
    torch.manual_seed(0)
    q = flows.IAF(2, transforms=2, hidden=(16, 16))
    losses: list[float] = []
    r = fit_reverse_kl(
        q,
        lambda x: target.log_prob(x) + log_z_true,
        steps=1000,
        samples=64,
        lr=5e-3,
        seed=0,
        eval_samples=K,
        callback=lambda step, loss: losses.append(loss),
    )
    assert len(r.losses) == 1000 and losses == r.losses
    assert r.losses[0] > -log_z_true + 0.5  # the identity flow starts far off
    _check_log_z(r, log_z_true, slack=0.02)
    assert r.elbo.item() >= log_z_true - 0.05, r.elbo.item()
    # the fitted q is near the target (a mean shift δ alone costs ½ δᵀΣ⁻¹δ nats of KL, so a KL
    # of a few hundredths still allows δ of a few tenths: the moments are a loose check)
    x = q().sample((K,))
    torch.testing.assert_close(x.mean(0), target.mean, atol=0.15, rtol=0)
    torch.testing.assert_close(x.T.cov(), target.covariance_matrix, atol=0.25, rtol=0)


B, C = 0.25, 1.0  # the banana's bend and shift


def banana_log_p(x: Tensor, log_z: float) -> Tensor:
    """Z·N(x₁; 0, 2²)·N(x₂; B x₁² − C, 1): a shear of a Gaussian (unit Jacobian), so the
    normalized part integrates to 1 and the normalizer is exactly Z."""
    x1, x2 = x[..., 0], x[..., 1]
    return Normal(0.0, 2.0).log_prob(x1) + Normal(B * x1.square() - C, 1.0).log_prob(x2) + log_z


def test_a_realnvp_fits_a_banana_and_recovers_log_z() -> None:
    """Non-Gaussian target with log Z = −1.3: the importance-sampled log Z is within 4 standard
    errors + 0.02 of the truth, the ELBO below it and within 0.1 of it."""
    log_z_true = -1.3
    torch.manual_seed(0)
    q = flows.RealNVP(2, transforms=4, hidden=(32, 32))
    r = fit_reverse_kl(
        q,
        lambda x: banana_log_p(x, log_z_true),
        steps=800,
        samples=64,
        lr=1e-2,
        seed=1,
        eval_samples=K,
    )
    _check_log_z(r, log_z_true, slack=0.02)
    assert r.elbo.item() >= log_z_true - 0.1, r.elbo.item()
    # it is bent: x₂ correlates with x₁² (0.82 under p̃; 0 for a Gaussian q
    # centred at x₁ = 0), not with x₁ (0 under p̃); a mode-seeking q thins the tails, lowering it
    x = q().sample((K,))
    corr = torch.corrcoef(torch.stack([x[:, 0], x[:, 0].square(), x[:, 1]]))
    assert corr[1, 2] > 0.6 and abs(corr[0, 2]) < 0.2, corr


def test_a_conditional_flow_gets_the_context_and_fits_each_target() -> None:
    """p̃(x | c) = exp(c/2)·N(x; (c, −c), I/4) for three contexts at once: log_p sees x of shape
    [n, 3, 2], and the per-context log Z (= c/2) is recovered for each, which no q that ignored
    its context could do."""
    c = torch.tensor([[-1.0], [0.0], [1.0]])
    loc = torch.cat([c, -c], -1)
    shapes: set[tuple[int, ...]] = set()

    def log_p(x: Tensor) -> Tensor:
        shapes.add(tuple(x.shape))
        return Normal(loc, 0.5).log_prob(x).sum(-1) + c[:, 0] / 2

    torch.manual_seed(0)
    q = flows.IAF(2, context=1, transforms=1, hidden=(16, 16))
    r = fit_reverse_kl(q, log_p, steps=600, samples=32, lr=1e-2, context=c, seed=0, eval_samples=K)
    assert (32, 3, 2) in shapes and (1000, 3, 2) in shapes
    assert r.log_z.shape == r.elbo.shape == r.log_z_stderr.shape == (3,)
    for j in range(3):
        log_z, se = r.log_z[j].item(), r.log_z_stderr[j].item()
        assert abs(log_z - c[j, 0].item() / 2) <= 4 * se + 0.02, (j, log_z, se)
        assert r.elbo[j].item() >= c[j, 0].item() / 2 - 0.05
    with torch.no_grad():
        means = q(c).sample((5000,)).mean(0)
    torch.testing.assert_close(means, loc, atol=0.05, rtol=0)


def test_a_base_without_rsample_is_refused_with_a_one_line_config_error() -> None:
    q = flows.IAF(2, transforms=1, hidden=(8, 8), base=flows.GaussianMixture(2, components=3))
    before = {k: v.clone() for k, v in q.state_dict().items()}
    with pytest.raises(ConfigError, match="GaussianMixture") as info:
        fit_reverse_kl(q, lambda x: -x.square().sum(-1), steps=3)
    assert "\n" not in str(info.value)
    assert all(torch.equal(v, q.state_dict()[k]) for k, v in before.items())  # untouched


def test_a_numerical_sampling_direction_is_refused_and_an_inverted_one_is_not() -> None:
    """Sampling runs the transform's inverse; the residual block's is a fixed-point iteration
    whose samples carry no exact gradient (refused), while the bisections of the deep sigmoidal
    and planar maps add the implicit-function gradient (accepted)."""
    log_p = lambda x: -x.square().sum(-1)  # noqa: E731
    t = flows.ResidualBlock(2, hidden=8)
    with pytest.raises(ConfigError, match="ResidualBlock") as info:
        fit_reverse_kl(flows.Flow([flows.AffineCoupling(2, 8), t]), log_p, steps=1)
    assert "\n" not in str(info.value)
    for t in (flows.DeepSigmoidal(2, components=3), flows.Planar(2)):
        q = flows.Flow([flows.AffineCoupling(2, 8), t])
        assert q().rsample((3,)).requires_grad
        assert len(fit_reverse_kl(q, log_p, steps=2, eval_samples=10).losses) == 2
    q = flows.Flow([flows.InverseTransform(flows.DeepSigmoidal(2, components=3))])
    assert q().rsample((3,)).requires_grad  # sampling now runs the analytic forward map
    assert len(fit_reverse_kl(q, log_p, steps=2, eval_samples=10).losses) == 2


def test_a_coupling_nsf_has_mass_beyond_its_bound_only_where_the_base_has() -> None:
    """Why the banana is fitted by a RealNVP: the spline maps [−B, B] onto itself and is the
    identity outside, and couplings never mix coordinates, so |x_i| > B exactly when the base
    draw had |z_i| > B (probability 6e-7 for B = 5, while the banana has 1.2% beyond x₁ = ±5)."""
    torch.manual_seed(0)
    q = flows.NSF(2, transforms=4, hidden=(8, 8), bins=4, bound=2.0).double()
    randomize_parameters(q.transform, torch.Generator().manual_seed(0), 0.5)
    d = q()
    z = d.base.sample((4000,))
    x, _ = d.transform.inverse(z)
    assert bool((x.abs() > 2.0).eq(z.abs() > 2.0).all())
    assert bool(((x - z).abs() > 1e-3).any())  # and the map is not the identity inside


def test_bad_arguments_targets_and_losses_give_one_line_errors() -> None:
    q = flows.IAF(2, transforms=1, hidden=(8, 8))
    log_p = lambda x: -x.square().sum(-1)  # noqa: E731
    for kw in ({"steps": -1}, {"samples": 0}, {"lr": 0.0}, {"eval_samples": 0}, {"steps": 1.5}):
        with pytest.raises(ConfigError) as info:
            fit_reverse_kl(q, log_p, **kw)  # type: ignore[arg-type]
        assert "\n" not in str(info.value)
    with pytest.raises(ShapeError, match="one value per sample"):
        fit_reverse_kl(q, lambda x: x, steps=1)  # [n, 2], not [n]
    with pytest.raises(TrainingError, match=r"loss is (inf|nan)"):
        fit_reverse_kl(q, lambda x: torch.where(x[:, 0] > 0, 0.0, -math.inf), steps=5, seed=0)
    with pytest.raises(ShapeError, match="conditional"):
        fit_reverse_kl(flows.IAF(2, context=1, transforms=1), log_p, steps=1)


def test_a_seed_makes_runs_identical_and_leaves_the_global_generator_alone() -> None:
    def run() -> ReverseKLResult:
        torch.manual_seed(0)
        q = flows.IAF(2, transforms=1, hidden=(8, 8))
        state = torch.get_rng_state()
        r = fit_reverse_kl(q, lambda x: -x.square().sum(-1), steps=5, seed=3, eval_samples=100)
        assert torch.equal(torch.get_rng_state(), state)  # forked: the caller's is untouched
        return r

    a, b = run(), run()
    assert len(a.losses) == 5 and a.losses == b.losses and torch.equal(a.log_z, b.log_z)
    r = fit_reverse_kl(flows.IAF(2, transforms=1), lambda x: -x.square().sum(-1), steps=0)
    assert r.losses == [] and r.eval_samples == 10_000
