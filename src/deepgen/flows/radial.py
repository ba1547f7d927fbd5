"""Radial flow g(z) = z + β h(α, r)(z − z₀), h = 1/(α + r), r = ‖z − z₀‖ (Rezende & Mohamed).

Invertible when β ≥ −α, guaranteed here by α = softplus(a) > 0 and β = −α + softplus(b).
Inverse, analytically: ‖g(z) − z₀‖ = r' = r(1 + β/(α + r)) is strictly increasing in r, so r is
the unique non-negative root of r² + (α + β − r')r − αr' = 0; then the direction is that of
g(z) − z₀, i.e. z − z₀ = (g(z) − z₀)/(1 + β/(α + r)).
log|det J| = (d − 1) log(1 + βh) + log(1 + βh + βh′r), with h′ = −1/(α + r)², i.e.
the last term is log(1 + αβ/(α + r)²).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from deepgen.flows.base import Transform


class Radial(Transform):
    """A radial contraction/expansion around a learned centre z₀.

    >>> import torch
    >>> t = Radial(2).double()
    >>> x = torch.randn(5, 2, dtype=torch.float64)
    >>> bool(torch.allclose(t.inverse(t(x)[0])[0], x))
    True
    """

    def __init__(self, features: int) -> None:
        super().__init__()
        self.features = features
        self.z0 = nn.Parameter(torch.zeros(features))
        self.alpha_raw = nn.Parameter(torch.zeros(()))
        self.beta_raw = nn.Parameter(torch.zeros(()))

    def alpha_beta(self) -> tuple[Tensor, Tensor]:
        """α = softplus(a) > 0 and β = −α + softplus(b) ≥ −α."""
        alpha = F.softplus(self.alpha_raw)
        return alpha, -alpha + F.softplus(self.beta_raw)

    def forward(self, x: Tensor, context: Tensor | None = None) -> tuple[Tensor, Tensor]:
        self.check_context(x, context)
        alpha, beta = self.alpha_beta()
        diff = x - self.z0
        r = diff.norm(dim=-1, keepdim=True)
        bh = beta / (alpha + r)
        y = x + bh * diff
        logdet = (self.features - 1) * torch.log1p(bh) + torch.log1p(
            alpha * beta / (alpha + r) ** 2
        )
        return y, logdet.squeeze(-1)

    def inverse(self, y: Tensor, context: Tensor | None = None) -> tuple[Tensor, Tensor]:
        self.check_context(y, context)
        alpha, beta = self.alpha_beta()
        diff_y = y - self.z0
        r_y = diff_y.norm(dim=-1, keepdim=True)
        b = alpha + beta - r_y
        c = alpha * r_y
        root = torch.sqrt(b * b + 4 * c)
        # the non-negative root, in the form without cancellation for each sign of b
        r = torch.where(b > 0, 2 * c / (b + root), (root - b) / 2)
        scale = 1 + beta / (alpha + r)
        safe = torch.where(r_y > 0, scale, torch.ones_like(scale))
        x = self.z0 + torch.where(r_y > 0, diff_y / safe, torch.zeros_like(diff_y))
        logdet = (self.features - 1) * torch.log(scale) + torch.log1p(
            alpha * beta / (alpha + r) ** 2
        )
        return x, -logdet.squeeze(-1)
