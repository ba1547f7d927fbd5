"""Multi-scale image flows (RealNVP, Dinh et al. 2017; Glow, Kingma & Dhariwal 2018).

Every transform here works on flat vectors [batch, C·H·W] (an image flattened channel-major,
``x.view(batch, C, H, W)``) and knows its image shape, so it composes with every other deepgen
transform and with :class:`~deepgen.flows.flow.Flow`:

* :class:`Squeeze`: space to depth, (C, H, W) → (4C, H/2, W/2); a permutation, log|det J| = 0.
* :class:`ActNorm2d`: y = (x − b_c)·exp(−s_c) per channel; log|det J| = −H·W·Σ_c s_c.
* :class:`InvertibleConv1x1`: y = W x at every pixel, W = P L (U + diag(sign·exp(log|s|)));
  log|det J| = H·W·Σ log|s|.
* :class:`ConvCoupling`: y_b = g(x_b; θ(x_a)) with θ a convolutional residual network of the
  other half x_a (a channel split or a checkerboard); log|det J| = Σ_b log g′.
* :class:`MultiScale`: levels of Squeeze → steps × (ActNorm2d, InvertibleConv1x1, ConvCoupling),
  half of the channels factored out after each level.
* :class:`ImageFlow`: a :class:`~deepgen.flows.flow.Flow` of a Logit then a MultiScale over
  N(0, I), for dequantized images y ∈ [0, 1)^{C·H·W} (:mod:`deepgen.flows.dequantization`).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from deepgen.errors import ConfigError, ShapeError
from deepgen.flows.actnorm import ActNorm
from deepgen.flows.base import Compose, Transform, checking_values
from deepgen.flows.bounded import Logit
from deepgen.flows.elementwise import Affine, ElementwiseMap
from deepgen.flows.flow import Flow
from deepgen.flows.spline import RQSpline

Shape = tuple[int, int, int]
MAPS = ("affine", "spline")
MASKS = ("channel", "checkerboard")


def image_shape(shape: Sequence[int]) -> Shape:
    """``shape`` as a (C, H, W) tuple of positive ints; a one-line ShapeError otherwise."""
    dims = tuple(shape)
    if len(dims) != 3 or not all(isinstance(d, int) and d > 0 for d in dims):
        raise ShapeError(f"an image shape is (channels, height, width) > 0, got {dims!r}")
    return dims  # type: ignore[return-value]


def _as_image(x: Tensor, shape: Shape, name: str) -> Tensor:
    """The flat [batch, C·H·W] input viewed as [batch, C, H, W]."""
    c, h, w = shape
    if x.dim() != 2 or x.shape[1] != c * h * w:
        raise ShapeError(
            f"{name} on {c}×{h}×{w} images takes [batch, {c * h * w}] vectors, got {list(x.shape)}"
        )
    return x.reshape(x.shape[0], c, h, w)


def _element_map(name: str, bins: int, bound: float, scale_bound: float) -> ElementwiseMap:
    if name == "affine":
        return Affine(scale_bound)
    if name == "spline":
        return RQSpline(bins, bound)
    raise ConfigError(f"unknown coupling map {name!r}; choose from {', '.join(MAPS)}")


class Squeeze(Transform):
    """Space to depth: out[c·4 + 2i + j, h, w] = in[c, 2h + i, 2w + j] (as
    ``F.pixel_unshuffle(x, 2)``), (C, H, W) → (4C, H/2, W/2); a permutation, log|det J| = 0.

    >>> import torch
    >>> t = Squeeze((1, 4, 4))
    >>> t.out_shape
    (4, 2, 2)
    >>> y, logdet = t(torch.arange(16.0).view(1, 16))
    >>> y.view(4, 2, 2)[:, 0, 0].tolist(), logdet.tolist()
    ([0.0, 1.0, 4.0, 5.0], [0.0])
    """

    zero_logdet = True

    def __init__(self, shape: Sequence[int]) -> None:
        super().__init__()
        c, h, w = self.shape = image_shape(shape)
        if h % 2 or w % 2:
            raise ShapeError(f"Squeeze needs an even height and width, got a {c}×{h}×{w} image")
        self.features = c * h * w
        self.out_shape: Shape = (4 * c, h // 2, w // 2)

    def forward(self, x: Tensor, context: Tensor | None = None) -> tuple[Tensor, Tensor]:
        self.check_context(x, context)
        y = F.pixel_unshuffle(_as_image(x, self.shape, "Squeeze"), 2)
        return y.reshape(x.shape[0], -1), x.new_zeros(x.shape[0])

    def inverse(self, y: Tensor, context: Tensor | None = None) -> tuple[Tensor, Tensor]:
        self.check_context(y, context)
        x = F.pixel_shuffle(_as_image(y, self.out_shape, "Squeeze.inverse"), 2)
        return x.reshape(y.shape[0], -1), y.new_zeros(y.shape[0])


class ActNorm2d(ActNorm):
    """Per-channel ActNorm: y = (x − b_c)·exp(−s_c) at every pixel, log|det J| = −H·W·Σ_c s_c.

    The first forward batch sets b_c and s_c to the mean and log standard deviation of channel c
    over the batch and the pixels (the ``initialized`` buffer records it, as in
    :class:`~deepgen.flows.actnorm.ActNorm`).

    >>> import torch
    >>> t = ActNorm2d((2, 3, 3))
    >>> y, logdet = t(5 + 2 * torch.randn(100, 18))
    >>> bool(t.initialized), y.view(100, 2, 9).mean((0, 2)).abs().max().item() < 1e-5
    (True, True)
    """

    def __init__(self, shape: Sequence[int], eps: float = 1e-6) -> None:
        c, h, w = image_shape(shape)
        super().__init__(c, eps)
        self.shape, self.pixels = (c, h, w), h * w
        self.features = c * h * w

    def _channels(self, x: Tensor) -> Tensor:
        return _as_image(x, self.shape, type(self).__name__).reshape(x.shape[0], self.shape[0], -1)

    @torch.no_grad()
    def initialize(self, x: Tensor) -> None:
        """b_c = mean, s_c = log std (floored at ``eps``) of channel c over batch and pixels."""
        # every pixel of every image is one observation of its channel
        super().initialize(self._channels(x).transpose(1, 2).reshape(-1, self.shape[0]))

    def forward(self, x: Tensor, context: Tensor | None = None) -> tuple[Tensor, Tensor]:
        self.check_context(x, context)
        if checking_values() and not bool(self.initialized):  # compiled: started before
            self.initialize(x)
        h = self._channels(x)
        y = (h - self.loc[:, None]) * torch.exp(-self.log_scale)[:, None]
        return y.reshape(x.shape), (-self.pixels * self.log_scale.sum()).expand(x.shape[0])

    def inverse(self, y: Tensor, context: Tensor | None = None) -> tuple[Tensor, Tensor]:
        self.check_context(y, context)
        h = self._channels(y)
        x = h * torch.exp(self.log_scale)[:, None] + self.loc[:, None]
        return x.reshape(y.shape), (self.pixels * self.log_scale.sum()).expand(y.shape[0])


class InvertibleConv1x1(Transform):
    """Glow's invertible 1×1 convolution: y[:, h, w] = W x[:, h, w] with, in LU form,
    W = P L (U + diag(sign·exp(log|s|))), P a fixed permutation, L unit lower-triangular, U
    strictly upper, sign fixed; log|det J| = H·W·Σ log|s|. The inverse applies W⁻¹ from two
    triangular solves. W starts as a random rotation drawn from ``seed``.

    >>> import torch
    >>> t = InvertibleConv1x1((3, 2, 2), seed=1).double()
    >>> x = torch.randn(4, 12, dtype=torch.float64)
    >>> y, logdet = t(x)
    >>> bool(torch.allclose(t.inverse(y)[0], x)), bool(logdet.abs().max() < 1e-6)  # a rotation
    (True, True)
    """

    perm: Tensor
    sign: Tensor

    def __init__(self, shape: Sequence[int], seed: int = 0) -> None:
        super().__init__()
        c, h, w = self.shape = image_shape(shape)
        self.features, self.pixels = c * h * w, h * w
        g = torch.Generator().manual_seed(seed)
        q, r = torch.linalg.qr(torch.randn(c, c, generator=g, dtype=torch.float64))
        q = q * torch.sign(torch.diagonal(r))  # a uniformly random orthogonal matrix
        p, lower, upper = torch.linalg.lu(q)
        s = torch.diagonal(upper)
        self.register_buffer("perm", p.float())
        self.register_buffer("sign", torch.sign(s).float())
        self.lower = nn.Parameter(torch.tril(lower, -1).float())
        self.upper = nn.Parameter(torch.triu(upper, 1).float())
        self.log_abs_s = nn.Parameter(torch.log(s.abs()).float())

    def _factors(self) -> tuple[Tensor, Tensor]:
        eye = torch.eye(self.shape[0], dtype=self.lower.dtype, device=self.lower.device)
        lower = torch.tril(self.lower, -1) + eye
        upper = torch.triu(self.upper, 1) + torch.diag(self.sign * torch.exp(self.log_abs_s))
        return lower, upper

    def weight(self) -> Tensor:
        """W = P L (U + diag(sign·exp(log|s|))), [C, C]."""
        lower, upper = self._factors()
        return self.perm @ lower @ upper

    def inverse_weight(self) -> Tensor:
        """W⁻¹ = (U + diag s)⁻¹ L⁻¹ Pᵀ, by two triangular solves."""
        lower, upper = self._factors()
        a = torch.linalg.solve_triangular(lower, self.perm.T, upper=False, unitriangular=True)
        return torch.linalg.solve_triangular(upper, a, upper=True)

    def _multiply(self, m: Tensor, x: Tensor) -> Tensor:
        h = _as_image(x, self.shape, type(self).__name__).reshape(x.shape[0], self.shape[0], -1)
        return torch.matmul(m, h).reshape(x.shape)

    def forward(self, x: Tensor, context: Tensor | None = None) -> tuple[Tensor, Tensor]:
        self.check_context(x, context)
        logdet = self.pixels * self.log_abs_s.sum()
        return self._multiply(self.weight(), x), logdet.expand(x.shape[0])

    def inverse(self, y: Tensor, context: Tensor | None = None) -> tuple[Tensor, Tensor]:
        self.check_context(y, context)
        logdet = -self.pixels * self.log_abs_s.sum()
        return self._multiply(self.inverse_weight(), y), logdet.expand(y.shape[0])


class _ResNet(nn.Module):
    """3×3 conv → ``blocks`` × (h + conv(ReLU(conv(ReLU(h))))) → ReLU → 3×3 conv whose weights
    are zero and whose bias is ``bias`` (so the output starts as that constant)."""

    def __init__(self, n_in: int, n_out: int, hidden: int, blocks: int, bias: Tensor) -> None:
        super().__init__()
        self.inp = nn.Conv2d(n_in, hidden, 3, padding=1)
        self.blocks = nn.ModuleList(
            nn.Sequential(
                nn.ReLU(),
                nn.Conv2d(hidden, hidden, 3, padding=1),
                nn.ReLU(inplace=True),
                nn.Conv2d(hidden, hidden, 3, padding=1),
            )
            for _ in range(blocks)
        )
        self.out = nn.Conv2d(hidden, n_out, 3, padding=1)
        nn.init.zeros_(self.out.weight)
        with torch.no_grad():
            self.out.bias.copy_(bias)

    def forward(self, h: Tensor) -> Tensor:
        h = self.inp(h)
        for block in self.blocks:
            h = h + block(h)
        return self.out(torch.relu(h))


class ConvCoupling(Transform):
    """y_a = x_a, y_b = g(x_b; θ(x_a, c)), log|det J| = Σ_b log g′(x_b): g is ``map`` ("affine":
    x·exp(s) + t with s soft-clamped to ±``scale_bound``; "spline": a rational-quadratic spline
    with ``bins`` bins on [−bound, bound]), θ a convolutional residual network (3×3 convs,
    ``blocks`` residual blocks of ``hidden`` channels, last layer zero so the coupling starts
    as the identity).

    ``mask="channel"``: x_a is the first ⌈C/2⌉ channels (the last ⌈C/2⌉ with ``swap``);
    ``mask="checkerboard"``: x_a is the pixels with h + w even (odd with ``swap``), fed to the
    network with the other pixels zeroed plus the mask as one more channel. With
    ``context_channels`` > 0 the network also sees a context image of that many channels
    (flattened: context_features = context_channels·H·W).

    >>> import torch
    >>> t = ConvCoupling((2, 4, 4), hidden=8, blocks=1, map="spline", mask="checkerboard")
    >>> x = torch.randn(3, 32)
    >>> y, logdet = t(x)
    >>> y.shape, logdet.shape
    (torch.Size([3, 32]), torch.Size([3]))
    >>> bool(torch.allclose(y, x, atol=1e-5))  # it starts as the identity
    True
    """

    changed: Tensor

    def __init__(
        self,
        shape: Sequence[int],
        hidden: int = 64,
        blocks: int = 2,
        map: str = "affine",
        mask: str = "channel",
        swap: bool = False,
        context_channels: int = 0,
        bins: int = 8,
        bound: float = 5.0,
        scale_bound: float = 5.0,
    ) -> None:
        super().__init__()
        c, h, w = self.shape = image_shape(shape)
        if mask not in MASKS:
            raise ConfigError(f"unknown coupling mask {mask!r}; choose from {', '.join(MASKS)}")
        if hidden < 1 or blocks < 0 or context_channels < 0:
            raise ConfigError(
                f"ConvCoupling needs hidden >= 1, blocks >= 0 and context_channels >= 0, got "
                f"{hidden}, {blocks} and {context_channels}"
            )
        self.map = _element_map(map, bins, bound, scale_bound)
        self.mask, self.swap, self.context_channels = mask, swap, context_channels
        self.features, self.context_features = c * h * w, context_channels * h * w
        params = self.map.params
        if mask == "channel":
            if c < 2:
                raise ShapeError(
                    f"a channel coupling needs at least 2 channels, got a {c}×{h}×{w} image "
                    "(squeeze first, or use mask='checkerboard')"
                )
            self.n_b = c // 2 if swap else c - (c + 1) // 2
            self.n_a = c - self.n_b
            n_in, n_out = self.n_a + context_channels, self.n_b * params
            bias = self.map.initial_params().repeat(self.n_b)
        else:
            self.n_a = self.n_b = c
            parity = (torch.arange(h)[:, None] + torch.arange(w)) % 2
            self.register_buffer("changed", parity == (0 if swap else 1))
            n_in, n_out = c + 1 + context_channels, c * params
            bias = self.map.initial_params().repeat(c)
        self.net = _ResNet(n_in, n_out, hidden, blocks, bias)

    def _context(self, h: Tensor, context: Tensor | None) -> list[Tensor]:
        if context is None:
            return []
        return [context.reshape(h.shape[0], self.context_channels, *self.shape[1:])]

    def _params(self, net_in: list[Tensor], n: int) -> Tensor:
        out = self.net(torch.cat(net_in, 1) if len(net_in) > 1 else net_in[0])
        return out.unflatten(1, (n, self.map.params)).movedim(2, -1)

    def _couple(self, x: Tensor, context: Tensor | None, inverse: bool) -> tuple[Tensor, Tensor]:
        self.check_context(x, context)
        h = _as_image(x, self.shape, type(self).__name__)
        g = self.map.inverse if inverse else self.map.forward
        if self.mask == "channel":
            if self.swap:
                b, a = h.split((self.n_b, self.n_a), 1)
            else:
                a, b = h.split((self.n_a, self.n_b), 1)
            out_b, logd = g(b, self._params([a, *self._context(h, context)], self.n_b))
            out = torch.cat((out_b, a) if self.swap else (a, out_b), 1)
            return out.reshape(x.shape), logd.flatten(1).sum(1)
        keep = (~self.changed).to(h.dtype)
        net_in = [h * keep, keep.expand(h.shape[0], 1, *self.shape[1:]), *self._context(h, context)]
        moved, logd = g(h, self._params(net_in, self.n_b))
        out = torch.where(self.changed, moved, h)
        return out.reshape(x.shape), torch.where(self.changed, logd, 0.0).flatten(1).sum(1)

    def forward(self, x: Tensor, context: Tensor | None = None) -> tuple[Tensor, Tensor]:
        return self._couple(x, context, inverse=False)

    def inverse(self, y: Tensor, context: Tensor | None = None) -> tuple[Tensor, Tensor]:
        return self._couple(y, context, inverse=True)


class MultiScale(Transform):
    """The RealNVP/Glow multi-scale architecture as one transform on [batch, C·H·W].

    Level l (l = 1 … L) squeezes its input (C_l, H_l, W_l) to (4C_l, H_l/2, W_l/2) and applies
    ``steps`` × (ActNorm2d, InvertibleConv1x1, ConvCoupling); before the last level it factors
    out the last half of the channels, z_l, and passes the first half on. Output order (the
    flat vector that goes to the N(0, I) base): [z_1, z_2, …, z_{L−1}, h_L], each block an image
    flattened channel-major, h_L the whole output of level L; ``out_shapes`` lists the blocks'
    (C, H, W) and :meth:`unflatten` splits a vector into them. log|det J| is the levels' sum
    (Squeeze and the split are permutations).

    Every squeeze needs an even height and width: (1, 28, 28) allows 2 levels (28 → 14 → 7),
    (1, 14, 14) one. Couplings alternate ``swap`` from step to step.

    >>> import torch
    >>> t = MultiScale((1, 8, 8), levels=2, steps=1, hidden=8, blocks=1)
    >>> t.out_shapes
    [(2, 4, 4), (8, 2, 2)]
    >>> z, logdet = t(torch.randn(5, 64))
    >>> z.shape, logdet.shape
    (torch.Size([5, 64]), torch.Size([5]))
    """

    def __init__(
        self,
        shape: Sequence[int] = (1, 28, 28),
        levels: int = 2,
        steps: int = 4,
        hidden: int = 64,
        blocks: int = 2,
        map: str = "affine",
        mask: str = "channel",
        seed: int = 0,
        bins: int = 8,
        bound: float = 5.0,
        scale_bound: float = 5.0,
    ) -> None:
        super().__init__()
        self.shape = image_shape(shape)
        if levels < 1 or steps < 1:
            raise ConfigError(f"MultiScale needs levels >= 1 and steps >= 1, got {levels}, {steps}")
        self.features = self.shape[0] * self.shape[1] * self.shape[2]
        stages: list[Compose] = []
        self.out_shapes: list[Shape] = []
        c, h, w = self.shape
        for level in range(levels):
            if h % 2 or w % 2:
                raise ShapeError(
                    f"MultiScale level {level + 1} of {levels} cannot squeeze a {c}×{h}×{w} image "
                    "(odd height or width): use fewer levels"
                )
            squeeze = Squeeze((c, h, w))
            inner = squeeze.out_shape
            layers: list[Transform] = [squeeze]
            for step in range(steps):
                layers += [
                    ActNorm2d(inner),
                    InvertibleConv1x1(inner, seed=seed + level * steps + step),
                    ConvCoupling(
                        inner,
                        hidden,
                        blocks,
                        map,
                        mask,
                        swap=bool(step % 2),
                        bins=bins,
                        bound=bound,
                        scale_bound=scale_bound,
                    ),
                ]
            stages.append(Compose(layers))
            c, h, w = inner
            if level < levels - 1:
                c //= 2  # 4·C_l is even: half out, half on
                self.out_shapes.append((c, h, w))
        self.out_shapes.append((c, h, w))
        self.stages = nn.ModuleList(stages)
        self.sizes = [a * b * d for a, b, d in self.out_shapes]

    def unflatten(self, z: Tensor) -> list[Tensor]:
        """The output vector [batch, features] as its blocks [batch, C, H, W], in output order."""
        if z.dim() != 2 or z.shape[1] != self.features:
            raise ShapeError(
                f"MultiScale outputs are [batch, {self.features}], got {list(z.shape)}"
            )
        parts = z.split(self.sizes, 1)
        return [p.reshape(z.shape[0], *s) for p, s in zip(parts, self.out_shapes, strict=True)]

    def forward(self, x: Tensor, context: Tensor | None = None) -> tuple[Tensor, Tensor]:
        self.check_context(x, context)
        if x.dim() != 2 or x.shape[1] != self.features:
            raise ShapeError(f"MultiScale takes [batch, {self.features}], got {list(x.shape)}")
        n = x.shape[0]
        outs: list[Tensor] = []
        total = x.new_zeros(n)
        for i, stage in enumerate(self.stages):
            x, ld = stage(x)
            total = total + ld
            if i < len(self.stages) - 1:
                keep, out = x.view(n, 2, -1).unbind(1)  # channel halves, channel-major
                outs.append(out)
                x = keep
        outs.append(x)
        return torch.cat(outs, 1), total

    def inverse(self, y: Tensor, context: Tensor | None = None) -> tuple[Tensor, Tensor]:
        self.check_context(y, context)
        if y.dim() != 2 or y.shape[1] != self.features:
            raise ShapeError(f"MultiScale takes [batch, {self.features}], got {list(y.shape)}")
        n = y.shape[0]
        parts = y.split(self.sizes, 1)
        x = parts[-1]
        total = y.new_zeros(n)
        for i in reversed(range(len(self.stages))):
            if i < len(self.stages) - 1:
                x = torch.cat((x, parts[i]), 1)  # first half kept, last half factored out
            x, ld = self.stages[i].inverse(x)
            total = total + ld
        return x, total


class ImageFlow(Flow):
    """A multi-scale image flow: p(y) for y ∈ [0, 1]^{C·H·W}, z = MultiScale(logit(α + (1 −
    2α)y)) ~ N(0, I); log p(y) = log N(z) + log|det J_logit| + log|det J_MultiScale|.

    Train it on dequantized images (:func:`~deepgen.flows.dequantization.uniform_dequantize`)
    and report :func:`~deepgen.flows.dequantization.dequantized_nll`.

    >>> import torch
    >>> flow = ImageFlow((1, 8, 8), levels=2, steps=1, hidden=8, blocks=1)
    >>> flow.log_prob(torch.rand(3, 64)).shape
    torch.Size([3])
    """

    def __init__(
        self,
        shape: Sequence[int] = (1, 28, 28),
        levels: int = 2,
        steps: int = 4,
        hidden: int = 64,
        blocks: int = 2,
        map: str = "affine",
        mask: str = "channel",
        alpha: float = 1e-4,
        seed: int = 0,
    ) -> None:
        ms = MultiScale(shape, levels, steps, hidden, blocks, map, mask, seed)
        super().__init__([Logit(ms.features, alpha=alpha), ms])
        self.shape = ms.shape

    @property
    def multiscale(self) -> MultiScale:
        """The MultiScale part (after the Logit)."""
        return self.transform.transforms[1]  # type: ignore[index,return-value]
