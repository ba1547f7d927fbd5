"""Ready-made flows by name, as ``deepgen flow --flow KIND`` builds them.

Every flow starts with an :class:`ActNorm` (data-dependent standardization) and maps data to a
standard normal. Blocks alternate which half they change (couplings) or reverse / permute the
features between layers (autoregressive and SPEC §3 blocks), so every feature is transformed.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from deepgen.errors import ConfigError
from deepgen.flows.actnorm import ActNorm
from deepgen.flows.autoregressive import MaskedAffineAutoregressive
from deepgen.flows.base import Compose, Reverse, Transform
from deepgen.flows.coupling import AffineCoupling, ScaledAffineCoupling
from deepgen.flows.flow import Flow
from deepgen.flows.permutation import Permutation
from deepgen.flows.planar import Planar
from deepgen.flows.radial import Radial
from deepgen.flows.residual import ResidualBlock
from deepgen.flows.sigmoidal import SigmoidalCoupling


def _realnvp(d: int, i: int, hidden: int) -> list[Transform]:
    return [AffineCoupling(d, hidden, swap=bool(i % 2))]


def _scaled(d: int, i: int, hidden: int) -> list[Transform]:
    return [ScaledAffineCoupling(d, hidden), Reverse(d)]


def _maf(d: int, i: int, hidden: int) -> list[Transform]:
    return [MaskedAffineAutoregressive(d, hidden), Reverse(d)]


def _residual(d: int, i: int, hidden: int) -> list[Transform]:
    return [ResidualBlock(d, hidden)]


def _sigmoidal(d: int, i: int, hidden: int) -> list[Transform]:
    return [SigmoidalCoupling(d, hidden, swap=bool(i % 2))]


def _planar(d: int, i: int, hidden: int) -> list[Transform]:
    return [Planar(d)]


def _radial(d: int, i: int, hidden: int) -> list[Transform]:
    return [Radial(d)]


# kind -> (blocks of layer i, default number of layers)
KINDS: dict[str, tuple[Callable[[int, int, int], list[Transform]], int]] = {
    "realnvp": (_realnvp, 8),
    "scaled-coupling": (_scaled, 8),
    "maf": (_maf, 5),
    "residual": (_residual, 8),
    "sigmoidal": (_sigmoidal, 4),
    "planar": (_planar, 32),
    "radial": (_radial, 32),
}


def build_transform(
    kind: str, features: int, layers: int | None = None, hidden: int = 64, permute: bool = False
) -> Compose:
    """ActNorm followed by ``layers`` blocks of ``kind``; ``permute`` adds a fixed random
    permutation between blocks (useful for images, where halves are spatially coherent)."""
    if kind not in KINDS:
        raise ConfigError(f"unknown flow {kind!r}; choose from {', '.join(KINDS)}")
    blocks, default_layers = KINDS[kind]
    n = default_layers if layers is None else layers
    if n < 1:
        raise ConfigError(f"a flow needs at least one layer, got {n}")
    if features < 2 and kind in ("realnvp", "scaled-coupling", "sigmoidal"):
        raise ConfigError(f"a {kind} flow needs at least 2 features, got {features}")
    if kind == "scaled-coupling" and features % 2:
        raise ConfigError(f"scaled-coupling needs an even number of features, got {features}")
    transforms: list[Transform] = [ActNorm(features)]
    for i in range(n):
        transforms += blocks(features, i, hidden)
        if permute and i < n - 1:
            transforms.append(Permutation(features, seed=i))
    return Compose(transforms)


def build_flow(
    kind: str,
    features: int,
    layers: int | None = None,
    hidden: int = 64,
    permute: bool = False,
    device: torch.device | str = "cpu",
) -> Flow:
    """A :class:`Flow` with a standard normal base, built on ``device``."""
    return Flow(build_transform(kind, features, layers, hidden, permute)).to(device)
