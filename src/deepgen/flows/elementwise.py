"""Monotone element-wise maps y_i = g(x_i; θ_i), the shared numerical inverse, conditioners.

A map is a plain object (no learnable state): its ``params`` raw numbers per feature come from
a conditioner (a coupling net, a MADE, or free parameters). ``forward(x, p)`` and
``inverse(y, p)`` take ``p`` of shape ``x.shape + (params,)`` and return the output and the
element-wise log-derivative, so log|det J| = Σ_i log g′(x_i). ``initial_params()`` is what a
conditioner outputs at initialization (the identity map where the family contains it).

* :class:`Affine`: y = x·exp(s) + t, s soft-clamped: log g′ = s.
* :class:`Additive`: y = x + t: log g′ = 0.
* :class:`Sigmoidal`: the deep sigmoidal map of Huang et al. (2018), inverted by bisection.
* the rational-quadratic spline lives in :mod:`deepgen.flows.spline`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Protocol

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from deepgen.errors import ConfigError, InversionError
from deepgen.flows.base import Transform
from deepgen.nn import mlp


class ElementwiseMap(Protocol):
    """What the generic coupling and autoregressive transforms need of an element-wise map.

    >>> isinstance(Affine().params, int) and Affine().initial_params().shape == (2,)
    True
    """

    params: int

    def forward(self, x: Tensor, p: Tensor) -> tuple[Tensor, Tensor]:
        """g(x) and log g′(x), element-wise."""
        ...

    def inverse(self, y: Tensor, p: Tensor) -> tuple[Tensor, Tensor]:
        """g⁻¹(y) and log (g⁻¹)′(y), element-wise."""
        ...

    def initial_params(self) -> Tensor:
        """Raw parameters [params] at initialization."""
        ...


def soft_clamp(s: Tensor, bound: float) -> Tensor:
    """c·tanh(s / c): smooth, ≈ s for |s| ≪ c, bounded by c.

    Computed as 2c·σ(2s/c) − c (the same function: tanh u = 2σ(2u) − 1), because torch's CPU
    sigmoid is about 3× faster than its tanh and this sits on every flow's hot path."""
    return (2 * bound) * torch.sigmoid(s * (2 / bound)) - bound


class Affine:
    """y = x·exp(s) + t with s = c·tanh(s_raw/c) (free near 0, never overflowing); p = (t, s_raw).

    >>> import torch
    >>> g = Affine()
    >>> y, logd = g.forward(torch.tensor([1.0]), torch.tensor([[2.0, 0.0]]))
    >>> y.item(), logd.item()
    (3.0, 0.0)
    """

    params = 2

    def __init__(self, scale_bound: float = 5.0) -> None:
        self.scale_bound = scale_bound

    def _shift_log_scale(self, p: Tensor) -> tuple[Tensor, Tensor]:
        t, s = p.unbind(-1)
        return t, soft_clamp(s, self.scale_bound)

    def forward(self, x: Tensor, p: Tensor) -> tuple[Tensor, Tensor]:
        """x·exp(s) + t and s."""
        t, s = self._shift_log_scale(p)
        return torch.addcmul(t, x, torch.exp(s)), s

    def inverse(self, y: Tensor, p: Tensor) -> tuple[Tensor, Tensor]:
        """(y − t)·exp(−s) and −s."""
        t, s = self._shift_log_scale(p)
        return (y - t) * torch.exp(-s), -s

    def initial_params(self) -> Tensor:
        """(0, 0): the identity."""
        return torch.zeros(2)


class Additive:
    """y = x + t (volume preserving); p = (t,).

    >>> import torch
    >>> Additive().forward(torch.tensor([1.0]), torch.tensor([[2.0]]))[0].item()
    3.0
    """

    params = 1

    def forward(self, x: Tensor, p: Tensor) -> tuple[Tensor, Tensor]:
        """x + t and 0."""
        return x + p[..., 0], torch.zeros_like(x)

    def inverse(self, y: Tensor, p: Tensor) -> tuple[Tensor, Tensor]:
        """y − t and 0."""
        return y - p[..., 0], torch.zeros_like(y)

    def initial_params(self) -> Tensor:
        """t = 0: the identity."""
        return torch.zeros(1)


