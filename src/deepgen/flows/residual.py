"""Invertible residual block (i-ResNet, Behrmann et al. 2019): y = x + g(x) with Lip(g) ≤ c < 1.

g is an MLP whose weight matrices are rescaled to spectral norm ≤ c (the exact largest singular
value, so the bound holds by construction) and whose activation (ELU) is 1-Lipschitz; hence
Lip(g) ≤ c^L ≤ c and x ↦ x + g(x) is a bijection of ℝ^d (Banach's fixed-point theorem).

Inverse: the fixed-point iteration x ← y − g(x), a contraction with rate c; after step n,
‖x_n − x*‖ ≤ c/(1 − c)·‖x_n − x_{n−1}‖, which is what the tolerance is applied to.

log|det(I + J_g)|, with J_g = W_L D_{L−1} W_{L−1} ⋯ D_1 W_1 (D_i the activation slopes):
- ``exact``: J_g built explicitly per sample and ``slogdet`` (O(d³), for small d);
- ``series``: Σ_{k=1..n} (−1)^{k+1} tr(J_g^k)/k, each trace by Hutchinson's vᵀJ^k v (biased only
  by the truncation, |bias| ≤ d·c^{n+1}/((n+1)(1 − c)));
- ``roulette``: the first n terms always, then a geometric number of further terms, each
  reweighted by 1/P(it is reached) — an unbiased estimate of the whole series (Chen et al. 2019).
"""

from __future__ import annotations

import itertools
import math
from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from deepgen.errors import ConfigError, TrainingError
from deepgen.flows.base import Transform
from deepgen.shard import draw

LogDetMethod = Literal["auto", "exact", "series", "roulette"]
EXACT_MAX_FEATURES = 16


class LipschitzMLP(nn.Module):
    """g(x) = W_L φ(⋯ φ(W_1 x + b_1) ⋯) + b_L with ‖W_i‖₂ ≤ c and φ = ELU (1-Lipschitz).

    >>> import torch
    >>> g = LipschitzMLP(3, hidden=8, lipschitz=0.9)
    >>> max(float(torch.linalg.matrix_norm(w.detach(), ord=2)) for w in g.weights()) <= 0.9 + 1e-6
    True
    """

    def __init__(
        self, features: int, hidden: int = 64, layers: int = 2, lipschitz: float = 0.9
    ) -> None:
        super().__init__()
        if not 0 < lipschitz < 1:
            raise ConfigError(f"the Lipschitz bound must be in (0, 1), got {lipschitz}")
        if layers < 1:
            raise ConfigError(f"a Lipschitz MLP needs at least 1 hidden layer, got {layers}")
        sizes = [features, *([hidden] * layers), features]
        self.lipschitz = lipschitz
        self.linears = nn.ModuleList(nn.Linear(a, b) for a, b in itertools.pairwise(sizes))
        with torch.no_grad():  # start close to the identity map
            self.linears[-1].weight.mul_(0.1)
            self.linears[-1].bias.zero_()

    def weights(self) -> list[Tensor]:
        """W_i·min(1, c/‖W_i‖₂): spectral norms at most c (exact largest singular value)."""
        out = []
        for lin in self.linears:
            sigma = torch.linalg.matrix_norm(lin.weight, ord=2)
            out.append(lin.weight * torch.clamp(self.lipschitz / sigma, max=1.0))
        return out

    def forward_with_slopes(
        self, x: Tensor, weights: list[Tensor] | None = None
    ) -> tuple[Tensor, list[Tensor], list[Tensor]]:
        """g(x), the activation slopes φ′ of each hidden layer [batch, hidden], and the weights
        (normalized here unless given: a loop over one set of parameters normalizes once)."""
        weights = self.weights() if weights is None else weights
        slopes, h = [], x
        for w, lin in zip(weights[:-1], self.linears[:-1], strict=True):
            pre = F.linear(h, w, lin.bias)
            h = F.elu(pre)
            slopes.append(torch.where(pre > 0, torch.ones_like(pre), torch.exp(pre.clamp(max=0))))
        return F.linear(h, weights[-1], self.linears[-1].bias), slopes, weights

    def forward(self, x: Tensor, weights: list[Tensor] | None = None) -> Tensor:
        return self.forward_with_slopes(x, weights)[0]


def _jacobian(slopes: list[Tensor], weights: list[Tensor]) -> Tensor:
    """J_g per sample, [batch, d, d], from the chain W_L D_{L−1} ⋯ D_1 W_1."""
    jac = weights[0].expand(slopes[0].shape[0], *weights[0].shape)
    for s, w in zip(slopes, weights[1:], strict=True):
        jac = w @ (s.unsqueeze(-1) * jac)
    return jac


def _vjp(v: Tensor, slopes: list[Tensor], weights: list[Tensor]) -> Tensor:
    """vᵀJ_g per sample, [batch, d]."""
    u = v @ weights[-1]
    for s, w in zip(reversed(slopes), reversed(weights[:-1]), strict=True):
        u = (u * s) @ w
    return u


