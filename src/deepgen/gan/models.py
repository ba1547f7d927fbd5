"""MLP generator and discriminator, optional spectral normalisation, and a generator EMA."""

from __future__ import annotations

import copy
from dataclasses import asdict, dataclass
from typing import Any

import torch
from torch import Tensor, nn
from torch.nn.utils.parametrizations import spectral_norm

from deepgen.errors import ConfigError


@dataclass(frozen=True)
class GANModelConfig:
    """Sizes: x = G(z), z ~ N(0, I_{z_dim}); ``layers`` hidden layers of ``hidden`` units each.

    The discriminator has ``d_layers`` hidden layers of ``d_hidden`` units (None: the
    generator's sizes). ``output`` is ``linear`` (2-D points) or ``sigmoid`` (pixel
    probabilities of binary images).

    >>> GANModelConfig(hidden=64).d_hidden
    64
    """

    x_dim: int = 2
    z_dim: int = 2
    hidden: int = 128
    layers: int = 3
    d_hidden: int | None = None
    d_layers: int | None = None
    output: str = "linear"
    spectral_norm: bool = False

    def __post_init__(self) -> None:
        if self.d_hidden is None:
            object.__setattr__(self, "d_hidden", self.hidden)
        if self.d_layers is None:
            object.__setattr__(self, "d_layers", self.layers)
        for name in ("x_dim", "z_dim", "hidden", "layers", "d_hidden", "d_layers"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.output not in ("linear", "sigmoid"):
            raise ConfigError(f"output must be linear or sigmoid, got {self.output!r}")

    def to_dict(self) -> dict[str, Any]:
        """Plain dict (for checkpoints)."""
        return asdict(self)


def _stack(sizes: list[int], act: type[nn.Module], sn: bool, **kw: Any) -> list[nn.Module]:
    layers: list[nn.Module] = []
    for i in range(len(sizes) - 1):
        lin = nn.Linear(sizes[i], sizes[i + 1])
        layers.append(spectral_norm(lin) if sn else lin)
        if i < len(sizes) - 2:
            layers.append(act(**kw))
    return layers


class Generator(nn.Module):
    """x = G(z): MLP with ReLU; a sigmoid on the output for binary images."""

    def __init__(self, cfg: GANModelConfig) -> None:
        super().__init__()
        self.config = cfg
        sizes = [cfg.z_dim, *[cfg.hidden] * cfg.layers, cfg.x_dim]
        layers = _stack(sizes, nn.ReLU, False)
        if cfg.output == "sigmoid":
            layers.append(nn.Sigmoid())
        self.net = nn.Sequential(*layers)

    def forward(self, z: Tensor) -> Tensor:
        """Map noise [n, z_dim] to samples [n, x_dim]."""
        return self.net(z)

    def logits(self, z: Tensor) -> Tensor:
        """Pixel logits ℓ [n, x_dim] of a ``sigmoid`` generator (its output is σ(ℓ))."""
        if self.config.output != "sigmoid":
            raise ConfigError("logits are for a generator of binary images (output sigmoid)")
        return self.net[:-1](z)

    def sample(self, n: int, generator: torch.Generator | None = None) -> Tensor:
        """n samples from z ~ N(0, I) (noise from ``generator`` when given)."""
        device = next(self.parameters()).device
        z = torch.randn(n, self.config.z_dim, generator=generator, device=device)
        return self(z)


class Discriminator(nn.Module):
    """D(x) ∈ ℝ, a logit (or a critic value for WGAN): MLP with LeakyReLU(0.2); each linear
    layer spectrally normalised (W / σ_max(W), one power iteration per call) when asked."""

    def __init__(self, cfg: GANModelConfig) -> None:
        super().__init__()
        sizes = [cfg.x_dim, *[cfg.d_hidden] * cfg.d_layers, 1]
        self.net = nn.Sequential(
            *_stack(sizes, nn.LeakyReLU, cfg.spectral_norm, negative_slope=0.2)
        )

    def forward(self, x: Tensor) -> Tensor:
        """Logits [n]."""
        return self.net(x).squeeze(-1)


class EMA:
    """θ_ema ← β θ_ema + (1 − β) θ after each generator update (buffers copied)."""

    def __init__(self, model: nn.Module, decay: float) -> None:
        if not 0 < decay < 1:
            raise ConfigError(f"--ema decay must be in (0, 1), got {decay}")
        self.decay = decay
        self.model = copy.deepcopy(model)
        self.model.requires_grad_(False)

    @torch.no_grad()
    def update(self, model: nn.Module) -> None:
        """One averaging step towards ``model``'s current parameters."""
        for p_ema, p in zip(self.model.parameters(), model.parameters(), strict=True):
            p_ema.lerp_(p, 1 - self.decay)
        for b_ema, b in zip(self.model.buffers(), model.buffers(), strict=True):
            b_ema.copy_(b)

    def state_dict(self) -> dict[str, Any]:
        """The averaged model's state."""
        return self.model.state_dict()

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore the averaged model."""
        self.model.load_state_dict(state)
