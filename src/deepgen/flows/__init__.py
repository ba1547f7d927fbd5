"""Normalizing flows: invertible transforms with log|det J|, and flows built from them.

Convention everywhere: ``y, logabsdet = t(x)`` and ``x, logabsdet = t.inverse(y)``, with the
log-determinant per sample (shape ``[batch]``). A :class:`Flow` maps data to noise with its
transform, so ``log_prob`` runs the forward (fast, for autoregressive flows) direction.
"""

from deepgen.flows.base import Compose, Flow, InverseTransform, Reverse, Transform
from deepgen.flows.check import BijectionReport, check_bijection
from deepgen.flows.coupling import AdditiveCoupling, AffineCoupling, ScaledAffineCoupling
from deepgen.flows.linear import ElementwiseAffine, LowerTriangularLinear, LULinear
from deepgen.flows.maf import MADE, MAF
from deepgen.flows.planar import Planar
from deepgen.flows.radial import Radial
from deepgen.flows.sigmoidal import DeepSigmoidal

__all__ = [
    "MADE",
    "MAF",
    "AdditiveCoupling",
    "AffineCoupling",
    "BijectionReport",
    "Compose",
    "DeepSigmoidal",
    "ElementwiseAffine",
    "Flow",
    "InverseTransform",
    "LULinear",
    "LowerTriangularLinear",
    "Planar",
    "Radial",
    "Reverse",
    "ScaledAffineCoupling",
    "Transform",
    "check_bijection",
]
