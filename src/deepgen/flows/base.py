"""The transform protocol, composition, inversion, and ``Flow`` (base distribution + transform).

For a bijection f with y = f(x): p_X(x) = p_Y(f(x)) |det ∂f/∂x|, so
log p_X(x) = log p_Y(y) + log|det J_f(x)|; composition adds log-determinants.
"""

from __future__ import annotations

from collections.abc import Iterable

import torch
from torch import Tensor, nn
from torch.distributions import Distribution

from deepgen.errors import DataError, ShapeError


def check_features(x: Tensor, features: int, what: str = "input") -> None:
    """Raise a one-line ShapeError unless ``x`` is [batch, features], and DataError on NaN/inf."""
    if x.dim() != 2 or x.shape[1] != features:
        raise ShapeError(f"{what} must have shape [batch, {features}], got {list(x.shape)}")
    # one reduction and one host sync; the element-wise test only when the sum is not finite
    # (which a sum of huge finite values can also be)
    if not bool(torch.isfinite(x.sum())) and not bool(torch.isfinite(x).all()):
        raise DataError(f"{what} contains NaN or infinite values")


class Transform(nn.Module):
    """An invertible map on ℝ^features: ``forward`` and ``inverse`` return (output, log|det J|)."""

    features: int

    def forward(self, x: Tensor, context: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """y = f(x) and log|det ∂f/∂x| per sample."""
        raise NotImplementedError

    def inverse(self, y: Tensor, context: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """x = f⁻¹(y) and log|det ∂f⁻¹/∂y| = −log|det ∂f/∂x| per sample."""
        raise NotImplementedError


class Compose(Transform):
    """f = f_n ∘ … ∘ f_1: forward applies them in order, log-determinants add."""

    def __init__(self, transforms: Iterable[Transform]) -> None:
        super().__init__()
        self.transforms = nn.ModuleList(transforms)
        if len(self.transforms) == 0:
            raise ValueError("Compose needs at least one transform")
        sizes = {t.features for t in self.transforms}
        if len(sizes) != 1:
            raise ShapeError(f"composed transforms disagree on the feature size: {sorted(sizes)}")
        self.features = sizes.pop()

    def forward(self, x: Tensor, context: Tensor | None = None) -> tuple[Tensor, Tensor]:
        first, *rest = self.transforms
        x, total = first(x, context)
        for t in rest:
            x, ld = t(x, context)
            total = total + ld
        return x, total

    def inverse(self, y: Tensor, context: Tensor | None = None) -> tuple[Tensor, Tensor]:
        last, *rest = reversed(self.transforms)
        y, total = last.inverse(y, context)
        for t in rest:
            y, ld = t.inverse(y, context)
            total = total + ld
        return y, total


class InverseTransform(Transform):
    """The inverse of a transform: swaps its two directions."""

    def __init__(self, transform: Transform) -> None:
        super().__init__()
        self.base = transform
        self.features = transform.features

    def forward(self, x: Tensor, context: Tensor | None = None) -> tuple[Tensor, Tensor]:
        return self.base.inverse(x, context)

    def inverse(self, y: Tensor, context: Tensor | None = None) -> tuple[Tensor, Tensor]:
        return self.base(y, context)


class Reverse(Transform):
    """Reverses the order of the features (a permutation: log|det| = 0)."""

    def __init__(self, features: int) -> None:
        super().__init__()
        self.features = features

    def forward(self, x: Tensor, context: Tensor | None = None) -> tuple[Tensor, Tensor]:
        return x.flip(-1), x.new_zeros(x.shape[0])

    def inverse(self, y: Tensor, context: Tensor | None = None) -> tuple[Tensor, Tensor]:
        return y.flip(-1), y.new_zeros(y.shape[0])


class Flow(nn.Module):
    """A density: x = f⁻¹(z), z ~ base; log p(x) = log p_base(f(x)) + log|det J_f(x)|.

    ``transform`` maps data to noise. ``base`` is a torch Distribution whose event shape is
    [features] (e.g. Independent(Normal(0, 1), 1)).
    """

    def __init__(self, base: Distribution, transform: Transform) -> None:
        super().__init__()
        self.base = base
        self.transform = transform
        self.features = transform.features

    def log_prob(self, x: Tensor, context: Tensor | None = None) -> Tensor:
        """Exact log-density of x, shape [batch]."""
        check_features(x, self.features)
        z, logabsdet = self.transform(x, context)
        return self.base.log_prob(z) + logabsdet

    def sample(self, n: int, context: Tensor | None = None) -> Tensor:
        """n samples x = f⁻¹(z)."""
        return self.sample_and_log_prob(n, context)[0]

    def sample_and_log_prob(self, n: int, context: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """n samples and their log-density, using one pass of the inverse."""
        z = self.base.sample((n,))
        x, logabsdet_inv = self.transform.inverse(z, context)
        return x, self.base.log_prob(z) - logabsdet_inv
