"""Deep sigmoidal flow, element-wise: g(z) = σ⁻¹(Σ_i w_i σ(a_i z + b_i)) (Huang et al. 2018).

With a_i > 0 (softplus) and w on the simplex (softmax), g is strictly increasing: g′(z) =
Σ_i w_i a_i σ_i(1 − σ_i) / (S(1 − S)) > 0 with S = Σ_i w_i σ_i, and g(±∞) = ±∞. Everything is
computed in log space (logsigmoid, logsumexp). The inverse is found by bisection on a bracket
that is widened until it holds the target.

``DeepSigmoidal`` has free parameters per feature; ``SigmoidalCoupling`` makes them functions
of the other half of the features (a coupling layer), which is what density estimation needs.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from deepgen.flows.base import Transform
from deepgen.flows.coupling import _Coupling
from deepgen.nn import mlp


def dsf(z: Tensor, a_raw: Tensor, b: Tensor, w_raw: Tensor) -> tuple[Tensor, Tensor]:
    """g(z) and log g′(z) element-wise; parameters are [..., K] and broadcast against z[..., None].

    a = softplus(a_raw) > 0, log w = log_softmax(w_raw).
    """
    a = F.softplus(a_raw)
    log_w = torch.log_softmax(w_raw, dim=-1)
    u = a * z.unsqueeze(-1) + b
    ls_u, ls_mu = F.logsigmoid(u), F.logsigmoid(-u)
    log_s = torch.logsumexp(log_w + ls_u, -1)
    log_1ms = torch.logsumexp(log_w + ls_mu, -1)
    log_num = torch.logsumexp(log_w + torch.log(a) + ls_u + ls_mu, -1)
    return log_s - log_1ms, log_num - log_s - log_1ms


@torch.no_grad()
def dsf_inverse(y: Tensor, a_raw: Tensor, b: Tensor, w_raw: Tensor, tol: float) -> Tensor:
    """z with g(z) = y, by bisection to |Δz| ≤ ``tol`` (or machine precision)."""

    def g(z: Tensor) -> Tensor:
        return dsf(z, a_raw, b, w_raw)[0]

    lo, hi = torch.full_like(y, -1.0), torch.full_like(y, 1.0)
    for _ in range(200):  # widen until g(lo) ≤ y ≤ g(hi)
        low_bad, high_bad = g(lo) > y, g(hi) < y
        if not (low_bad.any() or high_bad.any()):
            break
        lo = torch.where(low_bad, 2 * lo, lo)
        hi = torch.where(high_bad, 2 * hi, hi)
    while bool(((hi - lo) > tol).any()):
        mid = (lo + hi) / 2
        above = g(mid) > y
        hi = torch.where(above, mid, hi)
        lo = torch.where(above, lo, mid)
        if bool(((hi - lo) <= torch.finfo(y.dtype).eps * mid.abs()).all()):
            break
    return (lo + hi) / 2


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
        return dsf(z, self.a_raw, self.b, self.w_raw)

    def forward(self, x: Tensor, context: Tensor | None = None) -> tuple[Tensor, Tensor]:
        y, log_grad = self._g_and_log_grad(x)
        return y, log_grad.sum(-1)

    def inverse(self, y: Tensor, context: Tensor | None = None) -> tuple[Tensor, Tensor]:
        x = dsf_inverse(y, self.a_raw, self.b, self.w_raw, self.tol)
        return x, -self._g_and_log_grad(x)[1].sum(-1)


class SigmoidalCoupling(_Coupling):
    """y_a = x_a, y_b = g(x_b; θ(x_a)) with g the deep sigmoidal map whose a, b, w come from an
    MLP of x_a; log|det J| = Σ log g′(x_b). Inverse by bisection to ``tol``."""

    def __init__(
        self,
        features: int,
        hidden: int = 64,
        swap: bool = False,
        components: int = 8,
        tol: float = 1e-12,
    ) -> None:
        super().__init__(features, swap)
        self.components, self.tol = components, tol
        self.net = mlp([self.n_a, hidden, hidden, 3 * self.n_b * components], "relu")
        nn.init.zeros_(self.net[-1].weight)
        with torch.no_grad():  # spread the sigmoids' offsets so g starts smooth, not flat
            offsets = torch.linspace(-2.0, 2.0, components).repeat(self.n_b)
            self.net[-1].bias.zero_()
            self.net[-1].bias[self.n_b * components : 2 * self.n_b * components] = offsets

    def _params(self, a: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        p = self.net(a).view(*a.shape[:-1], 3, self.n_b, self.components)
        return p[..., 0, :, :], p[..., 1, :, :], p[..., 2, :, :]

    def forward(self, x: Tensor, context: Tensor | None = None) -> tuple[Tensor, Tensor]:
        a, b = self._split(x)
        y, log_grad = dsf(b, *self._params(a))
        return self._join(a, y), log_grad.sum(-1)

    def inverse(self, y: Tensor, context: Tensor | None = None) -> tuple[Tensor, Tensor]:
        a, b = self._split(y)
        params = self._params(a)
        x = dsf_inverse(b, *params, self.tol)
        return self._join(a, x), -dsf(x, *params)[1].sum(-1)
