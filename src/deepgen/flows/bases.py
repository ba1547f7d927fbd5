"""Base distributions as modules: their numbers are buffers or parameters, so they follow
``.to()`` / ``.double()`` / ``.cuda()`` and live in ``state_dict``. Calling one returns a
torch Distribution with event shape [features] and an empty batch shape.

* :class:`StandardNormal`: N(0, I) (buffers).
* :class:`DiagonalGaussian`: N(μ, diag σ²) with learned μ and log σ.
* :class:`GaussianMixture`: Σ_k π_k N(μ_k, diag σ_k²), learned (no reparameterized sampler:
  a flow on it samples, but cannot ``rsample``).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torch.distributions import Categorical, Distribution, Independent, MixtureSameFamily, Normal


def _diagonal_normal(loc: Tensor, scale: Tensor) -> Independent:
    # no argument validation on every call: the flow has checked its input already
    return Independent(Normal(loc, scale, validate_args=False), 1, validate_args=False)


class StandardNormal(nn.Module):
    """N(0, I) on ℝ^features.

    >>> import torch
    >>> base = StandardNormal(2).double()
    >>> base().log_prob(torch.zeros(2, dtype=torch.float64)).item()  # −log 2π
    -1.8378770664093453
    """

    loc: Tensor
    scale: Tensor

    def __init__(self, features: int) -> None:
        super().__init__()
        self.features = features
        self.register_buffer("loc", torch.zeros(features))
        self.register_buffer("scale", torch.ones(features))

    def forward(self) -> Distribution:
        """The distribution, on the module's device and dtype."""
        return _diagonal_normal(self.loc, self.scale)


class DiagonalGaussian(nn.Module):
    """N(μ, diag exp(2 log σ)) with learned μ and log σ (started at N(0, I)).

    >>> base = DiagonalGaussian(3)
    >>> base().sample((4,)).shape
    torch.Size([4, 3])
    """

    def __init__(self, features: int) -> None:
        super().__init__()
        self.features = features
        self.loc = nn.Parameter(torch.zeros(features))
        self.log_scale = nn.Parameter(torch.zeros(features))

    def forward(self) -> Distribution:
        """The distribution with the current parameters."""
        return _diagonal_normal(self.loc, torch.exp(self.log_scale))


class GaussianMixture(nn.Module):
    """Σ_k softmax(ℓ)_k N(μ_k, diag σ_k²) with ``components`` learned components; the means
    start spread (seeded N(0, I) draws), the scales at 1.

    >>> base = GaussianMixture(2, components=4)
    >>> base().log_prob(torch.zeros(5, 2)).shape
    torch.Size([5])
    """

    def __init__(self, features: int, components: int = 8, seed: int = 0) -> None:
        super().__init__()
        self.features, self.components = features, components
        g = torch.Generator().manual_seed(seed)
        self.logits = nn.Parameter(torch.zeros(components))
        self.loc = nn.Parameter(torch.randn(components, features, generator=g))
        self.log_scale = nn.Parameter(torch.zeros(components, features))

    def forward(self) -> Distribution:
        """The mixture with the current parameters."""
        mix = Categorical(logits=self.logits, validate_args=False)
        comp = _diagonal_normal(self.loc, torch.exp(self.log_scale))
        return MixtureSameFamily(mix, comp, validate_args=False)
