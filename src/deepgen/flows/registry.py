"""Every built-in transform, built with random parameters, for ``deepgen check``.

Also the counterexample of SPEC §3: g(z) = a·ReLU(bz + c) is not injective (flat where
bz + c < 0), so checking it as a flow must fail.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn

from deepgen.flows.actnorm import ActNorm
from deepgen.flows.autoregressive import MaskedAffineAutoregressive, MaskedSplineAutoregressive
from deepgen.flows.base import Compose, InverseTransform, Reverse, Transform
from deepgen.flows.bounded import Logit
from deepgen.flows.check import check_bijection
from deepgen.flows.coupling import (
    AdditiveCoupling,
    AffineCoupling,
    ScaledAffineCoupling,
    SplineCoupling,
)
from deepgen.flows.elementwise import Elementwise, Sigmoidal
from deepgen.flows.linear import ElementwiseAffine, LowerTriangularLinear, LULinear
from deepgen.flows.planar import Planar
from deepgen.flows.radial import Radial
from deepgen.flows.residual import ResidualBlock
from deepgen.flows.sigmoidal import DeepSigmoidal, SigmoidalCoupling
from deepgen.flows.spline import RQSpline

ANALYTIC_TOL = 1e-8
NUMERICAL_TOL = 1e-6
CONTEXT = 3  # context features of the conditional entries
BOUND = 3.0  # the splines' interval [−B, B]: points are drawn inside, on the edges and beyond

Points = Callable[[int, int, torch.Generator], Tensor]


def normal_points(batch: int, features: int, g: torch.Generator) -> Tensor:
    """2·N(0, I) draws in float64: [batch, features]."""
    return 2 * torch.randn(batch, features, generator=g, dtype=torch.float64)


def spline_points(batch: int, features: int, g: torch.Generator) -> Tensor:
    """Points spread over [−1.5B, 1.5B] plus the edges ±B and points a hair inside them."""
    x = 1.5 * BOUND * (2 * torch.rand(batch, features, generator=g, dtype=torch.float64) - 1)
    edges = torch.tensor([-BOUND, BOUND, -BOUND + 1e-9, BOUND - 1e-9], dtype=torch.float64)
    x.view(-1)[: min(4, x.numel())] = edges[: min(4, x.numel())]
    return x


def unit_cube_points(batch: int, features: int, g: torch.Generator) -> Tensor:
    """Points of the open unit cube, some within 1e-6 of its faces."""
    x = torch.rand(batch, features, generator=g, dtype=torch.float64).clamp(1e-3, 1 - 1e-3)
    edges = torch.tensor([1e-6, 1 - 1e-6], dtype=torch.float64)
    x.view(-1)[: min(2, x.numel())] = edges[: min(2, x.numel())]
    return x


@dataclass(frozen=True)
class Builtin:
    """How ``deepgen check`` builds and probes one transform: x points of its domain, y points
    of its range (both sides are round-tripped), and the size of its context (0: none)."""

    build: Callable[[int], Transform]
    tol: float = ANALYTIC_TOL
    context: int = 0
    x: Points = normal_points
    y: Points = normal_points


def initialized_actnorm(features: int) -> ActNorm:
    """An ActNorm marked as initialized, so its (random) parameters are used as they are."""
    t = ActNorm(features)
    t.initialized.fill_(True)
    return t


C = CONTEXT
BUILTINS: dict[str, Builtin] = {
    "ElementwiseAffine": Builtin(ElementwiseAffine),
    "ElementwiseAffine(context)": Builtin(lambda d: ElementwiseAffine(d, C, 16), context=C),
    "LowerTriangularLinear": Builtin(LowerTriangularLinear),
    "LULinear": Builtin(LULinear),
    "AffineCoupling": Builtin(lambda d: AffineCoupling(d, hidden=16)),
    "AffineCoupling(context)": Builtin(lambda d: AffineCoupling(d, 16, context=C), context=C),
    "AdditiveCoupling": Builtin(lambda d: AdditiveCoupling(d, hidden=16)),
    "ScaledAffineCoupling": Builtin(lambda d: ScaledAffineCoupling(d, hidden=16)),
    "ScaledAffineCoupling(context)": Builtin(
        lambda d: ScaledAffineCoupling(d, 16, context=C), context=C
    ),
    "SplineCoupling": Builtin(
        lambda d: SplineCoupling(d, 16, bins=5, bound=BOUND), x=spline_points, y=spline_points
    ),
    "SplineCoupling(context)": Builtin(
        lambda d: SplineCoupling(d, 16, swap=True, bins=5, bound=BOUND, context=C),
        context=C,
        x=spline_points,
        y=spline_points,
    ),
    "Reverse": Builtin(Reverse),
    "Radial": Builtin(Radial),
    "MaskedAffineAutoregressive": Builtin(lambda d: MaskedAffineAutoregressive(d, hidden=16)),
    "MaskedAffineAutoregressive(context)": Builtin(
        lambda d: MaskedAffineAutoregressive(d, 16, context=C), context=C
    ),
    "Inverse(MaskedAffineAutoregressive) (IAF)": Builtin(
        lambda d: InverseTransform(MaskedAffineAutoregressive(d, 16, context=C)), context=C
    ),
    "MaskedSplineAutoregressive(context)": Builtin(
        lambda d: MaskedSplineAutoregressive(d, 16, bins=5, bound=BOUND, context=C),
        context=C,
        x=spline_points,
        y=spline_points,
    ),
    "Elementwise(RQSpline)": Builtin(
        lambda d: Elementwise(d, RQSpline(6, BOUND)), x=spline_points, y=spline_points
    ),
    "Planar": Builtin(Planar, NUMERICAL_TOL),
    "Planar(context)": Builtin(lambda d: Planar(d, context=C, hidden=16), NUMERICAL_TOL, C),
    "DeepSigmoidal": Builtin(DeepSigmoidal, NUMERICAL_TOL),
    "Elementwise(Sigmoidal, context)": Builtin(
        lambda d: Elementwise(d, Sigmoidal(3), context=C, hidden=16), NUMERICAL_TOL, C
    ),
    "SigmoidalCoupling": Builtin(
        lambda d: SigmoidalCoupling(d, hidden=16, components=3), NUMERICAL_TOL
    ),
    "ResidualBlock": Builtin(lambda d: ResidualBlock(d, hidden=16, logdet="exact"), NUMERICAL_TOL),
    "ActNorm": Builtin(initialized_actnorm),
    "Inverse(Logit)": Builtin(lambda d: InverseTransform(Logit(d, alpha=0.0)), y=unit_cube_points),
    "Compose(AffineCoupling, LULinear, Inverse(AffineCoupling))": Builtin(
        lambda d: Compose(
            [AffineCoupling(d, 16), LULinear(d), InverseTransform(AffineCoupling(d, 16, swap=True))]
        )
    ),
    "Compose(MAF(context), Reverse, NSF coupling(context))": Builtin(
        lambda d: Compose(
            [
                MaskedAffineAutoregressive(d, 16, context=C),
                Reverse(d),
                SplineCoupling(d, 16, bins=4, bound=BOUND, context=C),
            ]
        ),
        context=C,
    ),
}


def randomize_parameters(module: nn.Module, generator: torch.Generator, scale: float = 0.5) -> None:
    """Overwrite every parameter with scale·N(0, 1) draws (float64), so no map is the identity."""
    module.double()
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(scale * torch.randn(p.shape, generator=generator, dtype=torch.float64))


class ReluMap(Transform):
    """g(z) = a·ReLU(bz + c) element-wise, with the 'inverse' one would naively write."""

    def __init__(self, features: int, a: float = 1.5, b: float = 2.0, c: float = -0.5) -> None:
        super().__init__()
        self.features, self.a, self.b, self.c = features, a, b, c

    def forward(self, x: Tensor, context: Tensor | None = None) -> tuple[Tensor, Tensor]:
        self.check_context(x, context)
        y = self.a * torch.relu(self.b * x + self.c)
        slope = torch.where(self.b * x + self.c > 0, abs(self.a * self.b), 0.0)
        return y, torch.log(torch.as_tensor(slope, dtype=x.dtype)).sum(-1)

    def inverse(self, y: Tensor, context: Tensor | None = None) -> tuple[Tensor, Tensor]:
        self.check_context(y, context)
        x = (y / self.a - self.c) / self.b
        logdet = -self.features * torch.log(torch.as_tensor(abs(self.a * self.b), dtype=y.dtype))
        return x, logdet.expand(y.shape[0])


def check_builtins(features: int = 4, batch: int = 8, seed: int = 0) -> dict[str, Any]:
    """Every built-in transform with random float64 parameters, checked from both sides against
    autograd (:func:`~deepgen.flows.check.check_bijection`), and the ReLU counterexample.

    ``features`` is rounded up to an even number (SPEC §3's coupling needs one). Returns
    ``{"features", "transforms": [report + tolerance + context], "counterexamples": [...],
    "ok"}``; ``ok`` is whether every transform passed.

    >>> result = check_builtins(features=2, batch=2)
    >>> result["ok"], result["counterexamples"][0]["ok"]
    (True, False)
    """
    g = torch.Generator().manual_seed(seed)
    d = features + features % 2
    rows = []
    for name, spec in BUILTINS.items():
        t = spec.build(d)
        randomize_parameters(t, g)
        x, y = spec.x(batch, d, g), spec.y(batch, d, g)
        c = torch.randn(batch, spec.context, generator=g, dtype=torch.float64)
        report = check_bijection(t, x, c if spec.context else None, spec.tol, name, y)
        rows.append({**report.to_dict(), "tolerance": spec.tol, "context": spec.context})
    relu = check_bijection(
        ReluMap(d), torch.randn(batch, d, generator=g, dtype=torch.float64), name="a*ReLU(b*z+c)"
    )
    return {
        "features": d,
        "transforms": rows,
        "counterexamples": [{"name": relu.name, "ok": relu.ok, "message": relu.message}],
        "ok": all(row["ok"] for row in rows),
    }
