"""MADE masks and the masked autoregressive flow (MAF, Papamakarios et al. 2017).

MADE: give input i the degree i (1..D), each hidden unit a degree in 1..D−1, and connect a unit
of degree m to inputs of degree ≤ m; output i (degree i) connects to hidden units of degree < i.
Then output i depends only on x_<i: the network's Jacobian is strictly lower-triangular.

MAF maps data to noise in one pass: z_i = (x_i − μ_i(x_<i)) exp(s_i(x_<i)) (s = −α, soft-clamped),
log|det ∂z/∂x| = Σ s_i. Sampling inverts it sequentially: x_i = z_i exp(−s_i) + μ_i, D passes.
So log_prob (what training needs) runs the fast direction.
"""

from __future__ import annotations

import itertools

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from deepgen.flows.base import Transform
from deepgen.flows.coupling import soft_clamp


class MaskedLinear(nn.Linear):
    """A linear layer whose weight is multiplied by a fixed 0/1 mask."""

    def __init__(self, mask: Tensor) -> None:
        super().__init__(mask.shape[1], mask.shape[0])
        self.register_buffer("mask", mask.to(self.weight.dtype))

    def forward(self, x: Tensor) -> Tensor:
        return F.linear(x, self.weight * self.mask, self.bias)


def made_degrees(features: int, hidden: int, layers: int) -> list[Tensor]:
    """Degrees of the input and of each hidden layer (cyclic 1..D−1 for hidden units)."""
    degrees = [torch.arange(1, features + 1)]
    for _ in range(layers):
        degrees.append(torch.arange(hidden) % max(features - 1, 1) + 1)
    return degrees


class MADE(nn.Module):
    """An autoregressive MLP: outputs ``params`` numbers per feature, each depending on x_<i."""

    def __init__(self, features: int, hidden: int = 64, layers: int = 2, params: int = 2) -> None:
        super().__init__()
        self.features, self.params = features, params
        deg = made_degrees(features, hidden, layers)
        mods: list[nn.Module] = []
        for d_in, d_out in itertools.pairwise(deg):
            mods += [MaskedLinear((d_out.unsqueeze(1) >= d_in.unsqueeze(0)).float()), nn.ReLU()]
        out_deg = torch.arange(1, features + 1).repeat(params)
        mods.append(MaskedLinear((out_deg.unsqueeze(1) > deg[-1].unsqueeze(0)).float()))
        self.net = nn.Sequential(*mods)

    def forward(self, x: Tensor) -> Tensor:
        """[batch, params, features]: parameter p of feature i in out[:, p, i]."""
        return self.net(x).view(x.shape[0], self.params, self.features)


class MAF(Transform):
    """One MAF layer (data → noise); stack with ``Reverse`` between layers."""

    def __init__(
        self, features: int, hidden: int = 64, layers: int = 2, scale_bound: float = 5.0
    ) -> None:
        super().__init__()
        self.features = features
        self.made = MADE(features, hidden, layers, params=2)
        self.scale_bound = scale_bound

    def _mu_s(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """μ(x_<i) and the log-scale s(x_<i) = −α(x_<i) of the data → noise direction."""
        out = self.made(x)
        return out[:, 0], soft_clamp(out[:, 1], self.scale_bound)

    def forward(self, x: Tensor, context: Tensor | None = None) -> tuple[Tensor, Tensor]:
        mu, s = self._mu_s(x)
        return (x - mu) * torch.exp(s), s.sum(-1)

    def inverse(self, z: Tensor, context: Tensor | None = None) -> tuple[Tensor, Tensor]:
        x = torch.zeros_like(z)
        for i in range(self.features):  # x_i needs x_<i: one pass per feature
            mu, s = self._mu_s(x)
            x = x.clone()
            x[:, i] = z[:, i] * torch.exp(-s[:, i]) + mu[:, i]
        mu, s = self._mu_s(x)
        return x, -s.sum(-1)
