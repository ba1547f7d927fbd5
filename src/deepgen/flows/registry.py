"""Every built-in transform, built with random parameters, for ``deepgen check``.

Also the counterexample of SPEC §3: g(z) = a·ReLU(bz + c) is not injective (flat where
bz + c < 0), so checking it as a flow must fail.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor, nn

from deepgen.flows.actnorm import ActNorm
from deepgen.flows.base import Compose, InverseTransform, Reverse, Transform
from deepgen.flows.bounded import Logit
from deepgen.flows.coupling import AdditiveCoupling, AffineCoupling, ScaledAffineCoupling
from deepgen.flows.linear import ElementwiseAffine, LowerTriangularLinear, LULinear
from deepgen.flows.maf import MAF
from deepgen.flows.planar import Planar
from deepgen.flows.radial import Radial
from deepgen.flows.residual import ResidualBlock
from deepgen.flows.sigmoidal import DeepSigmoidal, SigmoidalCoupling

ANALYTIC_TOL = 1e-8
NUMERICAL_TOL = 1e-6


def initialized_actnorm(features: int) -> ActNorm:
    """An ActNorm marked as initialized, so its (random) parameters are used as they are."""
    t = ActNorm(features)
    t.initialized.fill_(True)
    return t


# name -> (builder of a transform on `features` dims, tolerance of its check)
BUILTINS: dict[str, tuple[Callable[[int], Transform], float]] = {
    "ElementwiseAffine": (ElementwiseAffine, ANALYTIC_TOL),
    "LowerTriangularLinear": (LowerTriangularLinear, ANALYTIC_TOL),
    "LULinear": (LULinear, ANALYTIC_TOL),
    "AffineCoupling": (lambda d: AffineCoupling(d, hidden=16), ANALYTIC_TOL),
    "AdditiveCoupling": (lambda d: AdditiveCoupling(d, hidden=16), ANALYTIC_TOL),
    "ScaledAffineCoupling": (lambda d: ScaledAffineCoupling(d, hidden=16), ANALYTIC_TOL),
    "Reverse": (Reverse, ANALYTIC_TOL),
    "Radial": (Radial, ANALYTIC_TOL),
    "MAF": (lambda d: MAF(d, hidden=16), ANALYTIC_TOL),
    "Planar": (Planar, NUMERICAL_TOL),
    "DeepSigmoidal": (DeepSigmoidal, NUMERICAL_TOL),
    "SigmoidalCoupling": (lambda d: SigmoidalCoupling(d, hidden=16, components=3), NUMERICAL_TOL),
    "ResidualBlock": (lambda d: ResidualBlock(d, hidden=16, logdet="exact"), NUMERICAL_TOL),
    "ActNorm": (initialized_actnorm, ANALYTIC_TOL),
    "Inverse(Logit)": (lambda d: InverseTransform(Logit(d, alpha=0.0)), ANALYTIC_TOL),
    "Compose(AffineCoupling, LULinear, Inverse(AffineCoupling))": (
        lambda d: Compose(
            [AffineCoupling(d, 16), LULinear(d), InverseTransform(AffineCoupling(d, 16, swap=True))]
        ),
        ANALYTIC_TOL,
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
        y = self.a * torch.relu(self.b * x + self.c)
        slope = torch.where(self.b * x + self.c > 0, abs(self.a * self.b), 0.0)
        return y, torch.log(torch.as_tensor(slope, dtype=x.dtype)).sum(-1)

    def inverse(self, y: Tensor, context: Tensor | None = None) -> tuple[Tensor, Tensor]:
        x = (y / self.a - self.c) / self.b
        logdet = -self.features * torch.log(torch.as_tensor(abs(self.a * self.b), dtype=y.dtype))
        return x, logdet.expand(y.shape[0])
