"""PixelCNN and Gated PixelCNN for binary images (van den Oord et al., 2016).

Each pixel is a Bernoulli variable whose logit is computed from the pixels before it in the
ordering of the mask convention (:mod:`deepgen.autoregressive.masks`), so

    log p(x) = Σ_i log p(x_i | x_<i) = Σ_i x_i l_i − softplus(l_i),   l = network(x),

exactly, in one pass. Sampling draws the pixels one at a time in the same order.

* :class:`PixelCNN`: a type-A k₀×k₀ masked convolution, then residual type-B k×k layers
  h ← h + conv(ReLU(h)), then a 1×1 head. Stacking masked convolutions leaves a *blind spot*
  (see :mod:`deepgen.autoregressive.receptive_field`).
* :class:`GatedPixelCNN`: a vertical stack (the rows on the convention's side, shifted one row
  so it never sees the current row) feeding a horizontal stack (the current row, to the left),
  with gates tanh(a) ∘ σ(b). Its receptive field has no blind spot.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from deepgen.autoregressive.masks import (
    channel_mask,
    check_convention,
    check_kernel_size,
    horizontal_stack_mask,
    ordering,
    row_step,
    vertical_stack_mask,
)
from deepgen.distributions import bernoulli_log_likelihood, check_binary
from deepgen.errors import ConfigError, ShapeError

Progress = Callable[[Iterable[Any]], Iterable[Any]]


class MaskedConv2d(nn.Conv2d):
    """Cross-correlation with weight W ∘ M and zero padding (kh//2, kw//2): out(p) reads only the
    input offsets (and colour groups) kept by the mask M."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int = 3,
        kind: str = "B",
        convention: str = "pixelcnn",
        colors: int = 1,
        spatial: Tensor | None = None,
        bias: bool = True,
    ) -> None:
        mask = channel_mask(
            kind, kernel_size, in_channels, out_channels, convention, colors, spatial
        )
        kh, kw = mask.shape[-2:]
        super().__init__(in_channels, out_channels, (kh, kw), padding=(kh // 2, kw // 2), bias=bias)
        self.kind, self.convention = kind, convention
        self.register_buffer("mask", mask.to(self.weight.dtype))

    def forward(self, x: Tensor) -> Tensor:
        return self._conv_forward(x, self.weight * self.mask, self.bias)


def conv_rows(
    conv: MaskedConv2d, t: Tensor, have: tuple[int, int], want: tuple[int, int]
) -> Tensor:
    """``conv`` applied to a band of rows: ``t`` holds the input rows ``have`` = [lo, hi]
    (absolute, inclusive) and the result is the output rows ``want``, computed only there.

    The zero rows padded in stand either for the image's own zero padding or for rows the mask
    does not read, which the callers guarantee by choosing ``have`` to cover the reach."""
    m = conv.kernel_size[0] // 2
    top, bottom = have[0] - (want[0] - m), (want[1] + m) - have[1]
    if top < 0 or bottom < 0:
        raise ShapeError(f"rows {have} do not cover the input of rows {want}")
    t = F.pad(t, (0, 0, top, bottom))
    return F.conv2d(t, conv.weight * conv.mask, conv.bias, padding=(0, conv.padding[1]))


@dataclass(frozen=True)
class PixelCNNConfig:
    """Architecture: ``layers`` masked layers in all (the first of type A with a
    ``first_kernel`` kernel, the rest type B with ``kernel``), ``channels`` feature maps."""

    height: int = 14
    width: int = 14
    channels: int = 32
    layers: int = 6
    kernel: int = 3
    first_kernel: int = 7
    convention: str = "pixelcnn"
    gated: bool = False

    def __post_init__(self) -> None:
        for name in ("height", "width", "channels", "layers"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be >= 1, got {getattr(self, name)}")
        check_kernel_size(self.kernel)
        check_kernel_size(self.first_kernel)
        check_convention(self.convention)

    @property
    def kernels(self) -> list[int]:
        """Kernel size of each masked layer."""
        return [self.first_kernel] + [self.kernel] * (self.layers - 1)

    @property
    def masks(self) -> list[str]:
        """Mask type of each masked layer (of the horizontal stack when gated)."""
        return ["A"] + ["B"] * (self.layers - 1)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able dict (round-trips through ``PixelCNNConfig(**d)``)."""
        return asdict(self)


class _Autoregressive(nn.Module):
    """Shared likelihood code: ``forward`` maps images [B, 1, H, W] to logits of the same shape."""

    config: PixelCNNConfig

    @property
    def vertical_reach(self) -> int:
        """Rows on the convention's side an output row can depend on (through any path)."""
        raise NotImplementedError

    def forward_row(self, x: Tensor, row: int) -> Tensor:
        """Logits [B, W] of one row, computing only what that row needs."""
        raise NotImplementedError

    def _as_images(self, x: Tensor) -> Tensor:
        h, w = self.config.height, self.config.width
        if x.ndim == 2 and x.shape[1] == h * w:
            return x.view(-1, 1, h, w)
        if x.ndim == 4 and tuple(x.shape[1:]) == (1, h, w):
            return x
        raise ShapeError(
            f"expected images [batch, {h * w}] or [batch, 1, {h}, {w}], got {list(x.shape)}"
        )

    def conditionals(self, x: Tensor, validate: bool = True) -> Tensor:
        """log p(x_i | x_<i) for every pixel, ``[batch, H, W]``."""
        images = self._as_images(x)
        if validate:
            check_binary(images)
        logits = self(images)
        return (images * logits - F.softplus(logits)).squeeze(1)

    def log_prob(self, x: Tensor, validate: bool = True) -> Tensor:
        """Exact log p(x) = Σ_i log p(x_i | x_<i) in nats, ``[batch]``."""
        images = self._as_images(x)
        logits = self(images)
        return bernoulli_log_likelihood(logits.flatten(1), images.flatten(1), validate)

    def loss(self, x: Tensor, validate: bool = True) -> Tensor:
        """Mean negative log-likelihood, nats per image: Σ BCE(l, x) / batch (one fused kernel,
        equal to −mean log_prob)."""
        images = self._as_images(x)
        if validate:
            check_binary(images)
        logits = self(images)
        return F.binary_cross_entropy_with_logits(logits, images, reduction="sum") / len(images)


class PixelCNN(_Autoregressive):
    """Masked-convolution PixelCNN with a Bernoulli per pixel."""

    def __init__(self, config: PixelCNNConfig | None = None) -> None:
        super().__init__()
        cfg = config or PixelCNNConfig()
        if cfg.gated:
            raise ConfigError("PixelCNNConfig(gated=True) builds a GatedPixelCNN; use build_model")
        self.config = cfg
        c, conv = cfg.channels, cfg.convention
        self.first = MaskedConv2d(1, c, cfg.first_kernel, "A", conv)
        self.hidden = nn.ModuleList(
            MaskedConv2d(c, c, cfg.kernel, "B", conv) for _ in range(cfg.layers - 1)
        )
        self.head = nn.Sequential(nn.ReLU(), nn.Conv2d(c, c, 1), nn.ReLU(), nn.Conv2d(c, 1, 1))

    @property
    def vertical_reach(self) -> int:
        return sum(k // 2 for k in self.config.kernels)

    def forward(self, x: Tensor) -> Tensor:
        """Logits [B, 1, H', W'] of images [B, 1, H', W'] (any size: crops too)."""
        h = self.first(x)
        for layer in self.hidden:
            h = h + layer(F.relu(h))
        return self.head(h)

    def forward_row(self, x: Tensor, row: int) -> Tensor:
        """Logits [B, W] of one row of images [B, 1, H, W], each layer computed only on the rows
        that the row can still read through the layers after it (the band shrinks to the row)."""
        height, step = x.shape[2], row_step(self.config.convention)
        reach = [k // 2 for k in self.config.kernels]

        def band(r: int) -> tuple[int, int]:
            return (max(0, row - r), row) if step < 0 else (row, min(height - 1, row + r))

        have = band(sum(reach))
        h = x[:, :, have[0] : have[1] + 1]
        for i, conv in enumerate([self.first, *self.hidden]):
            want = band(sum(reach[i + 1 :]))
            out = conv_rows(conv, h if i == 0 else F.relu(h), have, want)
            h = out if i == 0 else h[:, :, want[0] - have[0] : want[1] - have[0] + 1] + out
            have = want
        return self.head(h)[:, 0, 0]


def _gate(t: Tensor) -> Tensor:
    a, b = t.chunk(2, dim=1)
    return torch.tanh(a) * torch.sigmoid(b)


class GatedLayer(nn.Module):
    """One gated layer: v' = gate(V ⋆ v); h' = [h +] W₁(gate(H ⋆ h + L(shift(V ⋆ v))))."""

    def __init__(
        self,
        in_channels: int,
        channels: int,
        kernel: int,
        kind: str,
        convention: str,
        residual: bool = True,
    ) -> None:
        super().__init__()
        if residual and in_channels != channels:
            raise ConfigError(f"a residual layer needs in_channels == channels ({channels})")
        self.residual = residual
        self.step = row_step(convention)
        self.vertical = MaskedConv2d(
            in_channels, 2 * channels, spatial=vertical_stack_mask(kernel, convention)
        )
        self.horizontal = MaskedConv2d(
            in_channels, 2 * channels, kind=kind, spatial=horizontal_stack_mask(kind, kernel)
        )
        self.link = nn.Conv2d(2 * channels, 2 * channels, 1)
        self.out = nn.Conv2d(channels, channels, 1)

    def shift(self, t: Tensor) -> Tensor:
        """Move the vertical stack one row away from the rows it reads: row r gets row r − 1
        (pixelcnn) or r + 1 (seed), zeros at the edge."""
        if self.step < 0:
            return F.pad(t, (0, 0, 1, 0))[:, :, :-1]
        return F.pad(t, (0, 0, 0, 1))[:, :, 1:]

    def forward(self, v: Tensor, h: Tensor) -> tuple[Tensor, Tensor]:
        v_pre = self.vertical(v)
        h_pre = self.horizontal(h) + self.link(self.shift(v_pre))
        h_out = self.out(_gate(h_pre))
        return _gate(v_pre), (h + h_out if self.residual else h_out)


class GatedPixelCNN(_Autoregressive):
    """Gated PixelCNN: vertical + horizontal stacks, no blind spot; Bernoulli per pixel."""

    def __init__(self, config: PixelCNNConfig | None = None) -> None:
        super().__init__()
        cfg = config or PixelCNNConfig(gated=True)
        self.config = cfg
        c = cfg.channels
        self.layers = nn.ModuleList(
            GatedLayer(1 if i == 0 else c, c, k, kind, cfg.convention, residual=i > 0)
            for i, (k, kind) in enumerate(zip(cfg.kernels, cfg.masks, strict=True))
        )
        self.head = nn.Sequential(nn.ReLU(), nn.Conv2d(c, c, 1), nn.ReLU(), nn.Conv2d(c, 1, 1))

    @property
    def vertical_reach(self) -> int:
        return sum(k // 2 for k in self.config.kernels) + 1

    def features(self, x: Tensor) -> Tensor:
        """The horizontal stack's last output (the head is 1×1, so it has the same field)."""
        v, h = x, x
        for layer in self.layers:
            v, h = layer(v, h)
        return h

    def forward(self, x: Tensor) -> Tensor:
        """Logits [B, 1, H', W'] of images [B, 1, H', W'] (any size: crops too)."""
        return self.head(self.features(x))

    def forward_row(self, x: Tensor, row: int) -> Tensor:
        """Logits [B, W] of one row of images [B, 1, H, W]. The horizontal stack runs on that row
        only (its kernels are one row high); the vertical stack only on the rows the shifted
        link into that row can still read."""
        height, step = x.shape[2], row_step(self.config.convention)
        reach = [k // 2 for k in self.config.kernels]
        source = row + step  # the row whose vertical features the row receives
        vertical = 0 <= source < height

        def band(r: int) -> tuple[int, int]:
            return (
                (max(0, source - r), source) if step < 0 else (source, min(height - 1, source + r))
            )

        have = band(sum(reach))
        v = x[:, :, have[0] : have[1] + 1]
        h = x[:, :, row : row + 1]
        for i, layer in enumerate(self.layers):
            h_pre = layer.horizontal(h)
            if vertical:
                want = band(sum(reach[i + 1 :]))
                v_pre = conv_rows(layer.vertical, v, have, want)
                at = source - want[0]
                h_pre = h_pre + layer.link(v_pre[:, :, at : at + 1])
                v, have = _gate(v_pre), want
            else:  # the row next to the edge gets zeros from the vertical stack (the bias remains)
                h_pre = h_pre + layer.link(torch.zeros_like(h_pre))
            h_out = layer.out(_gate(h_pre))
            h = h + h_out if layer.residual else h_out
        return self.head(h)[:, 0, 0]


def build_model(config: PixelCNNConfig) -> PixelCNN | GatedPixelCNN:
    """A :class:`GatedPixelCNN` when ``config.gated``, else a :class:`PixelCNN`."""
    return GatedPixelCNN(config) if config.gated else PixelCNN(config)


# --- sampling ---------------------------------------------------------------------------------
SAMPLERS = ("naive", "crop", "restricted")


def _row_window(model: _Autoregressive, row: int) -> tuple[int, int]:
    """Rows [lo, hi) whose inputs determine output row ``row``: the row and ``vertical_reach``
    rows on the convention's side (clipped to the image)."""
    reach, height = model.vertical_reach, model.config.height
    if row_step(model.config.convention) < 0:
        return max(0, row - reach), row + 1
    return row, min(height, row + reach + 1)


def pixel_logits(model: _Autoregressive, x: Tensor, row: int, method: str = "restricted") -> Tensor:
    """Logits of every pixel of ``row`` ([batch, W]) given images ``x`` [batch, 1, H, W].

    ``naive``: a full pass. ``crop``: the network on the rows of :func:`_row_window` only.
    ``restricted``: each layer only on the rows still needed (``model.forward_row``). All three
    are equal: an output of row r reads layer-l activations only within the remaining reach, and
    every activation that reads a crop's artificial zero padding lies outside that reach.
    """
    if method == "naive":
        return model(x)[:, 0, row]
    if method == "crop":
        lo, hi = _row_window(model, row)
        return model(x[:, :, lo:hi])[:, 0, row - lo]
    if method == "restricted":
        return model.forward_row(x, row)
    raise ConfigError(f"unknown sampler {method!r}; choose {', '.join(SAMPLERS)}")


@torch.no_grad()
def sample(
    model: _Autoregressive,
    n: int,
    generator: torch.Generator | None = None,
    method: str = "restricted",
    progress: Progress | None = None,
    uniforms: Tensor | None = None,
) -> Tensor:
    """Draw ``n`` images [n, H·W] pixel by pixel in the model's order:
    x_i = 1[u_i < σ(l_i(x_<i))], u_i ~ U(0, 1) drawn up front from ``generator``.

    ``method``: ``naive`` (a full pass per pixel), ``crop`` (the network on the rows that can
    matter) or ``restricted`` (each layer on the rows it must compute); same result.
    ``progress`` wraps the pixel iterator (e.g. a tqdm bar); the library itself prints nothing.
    """
    if method not in SAMPLERS:
        raise ConfigError(f"unknown sampler {method!r}; choose {', '.join(SAMPLERS)}")
    if n < 1:
        raise ConfigError(f"number of samples must be >= 1, got {n}")
    cfg = model.config
    param = next(model.parameters())
    h, w = cfg.height, cfg.width
    if uniforms is None:
        device = generator.device if generator is not None else param.device
        uniforms = torch.rand(n, h, w, generator=generator, device=device)
    if uniforms.shape != (n, h, w):
        raise ShapeError(f"uniforms must be [{n}, {h}, {w}], got {list(uniforms.shape)}")
    uniforms = uniforms.to(param.device, param.dtype)
    x = torch.zeros(n, 1, h, w, device=param.device, dtype=param.dtype)
    pixels: Iterable[tuple[int, int]] = ordering(h, w, cfg.convention)
    if progress is not None:
        pixels = progress(pixels)
    for r, c in pixels:
        logits = pixel_logits(model, x, r, method)[:, c]
        x[:, 0, r, c] = (uniforms[:, r, c] < torch.sigmoid(logits)).to(x.dtype)
    return x.flatten(1)
