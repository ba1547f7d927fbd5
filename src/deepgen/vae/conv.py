"""Convolutional encoder and decoder for square binary images whose side is divisible by 4
(28×28): drop-in parts of a :class:`~deepgen.vae.composed.ComposedVAE` (``--arch conv``).

Encoder: x (1, s, s) → conv 4×4 stride 2 (C) → ReLU → conv 4×4 stride 2 (2C) → ReLU → linear
→ (μ, log σ²). Decoder: z → linear → (2C, s/4, s/4) → ReLU → transposed conv 4×4 stride 2 (C)
→ ReLU → transposed conv 4×4 stride 2 (1) → Bernoulli logits. Images travel flat, [batch, s²].
"""

from __future__ import annotations

import math

from torch import Tensor, nn

from deepgen.errors import ConfigError, ShapeError
from deepgen.vae.parts import BernoulliDecoder, GaussianEncoder


def image_side(x_dim: int) -> int:
    """The side s of a square image with s² = ``x_dim`` pixels, s divisible by 4."""
    side = math.isqrt(x_dim)
    if side * side != x_dim or side % 4:
        raise ConfigError(
            f"a convolutional VAE needs square images whose side is divisible by 4 (28×28), "
            f"got {x_dim} pixels"
        )
    return side


class ConvGaussianEncoder(GaussianEncoder):
    """q(z | x) = N(μ(x), diag σ²(x)) from two strided convolutions and a linear layer.

    >>> import torch
    >>> enc = ConvGaussianEncoder(x_dim=64, channels=4, z_dim=3)
    >>> enc(torch.rand(5, 64).round()).rsample((2,)).shape
    torch.Size([2, 5, 3])
    """

    def __init__(self, x_dim: int, channels: int, z_dim: int) -> None:
        nn.Module.__init__(self)
        side = image_side(x_dim)
        self.x_dim, self.z_dim = x_dim, z_dim
        self.net = nn.Sequential(
            nn.Unflatten(-1, (1, side, side)),
            nn.Conv2d(1, channels, 4, stride=2, padding=1),
            nn.ReLU(),
            nn.Conv2d(channels, 2 * channels, 4, stride=2, padding=1),
            nn.ReLU(),
            nn.Flatten(),
            nn.Linear(2 * channels * (side // 4) ** 2, 2 * z_dim),
        )


class ConvBernoulliDecoder(BernoulliDecoder):
    """p(x | z): Bernoulli pixels with logits from a linear layer and two transposed
    convolutions; z may carry leading sample dimensions [..., z_dim].

    >>> import torch
    >>> dec = ConvBernoulliDecoder(z_dim=3, channels=4, x_dim=64)
    >>> dec(torch.randn(2, 5, 3)).log_prob(torch.ones(5, 64)).shape
    torch.Size([2, 5])
    """

    def __init__(self, z_dim: int, channels: int, x_dim: int) -> None:
        nn.Module.__init__(self)
        side = image_side(x_dim)
        self.z_dim, self.x_dim = z_dim, x_dim
        self.net = nn.Sequential(
            nn.Linear(z_dim, 2 * channels * (side // 4) ** 2),
            nn.Unflatten(-1, (2 * channels, side // 4, side // 4)),
            nn.ReLU(),
            nn.ConvTranspose2d(2 * channels, channels, 4, stride=2, padding=1),
            nn.ReLU(),
            nn.ConvTranspose2d(channels, 1, 4, stride=2, padding=1),
            nn.Flatten(),
        )

    def logits(self, z: Tensor) -> Tensor:
        """Logits of the D pixels, [..., D]."""
        if z.shape[-1] != self.z_dim:
            raise ShapeError(f"expected latents with {self.z_dim} features, got {z.shape[-1]}")
        return self.net(z.reshape(-1, self.z_dim)).reshape(*z.shape[:-1], self.x_dim)
