"""Coupling transforms: half of the features pass through and, with the context, parameterize a
monotone element-wise map of the other half; the Jacobian is triangular, log|det J| = Σ log g′.

:class:`Coupling` is the generic part (split, conditioner, element-wise map); the presets only
choose the map: :class:`AffineCoupling` (RealNVP), :class:`AdditiveCoupling` (NICE),
:class:`SplineCoupling` (NSF) and :class:`~deepgen.flows.sigmoidal.SigmoidalCoupling`.
:class:`ScaledAffineCoupling` is SPEC §3's block, which also has a learned scale on the
conditioning half.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from deepgen.flows.base import Transform
from deepgen.flows.elementwise import (
    Additive,
    Affine,
    ElementwiseMap,
    conditioner,
    hidden_sizes,
    run_layers,
    soft_clamp,
)
from deepgen.flows.spline import RQSpline
from deepgen.nn import mlp


class Coupling(Transform):
    """y_a = x_a, y_b = g(x_b; θ(x_a, c)) with (x_a, x_b) = (first ⌈d/2⌉, rest) of x, or the
    other way round with ``swap``; θ is an MLP of x_a and the context c (when ``context`` > 0).

    >>> import torch
    >>> from deepgen.flows.coupling import Coupling
    >>> from deepgen.flows.elementwise import Affine
    >>> t = Coupling(4, Affine(), context=2)
    >>> x, c = torch.randn(8, 4), torch.randn(8, 2)
    >>> y, logdet = t(x, c)
    >>> bool(torch.allclose(t.inverse(y, c)[0], x, atol=1e-6))
    True
    """

    def __init__(
        self,
        features: int,
        g: ElementwiseMap,
        context: int = 0,
        hidden: int | Sequence[int] = 64,
        swap: bool = False,
        activation: str = "relu",
    ) -> None:
        super().__init__()
        if features < 2:
            raise ValueError(f"a coupling needs at least 2 features, got {features}")
        self.features, self.context_features, self.swap, self.map = features, context, swap, g
        first = (features + 1) // 2
        self.sizes = (features - first, first) if swap else (first, features - first)
        # sizes of the part that passes through (a) and of the part that is changed (b)
        self.n_a, self.n_b = (self.sizes[1], self.sizes[0]) if swap else self.sizes
        self.net = conditioner(self.n_a + context, self.n_b, g, hidden, activation)

    def _split(self, x: Tensor) -> tuple[Tensor, Tensor]:
        a, b = x.split(self.sizes, dim=-1)
        return (b, a) if self.swap else (a, b)

    def _join(self, a: Tensor, b: Tensor) -> Tensor:
        return torch.cat((b, a) if self.swap else (a, b), dim=-1)

    def _params(self, a: Tensor, context: Tensor | None) -> Tensor:
        h = a if context is None else torch.cat((a, context), dim=-1)
        return run_layers(self.net, h).unflatten(-1, (self.n_b, self.map.params))

    def forward(self, x: Tensor, context: Tensor | None = None) -> tuple[Tensor, Tensor]:
        self.check_context(x, context)
        a, b = self._split(x)
        yb, logd = self.map.forward(b, self._params(a, context))
        return self._join(a, yb), logd.sum(-1)

    def inverse(self, y: Tensor, context: Tensor | None = None) -> tuple[Tensor, Tensor]:
        self.check_context(y, context)
        a, b = self._split(y)
        xb, logd = self.map.inverse(b, self._params(a, context))
        return self._join(a, xb), logd.sum(-1)


class AffineCoupling(Coupling):
    """RealNVP: y_b = x_b ∘ exp(s(x_a, c)) + t(x_a, c); log|det J| = Σ s, s soft-clamped.

    >>> import torch
    >>> t = AffineCoupling(4, hidden=16, swap=True, context=2)
    >>> y, logdet = t(torch.randn(3, 4), torch.randn(3, 2))
    >>> logdet.shape
    torch.Size([3])
    """

    def __init__(
        self,
        features: int,
        hidden: int | Sequence[int] = 64,
        swap: bool = False,
        scale_bound: float = 5.0,
        context: int = 0,
    ) -> None:
        super().__init__(features, Affine(scale_bound), context, hidden, swap)


class AdditiveCoupling(Coupling):
    """NICE: y_b = x_b + t(x_a, c); volume preserving, log|det J| = 0.

    >>> import torch
    >>> t = AdditiveCoupling(4, hidden=16)
    >>> y, logdet = t(torch.randn(3, 4))
    >>> torch.equal(logdet, torch.zeros(3))
    True
    """

    def __init__(
        self, features: int, hidden: int | Sequence[int] = 64, swap: bool = False, context: int = 0
    ) -> None:
        super().__init__(features, Additive(), context, hidden, swap)


class SplineCoupling(Coupling):
    """NSF coupling: y_b = a rational-quadratic spline of x_b with ``bins`` bins on
    [−bound, bound] (identity tails), its knots and slopes an MLP of (x_a, c).

    >>> import torch
    >>> t = SplineCoupling(4, hidden=16, bins=6).double()
    >>> x = 3 * torch.randn(5, 4, dtype=torch.float64)
    >>> bool(torch.allclose(t.inverse(t(x)[0])[0], x))
    True
    """

    def __init__(
        self,
        features: int,
        hidden: int | Sequence[int] = 64,
        swap: bool = False,
        bins: int = 8,
        bound: float = 5.0,
        context: int = 0,
    ) -> None:
        super().__init__(features, RQSpline(bins, bound), context, hidden, swap)


class ScaledAffineCoupling(Transform):
    """SPEC §3's block on x = (x₁, x₂), halves of an even d:

    y₁ = exp(G(x₂)) ∘ x₁ + F(x₂),   y₂ = exp(s) ∘ x₂,
    inverse x₂ = y₂ ∘ exp(−s), x₁ = (y₁ − F(x₂)) ∘ exp(−G(x₂)),
    log|det J| = Σ G(x₂) + Σ s  (not volume preserving in general).
    F and G are MLPs ℝ^{d/2} → ℝ^{d/2} (of (x₂, c) when conditional); G's output is
    soft-clamped; s is a learned vector.

    >>> import torch
    >>> t = ScaledAffineCoupling(4, hidden=16)
    >>> y, logdet = t(torch.randn(3, 4))
    >>> y.shape
    torch.Size([3, 4])
    """

    def __init__(
        self,
        features: int,
        hidden: int | Sequence[int] = 64,
        scale_bound: float = 5.0,
        context: int = 0,
    ) -> None:
        super().__init__()
        if features < 2 or features % 2:
            raise ValueError(f"ScaledAffineCoupling needs an even feature size, got {features}")
        self.features, self.context_features, half = features, context, features // 2
        sizes = [half + context, *hidden_sizes(hidden), half]
        self.F = mlp(sizes, "relu")
        self.G = mlp(sizes, "relu")
        for net in (self.F, self.G):
            nn.init.zeros_(net[-1].weight)
            nn.init.zeros_(net[-1].bias)
        self.s = nn.Parameter(torch.zeros(half))
        self.scale_bound = scale_bound

    def _f_g(self, x2: Tensor, context: Tensor | None) -> tuple[Tensor, Tensor]:
        h = x2 if context is None else torch.cat((x2, context), dim=-1)
        return self.F(h), soft_clamp(self.G(h), self.scale_bound)

    def forward(self, x: Tensor, context: Tensor | None = None) -> tuple[Tensor, Tensor]:
        self.check_context(x, context)
        x1, x2 = x.chunk(2, dim=-1)
        f, g = self._f_g(x2, context)
        y1 = torch.exp(g) * x1 + f
        y2 = torch.exp(self.s) * x2
        return torch.cat((y1, y2), -1), g.sum(-1) + self.s.sum()

    def inverse(self, y: Tensor, context: Tensor | None = None) -> tuple[Tensor, Tensor]:
        self.check_context(y, context)
        y1, y2 = y.chunk(2, dim=-1)
        x2 = y2 * torch.exp(-self.s)
        f, g = self._f_g(x2, context)
        x1 = (y1 - f) * torch.exp(-g)
        return torch.cat((x1, x2), -1), -(g.sum(-1) + self.s.sum())
