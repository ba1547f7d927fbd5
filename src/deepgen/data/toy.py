"""2-D toy densities for flows and GANs: samplers that take an explicit torch.Generator.

``sample_toy(name, n, generator)`` returns float32 [n, 2]. Names: moons, ring8 (8 Gaussians
on a circle of radius 2), grid25 (25 Gaussians on a 5×5 grid), checkerboard, rings (4
concentric circles), pinwheel (5 spiral arms).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import Tensor

from deepgen.errors import ConfigError

Sampler = Callable[[int, torch.Generator], Tensor]


def _normal(n: int, g: torch.Generator, d: int = 2) -> Tensor:
    return torch.randn(n, d, generator=g)


def moons(n: int, g: torch.Generator, noise: float = 0.05) -> Tensor:
    """Two interleaved half circles (upper one centred at 0, lower at (1, 0.5)), plus noise."""
    upper = torch.rand(n, generator=g) < 0.5
    t = math.pi * torch.rand(n, generator=g)
    x = torch.where(upper, torch.cos(t), 1 - torch.cos(t))
    y = torch.where(upper, torch.sin(t), 0.5 - torch.sin(t))
    return torch.stack([x, y], -1) + noise * _normal(n, g)


def ring_modes(k: int = 8, radius: float = 2.0) -> Tensor:
    """Centres of k Gaussians evenly spaced on a circle."""
    angles = 2 * math.pi * torch.arange(k) / k
    return radius * torch.stack([torch.cos(angles), torch.sin(angles)], -1)


def grid_modes(side: int = 5, spacing: float = 1.0) -> Tensor:
    """Centres of side² Gaussians on a square grid centred at the origin."""
    r = spacing * (torch.arange(side) - (side - 1) / 2)
    xx, yy = torch.meshgrid(r, r, indexing="ij")
    return torch.stack([xx.flatten(), yy.flatten()], -1)


def mixture(modes: Tensor, std: float) -> Sampler:
    """Equal-weight mixture of isotropic Gaussians at ``modes``."""

    def sample(n: int, g: torch.Generator) -> Tensor:
        idx = torch.randint(len(modes), (n,), generator=g)
        return modes[idx] + std * _normal(n, g)

    return sample


def checkerboard(n: int, g: torch.Generator) -> Tensor:
    """Uniform on the 8 'black' unit squares of a 4×4 board on [−2, 2]²
    (those whose row and column indices have equal parity)."""
    x1 = 4 * torch.rand(n, generator=g) - 2
    x2 = torch.rand(n, generator=g) - 2 * torch.randint(0, 2, (n,), generator=g)
    x2 = x2 + torch.floor(x1) % 2
    return torch.stack([x1, x2], -1)


def rings(n: int, g: torch.Generator, noise: float = 0.04) -> Tensor:
    """Four concentric circles of radii 0.5, 1, 1.5, 2, each with the same share of points."""
    radius = 0.5 * (1 + torch.randint(0, 4, (n,), generator=g)).float()
    t = 2 * math.pi * torch.rand(n, generator=g)
    return radius.unsqueeze(-1) * torch.stack([torch.cos(t), torch.sin(t)], -1) + noise * _normal(
        n, g
    )


def pinwheel(n: int, g: torch.Generator, arms: int = 5) -> Tensor:
    """Gaussian blobs stretched radially and rotated by an amount growing with the radius."""
    radial, tangential, rate = 0.3, 0.05, 0.25
    arm = torch.randint(0, arms, (n,), generator=g)
    feats = _normal(n, g) * torch.tensor([radial, tangential]) + torch.tensor([1.0, 0.0])
    angle = 2 * math.pi * arm / arms + rate * torch.exp(feats[:, 0])
    c, s = torch.cos(angle), torch.sin(angle)
    x = c * feats[:, 0] - s * feats[:, 1]
    y = s * feats[:, 0] + c * feats[:, 1]
    return 2 * torch.stack([x, y], -1)


TOY: dict[str, Sampler] = {
    "moons": moons,
    "ring8": mixture(ring_modes(8, 2.0), 0.02),
    "grid25": mixture(grid_modes(5, 1.0), 0.02),
    "checkerboard": checkerboard,
    "rings": rings,
    "pinwheel": pinwheel,
}
TOY_DATASETS = tuple(TOY)


def sample_toy(name: str, n: int, generator: torch.Generator | None = None) -> Tensor:
    """n points of the named 2-D density, float32 [n, 2]."""
    if name not in TOY:
        raise ConfigError(f"unknown toy data set {name!r}; choose from {', '.join(TOY)}")
    if n < 1:
        raise ConfigError(f"number of points must be >= 1, got {n}")
    return TOY[name](n, generator or torch.Generator().manual_seed(0)).float()