def monotone_inverse(
    f: Callable[[Tensor], Tensor],
    y: Tensor,
    lo: Tensor | None = None,
    hi: Tensor | None = None,
    tol: float = 1e-12,
    max_doublings: int = 100,
) -> Tensor:
    """x with f(x) = y for a strictly increasing element-wise ``f``, by bisection.

    Starts from the bracket [lo, hi] (default [−1, 1]) and doubles each side that does not
    hold the target; if no bracket is found within ``max_doublings`` doublings (f bounded, or
    y not finite) an :class:`InversionError` is raised rather than a non-solution returned.
    Bisection stops when every bracket is narrower than ``tol`` or than a few ulps of x.
    """
    with torch.no_grad():
        if not bool(torch.isfinite(y).all()):
            raise InversionError("monotone inverse: the target holds NaN or infinite values")
        lo = torch.full_like(y, -1.0) if lo is None else lo.clone()
        hi = torch.full_like(y, 1.0) if hi is None else hi.clone()
        for _ in range(max_doublings + 1):
            low_bad, high_bad = f(lo) > y, f(hi) < y
            if not bool((low_bad | high_bad).any()):
                break
            lo = torch.where(low_bad, lo - (hi - lo), lo)
            hi = torch.where(high_bad, hi + (hi - lo), hi)
        else:
            bad = (f(lo) > y) | (f(hi) < y)
            raise InversionError(
                f"monotone inverse: no bracket holds the target {y[bad].flatten()[0].item():g} "
                f"after {max_doublings} doublings (the map may be bounded there)"
            )
        eps = torch.finfo(y.dtype).eps
        while bool(((hi - lo) > tol).any()):
            mid = (lo + hi) / 2
            above = f(mid) > y
            hi = torch.where(above, mid, hi)
            lo = torch.where(above, lo, mid)
            if bool(((hi - lo) <= 4 * eps * mid.abs()).all()):
                break
        return (lo + hi) / 2


def dsf(z: Tensor, a_raw: Tensor, b: Tensor, w_raw: Tensor) -> tuple[Tensor, Tensor]:
    """g(z) = σ⁻¹(Σ_i w_i σ(a_i z + b_i)) and log g′(z), element-wise; parameters are [..., K]
    and broadcast against z[..., None]; a = softplus(a_raw) > 0, log w = log_softmax(w_raw).

    g′ = Σ_i w_i a_i σ_i(1 − σ_i) / (S(1 − S)) > 0 with S = Σ_i w_i σ_i, all in log space.
    """
    a = F.softplus(a_raw)
    log_w = torch.log_softmax(w_raw, dim=-1)
    u = a * z.unsqueeze(-1) + b
    ls_u, ls_mu = F.logsigmoid(u), F.logsigmoid(-u)
    log_s = torch.logsumexp(log_w + ls_u, -1)
    log_1ms = torch.logsumexp(log_w + ls_mu, -1)
    log_num = torch.logsumexp(log_w + torch.log(a) + ls_u + ls_mu, -1)
    return log_s - log_1ms, log_num - log_s - log_1ms


