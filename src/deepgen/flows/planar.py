"""Planar flow g(z) = z + û tanh(wᵀz + b) (Rezende & Mohamed 2015), with a numerical inverse.

û = u + (m(wᵀu) − wᵀu) w/‖w‖², m(x) = −1 + softplus(x), makes wᵀû > −1, so the scalar map
α ↦ α + wᵀû tanh(α + b) (α = wᵀz) is strictly increasing: g is invertible.
log|det J| = log|1 + ûᵀψ(z)|, ψ(z) = (1 − tanh²(wᵀz + b)) w.
Inverse: solve wᵀy = α + wᵀû tanh(α + b) for α by the shared bisection on the bracket
[wᵀy − |wᵀû|, wᵀy + |wᵀû|], then z = y − û tanh(α + b).
With a context (amortized, as in a VAE posterior) u, w and b are an MLP of it.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from deepgen.flows.base import Transform
from deepgen.flows.elementwise import hidden_sizes, monotone_inverse
from deepgen.nn import mlp


class Planar(Transform):
    """One planar layer; the inverse is bisected to ``tol`` in α = wᵀz.

    >>> import torch
    >>> t = Planar(3, context=2, hidden=8)
    >>> z, c = torch.randn(4, 3, dtype=torch.float64), torch.randn(4, 2, dtype=torch.float64)
    >>> t = t.double()
    >>> y, logdet = t(z, c)
    >>> bool(torch.allclose(t.inverse(y, c)[0], z))
    True
    """

    def __init__(
        self,
        features: int,
        tol: float = 1e-12,
        context: int = 0,
        hidden: int | Sequence[int] = 64,
    ) -> None:
        super().__init__()
        self.features, self.context_features, self.tol = features, context, tol
        w0 = torch.full((features,), 1.0 / features**0.5)
        if context:
            self.net = mlp([context, *hidden_sizes(hidden), 2 * features + 1], "relu")
            nn.init.zeros_(self.net[-1].weight)
            with torch.no_grad():
                self.net[-1].bias.copy_(torch.cat([torch.zeros(features), w0, torch.zeros(1)]))
        else:
            self.u = nn.Parameter(torch.zeros(features))
            self.w = nn.Parameter(w0)
            self.b = nn.Parameter(torch.zeros(()))

    def _uwb(self, context: Tensor | None) -> tuple[Tensor, Tensor, Tensor]:
        if context is None:
            return self.u, self.w, self.b
        p = self.net(context)
        d = self.features
        return p[..., :d], p[..., d : 2 * d], p[..., 2 * d]

    def u_hat(self, context: Tensor | None = None) -> Tensor:
        """û with wᵀû = −1 + softplus(wᵀu) > −1 (per sample when conditional)."""
        u, w, _ = self._uwb(context)
        wu = (w * u).sum(-1, keepdim=True)
        ww = (w * w).sum(-1, keepdim=True).clamp_min(1e-12)
        return u + (F.softplus(wu) - 1 - wu) * w / ww

    def forward(self, x: Tensor, context: Tensor | None = None) -> tuple[Tensor, Tensor]:
        self.check_context(x, context)
        _, w, b = self._uwb(context)
        u = self.u_hat(context)
        t = torch.tanh((x * w).sum(-1) + b)
        y = x + t.unsqueeze(-1) * u
        logdet = torch.log(torch.abs(1 + (1 - t**2) * (w * u).sum(-1)))
        return y, logdet

    def inverse(self, y: Tensor, context: Tensor | None = None) -> tuple[Tensor, Tensor]:
        self.check_context(y, context)
        _, w, b = self._uwb(context)
        u = self.u_hat(context)
        wu = (w * u).sum(-1).expand(y.shape[0])
        b = b.expand(y.shape[0])
        target = (y * w).sum(-1)
        alpha = monotone_inverse(
            lambda a: a + wu * torch.tanh(a + b),
            target.detach(),
            (target - wu.abs()).detach(),
            (target + wu.abs()).detach(),
            self.tol,
        )
        if torch.is_grad_enabled():
            # the bisection carries no gradient: one Newton step from the root, whose value is
            # (to tol) the root itself, gives the implicit-function gradient
            # dα = (d target − ∂f/∂θ dθ) / f′(α), so samples drawn through this inverse are
            # reparameterized in y, u, w and b
            f = alpha + wu * torch.tanh(alpha + b)
            slope = 1 + wu * (1 - torch.tanh(alpha + b) ** 2)
            alpha = alpha + (target - f) / slope.detach()
        t = torch.tanh(alpha + b)
        x = y - t.unsqueeze(-1) * u
        return x, -torch.log(torch.abs(1 + (1 - t**2) * wu))
