"""Monotone rational-quadratic spline with linear tails (Durkan et al. 2019, Neural Spline Flows).

In bin k, with ξ = (x − x_k)/w_k, s_k = h_k/w_k and knot derivatives δ_k, δ_{k+1}:
g(x) = y_k + h_k[s_k ξ² + δ_k ξ(1−ξ)] / [s_k + (δ_{k+1} + δ_k − 2s_k) ξ(1−ξ)], strictly increasing
and C¹ on [−B, B]; outside it g is the identity (boundary derivatives are fixed to 1). The inverse
is the root in [0, 1] of aξ² + bξ + c = 0, ξ = 2c / (−b − √(b² − 4ac)) = (−b + √(b² − 4ac)) / 2a,
evaluated in whichever form has no cancellation (the first for b > 0).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

from deepgen.errors import ConfigError, ShapeError


def _at(t: Tensor, idx: Tensor) -> Tensor:
    """t[..., idx] for an index per element: t is [..., n], idx is [...] → [...]."""
    return t.gather(-1, idx.unsqueeze(-1)).squeeze(-1)


def rational_quadratic(
    inputs: Tensor, knots_x: Tensor, knots_y: Tensor, derivatives: Tensor, inverse: bool = False
) -> tuple[Tensor, Tensor]:
    """The spline on [knots_x[0], knots_x[-1]] only (no tails), element-wise.

    ``knots_x``, ``knots_y`` and ``derivatives`` are [..., K+1] (strictly increasing knot
    positions and positive slopes at the knots) with the leading dims of ``inputs``. Returns
    (g(x), log g′(x)) or, with ``inverse``, (g⁻¹(y), −log g′(g⁻¹(y))). Inputs outside the knot
    range are extrapolated by the end bins' formulas; callers clamp them first.
    """
    bins = knots_x.shape[-1] - 1
    knots = knots_y if inverse else knots_x
    # index of the last knot ≤ input; the right end (and anything past it) belongs to bin K-1
    idx = torch.searchsorted(knots.contiguous(), inputs.unsqueeze(-1).contiguous(), right=True)
    idx = (idx.squeeze(-1) - 1).clamp(0, bins - 1)
    x_k, y_k, d_k = _at(knots_x, idx), _at(knots_y, idx), _at(derivatives, idx)
    x_k1, y_k1, d_k1 = _at(knots_x, idx + 1), _at(knots_y, idx + 1), _at(derivatives, idx + 1)
    return _in_bin(inputs, x_k, x_k1 - x_k, y_k, y_k1 - y_k, d_k, d_k1, inverse)


def _in_bin(
    inputs: Tensor,
    x_k: Tensor,
    w_k: Tensor,
    y_k: Tensor,
    h_k: Tensor,
    d_k: Tensor,
    d_k1: Tensor,
    inverse: bool,
) -> tuple[Tensor, Tensor]:
    """The spline's formulas, given each input's bin: its left knot (x_k, y_k), width w_k,
    height h_k and the slopes d_k, d_k1 at its ends (all the shape of ``inputs``)."""
    s_k = h_k / w_k
    curv = d_k1 + d_k - 2 * s_k

    if inverse:
        dy = inputs - y_k
        a = h_k * (s_k - d_k) + dy * curv
        b = h_k * d_k - dy * curv
        c = -s_k * dy
        # the root in [0, 1] is 2c / (−b − √disc) = (−b + √disc) / (2a); take the form without
        # cancellation: the first when b > 0, else the second (then a = h·s − b ≥ h·s > 0).
        # The divisors of the branch not taken are replaced so that no inf/NaN reaches autograd.
        pos = b > 0
        sq = torch.sqrt((b.square() - 4 * a * c).clamp(min=0))
        q = -(b + torch.where(pos, sq, -sq)) / 2
        xi = torch.where(pos, c / torch.where(pos, q, -1), q / torch.where(pos, 1, a))
        out = x_k + xi * w_k
    else:
        xi = (inputs - x_k) / w_k
    t = xi * (1 - xi)
    den = s_k + curv * t
    num_d = s_k.square() * (d_k1 * xi.square() + 2 * s_k * t + d_k * (1 - xi).square())
    logdet = torch.log(num_d) - 2 * torch.log(den)
    if inverse:
        return out, -logdet
    return y_k + h_k * (s_k * xi.square() + d_k * t) / den, logdet


class RQSpline:
    """Element-wise rational-quadratic spline g on [−bound, bound], identity outside.

    Stateless: the raw parameters ``p`` (shape ``x.shape + (params,)``, e.g. from a conditioner
    network) hold, per element, K raw widths, K raw heights and K−1 raw interior derivatives.
    Widths (and heights) are ``min_width + (1 − K·min_width)·softmax(raw)`` scaled to 2·bound;
    derivatives are ``min_derivative + softplus(raw + c)`` with c chosen so that raw 0 gives 1.
    The end derivatives are 1, so the tails join with continuous value and slope, and all-zero
    parameters give the identity.

    >>> import torch
    >>> from deepgen.flows.spline import RQSpline
    >>> s = RQSpline(bins=4)
    >>> x = torch.linspace(-6, 6, 5)
    >>> y, ld = s.forward(x, s.identity_params().expand(5, s.params))
    >>> torch.allclose(y, x), bool((ld.abs() < 1e-6).all())
    (True, True)
    >>> p = torch.linspace(-2, 2, s.params).expand(5, s.params)
    >>> y, ld = s.forward(x, p)
    >>> x2, ld2 = s.inverse(y, p)
    >>> bool((y.diff() > 0).all()), torch.allclose(x2, x, atol=1e-5), torch.allclose(ld2, -ld)
    (True, True, True)
    """

    def __init__(
        self,
        bins: int = 8,
        bound: float = 5.0,
        min_width: float = 1e-3,
        min_height: float = 1e-3,
        min_derivative: float = 1e-3,
    ) -> None:
        if isinstance(bins, bool) or not isinstance(bins, int) or bins < 1:
            raise ConfigError(f"spline bins must be an integer >= 1, got {bins!r}")
        if not (math.isfinite(bound) and bound > 0):
            raise ConfigError(f"spline bound must be positive and finite, got {bound!r}")
        for name, m in (("min_width", min_width), ("min_height", min_height)):
            if not (m > 0 and m * bins < 1):
                raise ConfigError(
                    f"spline {name} must be in (0, 1/bins) = (0, {1 / bins:g}), got {m!r}"
                )
        if not 0 < min_derivative < 1:
            raise ConfigError(f"spline min_derivative must be in (0, 1), got {min_derivative!r}")
        self.bins, self.bound = bins, float(bound)
        self.min_width, self.min_height = float(min_width), float(min_height)
        self.min_derivative = float(min_derivative)
        self.params: int = 3 * bins - 1
        # softplus(c) = 1 - min_derivative, so a raw derivative of 0 gives slope exactly 1
        self._shift = math.log(math.expm1(1 - self.min_derivative))

    def __repr__(self) -> str:
        return f"RQSpline(bins={self.bins}, bound={self.bound:g})"

    def identity_params(self) -> Tensor:
        """Raw parameters [params] (float32) for which g is the identity: all zeros."""
        return torch.zeros(self.params)

    def initial_params(self) -> Tensor:
        """What a conditioner starts at: the identity (see :meth:`identity_params`)."""
        return self.identity_params()

    def _tables(self, q: Tensor) -> tuple[Tensor, Tensor]:
        """Knot positions [2, K+1, M] (x, then y) and knot slopes [K+1, M] from raw parameters
        q [params, M], one column per element.

        Bins run along the first dimension and elements along the contiguous last one: torch's
        CPU softmax (and any reduction) over a short last dimension is several times slower."""
        k, b = self.bins, self.bound
        soft = torch.softmax(q[: 2 * k].view(2, k, -1), dim=1)
        if self.min_width == self.min_height:
            least: float | Tensor = self.min_width
        else:
            least = soft.new_tensor([self.min_width, self.min_height]).view(2, 1, 1)
        sizes = least + (1 - k * least) * soft
        # interior knots from the first K-1 sizes; the ends are exactly ±bound, whatever the
        # rounding in the cumulative sum (concatenated: F.pad would fill its whole output first)
        inner = torch.cumsum(sizes[:, :-1], dim=1) * (2 * b) - b
        end = inner.new_full((2, 1, inner.shape[-1]), b)
        knots = torch.cat([-end, inner, end], dim=1)
        slopes = self.min_derivative + F.softplus(q[2 * k :] + self._shift)
        one = slopes.new_ones((1, slopes.shape[-1]))
        return knots, torch.cat([one, slopes, one])

    def _columns(self, p: Tensor) -> Tensor:
        """Raw parameters [..., params] as a contiguous [params, M], M = their leading size."""
        return p.movedim(-1, 0).reshape(self.params, -1).contiguous()

    def _check(self, p: Tensor) -> None:
        if p.shape[-1:] != (self.params,):
            raise ShapeError(
                f"spline parameters must end in {self.params} (3*bins-1), got {list(p.shape)}"
            )

    def knots(self, p: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """(knots_x, knots_y, derivatives), each [..., K+1], from raw parameters [..., params]."""
        self._check(p)
        knots, slopes = self._tables(self._columns(p))
        shape = (*p.shape[:-1], self.bins + 1)
        return knots[0].T.reshape(shape), knots[1].T.reshape(shape), slopes.T.reshape(shape)

    def _apply(self, z: Tensor, p: Tensor, inverse: bool) -> tuple[Tensor, Tensor]:
        self._check(p)
        try:
            p = p.to(z.dtype).expand(*z.shape, self.params)
        except RuntimeError:
            raise ShapeError(
                f"spline parameters {list(p.shape)} do not match input {list(z.shape)} + "
                f"[{self.params}]"
            ) from None
        knots, slopes = self._tables(self._columns(p))
        flat = z.reshape(-1)
        inside = flat.abs() <= self.bound
        zc = flat.clamp(-self.bound, self.bound)
        # the bin of each input: how many interior knots lie at or below it (0 … K-1)
        idx = (knots[int(inverse), 1:-1] <= zc).sum(0, keepdim=True)
        ends = torch.cat([idx, idx + 1])  # [2, M]: the knots left and right of the input
        x_k, x_k1 = knots[0].gather(0, ends)
        y_k, y_k1 = knots[1].gather(0, ends)
        d_k, d_k1 = slopes.gather(0, ends)
        out, logdet = _in_bin(zc, x_k, x_k1 - x_k, y_k, y_k1 - y_k, d_k, d_k1, inverse)
        out = torch.where(inside, out, flat).view(z.shape)
        return out, torch.where(inside, logdet, 0.0).view(z.shape)

    def forward(self, x: Tensor, p: Tensor) -> tuple[Tensor, Tensor]:
        """y = g(x) and log g′(x) element-wise (shape of x).

        ``p`` is ``x.shape + (params,)`` (leading dims that broadcast to ``x.shape`` also work);
        it is cast to the dtype of ``x``, in which everything is computed.
        """
        return self._apply(x, p, inverse=False)

    def inverse(self, y: Tensor, p: Tensor) -> tuple[Tensor, Tensor]:
        """x = g⁻¹(y) (analytic root) and log (g⁻¹)′(y) = −log g′(x), element-wise."""
        return self._apply(y, p, inverse=True)