class Sigmoidal:
    """The deep sigmoidal map with K components: p = (a_raw, b, w_raw), each K numbers.

    Strictly increasing from −∞ to ∞ (a > 0, w on the simplex); inverse by
    :func:`monotone_inverse` to ``tol``.

    >>> import torch
    >>> g = Sigmoidal(components=3)
    >>> x = torch.linspace(-3, 3, 7, dtype=torch.float64)
    >>> p = torch.randn(7, g.params, dtype=torch.float64)
    >>> y, _ = g.forward(x, p)
    >>> bool(torch.allclose(g.inverse(y, p)[0], x))
    True
    """

    def __init__(self, components: int = 8, tol: float = 1e-12) -> None:
        self.components, self.tol = components, tol
        self.params = 3 * components

    def _split(self, p: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        q = p.unflatten(-1, (3, self.components))
        return q[..., 0, :], q[..., 1, :], q[..., 2, :]

    def forward(self, x: Tensor, p: Tensor) -> tuple[Tensor, Tensor]:
        """g(x) and log g′(x)."""
        return dsf(x, *self._split(p))

    def inverse(self, y: Tensor, p: Tensor) -> tuple[Tensor, Tensor]:
        """g⁻¹(y) by bisection, and −log g′ there; differentiable in y and p (one Newton step
        from the root: the implicit-function gradient dx = (dy − ∂g/∂p dp) / g′(x))."""
        params = self._split(p)
        x = monotone_inverse(lambda z: dsf(z, *params)[0], y, tol=self.tol)
        if torch.is_grad_enabled():
            g, log_slope = dsf(x, *params)
            x = x + (y - g) / torch.exp(log_slope).detach()
        return x, -dsf(x, *params)[1]

    def initial_params(self) -> Tensor:
        """a_raw = 0, offsets b spread over [−2, 2], equal weights: smooth and increasing."""
        k = self.components
        return torch.cat([torch.zeros(k), torch.linspace(-2.0, 2.0, k), torch.zeros(k)])


def hidden_sizes(hidden: int | Sequence[int], layers: int | None = None) -> list[int]:
    """``hidden`` as a list of layer sizes: an int means ``layers`` (default 2) layers of that
    size; a sequence is the sizes themselves (``layers``, if given, must be its length)."""
    if isinstance(hidden, int):
        return [hidden] * (2 if layers is None else layers)
    sizes = list(hidden)
    if layers is not None and layers != len(sizes):
        raise ConfigError(f"layers={layers} disagrees with the {len(sizes)} hidden sizes {sizes}")
    return sizes


def start_at(layer: nn.Linear, g: ElementwiseMap, features: int) -> None:
    """Zero ``layer``'s weights and set its bias to ``g.initial_params()`` for each of
    ``features`` features: whatever its input, the map starts where ``g`` says."""
    nn.init.zeros_(layer.weight)
    with torch.no_grad():
        layer.bias.copy_(g.initial_params().repeat(features))


def run_layers(net: nn.Sequential, h: Tensor) -> Tensor:
    """``net(h)`` by each layer's ``forward`` called directly: nn.Module.__call__ (the hook
    machinery) costs more than a small layer on a training batch, and a conditioner's layers are
    an implementation detail that no hook is expected on."""
    for layer in net:
        h = layer.forward(h)
    return h


def conditioner(
    n_in: int,
    n_out_features: int,
    g: ElementwiseMap,
    hidden: int | Sequence[int],
    activation: str = "relu",
) -> nn.Sequential:
    """An MLP ℝ^{n_in} → ℝ^{n_out_features · params} whose last layer starts at zero weights
    and a bias of ``g.initial_params()`` per feature, so the map starts where ``g`` says."""
    net = mlp([n_in, *hidden_sizes(hidden), n_out_features * g.params], activation)
    for layer in net:  # in place, as in MADE: a Linear's output is not kept for its backward
        if isinstance(layer, nn.ReLU):
            layer.inplace = True
    start_at(net[-1], g, n_out_features)
    return net


class Elementwise(Transform):
    """y_i = g(x_i; θ_i): θ free parameters [features, params], or an MLP of the context.

    >>> import torch
    >>> t = Elementwise(2, Sigmoidal(components=3), context=4, hidden=8)
    >>> y, logdet = t(torch.randn(5, 2), torch.randn(5, 4))
    >>> y.shape, logdet.shape
    (torch.Size([5, 2]), torch.Size([5]))
    """

    def __init__(
        self,
        features: int,
        g: ElementwiseMap,
        context: int = 0,
        hidden: int | Sequence[int] = 64,
    ) -> None:
        super().__init__()
        self.features, self.context_features, self.map = features, context, g
        if context:
            self.net = conditioner(context, features, g, hidden)
        else:
            self.params = nn.Parameter(g.initial_params().repeat(features, 1))

    def _params(self, x: Tensor, context: Tensor | None) -> Tensor:
        if context is None:
            return self.params.expand(*x.shape, self.map.params)
        return run_layers(self.net, context).unflatten(-1, (self.features, self.map.params))

    def forward(self, x: Tensor, context: Tensor | None = None) -> tuple[Tensor, Tensor]:
        self.check_context(x, context)
        y, logd = self.map.forward(x, self._params(x, context))
        return y, logd.sum(-1)

    def inverse(self, y: Tensor, context: Tensor | None = None) -> tuple[Tensor, Tensor]:
        self.check_context(y, context)
        x, logd = self.map.inverse(y, self._params(y, context))
        return x, logd.sum(-1)
