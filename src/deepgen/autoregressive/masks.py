"""Masks of masked convolutions (types A and B) and the pixel orderings they imply.

A masked convolution is a cross-correlation (no kernel flip) with zero padding m = k // 2:

    out(r, c) = Σ_{i,j} (W ∘ M)_{ij} · in(r + i − m, c + j − m),   i, j = 0 … k−1,

so the kernel entry (i, j) reads the input at the *offset* (i − m, j − m) from the output pixel.

Two conventions, both for odd k (1-indexed kernel entries, centre m' = (k + 1) / 2):

* ``"seed"`` — SPEC §4 exactly: M^A_ij = 1 if i = m' and j < m', or i > m'; M^B also keeps the
  centre (i = m', j ≤ m'). A pixel reads the pixel(s) to its left and the rows *below*. The
  order in which pixels may be generated is therefore bottom row first, and left to right
  within a row: (r₁, c₁) precedes (r₂, c₂) iff r₁ > r₂, or r₁ = r₂ and c₁ < c₂.
* ``"pixelcnn"`` — van den Oord et al. (2016): the vertical mirror image: rows *above* and the
  pixels to the left; raster order: (r₁, c₁) precedes (r₂, c₂) iff r₁ < r₂, or r₁ = r₂ and c₁ < c₂.

Every offset kept by a type-A mask points to a strictly preceding pixel, and type B adds only the
offset (0, 0); so a stack whose first layer is A computes, at each pixel, a function of strictly
preceding pixels only (see ``docs/masks_and_receptive_fields.md``).

Colour channels (R, then G, then B): with ``colors`` = 3 the channels of a layer are split into
three contiguous groups. At the centre offset, output group g reads input groups g' < g (type A)
or g' ≤ g (type B); every other kept offset reads all groups.
"""

from __future__ import annotations

from typing import Literal

import torch
from torch import Tensor

from deepgen.errors import ConfigError

Convention = Literal["seed", "pixelcnn"]
CONVENTIONS: tuple[str, ...] = ("seed", "pixelcnn")
MASK_TYPES: tuple[str, ...] = ("A", "B")
Pixel = tuple[int, int]


def check_kernel_size(kernel_size: int) -> int:
    """Return ``kernel_size`` if it is a positive odd integer, else raise :class:`ConfigError`."""
    if isinstance(kernel_size, bool) or not isinstance(kernel_size, int):
        raise ConfigError(f"kernel size must be an odd integer, got {kernel_size!r}")
    if kernel_size < 1 or kernel_size % 2 == 0:
        raise ConfigError(
            f"kernel size must be odd and >= 1 (a masked kernel needs a centre), got {kernel_size}"
        )
    return kernel_size


def check_mask_type(kind: str) -> str:
    """Return ``"A"`` or ``"B"`` (case-insensitive input), else raise :class:`ConfigError`."""
    name = str(kind).strip().upper()
    if name not in MASK_TYPES:
        raise ConfigError(f"unknown mask type {kind!r}; choose A (centre excluded) or B (included)")
    return name


def check_convention(convention: str) -> str:
    """Return ``convention`` if it is ``"seed"`` or ``"pixelcnn"``, else raise ConfigError."""
    if convention not in CONVENTIONS:
        raise ConfigError(
            f"unknown mask convention {convention!r}; choose seed (rows below, SPEC §4) or "
            "pixelcnn (rows above)"
        )
    return convention


def row_step(convention: str) -> int:
    """+1 if a pixel reads the rows below it (``seed``), −1 if the rows above (``pixelcnn``)."""
    return 1 if check_convention(convention) == "seed" else -1


def spatial_mask(kind: str, kernel_size: int = 3, convention: str = "pixelcnn") -> Tensor:
    """The k×k 0/1 mask of type ``kind``: the centre row left of the centre (and the centre for
    type B), plus every row on the ``convention``'s side (below for seed, above for pixelcnn)."""
    kind, k = check_mask_type(kind), check_kernel_size(kernel_size)
    m = k // 2
    mask = torch.zeros(k, k)
    mask[m, : m + (1 if kind == "B" else 0)] = 1.0
    if row_step(convention) > 0:
        mask[m + 1 :, :] = 1.0
    else:
        mask[:m, :] = 1.0
    return mask


