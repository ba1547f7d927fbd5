"""DCGAN-style convolutional generator and discriminator for binary 28×28 and 14×14 images.

Drop-in replacements for :class:`deepgen.gan.models.Generator` and
:class:`deepgen.gan.models.Discriminator`: images travel flat, ``G(z)`` is [n, H·W] pixel
probabilities and ``D(x)`` is [n] logits, so :class:`deepgen.gan.experiment.GANTask` uses them
unchanged. There is no BatchNorm anywhere (a batch statistic would differ between the processes
of a data-parallel run, and would couple the examples of a batch); every operation has a double
backward, so R1 and WGAN-GP penalties (``create_graph=True``) work. The one batch statistic on
offer, ``minibatch_std`` (off by default), is taken over fixed groups of
:data:`MINIBATCH_GROUP` consecutive images, so a data-parallel run whose per-process batch is a
multiple of the group sees the same groups as one process.

>>> import torch
>>> gen, disc = build_conv_gan(ConvGANConfig(image_shape=(14, 14), z_dim=8, width=8))
>>> x = gen.sample(4, torch.Generator().manual_seed(0))
>>> x.shape, disc(x).shape
(torch.Size([4, 196]), torch.Size([4]))
>>> bool(((x > 0) & (x < 1)).all())
True
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import torch
from torch import Tensor, nn
from torch.nn.utils.parametrizations import spectral_norm as _spectral_norm

from deepgen.errors import ConfigError, ShapeError

IMAGE_SHAPES = ((28, 28), (14, 14))
_BASE = 7  # the generator starts, and the 28×28 discriminator ends, at 7×7
MINIBATCH_GROUP = 4  # images per group of the discriminator's minibatch standard deviation


@dataclass(frozen=True)
class ConvGANConfig:
    """Sizes of the convolutional GAN: z ~ N(0, I_{z_dim}); ``width`` = C, the channel unit
    (the generator starts at 4C channels, the discriminator ends at 2C); ``spectral_norm``
    normalises every layer of the discriminator (as ``GANModelConfig.spectral_norm`` does);
    ``minibatch_std`` gives the discriminator's last layer one more feature map, the mean
    standard deviation of its features over each group of :data:`MINIBATCH_GROUP` images
    (Karras et al. 2018), so that it can see a batch with too little variety; ``d_depth`` is
    the number of the discriminator's convolutions at each of its two resolutions (the first
    4×4 stride 2, the others 3×3 stride 1, as in the SNGAN "standard CNN" discriminator).

    ``image_shape`` may be given as a list (as read back from JSON); it is kept as a tuple.

    >>> ConvGANConfig(image_shape=[14, 14]).x_dim
    196
    >>> ConvGANConfig().to_dict()["image_shape"], sorted(ConvGANConfig().to_dict())
    ((28, 28), ['d_depth', 'image_shape', 'minibatch_std', 'spectral_norm', 'width', 'z_dim'])
    """

    image_shape: tuple[int, int] = (28, 28)
    z_dim: int = 64
    width: int = 64
    spectral_norm: bool = False
    minibatch_std: bool = False
    d_depth: int = 1

    def __post_init__(self) -> None:
        shape = tuple(self.image_shape)
        if shape not in IMAGE_SHAPES:
            choices = " or ".join(str(s) for s in IMAGE_SHAPES)
            raise ConfigError(f"image_shape must be {choices} for the conv GAN, got {shape}")
        object.__setattr__(self, "image_shape", shape)
        for name in ("z_dim", "width", "d_depth"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ConfigError(f"{name} must be an integer >= 1, got {value!r}")

    @property
    def x_dim(self) -> int:
        """Pixels per image, H·W (the flat size of G's output and D's input)."""
        return self.image_shape[0] * self.image_shape[1]

    @property
    def upsamplings(self) -> int:
        """Stride-2 steps between 7×7 and the image: 2 for 28×28, 1 for 14×14."""
        return {28: 2, 14: 1}[self.image_shape[0]]

    def to_dict(self) -> dict[str, Any]:
        """Plain dict (for checkpoints)."""
        return asdict(self)


def _sn(layer: nn.Module, on: bool) -> nn.Module:
    return _spectral_norm(layer) if on else layer


class ConvGenerator(nn.Module):
    """x = G(z): linear → (4C, 7, 7) → [ReLU → ConvTranspose 4×4 stride 2, channels halved]
    ×2 (28×28) or ×1 (14×14) → ReLU → 3×3 conv to 1 channel → sigmoid → flatten to [n, H·W].

    No BatchNorm. ``spectral_norm=True`` (keyword; off by default, as in the MLP generator)
    normalises every layer of G too; the config's flag is the discriminator's.

    >>> gen = ConvGenerator(ConvGANConfig())  # 28×28, z_dim 64, C = 64
    >>> sum(p.numel() for p in gen.parameters())
    1471489
    >>> gen(torch.zeros(2, 64)).shape
    torch.Size([2, 784])
    """

    def __init__(self, cfg: ConvGANConfig, *, spectral_norm: bool = False) -> None:
        super().__init__()
        self.config = cfg
        c = 4 * cfg.width
        self.fc = _sn(nn.Linear(cfg.z_dim, c * _BASE * _BASE), spectral_norm)
        layers: list[nn.Module] = []
        for _ in range(cfg.upsamplings):
            layers += [nn.ReLU(), _sn(nn.ConvTranspose2d(c, c // 2, 4, 2, 1), spectral_norm)]
            c //= 2
        layers += [nn.ReLU(), _sn(nn.Conv2d(c, 1, 3, 1, 1), spectral_norm), nn.Sigmoid()]
        self.net = nn.Sequential(*layers)

    def logits(self, z: Tensor) -> Tensor:
        """Map noise [n, z_dim] to pixel logits ℓ [n, H·W] (the probabilities are σ(ℓ))."""
        if z.dim() != 2 or z.shape[1] != self.config.z_dim:
            raise ShapeError(f"expected noise [n, {self.config.z_dim}], got {list(z.shape)}")
        h = self.fc(z).unflatten(1, (4 * self.config.width, _BASE, _BASE))
        return self.net[:-1](h).flatten(1)

    def forward(self, z: Tensor) -> Tensor:
        """Map noise [n, z_dim] to pixel probabilities σ(ℓ) [n, H·W]."""
        return torch.sigmoid(self.logits(z))

    def sample(self, n: int, generator: torch.Generator | None = None) -> Tensor:
        """n samples from z ~ N(0, I) (noise from ``generator`` when given)."""
        device = next(self.parameters()).device
        z = torch.randn(n, self.config.z_dim, generator=generator, device=device)
        return self(z)


def minibatch_std(h: Tensor, group: int = MINIBATCH_GROUP) -> Tensor:
    """One feature map per image: s = mean over (c, i, j) of sqrt(Var_group h[:, c, i, j] + 1e-8),
    the variance taken over each run of ``group`` consecutive images (population variance), so
    every image of a group gets its group's s. [n, C, H, W] → [n, 1, H, W]; n must be a multiple
    of ``group``.

    >>> h = torch.zeros(8, 2, 3, 3)
    >>> h[4:] = torch.arange(4.0).view(4, 1, 1, 1)  # the second group varies, the first does not
    >>> s = minibatch_std(h)
    >>> s.shape, round(float(s[0, 0, 0, 0]), 4), round(float(s[7, 0, 2, 2]), 4)
    (torch.Size([8, 1, 3, 3]), 0.0001, 1.118)
    """
    n = h.shape[0]
    if n % group:
        raise ShapeError(
            f"the minibatch standard deviation takes groups of {group} images; a batch of {n} "
            "does not split into them"
        )
    grouped = h.unflatten(0, (n // group, group))
    s = (grouped.var(dim=1, correction=0) + 1e-8).sqrt().mean(dim=(1, 2, 3))  # [n // group]
    return s.repeat_interleave(group).view(n, 1, 1, 1).expand(n, 1, *h.shape[2:])


class ConvDiscriminator(nn.Module):
    """D(x) ∈ ℝ, a logit (or critic value): (1, H, W) → Conv 4×4 stride 2 to C → LeakyReLU(0.2)
    → Conv 4×4 stride 2 to 2C → LeakyReLU(0.2) → [the minibatch standard deviation appended as
    one more channel, when ``config.minibatch_std``] → flatten → linear (28×28: 1→14→7 pixels a
    side; 14×14: 1→7→3). ``config.d_depth`` = k > 1 follows each strided convolution with k − 1
    3×3 stride-1 ones (same channels, LeakyReLU). Each layer spectrally normalised when
    ``config.spectral_norm``.

    >>> disc = ConvDiscriminator(ConvGANConfig())  # 28×28, C = 64
    >>> sum(p.numel() for p in disc.parameters())
    138561
    >>> disc(torch.zeros(3, 784)).shape
    torch.Size([3])
    >>> ConvDiscriminator(ConvGANConfig(minibatch_std=True))(torch.zeros(4, 784)).shape
    torch.Size([4])
    >>> sum(p.numel() for p in ConvDiscriminator(ConvGANConfig(d_depth=2)).parameters())
    323073
    """

    def __init__(self, cfg: ConvGANConfig) -> None:
        super().__init__()
        self.config = cfg
        sn, c = cfg.spectral_norm, cfg.width
        side = cfg.image_shape[0]
        for _ in range(2):
            side = (side + 2 - 4) // 2 + 1  # a 4×4 stride-2 conv with padding 1
        layers: list[nn.Module] = []
        channels = 1
        for out in (c, 2 * c):
            layers += [_sn(nn.Conv2d(channels, out, 4, 2, 1), sn), nn.LeakyReLU(0.2)]
            for _ in range(cfg.d_depth - 1):
                layers += [_sn(nn.Conv2d(out, out, 3, 1, 1), sn), nn.LeakyReLU(0.2)]
            channels = out
        self.features = len(layers)  # net[:features] the features, net[features:] the head
        maps = 2 * c + int(cfg.minibatch_std)
        layers += [nn.Flatten(), _sn(nn.Linear(maps * side * side, 1), sn)]
        self.net = nn.Sequential(*layers)

    def forward(self, x: Tensor) -> Tensor:
        """Logits [n] of flat images [n, H·W]."""
        if x.dim() != 2 or x.shape[1] != self.config.x_dim:
            raise ShapeError(f"expected flat images [n, {self.config.x_dim}], got {list(x.shape)}")
        h = self.net[: self.features](x.unflatten(1, (1, *self.config.image_shape)))
        if self.config.minibatch_std:
            h = torch.cat([h, minibatch_std(h)], dim=1)
        return self.net[self.features :](h).squeeze(-1)


def build_conv_gan(cfg: ConvGANConfig) -> tuple[ConvGenerator, ConvDiscriminator]:
    """The generator and discriminator of ``cfg`` (freshly initialised, on the CPU)."""
    return ConvGenerator(cfg), ConvDiscriminator(cfg)
