"""The parts a VAE is composed of, each a module that returns a torch Distribution.

* Encoders return q(z | x): :class:`GaussianEncoder` (N(μ(x), diag σ²(x))) and
  :class:`FlowEncoder` (that Gaussian followed by a conditional flow fed by an encoder context
  h(x): IAF, Kingma et al. 2016, or planar layers, Rezende & Mohamed 2015).
* :class:`BernoulliDecoder` returns p(x | z), independent Bernoulli pixels from logits.
* Priors return p(z): :class:`StandardNormalPrior`, :class:`VampPrior` (Tomczak & Welling
  2018: the aggregate of the encoder at K learned pseudo-inputs) and :class:`FlowPrior`.

Encoders work through their *local parameters* — the numbers the network predicts for one x
(μ, log σ² and, for a flow, h) — so that per-datapoint inference (the amortization gap)
optimises exactly those numbers and reuses the same family: ``encoder(x)`` is
``encoder.distribution(*encoder.local_params(x))``.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn
from torch.distributions import (
    Bernoulli,
    Categorical,
    Distribution,
    Independent,
    MixtureSameFamily,
)

from deepgen.distributions import DiagonalNormal, bernoulli_log_likelihood
from deepgen.errors import ConfigError, ShapeError
from deepgen.flows import (
    MAF,
    Compose,
    InverseTransform,
    MaskedAffineAutoregressive,
    Planar,
    Reverse,
    StandardNormal,
    Transform,
)
from deepgen.flows.distribution import FlowDistribution
from deepgen.flows.flow import Flow
from deepgen.nn import mlp


def _sizes(hidden: int | Sequence[int]) -> list[int]:
    """Hidden layer sizes: one int is one layer."""
    return [hidden] if isinstance(hidden, int) else list(hidden)


def _check_x(x: Tensor, x_dim: int) -> None:
    if x.dim() < 1 or x.shape[-1] != x_dim:
        raise ShapeError(
            f"expected inputs with {x_dim} features (last dimension), got shape {tuple(x.shape)}"
        )


class GaussianEncoder(nn.Module):
    """q(z | x) = N(μ(x), diag σ²(x)) from an MLP x → (μ, log σ²).

    >>> import torch
    >>> enc = GaussianEncoder(x_dim=6, hidden=16, z_dim=2)
    >>> q = enc(torch.rand(5, 6).round())
    >>> q.batch_shape, q.event_shape
    (torch.Size([5]), torch.Size([2]))
    """

    def __init__(
        self, x_dim: int, hidden: int | Sequence[int], z_dim: int, activation: str = "tanh"
    ) -> None:
        super().__init__()
        self.x_dim, self.z_dim = x_dim, z_dim
        self.net = mlp([x_dim, *_sizes(hidden), 2 * z_dim], activation)

    def local_params(self, x: Tensor) -> tuple[Tensor, ...]:
        """(μ(x), log σ²(x))."""
        _check_x(x, self.x_dim)
        return tuple(self.net(x).chunk(2, dim=-1))

    def distribution(self, loc: Tensor, log_var: Tensor) -> DiagonalNormal:
        """N(loc, diag exp(log_var))."""
        return DiagonalNormal(loc, log_var)

    def forward(self, x: Tensor) -> DiagonalNormal:
        """q(z | x)."""
        return self.distribution(*self.local_params(x))


class FlowEncoder(nn.Module):
    """q(z | x): z₀ ~ N(μ(x), diag σ²(x)), z = T(z₀; h(x)), T a stack of conditional layers.

    ``flow="iaf"``: inverse autoregressive layers (z_i = z₀ᵢ·exp(s_i) + t_i, (t, s) a MADE of
    (z₀_<i, h)), reversed between layers; ``flow="planar"``: planar layers whose u, w, b are
    an MLP of h. Both sample and score their own samples in one pass:
    log q(z) = log N(z₀; μ, σ²) − Σ log|det ∂T_l|.

    >>> import torch
    >>> enc = FlowEncoder(x_dim=6, hidden=16, z_dim=2, flow="iaf", layers=2, context=4)
    >>> z, log_q = enc(torch.rand(5, 6).round()).rsample_and_log_prob((3,))
    >>> z.shape, log_q.shape
    (torch.Size([3, 5, 2]), torch.Size([3, 5]))
    """

    def __init__(
        self,
        x_dim: int,
        hidden: int | Sequence[int],
        z_dim: int,
        flow: str = "iaf",
        layers: int = 2,
        context: int = 16,
        flow_hidden: int | Sequence[int] = (64, 64),
        activation: str = "tanh",
    ) -> None:
        super().__init__()
        if flow not in ("iaf", "planar"):
            raise ConfigError(f"unknown flow posterior {flow!r}; choose iaf or planar")
        if layers < 1:
            raise ConfigError(f"a flow posterior needs at least 1 layer, got {layers}")
        self.x_dim, self.z_dim, self.context_size = x_dim, z_dim, context
        self.net = mlp([x_dim, *_sizes(hidden), 2 * z_dim + context], activation)
        steps: list[Transform] = []
        for i in range(layers):
            if flow == "iaf":
                made = MaskedAffineAutoregressive(z_dim, flow_hidden, context=context)
                steps.append(InverseTransform(made))
                if i < layers - 1 and z_dim > 1:
                    steps.append(Reverse(z_dim))
            else:
                steps.append(InverseTransform(Planar(z_dim, context=context, hidden=flow_hidden)))
        # the flow's transform maps z → z₀ (data → noise); sampling runs its inverse, z₀ → z
        self.transform = Compose(list(reversed(steps)))

    def local_params(self, x: Tensor) -> tuple[Tensor, ...]:
        """(μ(x), log σ²(x), h(x))."""
        _check_x(x, self.x_dim)
        return tuple(self.net(x).split([self.z_dim, self.z_dim, self.context_size], dim=-1))

    def distribution(self, loc: Tensor, log_var: Tensor, h: Tensor) -> FlowDistribution:
        """The flow over N(loc, diag exp(log_var)) with context h."""
        return FlowDistribution(DiagonalNormal(loc, log_var), self.transform, h)

    def forward(self, x: Tensor) -> FlowDistribution:
        """q(z | x)."""
        return self.distribution(*self.local_params(x))


class BernoulliLogits(Independent):
    """D independent Bernoulli pixels from logits l: log p(x) = Σ_i x_i l_i − softplus(l_i).

    >>> import torch
    >>> p = BernoulliLogits(torch.zeros(3, 4))       # every pixel 1/2
    >>> p.log_prob(torch.ones(3, 4))                 # 4 log ½
    tensor([-2.7726, -2.7726, -2.7726])
    """

    def __init__(self, logits: Tensor, validate: bool = False) -> None:
        self.validate = validate
        super().__init__(Bernoulli(logits=logits, validate_args=False), 1, validate_args=False)

    @property
    def logits(self) -> Tensor:
        """The logits l."""
        return self.base_dist.logits

    def log_prob(self, value: Tensor) -> Tensor:
        """Σ_i x_i l_i − softplus(l_i) (binary values checked when ``validate``)."""
        return bernoulli_log_likelihood(self.logits, value, validate=self.validate)


class BernoulliDecoder(nn.Module):
    """p(x | z): Bernoulli pixels with logits from an MLP z → x.

    >>> import torch
    >>> dec = BernoulliDecoder(z_dim=2, hidden=16, x_dim=6)
    >>> dec(torch.randn(3, 5, 2)).log_prob(torch.ones(5, 6)).shape
    torch.Size([3, 5])
    """

    def __init__(
        self, z_dim: int, hidden: int | Sequence[int], x_dim: int, activation: str = "tanh"
    ) -> None:
        super().__init__()
        self.z_dim, self.x_dim = z_dim, x_dim
        self.net = mlp([z_dim, *_sizes(hidden), x_dim], activation)

    def logits(self, z: Tensor) -> Tensor:
        """Logits of the D pixels."""
        if z.shape[-1] != self.z_dim:
            raise ShapeError(f"expected latents with {self.z_dim} features, got {z.shape[-1]}")
        return self.net(z)

    def forward(self, z: Tensor) -> BernoulliLogits:
        """p(x | z)."""
        return BernoulliLogits(self.logits(z))


class StandardNormalPrior(StandardNormal):
    """p(z) = N(0, I) (buffers: it follows .to() and lives in state_dict).

    >>> StandardNormalPrior(3)().event_shape
    torch.Size([3])
    """


class VampPrior(nn.Module):
    """p(z) = (1/K) Σ_k q(z | u_k): the encoder's posterior at K learned pseudo-inputs u_k.

    The pseudo-inputs start as uniform draws on [0, 1]^D (seeded).

    >>> import torch
    >>> enc = GaussianEncoder(x_dim=6, hidden=16, z_dim=2)
    >>> prior = VampPrior(enc, components=10)
    >>> prior().log_prob(torch.randn(4, 2)).shape
    torch.Size([4])
    """

    def __init__(self, encoder: nn.Module, components: int = 100, seed: int = 0) -> None:
        super().__init__()
        if components < 1:
            raise ConfigError(f"a VampPrior needs at least 1 pseudo-input, got {components}")
        g = torch.Generator().manual_seed(seed)
        self.pseudo_inputs = nn.Parameter(torch.rand(components, encoder.x_dim, generator=g))
        # a reference, not a submodule: the encoder's parameters are registered once, by the VAE
        self._encoder = [encoder]

    def forward(self) -> Distribution:
        """The equal mixture of q(z | u_k), k = 1..K."""
        comp = self._encoder[0](self.pseudo_inputs)
        k = self.pseudo_inputs.shape[0]
        mix = Categorical(logits=self.pseudo_inputs.new_zeros(k), validate_args=False)
        return MixtureSameFamily(mix, comp, validate_args=False)


class FlowPrior(nn.Module):
    """p(z) an unconditional flow (by default a MAF with ``layers`` layers).

    >>> import torch
    >>> FlowPrior(2, layers=2)().log_prob(torch.randn(4, 2)).shape
    torch.Size([4])
    """

    def __init__(self, z_dim: int, layers: int = 4, hidden: Sequence[int] = (64, 64)) -> None:
        super().__init__()
        self.flow: Flow = MAF(z_dim, transforms=layers, hidden=hidden)

    def forward(self) -> Distribution:
        """The flow's distribution."""
        return self.flow()


__all__ = [
    "BernoulliDecoder",
    "BernoulliLogits",
    "FlowEncoder",
    "FlowPrior",
    "GaussianEncoder",
    "StandardNormalPrior",
    "VampPrior",
]
