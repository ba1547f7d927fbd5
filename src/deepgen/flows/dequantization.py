"""Dequantization: continuous densities on discrete images, and the bounds they give.

Discrete x ∈ {0, …, L−1}^D (L = 2 for binary pixels, 256 for grey bytes) becomes y = (x + u)/L
with u ∈ [0, 1)^D. For a density p on y, P(x) = ∫ p((x + u)/L) L^{−D} du, so for any q(u | x)
on the unit cube (Jensen):

−log P(x) ≤ −E_q[log p(y) − log q(u | x)] + D log L,

and with K draws the importance-weighted bound −log (1/K) Σ_k p(y_k)/q(u_k | x) + D log L is
tighter (Burda et al. 2016). Uniform dequantization takes q = U[0, 1)^D (log q = 0); the
variational dequantizer of Flow++ (Ho et al. 2019) learns q.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from deepgen.bounds import log_mean_exp
from deepgen.errors import ConfigError, DataError
from deepgen.flows.base import Compose
from deepgen.flows.distribution import standard_normal_log_prob
from deepgen.flows.multiscale import ConvCoupling, image_shape
from deepgen.shard import draw


def _check_levels(levels: int) -> None:
    if isinstance(levels, bool) or not isinstance(levels, int) or levels < 2:
        raise ConfigError(f"levels (values per pixel) must be an integer >= 2, got {levels!r}")


def _as_discrete(x: Tensor, levels: int) -> Tensor:
    """``x`` as floats, after checking it holds integers 0 … levels−1 (a DataError otherwise)."""
    _check_levels(levels)
    if not x.is_floating_point():
        x = x.to(torch.get_default_dtype())
    bad = (x < 0) | (x > levels - 1) | (x != torch.floor(x))
    if bool(bad.any()):
        raise DataError(f"dequantization takes integers 0 … {levels - 1}; got {x[bad][0].item():g}")
    return x


def uniform_dequantize(x: Tensor, levels: int, generator: torch.Generator | None = None) -> Tensor:
    """y = (x + u)/L with u ~ U[0, 1)^D: integers 0 … L−1 (any shape, any dtype) to [0, 1).

    >>> import torch
    >>> y = uniform_dequantize(torch.tensor([[0, 1, 255]]), levels=256)
    >>> bool((y >= torch.tensor([0, 1, 255]) / 256).all() and (y < 1).all())
    True
    """
    x = _as_discrete(x, levels)
    u = torch.rand(x.shape, generator=generator, dtype=x.dtype, device=x.device)
    return (x + u) / levels


class VariationalDequantizer(nn.Module):
    """Flow++'s variational dequantization q(u | x): ε ~ N(0, I), v = f(ε; x), u = σ(v), so
    log q(u | x) = log N(ε) − log|det ∂f/∂ε| − Σ log σ′(v), σ′(v) = σ(v)σ(−v).

    f is ``steps`` :class:`~deepgen.flows.multiscale.ConvCoupling` layers on the (C, H, W) image,
    checkerboard masks of alternating parity, each conditioner also seeing x rescaled to
    [−1, 1] (context_channels = C). They start as the identity, where q is the logistic-normal
    σ(N(0, I)), the same for every x. x is flat [batch, C·H·W], integers 0 … levels−1.

    >>> import torch
    >>> q = VariationalDequantizer((1, 4, 4), levels=2, hidden=8)
    >>> u, log_q = q(torch.randint(0, 2, (3, 16)).float())
    >>> u.shape, log_q.shape, bool(((u > 0) & (u < 1)).all())
    (torch.Size([3, 16]), torch.Size([3]), True)
    """

    def __init__(
        self,
        shape: Sequence[int],
        levels: int = 2,
        hidden: int = 32,
        blocks: int = 1,
        steps: int = 4,
        map: str = "affine",
    ) -> None:
        super().__init__()
        _check_levels(levels)
        if steps < 1:
            raise ConfigError(f"VariationalDequantizer needs steps >= 1, got {steps}")
        self.shape, self.levels = image_shape(shape), levels
        c, h, w = self.shape
        self.features = c * h * w
        self.flow = Compose(
            ConvCoupling(
                self.shape, hidden, blocks, map, "checkerboard", bool(i % 2), context_channels=c
            )
            for i in range(steps)
        )

    def warp(self, eps: Tensor, x: Tensor) -> tuple[Tensor, Tensor]:
        """u = σ(f(ε; x)) and log|det ∂u/∂ε| = log|det ∂f/∂ε| + Σ log σ′(v), per sample."""
        context = x * (2 / (self.levels - 1)) - 1
        v, logdet = self.flow(eps, context)
        return torch.sigmoid(v), logdet + (F.logsigmoid(v) + F.logsigmoid(-v)).sum(-1)

    def forward(self, x: Tensor, generator: torch.Generator | None = None) -> tuple[Tensor, Tensor]:
        """A draw u ~ q(u | x) ∈ (0, 1)^D (differentiable in the parameters) and log q(u | x)."""
        eps = draw(  # under data parallelism: this process's slice of the global batch's draw
            lambda s: torch.randn(s, generator=generator, dtype=x.dtype, device=x.device),
            x.shape,
            dim=0,
        )
        u, logdet = self.warp(eps, x)
        return u, standard_normal_log_prob(eps) - logdet


def dequantized_nll(
    flow_log_prob: Callable[[Tensor], Tensor],
    x: Tensor,
    levels: int,
    dequantizer: VariationalDequantizer | None = None,
    k: int = 1,
    generator: torch.Generator | None = None,
) -> tuple[Tensor, Tensor]:
    """Upper bounds on −log P(x) in nats per image, each [batch], from K draws u_k ~ q(u | x),
    y_k = (x + u_k)/L, w_k = log p(y_k) − log q(u_k | x):

    (Jensen) −(1/K) Σ_k w_k + D log L,   (importance-weighted) −log (1/K) Σ_k e^{w_k} + D log L.

    ``flow_log_prob`` maps y [batch, D] to log p(y) [batch] (e.g. ``flow.log_prob``); x is
    [batch, D] integers 0 … L−1; ``dequantizer`` None means uniform (log q = 0). Differentiable:
    the mean Jensen bound is a training loss for the flow and the dequantizer together.

    >>> import torch
    >>> x = torch.randint(0, 2, (4, 6)).float()
    >>> jensen, iw = dequantized_nll(lambda y: torch.zeros(len(y)), x, levels=2, k=3)
    >>> bool(torch.allclose(jensen, torch.full((4,), 6 * math.log(2))))  # p uniform: D log 2
    True
    """
    if isinstance(k, bool) or not isinstance(k, int) or k < 1:
        raise ConfigError(f"k (draws per image) must be an integer >= 1, got {k!r}")
    x = _as_discrete(x, levels)
    weights = []
    for _ in range(k):
        if dequantizer is None:
            u = torch.rand(x.shape, generator=generator, dtype=x.dtype, device=x.device)
            weights.append(flow_log_prob((x + u) / levels))
        else:
            u, log_q = dequantizer(x, generator)
            weights.append(flow_log_prob((x + u) / levels) - log_q)
    w = torch.stack(weights)
    offset = x.shape[-1] * math.log(levels)
    return -w.mean(0) + offset, -log_mean_exp(w, 0) + offset


def bits_per_dim(nats: Tensor | float, dims: int) -> Tensor | float:
    """nats / (D ln 2): a negative log-likelihood per image in bits per dimension.

    >>> round(bits_per_dim(784 * math.log(2), 784), 12)
    1.0
    """
    return nats / (dims * math.log(2))
