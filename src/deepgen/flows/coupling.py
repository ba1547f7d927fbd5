"""Coupling blocks: half of the features pass through and parameterize a map of the other half,
so the Jacobian is triangular and its log-determinant is a sum.

Scales are free but stable: log-scales go through a soft clamp c·tanh(s/c) (c = 5 by default),
which is the identity near 0 and never lets exp overflow.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from deepgen.flows.base import Transform
from deepgen.nn import mlp


def soft_clamp(s: Tensor, bound: float) -> Tensor:
    """c·tanh(s / c): smooth, ≈ s for |s| ≪ c, bounded by c.

    Computed as 2c·σ(2s/c) − c (the same function: tanh u = 2σ(2u) − 1), because torch's CPU
    sigmoid is about 3× faster than its tanh and this sits on every flow's hot path."""
    return (2 * bound) * torch.sigmoid(s * (2 / bound)) - bound


class _Coupling(Transform):
    """Splits x into (x_a, x_b) = (first ⌈d/2⌉, rest), or the reverse with ``swap``."""

    def __init__(self, features: int, swap: bool) -> None:
        super().__init__()
        if features < 2:
            raise ValueError(f"a coupling needs at least 2 features, got {features}")
        self.features, self.swap = features, swap
        first = (features + 1) // 2
        self.sizes = (features - first, first) if swap else (first, features - first)
        # sizes of the part that passes through (a) and of the part that is changed (b)
        self.n_a, self.n_b = (self.sizes[1], self.sizes[0]) if swap else self.sizes

    def _split(self, x: Tensor) -> tuple[Tensor, Tensor]:
        a, b = x.split(self.sizes, dim=-1)
        return (b, a) if self.swap else (a, b)

    def _join(self, a: Tensor, b: Tensor) -> Tensor:
        return torch.cat((b, a) if self.swap else (a, b), dim=-1)


class AffineCoupling(_Coupling):
    """RealNVP: y_a = x_a, y_b = x_b ∘ exp(s(x_a)) + t(x_a); log|det J| = Σ s(x_a)."""

    def __init__(
        self, features: int, hidden: int = 64, swap: bool = False, scale_bound: float = 5.0
    ) -> None:
        super().__init__(features, swap)
        self.net = mlp([self.n_a, hidden, hidden, 2 * self.n_b], "relu")
        nn.init.zeros_(self.net[-1].weight)
        nn.init.zeros_(self.net[-1].bias)
        self.scale_bound = scale_bound

    def _params(self, a: Tensor) -> tuple[Tensor, Tensor]:
        s, t = self.net(a).chunk(2, dim=-1)
        return soft_clamp(s, self.scale_bound), t

    def forward(self, x: Tensor, context: Tensor | None = None) -> tuple[Tensor, Tensor]:
        a, b = self._split(x)
        s, t = self._params(a)
        return self._join(a, b * torch.exp(s) + t), s.sum(-1)

    def inverse(self, y: Tensor, context: Tensor | None = None) -> tuple[Tensor, Tensor]:
        a, b = self._split(y)
        s, t = self._params(a)
        return self._join(a, (b - t) * torch.exp(-s)), -s.sum(-1)


class AdditiveCoupling(_Coupling):
    """NICE: y_a = x_a, y_b = x_b + t(x_a); volume preserving, log|det J| = 0."""

    def __init__(self, features: int, hidden: int = 64, swap: bool = False) -> None:
        super().__init__(features, swap)
        self.net = mlp([self.n_a, hidden, hidden, self.n_b], "relu")

    def forward(self, x: Tensor, context: Tensor | None = None) -> tuple[Tensor, Tensor]:
        a, b = self._split(x)
        return self._join(a, b + self.net(a)), x.new_zeros(x.shape[0])

    def inverse(self, y: Tensor, context: Tensor | None = None) -> tuple[Tensor, Tensor]:
        a, b = self._split(y)
        return self._join(a, b - self.net(a)), y.new_zeros(y.shape[0])


class ScaledAffineCoupling(Transform):
    """SPEC §3's block on x = (x₁, x₂), halves of an even d:

    y₁ = exp(G(x₂)) ∘ x₁ + F(x₂),   y₂ = exp(s) ∘ x₂,
    inverse x₂ = y₂ ∘ exp(−s), x₁ = (y₁ − F(x₂)) ∘ exp(−G(x₂)),
    log|det J| = Σ G(x₂) + Σ s  (not volume preserving in general).
    F and G are MLPs ℝ^{d/2} → ℝ^{d/2}; G's output is soft-clamped; s is a learned vector.
    """

    def __init__(self, features: int, hidden: int = 64, scale_bound: float = 5.0) -> None:
        super().__init__()
        if features < 2 or features % 2:
            raise ValueError(f"ScaledAffineCoupling needs an even feature size, got {features}")
        self.features, half = features, features // 2
        self.F = mlp([half, hidden, hidden, half], "relu")
        self.G = mlp([half, hidden, hidden, half], "relu")
        for net in (self.F, self.G):
            nn.init.zeros_(net[-1].weight)
            nn.init.zeros_(net[-1].bias)
        self.s = nn.Parameter(torch.zeros(half))
        self.scale_bound = scale_bound

    def _g(self, x2: Tensor) -> Tensor:
        return soft_clamp(self.G(x2), self.scale_bound)

    def forward(self, x: Tensor, context: Tensor | None = None) -> tuple[Tensor, Tensor]:
        x1, x2 = x.chunk(2, dim=-1)
        g = self._g(x2)
        y1 = torch.exp(g) * x1 + self.F(x2)
        y2 = torch.exp(self.s) * x2
        return torch.cat((y1, y2), -1), g.sum(-1) + self.s.sum()

    def inverse(self, y: Tensor, context: Tensor | None = None) -> tuple[Tensor, Tensor]:
        y1, y2 = y.chunk(2, dim=-1)
        x2 = y2 * torch.exp(-self.s)
        g = self._g(x2)
        x1 = (y1 - self.F(x2)) * torch.exp(-g)
        return torch.cat((x1, x2), -1), -(g.sum(-1) + self.s.sum())
