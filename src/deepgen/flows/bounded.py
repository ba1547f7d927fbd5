"""Transforms between the unit cube and ℝ^d, used to dequantize images.

``Logit``: y = logit(α + (1 − 2α)x), log|det J| = Σ log(1 − 2α) − log(p(1 − p)),
p = α + (1 − 2α)x. With α = 0 it maps the open cube (0, 1)^d onto ℝ^d; with 0 < α < ½ it maps
the closed cube [0, 1]^d onto the box [logit α, logit(1 − α)]^d, keeping the ends finite. Both
directions are bounded somewhere: a point outside the domain (forward) or outside the range
(inverse) is a one-line DataError, never NaN or a silently wrong value.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

from deepgen.errors import DataError
from deepgen.flows.base import Transform, checking_values


def _outside(values: Tensor, bad: Tensor, what: str) -> DataError:
    return DataError(f"{what}; got {values[bad][0].item():g}")


class Logit(Transform):
    """x ↦ logit(α + (1 − 2α)x); the inverse is (σ(y) − α)/(1 − 2α).

    >>> import torch
    >>> t = Logit(2, alpha=0.0)
    >>> y, _ = t(torch.tensor([[0.5, 0.25]]))
    >>> y
    tensor([[ 0.0000, -1.0986]])
    """

    def __init__(self, features: int, alpha: float = 1e-6) -> None:
        super().__init__()
        if not 0 <= alpha < 0.5:
            raise ValueError(f"alpha must be in [0, 0.5), got {alpha}")
        self.features, self.alpha = features, alpha
        self.bound = math.log(alpha) - math.log1p(-alpha) if alpha > 0 else -math.inf

    def forward(self, x: Tensor, context: Tensor | None = None) -> tuple[Tensor, Tensor]:
        self.check_context(x, context)
        if self.alpha > 0:
            bad = (x < 0) | (x > 1)
            if checking_values() and bool(bad.any()):
                raise _outside(x, bad, "Logit's domain is [0, 1]: a value lies outside it")
        else:
            bad = (x <= 0) | (x >= 1)
            if checking_values() and bool(bad.any()):
                raise _outside(x, bad, "Logit (α = 0) takes values in the open (0, 1)")
        p = self.alpha + (1 - 2 * self.alpha) * x
        y = torch.log(p) - torch.log1p(-p)
        logdet = math.log(1 - 2 * self.alpha) - torch.log(p) - torch.log1p(-p)
        return y, logdet.sum(-1)

    def inverse(self, y: Tensor, context: Tensor | None = None) -> tuple[Tensor, Tensor]:
        self.check_context(y, context)
        bad = (y < self.bound) | (y > -self.bound)
        if checking_values() and bool(bad.any()):
            raise _outside(
                y,
                bad,
                f"Logit's range is [{self.bound:.4g}, {-self.bound:.4g}] (α = {self.alpha:g}): "
                "a value lies outside it",
            )
        x = (torch.sigmoid(y) - self.alpha) / (1 - 2 * self.alpha)
        # log σ′(y) = log σ(y) + log σ(−y)
        logdet = F.logsigmoid(y) + F.logsigmoid(-y) - math.log(1 - 2 * self.alpha)
        return x.clamp(0, 1) if self.alpha > 0 else x, logdet.sum(-1)
