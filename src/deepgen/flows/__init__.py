"""Normalizing flows: invertible transforms with log|det J|, and flows that are Distributions.

Convention everywhere: ``y, logabsdet = t(x, context)`` and ``x, logabsdet = t.inverse(y,
context)``, with the log-determinant per sample (shape ``[batch]``); a transform that is not
conditional refuses a context. A :class:`Flow` maps data to noise with its transforms, so
``log_prob`` runs the forward (fast, for MAF) direction; calling a flow with a context (or
with nothing when unconditional) returns a :class:`FlowDistribution`, a real
``torch.distributions.Distribution``:

>>> import torch
>>> from deepgen import flows
>>> f = flows.NSF(features=2, context=3, transforms=3, hidden=(64, 64))
>>> d = f(torch.randn(5, 3))
>>> x, log_p = d.rsample_and_log_prob((10,))
>>> x.shape, log_p.shape
(torch.Size([10, 5, 2]), torch.Size([10, 5]))
"""

from deepgen.flows.actnorm import ActNorm
from deepgen.flows.autoregressive import (
    MADE,
    MaskedAffineAutoregressive,
    MaskedAutoregressive,
    MaskedLinear,
    MaskedSplineAutoregressive,
)
from deepgen.flows.base import Compose, InverseTransform, Reverse, Transform
from deepgen.flows.bases import DiagonalGaussian, GaussianMixture, StandardNormal
from deepgen.flows.bounded import Logit
from deepgen.flows.check import BijectionReport, check_bijection
from deepgen.flows.coupling import (
    AdditiveCoupling,
    AffineCoupling,
    Coupling,
    ScaledAffineCoupling,
    SplineCoupling,
)
from deepgen.flows.dequantization import (
    VariationalDequantizer,
    bits_per_dim,
    dequantized_nll,
    uniform_dequantize,
)
from deepgen.flows.distribution import FlowDistribution
from deepgen.flows.elementwise import (
    Additive,
    Affine,
    Elementwise,
    ElementwiseMap,
    Sigmoidal,
    monotone_inverse,
    soft_clamp,
)
from deepgen.flows.flow import IAF, MAF, NICE, NSF, AutoregressiveNSF, Flow, RealNVP, ScaledCoupling
from deepgen.flows.linear import ElementwiseAffine, LowerTriangularLinear, LULinear
from deepgen.flows.multiscale import (
    ActNorm2d,
    ConvCoupling,
    ImageFlow,
    InvertibleConv1x1,
    MultiScale,
    Squeeze,
)
from deepgen.flows.permutation import Permutation
from deepgen.flows.planar import Planar
from deepgen.flows.radial import Radial
from deepgen.flows.recipe import FlowModelConfig, build_flow
from deepgen.flows.residual import LipschitzMLP, ResidualBlock
from deepgen.flows.reverse_kl import ReverseKLResult, fit_reverse_kl
from deepgen.flows.sigmoidal import DeepSigmoidal, SigmoidalCoupling
from deepgen.flows.spline import RQSpline

__all__ = [
    "IAF",
    "MADE",
    "MAF",
    "NICE",
    "NSF",
    "ActNorm",
    "ActNorm2d",
    "Additive",
    "AdditiveCoupling",
    "Affine",
    "AffineCoupling",
    "AutoregressiveNSF",
    "BijectionReport",
    "Compose",
    "ConvCoupling",
    "Coupling",
    "DeepSigmoidal",
    "DiagonalGaussian",
    "Elementwise",
    "ElementwiseAffine",
    "ElementwiseMap",
    "Flow",
    "FlowDistribution",
    "FlowModelConfig",
    "GaussianMixture",
    "ImageFlow",
    "InverseTransform",
    "InvertibleConv1x1",
    "LULinear",
    "LipschitzMLP",
    "Logit",
    "LowerTriangularLinear",
    "MaskedAffineAutoregressive",
    "MaskedAutoregressive",
    "MaskedLinear",
    "MaskedSplineAutoregressive",
    "MultiScale",
    "Permutation",
    "Planar",
    "RQSpline",
    "Radial",
    "RealNVP",
    "ResidualBlock",
    "Reverse",
    "ReverseKLResult",
    "ScaledAffineCoupling",
    "ScaledCoupling",
    "Sigmoidal",
    "SigmoidalCoupling",
    "SplineCoupling",
    "Squeeze",
    "StandardNormal",
    "Transform",
    "VariationalDequantizer",
    "bits_per_dim",
    "build_flow",
    "check_bijection",
    "dequantized_nll",
    "fit_reverse_kl",
    "monotone_inverse",
    "soft_clamp",
    "uniform_dequantize",
]
