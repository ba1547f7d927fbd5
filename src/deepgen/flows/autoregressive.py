"""MADE and the generic masked autoregressive transform (MAF, IAF, autoregressive splines).

MADE (Germain et al. 2015): give input i the degree i (1..D) and every context input degree 0,
each hidden unit a degree in 1..D−1 (0..D−1 with a context), and connect a unit of degree m to
inputs of degree ≤ m; output i (degree i) connects to hidden units of degree < i. Then output i
depends only on x_<i and the context: the Jacobian of the network in x is strictly
lower-triangular.

:class:`MaskedAutoregressive` maps y_i = g(x_i; θ_i(x_<i, c)) with a monotone element-wise map
g: the forward direction is one MADE pass, log|det J| = Σ_i log g′(x_i); the inverse needs
x_<i before x_i, so it takes exactly D passes. In a flow that maps data → noise this is MAF
(Papamakarios et al. 2017: fast log_prob, D-pass sampling); wrapped in
:class:`~deepgen.flows.base.InverseTransform` it is IAF (Kingma et al. 2016: one-pass sampling).
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from deepgen.flows.base import Transform
from deepgen.flows.elementwise import (
    Affine,
    ElementwiseMap,
    hidden_sizes,
    run_layers,
    start_at,
)
from deepgen.flows.spline import RQSpline


class MaskedLinear(nn.Linear):
    """A linear layer whose weight is multiplied by a fixed 0/1 mask.

    >>> import torch
    >>> layer = MaskedLinear(torch.tensor([[1.0, 0.0], [1.0, 1.0]]))  # output 0 sees input 0
    >>> layer(torch.tensor([[1.0, 5.0]]))[0, 0] == layer(torch.tensor([[1.0, -5.0]]))[0, 0]
    tensor(True)
    """

    def __init__(self, mask: Tensor) -> None:
        super().__init__(mask.shape[1], mask.shape[0])
        self.register_buffer("mask", mask.to(self.weight.dtype))

    def forward(self, x: Tensor) -> Tensor:
        return F.linear(x, self.weight * self.mask, self.bias)


class MADE(nn.Module):
    """An autoregressive MLP: ``params`` outputs per feature, each a function of (x_<i, c).

    >>> import torch
    >>> made = MADE(3, hidden=8, params=2, context=1)
    >>> made(torch.randn(5, 3), torch.randn(5, 1)).shape
    torch.Size([5, 3, 2])
    """

    def __init__(
        self,
        features: int,
        hidden: int | Sequence[int] = 64,
        layers: int | None = None,
        params: int = 2,
        context: int = 0,
    ) -> None:
        super().__init__()
        self.features, self.params, self.context_features = features, params, context
        sizes = hidden_sizes(hidden, layers)
        in_deg = torch.cat([torch.zeros(context, dtype=torch.long), torch.arange(1, features + 1)])
        # hidden degrees cycle over 1..D−1; with a context over 0..D−1, so that some units see
        # the context alone (for D = 1 they are the only way the context reaches the output)
        low, span = (0, features) if context else (1, max(features - 1, 1))
        degrees = [in_deg] + [torch.arange(h) % span + low for h in sizes]
        mods: list[nn.Module] = []
        for d_in, d_out in itertools.pairwise(degrees):
            # ReLU in place: the layer's output is not kept for its backward, and one buffer
            # of [batch, hidden] fewer per layer matters on large batches
            mask = (d_out.unsqueeze(1) >= d_in.unsqueeze(0)).float()
            mods += [MaskedLinear(mask), nn.ReLU(inplace=True)]
        out_deg = torch.arange(1, features + 1).repeat_interleave(params)
        mods.append(MaskedLinear((out_deg.unsqueeze(1) > degrees[-1].unsqueeze(0)).float()))
        self.net = nn.Sequential(*mods)

    def forward(self, x: Tensor, context: Tensor | None = None) -> Tensor:
        """[batch, features, params]: the parameters of feature i in out[:, i]."""
        h = x if context is None else torch.cat((context, x), dim=-1)
        return run_layers(self.net, h).unflatten(-1, (self.features, self.params))


class MaskedAutoregressive(Transform):
    """y_i = g(x_i; θ_i(x_<i, c)), θ from a :class:`MADE`; inverse in exactly D passes.

    >>> import torch
    >>> from deepgen.flows.elementwise import Affine
    >>> t = MaskedAutoregressive(3, Affine(), hidden=16, context=2)
    >>> x, c = torch.randn(4, 3), torch.randn(4, 2)
    >>> y, logdet = t(x, c)
    >>> bool(torch.allclose(t.inverse(y, c)[0], x, atol=1e-5))
    True
    """

    def __init__(
        self,
        features: int,
        g: ElementwiseMap,
        context: int = 0,
        hidden: int | Sequence[int] = 64,
        layers: int | None = None,
    ) -> None:
        super().__init__()
        self.features, self.context_features, self.map = features, context, g
        self.made = MADE(features, hidden, layers, g.params, context)
        start_at(self.made.net[-1], g, features)

    def forward(self, x: Tensor, context: Tensor | None = None) -> tuple[Tensor, Tensor]:
        self.check_context(x, context)
        y, logd = self.map.forward(x, self.made(x, context))
        return y, logd.sum(-1)

    def inverse(self, y: Tensor, context: Tensor | None = None) -> tuple[Tensor, Tensor]:
        self.check_context(y, context)
        x = torch.zeros_like(y)
        total = y.new_zeros(y.shape[0])
        for i in range(self.features):  # x_i needs x_<i: one pass per feature, D in all
            p = self.made(x, context)[:, i]
            xi, logd = self.map.inverse(y[:, i], p)
            x = x.clone()
            x[:, i] = xi
            total = total + logd
        return x, total


class MaskedAffineAutoregressive(MaskedAutoregressive):
    """One MAF layer (data → noise): z_i = x_i·exp(s_i) + t_i, (t_i, s_i) = MADE(x_<i, c).

    >>> import torch
    >>> t = MaskedAffineAutoregressive(3, hidden=16).double()
    >>> x = torch.randn(4, 3, dtype=torch.float64)
    >>> bool(torch.allclose(t.inverse(t(x)[0])[0], x))
    True
    """

    def __init__(
        self,
        features: int,
        hidden: int | Sequence[int] = 64,
        layers: int | None = None,
        scale_bound: float = 5.0,
        context: int = 0,
    ) -> None:
        super().__init__(features, Affine(scale_bound), context, hidden, layers)


class MaskedSplineAutoregressive(MaskedAutoregressive):
    """An autoregressive rational-quadratic spline layer (Durkan et al. 2019).

    >>> import torch
    >>> t = MaskedSplineAutoregressive(3, hidden=16, bins=4, context=2)
    >>> y, logdet = t(torch.randn(4, 3), torch.randn(4, 2))
    >>> logdet.shape
    torch.Size([4])
    """

    def __init__(
        self,
        features: int,
        hidden: int | Sequence[int] = 64,
        layers: int | None = None,
        bins: int = 8,
        bound: float = 5.0,
        context: int = 0,
    ) -> None:
        super().__init__(features, RQSpline(bins, bound), context, hidden, layers)
