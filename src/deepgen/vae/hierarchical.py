"""A VAE with two stochastic layers (Burda et al. 2016, §5): x ← z1 ← z2.

Generative model p(z2) p(z1 | z2) p(x | z1): z2 ~ N(0, I) (or a flow prior, ``prior="flow"``),
z1 | z2 ~ N(μ(z2), diag σ²(z2)), x | z1 Bernoulli. Inference q(z1 | x) q(z2 | z1): diagonal
Gaussians, or q(z1 | x) a flow posterior (``posterior="iaf"`` or ``"planar"``). One importance
weight is w = p(x | z1) p(z1 | z2) p(z2) / (q(z1 | x) q(z2 | z1)), so every objective of
:mod:`deepgen.objectives` applies to its log weights unchanged; the KL term of the ELBO is
the Monte Carlo mean of log q(z1, z2 | x) − log p(z1, z2) (no closed form).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from deepgen.distributions import LOG_2PI, DiagonalNormal, check_binary
from deepgen.errors import ConfigError
from deepgen.shard import draw
from deepgen.vae.composed import ComposedVAE, _Draw, build_encoder, seeded_from
from deepgen.vae.model import VAEConfig
from deepgen.vae.parts import (
    BernoulliDecoder,
    FlowPrior,
    GaussianEncoder,
    StandardNormalPrior,
)


def _gaussian_draw(net: GaussianEncoder, given: Tensor) -> tuple[Tensor, Tensor]:
    """z ~ N(μ(given), σ²(given)) for given [K, batch, ·] and log q(z); the noise of the
    global batch under data parallelism (the batch is dimension 1)."""
    loc, log_var = net.local_params(given)
    eps = draw(lambda s: torch.randn(s, dtype=loc.dtype, device=loc.device), loc.shape, dim=1)
    z = loc + torch.exp(0.5 * log_var) * eps
    return z, -0.5 * (eps.pow(2) + log_var + LOG_2PI).sum(-1)


class HierarchicalVAE(ComposedVAE):
    """Two stochastic layers: ``encoder`` q(z1|x), ``encoder2`` q(z2|z1), ``conditional``
    p(z1|z2), ``decoder`` p(x|z1), ``prior`` p(z2) = N(0, I).

    >>> import torch
    >>> c = VAEConfig(x_dim=6, hidden=8, z_dim=3, z2_dim=2, hidden2=4, depth=2)
    >>> vae = HierarchicalVAE.from_config(c)
    >>> x = torch.rand(5, 6).round()
    >>> vae.log_weights(x, k=7).shape
    torch.Size([7, 5])
    """

    def __init__(
        self,
        encoder: nn.Module,
        encoder2: GaussianEncoder,
        conditional: GaussianEncoder,
        decoder: nn.Module,
        prior: nn.Module,
        config: VAEConfig,
    ) -> None:
        super().__init__(encoder, decoder, prior, config)
        self.encoder2, self.conditional = encoder2, conditional

    @classmethod
    def from_config(cls, c: VAEConfig) -> HierarchicalVAE:
        """The four networks of Burda et al.'s two-stochastic-layer architecture, with the
        posterior of z1 and the prior of z2 that ``c`` names."""
        if c.z2_dim is None:
            raise ConfigError("a HierarchicalVAE needs z2_dim (the second stochastic layer)")
        prior: nn.Module = StandardNormalPrior(c.z2_dim)
        if c.prior == "flow":
            prior = FlowPrior(c.z2_dim, c.prior_flows or 4)
        return cls(
            build_encoder(c),  # q(z1 | x)
            GaussianEncoder(c.z_dim, c.hidden2_sizes, c.z2_dim, c.activation),
            GaussianEncoder(c.z2_dim, c.hidden2_sizes, c.z_dim, c.activation),
            BernoulliDecoder(c.z_dim, c.hidden_sizes, c.x_dim, c.activation),
            prior,
            c,
        )

    def _draw(self, x: Tensor, k: int, validate: bool, dreg: bool = False) -> _Draw:
        """K draws (z1, z2) ~ q; log p(x|z1), log p(z1, z2) and log q(z1, z2 | x), [K, batch]."""
        if validate:
            check_binary(x)
        if dreg:  # pragma: no cover - VAEConfig refuses it
            raise ConfigError("DReG is not built for two stochastic layers")
        z1, log_q1 = self.encoder(x).rsample_and_log_prob((k,))
        z2, log_q2 = _gaussian_draw(self.encoder2, z1)
        log_p1 = DiagonalNormal(*self.conditional.local_params(z2)).log_prob(z1)
        log_p2 = self.prior().log_prob(z2)
        return _Draw(z1, self.log_likelihood(x, z1), log_p1 + log_p2, log_q1 + log_q2, None, None)

    def prior_distribution(self) -> torch.distributions.Distribution:
        """Refused: the marginal p(z1) = ∫ p(z1|z2) p(z2) dz2 has no closed form."""
        raise ConfigError(
            "this VAE has two stochastic layers: p(z1) has no closed form, so per-datapoint "
            "inference on z1 (deepgen vae gap) is not defined for it"
        )

    def log_joint(self, x: Tensor, z: Tensor) -> Tensor:
        """Refused, as :meth:`prior_distribution`."""
        self.prior_distribution()
        raise AssertionError  # pragma: no cover

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator | None = None) -> Tensor:
        """Pixel means of n images: z2 ~ p(z2), z1 ~ p(z1 | z2), σ(decoder(z1))."""
        with seeded_from(generator):
            z2 = self.prior().sample((n,))
            z1 = DiagonalNormal(*self.conditional.local_params(z2)).sample()
        return torch.sigmoid(self.decode(z1))
