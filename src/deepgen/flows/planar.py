"""Planar flow g(z) = z + û tanh(wᵀz + b) (Rezende & Mohamed), with a numerical inverse.

û = u + (m(wᵀu) − wᵀu) w/‖w‖², m(x) = −1 + softplus(x), makes wᵀû > −1, so the scalar map
α ↦ α + wᵀû tanh(α + b) (α = wᵀz) is strictly increasing: g is invertible.
log|det J| = log|1 + ûᵀψ(z)|, ψ(z) = (1 − tanh²(wᵀz + b)) w.
Inverse: solve wᵀy = α + wᵀû tanh(α + b) for α by bisection on the bracket
[wᵀy − |wᵀû|, wᵀy + |wᵀû|], then z = y − û tanh(α + b).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from deepgen.flows.base import Transform


class Planar(Transform):
    """One planar layer; ``bisection_steps`` halvings give |α error| ≤ 2|wᵀû| / 2^steps."""

    def __init__(self, features: int, bisection_steps: int = 80) -> None:
        super().__init__()
        self.features = features
        self.u = nn.Parameter(torch.zeros(features))
        self.w = nn.Parameter(torch.full((features,), 1.0 / features**0.5))
        self.b = nn.Parameter(torch.zeros(()))
        self.bisection_steps = bisection_steps

    def u_hat(self) -> Tensor:
        """û with wᵀû = −1 + softplus(wᵀu) > −1."""
        wu = self.w @ self.u
        return self.u + (F.softplus(wu) - 1 - wu) * self.w / (self.w @ self.w)

    def forward(self, x: Tensor, context: Tensor | None = None) -> tuple[Tensor, Tensor]:
        u = self.u_hat()
        t = torch.tanh(x @ self.w + self.b)
        y = x + t.unsqueeze(-1) * u
        logdet = torch.log(torch.abs(1 + (1 - t**2) * (self.w @ u)))
        return y, logdet

    def inverse(self, y: Tensor, context: Tensor | None = None) -> tuple[Tensor, Tensor]:
        u = self.u_hat()
        wu = self.w @ u
        target = y @ self.w
        lo, hi = target - wu.abs(), target + wu.abs()
        for _ in range(self.bisection_steps):
            mid = (lo + hi) / 2
            above = mid + wu * torch.tanh(mid + self.b) > target
            hi = torch.where(above, mid, hi)
            lo = torch.where(above, lo, mid)
        alpha = (lo + hi) / 2
        t = torch.tanh(alpha + self.b)
        x = y - t.unsqueeze(-1) * u
        return x, -torch.log(torch.abs(1 + (1 - t**2) * wu))