def vertical_stack_mask(kernel_size: int = 3, convention: str = "pixelcnn") -> Tensor:
    """Mask of a gated PixelCNN's vertical stack: the centre row and every row on the
    convention's side, all columns. Its output is shifted one row before the horizontal stack
    reads it, so the centre row never leaks into the horizontal stack."""
    k = check_kernel_size(kernel_size)
    m = k // 2
    mask = torch.zeros(k, k)
    if row_step(convention) > 0:
        mask[m:, :] = 1.0
    else:
        mask[: m + 1, :] = 1.0
    return mask


def horizontal_stack_mask(kind: str, kernel_size: int = 3) -> Tensor:
    """Mask of a gated PixelCNN's horizontal stack, shape ``[1, k]``: one row, the pixels to the
    left (and the centre for type B). The same in both conventions."""
    kind, k = check_mask_type(kind), check_kernel_size(kernel_size)
    m = k // 2
    mask = torch.zeros(1, k)
    mask[0, : m + (1 if kind == "B" else 0)] = 1.0
    return mask


def _groups(channels: int, colors: int, what: str) -> Tensor:
    if channels % colors != 0:
        raise ConfigError(f"{what} channels ({channels}) must be a multiple of colors ({colors})")
    return torch.arange(channels) // (channels // colors)


def channel_mask(
    kind: str,
    kernel_size: int,
    in_channels: int,
    out_channels: int,
    convention: str = "pixelcnn",
    colors: int = 1,
    spatial: Tensor | None = None,
) -> Tensor:
    """The full ``[out, in, kh, kw]`` mask. Off-centre kept offsets read every channel; at the
    centre, output colour group g reads input groups g' < g (A) or g' ≤ g (B).

    ``spatial`` overrides the k×k pattern of ``spatial_mask`` (e.g. a stack mask of odd shape
    kh×kw); its centre entry is then replaced by the colour rule above.
    """
    kind = check_mask_type(kind)
    if colors < 1:
        raise ConfigError(f"colors must be >= 1, got {colors}")
    space = spatial_mask(kind, kernel_size, convention) if spatial is None else spatial.clone()
    kh, kw = space.shape
    for size in (kh, kw):
        check_kernel_size(int(size))
    g_out = _groups(out_channels, colors, "output")
    g_in = _groups(in_channels, colors, "input")
    centre = g_out[:, None] > g_in[None, :] if kind == "A" else g_out[:, None] >= g_in[None, :]
    mask = space.expand(out_channels, in_channels, kh, kw).clone()
    mask[:, :, kh // 2, kw // 2] = centre.float()
    return mask


def mask_offsets(mask: Tensor) -> list[Pixel]:
    """The (row, column) offsets ``(i − kh//2, j − kw//2)`` read by the kept entries of a 2-D
    ``kh × kw`` mask (odd sizes)."""
    mh, mw = mask.shape[-2] // 2, mask.shape[-1] // 2
    return [(i - mh, j - mw) for i, j in (mask != 0).nonzero().tolist()]


def precedes(a: Pixel, b: Pixel, convention: str) -> bool:
    """True iff pixel ``a`` comes strictly before ``b`` (0- or 1-indexed alike) in the order of
    ``convention``: seed = bottom row first, pixelcnn = top row first; left to right in a row."""
    step = row_step(convention)
    if a[0] != b[0]:
        return (a[0] > b[0]) if step > 0 else (a[0] < b[0])
    return a[1] < b[1]


def ordering(height: int, width: int, convention: str) -> list[Pixel]:
    """All pixels (0-indexed) in the order they are generated under ``convention``."""
    rows = range(height - 1, -1, -1) if row_step(convention) > 0 else range(height)
    return [(r, c) for r in rows for c in range(width)]
