"""Deep sigmoidal flow, element-wise: g(z) = σ⁻¹(Σ_i w_i σ(a_i z + b_i)) (Huang et al. 2018).

With a_i > 0 (softplus) and w on the simplex (softmax), g is strictly increasing: g′(z) =
Σ_i w_i a_i σ_i(1 − σ_i) / (S(1 − S)) > 0 with S = Σ_i w_i σ_i, and g(±∞) = ±∞. Everything is
computed in log space (logsigmoid, logsumexp). The inverse is found by bisection on a bracket
that is widened until it holds the target.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from deepgen.flows.base import Transform


class DeepSigmoidal(Transform):
    """K sigmoids per feature; inverse by bisection to ``tol`` (absolute, in z)."""

    def __init__(self, features: int, components: int = 4, tol: float = 1e-12) -> None:
        super().__init__()
        self.features = features
        self.a_raw = nn.Parameter(torch.zeros(features, components))
        self.b = nn.Parameter(torch.zeros(features, components))
        self.w_raw = nn.Parameter(torch.zeros(features, components))
        self.tol = tol

    def _g_and_log_grad(self, z: Tensor) -> tuple[Tensor, Tensor]:
        a = F.softplus(self.a_raw)
        log_w = torch.log_softmax(self.w_raw, dim=-1)
        u = a * z.unsqueeze(-1) + self.b  # [batch, features, K]
        log_s = torch.logsumexp(log_w + F.logsigmoid(u), -1)
        log_1ms = torch.logsumexp(log_w + F.logsigmoid(-u), -1)
        log_num = torch.logsumexp(log_w + torch.log(a) + F.logsigmoid(u) + F.logsigmoid(-u), -1)
        return log_s - log_1ms, log_num - log_s - log_1ms

    def forward(self, x: Tensor, context: Tensor | None = None) -> tuple[Tensor, Tensor]:
        y, log_grad = self._g_and_log_grad(x)
        return y, log_grad.sum(-1)

    @torch.no_grad()
    def _solve(self, y: Tensor) -> Tensor:
        lo, hi = torch.full_like(y, -1.0), torch.full_like(y, 1.0)
        for _ in range(200):  # widen until g(lo) ≤ y ≤ g(hi)
            low_bad = self._g_and_log_grad(lo)[0] > y
            high_bad = self._g_and_log_grad(hi)[0] < y
            if not (low_bad.any() or high_bad.any()):
                break
            lo = torch.where(low_bad, 2 * lo, lo)
            hi = torch.where(high_bad, 2 * hi, hi)
        while bool(((hi - lo) > self.tol).any()):
            mid = (lo + hi) / 2
            above = self._g_and_log_grad(mid)[0] > y
            hi = torch.where(above, mid, hi)
            lo = torch.where(above, lo, mid)
            if bool(((hi - lo) <= torch.finfo(y.dtype).eps * mid.abs()).all()):
                break
        return (lo + hi) / 2

    def inverse(self, y: Tensor, context: Tensor | None = None) -> tuple[Tensor, Tensor]:
        x = self._solve(y)
        return x, -self._g_and_log_grad(x)[1].sum(-1)
