"""The flow of a ``deepgen flow`` run: its config (:class:`FlowModelConfig`) and the builder.

Points in R^D: ``layers`` transforms of kind ``flow`` (:data:`deepgen.flows.zoo.KINDS`) with
``hidden``-unit conditioners on a N(0, I) base. Images in [0, 1)^D (dequantized pixels): a
:class:`Logit` first, then the same stack with permutations; or ``flow = "multiscale"``, the
RealNVP/Glow :class:`ImageFlow` (``scales`` levels of ``layers`` steps, ``coupling`` affine or
spline). ``dequantization`` "variational" adds a learned q(u | x) (Ho et al. 2019).

>>> import torch
>>> flow, deq = build_flow(FlowModelConfig(flow="maf", layers=2, hidden=8), features=2)
>>> flow.log_prob(torch.zeros(3, 2)).shape, deq is None
(torch.Size([3]), True)
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from deepgen.errors import ConfigError
from deepgen.flows.base import Compose
from deepgen.flows.bounded import Logit
from deepgen.flows.dequantization import VariationalDequantizer
from deepgen.flows.flow import Flow
from deepgen.flows.multiscale import ImageFlow
from deepgen.flows.zoo import KINDS, build_transform

FLOWS = (*KINDS, "multiscale")  # multiscale: the RealNVP/Glow image flow (images only)
DEQUANTIZATIONS = ("uniform", "variational")


@dataclass(frozen=True)
class FlowModelConfig:
    """The flow: ``flow`` kind, ``layers`` (None: the kind's default; multiscale: steps per
    scale, 4), ``hidden`` units or channels of the conditioners; multiscale only: ``scales``
    and the ``coupling`` map; images only: ``dequantization``.

    >>> FlowModelConfig(flow="multiscale", scales=3).images_only
    True
    >>> FlowModelConfig(flow="maf", coupling="spline")
    Traceback (most recent call last):
    ...
    deepgen.errors.ConfigError: --scales and --coupling go with --flow multiscale
    """

    flow: str = "realnvp"
    layers: int | None = None
    hidden: int = 64
    scales: int = 2  # multiscale: levels of squeeze → steps → factor-out
    coupling: str = "affine"  # multiscale: the coupling's map, affine or spline
    dequantization: str = "uniform"  # images: or "variational" (Ho et al. 2019)

    def __post_init__(self) -> None:
        if self.flow not in FLOWS:
            raise ConfigError(f"unknown flow {self.flow!r}; choose from {', '.join(FLOWS)}")
        if self.hidden < 1:
            raise ConfigError(f"hidden must be >= 1, got {self.hidden}")
        if self.layers is not None and self.layers < 1:
            raise ConfigError(f"layers must be >= 1, got {self.layers}")
        if self.dequantization not in DEQUANTIZATIONS:
            raise ConfigError(
                f"unknown dequantization {self.dequantization!r}; choose uniform or variational"
            )
        if self.coupling not in ("affine", "spline"):
            raise ConfigError(f"unknown coupling {self.coupling!r}; choose affine or spline")
        if self.scales < 1:
            raise ConfigError(f"scales must be >= 1, got {self.scales}")
        if self.flow != "multiscale" and (self.scales, self.coupling) != (2, "affine"):
            raise ConfigError("--scales and --coupling go with --flow multiscale")

    @property
    def images_only(self) -> bool:
        """Whether this flow can model only images (multiscale, or a learned dequantizer)."""
        return self.flow == "multiscale" or self.dequantization != "uniform"

    def to_dict(self) -> dict[str, Any]:
        """Plain dict (for checkpoints)."""
        return asdict(self)


def build_flow(
    cfg: FlowModelConfig,
    features: int,
    shape: tuple[int, int] | None = None,
    levels: int = 2,
    seed: int = 0,
) -> tuple[Flow, VariationalDequantizer | None]:
    """The flow for ``features``-dimensional points, or for dequantized images of ``shape``
    with ``levels`` grey levels; and the variational dequantizer (None when uniform)."""
    if cfg.images_only and shape is None:
        raise ConfigError("--flow multiscale and --dequantization variational are for images")
    dequantizer = None
    if cfg.dequantization == "variational":
        assert shape is not None
        dequantizer = VariationalDequantizer((1, *shape), levels=levels)
    if cfg.flow == "multiscale":
        assert shape is not None
        flow = ImageFlow(
            (1, *shape),
            levels=cfg.scales,
            steps=cfg.layers or 4,
            hidden=cfg.hidden,
            map=cfg.coupling,
            seed=seed,
        )
        return flow, dequantizer
    images = shape is not None
    transform = build_transform(cfg.flow, features, cfg.layers, cfg.hidden, permute=images)
    if images:
        transform = Compose([Logit(features, alpha=1e-4), *transform.transforms])
    return Flow(transform), dequantizer
