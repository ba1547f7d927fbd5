"""Variational bounds on log p(x) and importance-sampled estimates of it.

With log weights log w_j = log p(x, z_j) − log q(z_j | x), z_j ~ q(z | x):

* ELBO:  L_1 = E_q[log w] = E_q[log p(x | z)] − KL(q(z | x) ‖ p(z)) ≤ log p(x).
* IWAE:  L_K = E[log (1/K) Σ_j w_j], with L_1 ≤ L_K ≤ L_{K+1} ≤ log p(x) (Burda et al. 2016).
* log p̂(x) = log (1/K) Σ_j w_j for one large K is a (downward-biased, consistent) estimate of
  log p(x); :func:`importance_sampled_log_px` computes it in chunks of samples so memory stays
  bounded for K in the thousands, with a delta-method standard error.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor

from deepgen.errors import ConfigError


def log_mean_exp(x: Tensor, dim: int = 0) -> Tensor:
    """log((1/n) Σ exp x) along ``dim``, computed with logsumexp (no overflow)."""
    return torch.logsumexp(x, dim=dim) - math.log(x.shape[dim])


def elbo(log_likelihood: Tensor, kl: Tensor) -> Tensor:
    """ELBO = E_q[log p(x | z)] − KL(q ‖ p).

    ``log_likelihood`` is [L, batch] (L reparameterized samples, averaged) or [batch];
    ``kl`` is the closed-form [batch] KL.
    """
    rec = log_likelihood.mean(0) if log_likelihood.dim() == kl.dim() + 1 else log_likelihood
    return rec - kl


def iwae_bound(log_weights: Tensor) -> Tensor:
    """L_K estimate from log weights of shape [K, batch]: log (1/K) Σ_j w_j, shape [batch]."""
    return log_mean_exp(log_weights, dim=0)


@dataclass(frozen=True)
class LogLikelihoodEstimate:
    """Importance-sampled log p(x) per example with its Monte Carlo standard error."""

    log_px: Tensor  # [batch]
    stderr: Tensor  # [batch], delta method: sd(w) / (sqrt(K) mean(w))
    k: int


def importance_sampled_log_px(
    log_weights_fn: Callable[[int], Tensor], k: int, chunk_size: int = 500
) -> LogLikelihoodEstimate:
    """log p̂(x) = log (1/K) Σ_j w_j with K = ``k`` samples drawn ``chunk_size`` at a time.

    ``log_weights_fn(n)`` returns fresh log weights of shape [n, batch]. Running logsumexps of
    log w and 2 log w give the estimate and, by the delta method, its standard error
    se ≈ sqrt((mean w² / (mean w)² − 1) / (K − 1)).
    """
    if k < 1:
        raise ConfigError(f"the number of importance samples must be >= 1, got {k}")
    if chunk_size < 1:
        raise ConfigError(f"chunk_size must be >= 1, got {chunk_size}")
    lse_w: Tensor | None = None
    lse_w2: Tensor | None = None
    done = 0
    while done < k:
        n = min(chunk_size, k - done)
        lw = log_weights_fn(n).detach()
        if lw.shape[0] != n:
            raise ConfigError(f"log_weights_fn({n}) returned {lw.shape[0]} samples")
        lw = lw.to(torch.float64)
        a = torch.logsumexp(lw, dim=0)
        b = torch.logsumexp(2.0 * lw, dim=0)
        lse_w = a if lse_w is None else torch.logaddexp(lse_w, a)
        lse_w2 = b if lse_w2 is None else torch.logaddexp(lse_w2, b)
        done += n
    assert lse_w is not None and lse_w2 is not None
    log_px = lse_w - math.log(k)
    if k > 1:
        ratio = torch.exp(lse_w2 - math.log(k) - 2.0 * log_px)  # mean(w²) / mean(w)²
        stderr = torch.sqrt(torch.clamp(ratio - 1.0, min=0.0) / (k - 1))
    else:
        stderr = torch.full_like(log_px, float("nan"))
    return LogLikelihoodEstimate(log_px=log_px, stderr=stderr, k=k)
