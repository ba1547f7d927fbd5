"""Receptive fields of stacked masked convolutions, computed two ways that must agree.

Pixels here are 1-indexed (row, column), as in SPEC §4's labels 11 … 55; the label of a pixel is
its row then its column ("34" = row 3, column 4; "10,12" on images wider or taller than 9).

* :func:`analytic_field` propagates a set of pixels backwards through the layers: the inputs
  read by a set S of outputs of a layer with mask M are {p + o : p ∈ S, o ∈ offsets(M)}, clipped
  to the image (zero padding reads nothing). For gated stacks it propagates two sets, one per
  stack, through the wiring of :class:`deepgen.autoregressive.pixelcnn.GatedLayer`.
* :func:`autograd_field` builds the network in float64 and takes ∂ out(p) / ∂ x: the field is
  where that gradient is non-zero. Plain stacks are linear with positive weights, so a gradient
  is a sum of positive path products and is non-zero exactly where a path exists.

The *blind spot* is the set of pixels that precede the target in the ordering and lie within
the stack's reach (Chebyshev distance ≤ Σ_l k_l // 2, where an unmasked stack of the same
kernels would see them) but are missing from its field.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from deepgen.autoregressive.masks import (
    check_convention,
    check_kernel_size,
    check_mask_type,
    horizontal_stack_mask,
    mask_offsets,
    precedes,
    row_step,
    spatial_mask,
    vertical_stack_mask,
)
from deepgen.errors import ConfigError

Pixel = tuple[int, int]

ORDER_TEXT = {
    "seed": "bottom row first, then upwards; left to right within a row",
    "pixelcnn": "top row first, then downwards; left to right within a row",
}


def parse_masks(text: str | Sequence[str]) -> list[str]:
    """``"A,B"`` (or ``["A", "B"]``) → ``["A", "B"]``: one mask type per layer, input side first."""
    items = text.split(",") if isinstance(text, str) else list(text)
    if not items or any(not str(t).strip() for t in items):
        raise ConfigError(f"masks must be a comma-separated list of A and B, got {text!r}")
    return [check_mask_type(t) for t in items]


def _kernels(kernels: int | Sequence[int], layers: int) -> list[int]:
    ks = [kernels] * layers if isinstance(kernels, int) else list(kernels)
    if len(ks) != layers:
        raise ConfigError(f"{len(ks)} kernel sizes given for {layers} layers")
    return [check_kernel_size(k) for k in ks]


def _check_pixel(pixel: Pixel, height: int, width: int) -> Pixel:
    if height < 1 or width < 1:
        raise ConfigError(f"image size must be >= 1, got {height}×{width}")
    r, c = pixel
    if not (1 <= r <= height and 1 <= c <= width):
        raise ConfigError(
            f"pixel ({r}, {c}) is outside the {height}×{width} image "
            f"(rows 1..{height}, columns 1..{width})"
        )
    return (int(r), int(c))


def _spread(pixels: Iterable[Pixel], offsets: list[Pixel], height: int, width: int) -> set[Pixel]:
    return {
        (r + dr, c + dc)
        for r, c in pixels
        for dr, dc in offsets
        if 1 <= r + dr <= height and 1 <= c + dc <= width
    }


def analytic_field(
    height: int,
    width: int,
    pixel: Pixel,
    masks: Sequence[str],
    kernels: int | Sequence[int] = 3,
    convention: str = "seed",
    gated: bool = False,
) -> frozenset[Pixel]:
    """Input pixels that output ``pixel`` (1-indexed) reads, by set propagation from the last
    layer back to the input. ``masks[0]`` is the layer next to the input."""
    masks = parse_masks(masks)
    ks = _kernels(kernels, len(masks))
    check_convention(convention)
    target = _check_pixel(pixel, height, width)
    if not gated:
        s: set[Pixel] = {target}
        for kind, k in zip(reversed(masks), reversed(ks), strict=True):
            s = _spread(s, mask_offsets(spatial_mask(kind, k, convention)), height, width)
        return frozenset(s)
    # Gated: sh = positions of the horizontal stack's map the target needs, sv = of the vertical.
    step = row_step(convention)
    sh: set[Pixel] = {target}
    sv: set[Pixel] = set()
    for layer in range(len(masks) - 1, -1, -1):
        kind, k = masks[layer], ks[layer]
        v_off = mask_offsets(vertical_stack_mask(k, convention))
        h_off = mask_offsets(horizontal_stack_mask(kind, k))
        # h_l(p) reads V ⋆ v_{l-1} at the shifted position p + (step, 0), i.e. the row whose
        # inputs it may see; v_l(p) reads v_{l-1} through the same vertical mask.
        shifted = {(r + step, c) for r, c in sh if 1 <= r + step <= height}
        new_sv = _spread(sv | shifted, v_off, height, width)
        new_sh = _spread(sh, h_off, height, width) | (sh if layer > 0 else set())
        sh, sv = new_sh, new_sv
    return frozenset(sh | sv)


def _linear_stack(
    masks: Sequence[str], ks: Sequence[int], convention: str, g: torch.Generator
) -> nn.Module:
    from deepgen.autoregressive.pixelcnn import MaskedConv2d

    layers = []
    for kind, k in zip(masks, ks, strict=True):
        conv = MaskedConv2d(1, 1, k, kind, convention, bias=False).double()
        with torch.no_grad():
            conv.weight.copy_(0.5 + torch.rand(conv.weight.shape, generator=g, dtype=torch.float64))
        layers.append(conv)
    return nn.Sequential(*layers)


class _GatedStack(nn.Module):
    def __init__(self, masks: Sequence[str], ks: Sequence[int], convention: str) -> None:
        super().__init__()
        from deepgen.autoregressive.pixelcnn import GatedLayer

        c = 2
        self.layers = nn.ModuleList(
            GatedLayer(1 if i == 0 else c, c, k, kind, convention, residual=i > 0)
            for i, (kind, k) in enumerate(zip(masks, ks, strict=True))
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        v, h = x, x
        for layer in self.layers:
            v, h = layer(v, h)
        return h.sum(dim=1, keepdim=True)


def autograd_field(
    height: int,
    width: int,
    pixel: Pixel,
    masks: Sequence[str],
    kernels: int | Sequence[int] = 3,
    convention: str = "seed",
    gated: bool = False,
    seed: int = 0,
) -> frozenset[Pixel]:
    """Input pixels with ∂ out(pixel) / ∂ x ≠ 0, in float64 (1-indexed). Plain stacks: linear,
    weights in [0.5, 1.5]; gated stacks: the real gated layers with random weights."""
    masks = parse_masks(masks)
    ks = _kernels(kernels, len(masks))
    check_convention(convention)
    r, c = _check_pixel(pixel, height, width)
    g = torch.Generator().manual_seed(seed)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        net = _GatedStack(masks, ks, convention).double() if gated else None
    if net is None:
        net = _linear_stack(masks, ks, convention, g)
    x = torch.randn(1, 1, height, width, generator=g, dtype=torch.float64, requires_grad=True)
    (grad,) = torch.autograd.grad(net(x)[0, 0, r - 1, c - 1], x)
    return frozenset((int(i) + 1, int(j) + 1) for i, j in (grad[0, 0] != 0).nonzero().tolist())


def pixel_label(pixel: Pixel, height: int = 9, width: int = 9) -> str:
    """``(3, 4)`` → ``"34"``; ``"r,c"`` when the image has more than 9 rows or columns."""
    r, c = pixel
    return f"{r}{c}" if max(height, width) <= 9 else f"{r},{c}"


@dataclass(frozen=True)
class ReceptiveField:
    """The receptive field of one output pixel of a stack of masked layers (1-indexed pixels)."""

    height: int
    width: int
    pixel: Pixel
    masks: tuple[str, ...]
    kernels: tuple[int, ...]
    convention: str
    gated: bool
    field: frozenset[Pixel]

    @property
    def includes_self(self) -> bool:
        """Whether the output at a pixel reads the input at the same pixel."""
        return self.pixel in self.field

    @property
    def reach(self) -> int:
        """Σ_l k_l // 2: how far (Chebyshev distance) an unmasked stack would see."""
        return sum(k // 2 for k in self.kernels)

    def _all(self) -> list[Pixel]:
        return [(r, c) for r in range(1, self.height + 1) for c in range(1, self.width + 1)]

    @property
    def preceding(self) -> list[Pixel]:
        """Pixels strictly before the target in the convention's order, sorted."""
        return [p for p in self._all() if precedes(p, self.pixel, self.convention)]

    @property
    def preceding_missing(self) -> list[Pixel]:
        """Preceding pixels not in the field (near or far), sorted."""
        return [p for p in self.preceding if p not in self.field]

    @property
    def blind_spot(self) -> list[Pixel]:
        """Preceding pixels within the stack's reach that the field misses, sorted."""
        r, c = self.pixel
        return [
            p for p in self.preceding_missing if max(abs(p[0] - r), abs(p[1] - c)) <= self.reach
        ]

    @property
    def violations(self) -> list[Pixel]:
        """Field pixels that do not precede the target (other than itself): should be empty."""
        return sorted(
            p
            for p in self.field
            if p != self.pixel and not precedes(p, self.pixel, self.convention)
        )

    def labels(self, pixels: Iterable[Pixel]) -> list[str]:
        """Labels of ``pixels`` sorted by (row, column)."""
        return [pixel_label(p, self.height, self.width) for p in sorted(pixels)]

    def to_dict(self) -> dict[str, Any]:
        """The ``deepgen receptive-field --json`` object (without the autograd check)."""
        square = self.height == self.width
        same_k = len(set(self.kernels)) == 1
        return {
            "pixel": list(self.pixel),
            "masks": list(self.masks),
            "convention": self.convention,
            "size": self.height if square else [self.height, self.width],
            "field": self.labels(self.field),
            "includes_self": self.includes_self,
            "kernel": self.kernels[0] if same_k else list(self.kernels),
            "gated": self.gated,
            "order": ORDER_TEXT[self.convention],
            "blind_spot": self.labels(self.blind_spot),
            "preceding_missing": self.labels(self.preceding_missing),
            "violations": self.labels(self.violations),
        }

    def grid(self) -> str:
        """The image as a grid of labels: [ij] in the field, (ij) the target outside its own
        field, {ij} the target inside it, ij! in the blind spot, plain otherwise."""
        blind = set(self.blind_spot)
        width = max(len(pixel_label(p, self.height, self.width)) for p in self._all()) + 2
        lines = []
        for r in range(1, self.height + 1):
            cells = []
            for c in range(1, self.width + 1):
                p = (r, c)
                lab = pixel_label(p, self.height, self.width)
                if p == self.pixel:
                    cell = f"{{{lab}}}" if p in self.field else f"({lab})"
                elif p in self.field:
                    cell = f"[{lab}]"
                elif p in blind:
                    cell = f" {lab}!"
                else:
                    cell = f" {lab} "
                cells.append(cell.rjust(width))
            lines.append(" ".join(cells).rstrip())
        return "\n".join(lines)


def receptive_field(
    height: int,
    width: int,
    pixel: Pixel,
    masks: Sequence[str] | str,
    kernels: int | Sequence[int] = 3,
    convention: str = "seed",
    gated: bool = False,
) -> ReceptiveField:
    """The analytic receptive field of output ``pixel`` (1-indexed) as a ReceptiveField."""
    masks = parse_masks(masks)
    ks = _kernels(kernels, len(masks))
    field = analytic_field(height, width, pixel, masks, ks, convention, gated)
    return ReceptiveField(
        height,
        width,
        (int(pixel[0]), int(pixel[1])),
        tuple(masks),
        tuple(ks),
        convention,
        gated,
        field,
    )