class ResidualBlock(Transform):
    """y = x + g(x), Lip(g) ≤ ``lipschitz``; inverse by fixed-point iteration to ``tol`` (or,
    in low precision, to a few ulps of |y|: about 1e-6 in float32), at most ``max_iter`` steps.

    ``logdet``: ``auto`` (exact for d ≤ 16, else roulette), ``exact``, ``series`` (``terms``
    terms) or ``roulette`` (``terms`` exact terms, then further terms with stopping probability
    ``roulette_p``); ``trace_samples`` Hutchinson vectors per sample.

    >>> import torch
    >>> t = ResidualBlock(2, hidden=8).double()
    >>> x = torch.randn(3, 2, dtype=torch.float64)
    >>> bool(torch.allclose(t.inverse(t(x)[0])[0], x))
    True
    """

    def __init__(
        self,
        features: int,
        hidden: int = 64,
        layers: int = 2,
        lipschitz: float = 0.9,
        logdet: LogDetMethod = "auto",
        terms: int = 4,
        roulette_p: float = 0.5,
        trace_samples: int = 1,
        tol: float = 1e-10,
        max_iter: int = 500,
    ) -> None:
        super().__init__()
        if logdet not in ("auto", "exact", "series", "roulette"):
            raise ConfigError(f"unknown log-det method {logdet!r}; use auto/exact/series/roulette")
        if not 0 < roulette_p < 1:
            raise ConfigError(f"roulette_p must be in (0, 1), got {roulette_p}")
        if terms < 1 or trace_samples < 1 or max_iter < 1:
            raise ConfigError("terms, trace_samples and max_iter must be at least 1")
        self.features = features
        self.g = LipschitzMLP(features, hidden, layers, lipschitz)
        if logdet == "auto":
            logdet = "exact" if features <= EXACT_MAX_FEATURES else "roulette"
        self.logdet_method = logdet
        self.terms, self.roulette_p, self.trace_samples = terms, roulette_p, trace_samples
        self.tol, self.max_iter = tol, max_iter

    def series_coefficients(self, n_terms: int, roulette: bool) -> list[float]:
        """Weights of vᵀJ^k v, k = 1..n: (−1)^{k+1}/k, divided by P(term k is reached)."""
        coef = []
        for k in range(1, n_terms + 1):
            c = (-1.0) ** (k + 1) / k
            if roulette and k > self.terms:
                c /= (1 - self.roulette_p) ** (k - self.terms)
            coef.append(c)
        return coef

    def _roulette_terms(self, generator: torch.Generator | None) -> int:
        """n fixed terms plus N ~ Geometric(p) on {0, 1, …}, P(N ≥ m) = (1 − p)^m, by inversion."""
        u = torch.rand((), generator=generator, dtype=torch.float64).item()
        return self.terms + math.floor(math.log(1 - u) / math.log(1 - self.roulette_p))

    def _logdet(
        self,
        x: Tensor,
        slopes: list[Tensor],
        weights: list[Tensor],
        method: str,
        generator: torch.Generator | None,
    ) -> Tensor:
        if method == "exact":
            eye = torch.eye(self.features, dtype=x.dtype, device=x.device)
            return torch.linalg.slogdet(eye + _jacobian(slopes, weights))[1]
        roulette = method == "roulette"
        n = self._roulette_terms(generator) if roulette else self.terms
        coef = self.series_coefficients(n, roulette)
        total = x.new_zeros(x.shape[0])
        for _ in range(self.trace_samples):
            v = draw(  # under data parallelism: this process's slice of the global draw
                lambda shape: torch.randn(
                    shape, generator=generator, dtype=x.dtype, device=x.device
                ),
                x.shape,
                dim=0,
            )
            w = v
            for c in coef:
                w = _vjp(w, slopes, weights)
                total = total + c * (w * v).sum(-1)
        return total / self.trace_samples

    def logdet(
        self, x: Tensor, method: str | None = None, generator: torch.Generator | None = None
    ) -> Tensor:
        """log det(I + J_g(x)), [batch]: exact, or a ``series``/``roulette`` estimate."""
        _, slopes, weights = self.g.forward_with_slopes(x)
        return self._logdet(x, slopes, weights, method or self.logdet_method, generator)

    def forward(self, x: Tensor, context: Tensor | None = None) -> tuple[Tensor, Tensor]:
        self.check_context(x, context)
        gx, slopes, weights = self.g.forward_with_slopes(x)
        return x + gx, self._logdet(x, slopes, weights, self.logdet_method, None)

    def inverse(self, y: Tensor, context: Tensor | None = None) -> tuple[Tensor, Tensor]:
        self.check_context(y, context)
        c = self.g.lipschitz ** len(self.g.linears)
        with torch.no_grad():
            # the error bound c/(1 − c)·step cannot go below a few ulps of y's magnitude
            floor = 4 * torch.finfo(y.dtype).eps * (1 + y.abs().max().item()) * c / (1 - c)
            tol = max(self.tol, floor)
            weights = self.g.weights()  # one SVD per layer, not one per iteration
            x = y.clone()
            for _ in range(self.max_iter):
                x_next = y - self.g(x, weights)
                step = (x_next - x).abs().max().item()
                x = x_next
                if c / (1 - c) * step <= tol:
                    break
            else:
                raise TrainingError(
                    f"residual inverse did not reach tolerance {tol:g} in {self.max_iter} "
                    f"fixed-point iterations (last step {step:.3g})"
                )
        if torch.is_grad_enabled() and y.requires_grad:
            x = y - self.g(x)  # one more step, differentiable in y and the parameters
        return x, -self.logdet(x)
