"""Fitting a flow q to an unnormalized density p̃ = Z·p by minimizing the reverse KL.

KL(q ‖ p) = E_q[log q(x) − log p̃(x)] + log Z = log Z − ELBO(q), so maximizing
ELBO(q) = E_q[log p̃(x) − log q(x)] ≤ log Z needs only samples of q with their log-density (one
pass of ``rsample_and_log_prob``) and p̃ — never Z. The reverse KL is mode-seeking: q is punished
where p̃ is small, not where it misses mass, so a q too narrow for p̃ shrinks onto its modes.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor, nn
from torch.distributions import Distribution

from deepgen.bounds import importance_sampled_log_px
from deepgen.errors import ConfigError, ShapeError, TrainingError
from deepgen.flows.base import Compose, InverseTransform
from deepgen.flows.distribution import FlowDistribution
from deepgen.flows.residual import ResidualBlock


@dataclass(frozen=True)
class ReverseKLResult:
    """The loss trace of :func:`fit_reverse_kl` and the fitted q's estimates of log Z.

    The estimates have the flow's batch shape (the context's leading shape; 0-d when the flow is
    unconditional) and are float64. Both come from the same ``eval_samples`` draws of q, so
    ``elbo ≤ log_z`` always holds (Jensen on the empirical mean).

    >>> import torch
    >>> from deepgen.flows import IAF, fit_reverse_kl
    >>> q = IAF(features=1, transforms=1, hidden=(8, 8))
    >>> r = fit_reverse_kl(q, lambda x: -0.5 * x.square().sum(-1), steps=3, eval_samples=100)
    >>> len(r.losses), bool(r.elbo <= r.log_z)
    (3, True)
    """

    losses: list[float]  # −ELBO estimate per step (mean over the samples and the batch)
    elbo: Tensor  # (1/K) Σ_k log w_k ≤ log Z, with w = p̃(x)/q(x), x ~ q
    elbo_stderr: Tensor  # sd(log w)/√K
    log_z: Tensor  # log (1/K) Σ_k w_k, consistent for log Z (biased low for finite K)
    log_z_stderr: Tensor  # delta method: sd(w)/(√K mean w)
    eval_samples: int  # K

    @property
    def kl(self) -> Tensor:
        """log_z − elbo: an estimate of KL(q ‖ p) ≥ 0."""
        return self.log_z - self.elbo


def _distribution(flow: nn.Module, context: Tensor | None) -> Distribution:
    return flow() if context is None else flow(context)


def _numerical_sampling(t: nn.Module, inverted: bool = False) -> list[str]:
    """The parts of a flow's transform (data → noise) whose sampling direction is a numerical
    inverse without an exact gradient: the residual block's fixed-point iteration. (The
    bisections of Planar and the deep sigmoidal map add the implicit-function gradient.)"""
    if isinstance(t, Compose):
        return [name for part in t.transforms for name in _numerical_sampling(part, inverted)]
    if isinstance(t, InverseTransform):
        return _numerical_sampling(t.base, not inverted)
    numerical = isinstance(t, ResidualBlock)
    return [type(t).__name__] if numerical and not inverted else []


def _check_reparameterized(flow: nn.Module, d: Distribution) -> None:
    base = getattr(d, "base", d)
    if not getattr(base, "has_rsample", False):
        name = type(getattr(flow, "base", base)).__name__
        raise ConfigError(
            f"reverse-KL fitting needs reparameterized samples, but the flow's base {name} has "
            "no rsample; use StandardNormal or DiagonalGaussian"
        )
    parts = _numerical_sampling(d.transform) if isinstance(d, FlowDistribution) else []
    if parts:
        raise ConfigError(
            f"reverse-KL fitting needs exact sample gradients, but this flow samples through "
            f"the numerical inverse of {', '.join(dict.fromkeys(parts))}; wrap it in "
            "InverseTransform or use an analytic sampling direction (IAF, RealNVP, NSF)"
        )


def _sample_and_log_q(d: Distribution, n: int, grad: bool) -> tuple[Tensor, Tensor]:
    if hasattr(d, "rsample_and_log_prob"):
        if grad:
            return d.rsample_and_log_prob((n,))
        return d.sample_and_log_prob((n,))
    x = d.rsample((n,)) if grad else d.sample((n,))
    return x, d.log_prob(x)


def _log_weights(log_p: Callable[[Tensor], Tensor], d: Distribution, n: int, grad: bool) -> Tensor:
    """log p̃(x) − log q(x) for n draws of q: [n, *batch]."""
    x, log_q = _sample_and_log_q(d, n, grad)
    lp = log_p(x)
    if not isinstance(lp, Tensor) or lp.shape != log_q.shape:
        got = list(lp.shape) if isinstance(lp, Tensor) else type(lp).__name__
        raise ShapeError(
            f"log_p(x) must return one value per sample, shape {list(log_q.shape)} for x of "
            f"shape {list(x.shape)}; got {got}"
        )
    return lp - log_q


def fit_reverse_kl(
    flow: nn.Module,
    log_p: Callable[[Tensor], Tensor],
    *,
    steps: int = 1000,
    samples: int = 64,
    lr: float = 1e-3,
    context: Tensor | None = None,
    seed: int | None = None,
    eval_samples: int = 10_000,
    chunk_size: int = 1000,
    callback: Callable[[int, float], None] | None = None,
) -> ReverseKLResult:
    """Fit ``flow`` (q) to p̃ by maximizing the ELBO E_q[log p̃(x) − log q(x)] with Adam.

    ``log_p(x)`` is log p̃ up to an additive constant: x is ``[n, *batch, features]`` (batch: the
    context's leading shape, none when the flow is unconditional) and the result must be
    ``[n, *batch]``; a target that depends on the context closes over it. Each of ``steps``
    steps draws ``samples`` reparameterized x ~ q with their log q from one pass of
    ``rsample_and_log_prob`` (an IAF samples and scores in one pass per layer; a MAF would need
    D) and takes an Adam step (learning rate ``lr``) on −ELBO; ``callback(step, loss)`` is
    called after each. Then ``eval_samples`` fresh draws (``chunk_size`` at a time, no
    gradients) give the ELBO and the importance-sampled log Z = log (1/K) Σ_k p̃(x_k)/q(x_k)
    with their standard errors (:func:`deepgen.bounds.importance_sampled_log_px`).

    ``seed`` seeds torch's global generator inside a forked RNG state (the caller's generator
    is left as it was), so a run with a seed is reproducible; with None the global generator
    is used as it stands. A flow whose base cannot ``rsample`` (e.g. a GaussianMixture), or
    whose sampling direction is a residual block's fixed-point inverse (not wrapped in
    InverseTransform: it passes no exact gradient to the samples), is refused with a
    :class:`~deepgen.errors.ConfigError`; a non-finite loss
    raises a :class:`~deepgen.errors.TrainingError`. Nothing is printed.

    >>> import torch
    >>> from deepgen.flows import IAF, fit_reverse_kl
    >>> target = torch.distributions.MultivariateNormal(torch.ones(2), 2 * torch.eye(2))
    >>> log_p = lambda x: target.log_prob(x) + 1.5             # Z = e^1.5
    >>> q = IAF(features=2, transforms=2, hidden=(16, 16))
    >>> result = fit_reverse_kl(q, log_p, steps=5, samples=32, eval_samples=500, seed=0)
    >>> len(result.losses), result.log_z.shape
    (5, torch.Size([]))
    >>> bool(result.elbo <= result.log_z <= 1.5 + 4 * result.log_z_stderr + 0.5)
    True
    """
    for name, value, low in (
        ("steps", steps, 0),
        ("samples", samples, 1),
        ("eval_samples", eval_samples, 1),
        ("chunk_size", chunk_size, 1),
    ):
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            raise ConfigError(f"fit_reverse_kl: {name} must be an integer >= {low}, got {value!r}")
    if not (isinstance(lr, int | float) and math.isfinite(lr) and lr > 0):
        raise ConfigError(f"fit_reverse_kl: lr must be a positive number, got {lr!r}")
    _check_reparameterized(flow, _distribution(flow, context))
    params = [p for p in flow.parameters() if p.requires_grad]
    if steps and not params:
        raise ConfigError("fit_reverse_kl: the flow has no trainable parameters to fit")

    with torch.random.fork_rng(enabled=seed is not None):
        if seed is not None:
            torch.manual_seed(seed)
        losses: list[float] = []
        if steps:
            opt = torch.optim.Adam(params, lr=lr)
            for step in range(steps):
                lw = _log_weights(log_p, _distribution(flow, context), samples, grad=True)
                loss = -lw.mean()
                value = loss.item()
                if not math.isfinite(value):
                    raise TrainingError(
                        f"fit_reverse_kl: the loss is {value} at step {step}; lower lr or check "
                        "that log_p is finite wherever q puts mass"
                    )
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                losses.append(value)
                if callback is not None:
                    callback(step, value)

        # running sums of log w − ref and its square (ref: the first chunk's mean, so the
        # variance does not cancel catastrophically when log w is large and nearly constant)
        sums: list[Tensor] = []

        def draw(n: int) -> Tensor:
            with torch.no_grad():
                lw = _log_weights(log_p, _distribution(flow, context), n, grad=False)
            lw = lw.to(torch.float64)
            if not sums:
                sums.append(lw.mean(0))
            dev = lw - sums[0]
            sums.append(torch.stack([dev.sum(0), dev.square().sum(0)]))
            return lw

        est = importance_sampled_log_px(draw, eval_samples, chunk_size)

    s, s2 = torch.stack(sums[1:]).sum(0)
    k = eval_samples
    mean_dev = s / k
    elbo = sums[0] + mean_dev
    var = (s2 / k - mean_dev.square()).clamp(min=0) * (k / max(k - 1, 1))
    elbo_stderr = torch.sqrt(var / k) if k > 1 else torch.full_like(elbo, math.nan)
    return ReverseKLResult(
        losses=losses,
        elbo=elbo,
        elbo_stderr=elbo_stderr,
        log_z=est.log_px,
        log_z_stderr=est.stderr,
        eval_samples=k,
    )
