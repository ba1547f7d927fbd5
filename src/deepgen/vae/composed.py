"""A VAE composed of parts: an encoder returning q(z|x), a decoder returning p(x|z), a prior p(z).

Every objective is a function of the log weights log w = log p(x|z) + log p(z) − log q(z|x) of
samples z ~ q(z|x) (:mod:`deepgen.objectives`): the ELBO — with the closed-form KL when one is
registered for (q, p), e.g. a Gaussian posterior and a standard normal prior — the β-ELBO,
IWAE, MIWAE, PIWAE and CIWAE, and DReG as the encoder's gradient estimator for IWAE.

:func:`build_vae` makes the seed :class:`~deepgen.vae.model.VAE` (its own fast path) when the
configuration is the seed's, and a :class:`ComposedVAE` otherwise.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass

import torch
from torch import Tensor, nn
from torch.distributions import Distribution, kl_divergence

from deepgen import objectives
from deepgen.distributions import DiagonalNormal, check_binary, reparameterize
from deepgen.errors import ConfigError
from deepgen.flows.distribution import FlowDistribution
from deepgen.vae.model import VAE, ElboTerms, VAEConfig
from deepgen.vae.parts import (
    BernoulliDecoder,
    FlowEncoder,
    FlowPrior,
    GaussianEncoder,
    StandardNormalPrior,
    VampPrior,
)


def next_seed(generator: torch.Generator) -> int:
    """A seed drawn from ``generator`` (which advances)."""
    return int(torch.randint(0, 2**62, (), generator=generator, device=generator.device))


@contextlib.contextmanager
def forked_rng(seed: int, device: torch.device) -> Iterator[None]:
    """Inside the block the global RNG (of ``device``) is seeded with ``seed``, and restored
    afterwards: two blocks with the same seed draw the same noise."""
    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
        torch.manual_seed(seed)
        yield


@contextlib.contextmanager
def seeded_from(generator: torch.Generator | None) -> Iterator[None]:
    """Inside the block the global RNG (of the generator's device) is seeded from ``generator``
    and restored afterwards; with None, the global RNG is used as it is."""
    if generator is None:
        yield
        return
    with forked_rng(next_seed(generator), generator.device):
        yield


@dataclass
class _Draw:
    """K samples z ~ q(z|x) and their terms, each [K, batch]; q and p(z) as built for them."""

    z: Tensor
    log_px_z: Tensor
    log_pz: Tensor
    log_q: Tensor
    q: Distribution | None  # None: no single distribution (two stochastic layers)
    prior: Distribution | None

    @property
    def log_w(self) -> Tensor:
        """log p(x|z) + log p(z) − log q(z|x)."""
        return self.log_px_z + self.log_pz - self.log_q

    def kl(self) -> Tensor:
        """KL(q ‖ p) per example: closed form when registered, else the mean of log q − log p
        over these draws."""
        closed = closed_form_kl(self.q, self.prior)
        return (self.log_q - self.log_pz).mean(0) if closed is None else closed


def closed_form_kl(q: Distribution | None, p: Distribution | None) -> Tensor | None:
    """KL(q ‖ p) when torch.distributions has it registered for the pair, else None."""
    if q is None or p is None or isinstance(q, FlowDistribution):
        return None
    try:
        return kl_divergence(q, p)
    except NotImplementedError:
        return None


class ComposedVAE(nn.Module):
    """A VAE from an encoder (x → q(z|x)), a decoder (z → p(x|z)) and a prior (() → p(z)).

    >>> import torch
    >>> from deepgen.vae import ComposedVAE, VAEConfig
    >>> vae = ComposedVAE.from_config(VAEConfig(x_dim=6, hidden=16, z_dim=2, posterior="iaf"))
    >>> x = torch.rand(5, 6).round()
    >>> loss, stats = vae.loss(x)
    >>> vae.log_weights(x, k=10).shape
    torch.Size([10, 5])
    """

    def __init__(
        self, encoder: nn.Module, decoder: nn.Module, prior: nn.Module, config: VAEConfig
    ) -> None:
        super().__init__()
        self.encoder, self.decoder, self.prior, self.config = encoder, decoder, prior, config

    @classmethod
    def from_config(cls, c: VAEConfig) -> ComposedVAE:
        """The parts a :class:`VAEConfig` names."""
        encoder = build_encoder(c)
        if c.arch == "conv":
            from deepgen.vae.conv import ConvBernoulliDecoder

            decoder: nn.Module = ConvBernoulliDecoder(c.z_dim, c.channels, c.x_dim)
        else:
            decoder = BernoulliDecoder(c.z_dim, c.hidden_sizes, c.x_dim, c.activation)
        if c.prior == "normal":
            prior: nn.Module = StandardNormalPrior(c.z_dim)
        elif c.prior == "vamp":
            prior = VampPrior(encoder, c.pseudo_inputs or 100)
        else:
            prior = FlowPrior(c.z_dim, c.prior_flows or 4)
        return cls(encoder, decoder, prior, c)

    # --- the parts --------------------------------------------------------------------------
    def encode(self, x: Tensor) -> Distribution:
        """q(z | x)."""
        return self.encoder(x)

    def decode(self, z: Tensor) -> Tensor:
        """Logits of the pixels of p(x | z)."""
        return self.decoder.logits(z)

    def local_params(self, x: Tensor) -> tuple[Tensor, ...]:
        """The encoder's output for x (what per-datapoint inference optimises)."""
        return self.encoder.local_params(x)

    def posterior(self, *params: Tensor) -> Distribution:
        """q(z | x) from its local parameters."""
        return self.encoder.distribution(*params)

    def prior_distribution(self) -> Distribution:
        """p(z)."""
        return self.prior()

    def log_likelihood(self, x: Tensor, z: Tensor) -> Tensor:
        """log p(x | z), [..., batch]."""
        return self.decoder(z).log_prob(x)

    def log_joint(self, x: Tensor, z: Tensor) -> Tensor:
        """log p(x | z) + log p(z), [..., batch]."""
        return self.log_likelihood(x, z) + self.prior().log_prob(z)

    # --- log weights and objectives ---------------------------------------------------------
    def _draw(self, x: Tensor, k: int, validate: bool, dreg: bool = False) -> _Draw:
        """K samples z ~ q(z|x) with log p(x|z), log p(z) and log q(z|x); p(z) is built once."""
        if validate:
            check_binary(x)
        if dreg:  # log q at z with the variational parameters stopped (Tucker et al. 2019)
            loc, log_var = self.encoder.local_params(x)
            q: Distribution = DiagonalNormal(loc, log_var)
            z = reparameterize(loc, log_var, (k,))
            log_q = DiagonalNormal(loc.detach(), log_var.detach()).log_prob(z)
        else:
            q = self.encoder(x)
            z, log_q = q.rsample_and_log_prob((k,))
        prior = self.prior()
        return _Draw(z, self.log_likelihood(x, z), prior.log_prob(z), log_q, q, prior)

    def log_weights(
        self, x: Tensor, k: int, generator: torch.Generator | None = None, validate: bool = True
    ) -> Tensor:
        """log w_k = log p(x | z_k) + log p(z_k) − log q(z_k | x), z_k ~ q: [K, batch]."""
        with seeded_from(generator):
            return self._draw(x, k, validate).log_w

    def elbo_terms(
        self,
        x: Tensor,
        samples: int | None = None,
        generator: torch.Generator | None = None,
        validate: bool = True,
    ) -> ElboTerms:
        """E_q[log p(x|z)] over ``samples`` draws and KL(q ‖ p): closed form when registered,
        else the Monte Carlo mean of log q − log p over the same draws."""
        with seeded_from(generator):
            d = self._draw(x, samples or self.config.samples, validate)
        return ElboTerms(rec=d.log_px_z.mean(0), kl=d.kl())

    def loss(
        self, x: Tensor, generator: torch.Generator | None = None, validate: bool = True
    ) -> tuple[Tensor, dict[str, Tensor]]:
        """Minibatch loss whose gradient is the configured estimator of −objective, and
        detached statistics: ``objective`` (its value), ``rec`` and ``kl``."""
        c = self.config
        kl: Tensor | None = None
        with seeded_from(generator):
            d = self._draw(x, c.samples, validate, dreg=c.estimator == "dreg")
            log_w = d.log_w
            if c.objective == "elbo":
                kl = d.kl()
                value = objectives.beta_elbo_closed_form(
                    d.log_px_z.mean(0), kl, 1.0 if c.beta is None else c.beta
                )
                loss = -value.mean()
            elif c.objective == "iwae":
                value = objectives.iwae(log_w)
                dreg = c.estimator == "dreg"
                loss = objectives.dreg_surrogate(log_w, d.z) if dreg else -value.mean()
            elif c.objective == "miwae":
                value = objectives.miwae(log_w, c.groups or 1)
                loss = -value.mean()
            elif c.objective == "ciwae":
                value = objectives.ciwae(log_w, 1.0 if c.beta is None else c.beta)
                loss = -value.mean()
            elif c.objective == "piwae":
                zd = d.z.detach()
                joint = self.log_likelihood(x, zd) + d.prior.log_prob(zd)
                value = objectives.iwae(log_w)
                loss = objectives.piwae_surrogate(log_w, joint, c.groups or 1)
            else:  # pragma: no cover - VAEConfig validates the objective
                raise ConfigError(f"unknown objective {c.objective!r}")
        with torch.no_grad():
            kl_mean = (d.kl() if kl is None else kl).mean()
            stats = {"objective": value.mean(), "rec": d.log_px_z.mean(), "kl": kl_mean}
        return loss, {k: v.detach() for k, v in stats.items()}

    # --- using the model --------------------------------------------------------------------
    @torch.no_grad()
    def posterior_point(self, x: Tensor) -> Tensor:
        """A representative z for x: the posterior mean (Gaussian q), or the image of the base
        mean under the flow (flow q)."""
        q = self.encoder(x)
        if isinstance(q, FlowDistribution):
            base = q.base
            assert isinstance(base, DiagonalNormal)
            return q.transform.inverse(base.loc, q.context)[0]
        return q.mean

    @torch.no_grad()
    def reconstruct(self, x: Tensor) -> Tensor:
        """Pixel means σ(decoder(z)) at :meth:`posterior_point`."""
        return torch.sigmoid(self.decode(self.posterior_point(x)))

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator | None = None) -> Tensor:
        """Pixel means of n images decoded from z ~ p(z)."""
        with seeded_from(generator):
            z = self.prior().sample((n,))
        return torch.sigmoid(self.decode(z))


def build_encoder(c: VAEConfig) -> nn.Module:
    """q(z | x) as ``c`` names it: convolutional or MLP Gaussian, or a flow posterior."""
    if c.arch == "conv":
        from deepgen.vae.conv import ConvGaussianEncoder

        return ConvGaussianEncoder(c.x_dim, c.channels, c.z_dim)
    if c.posterior == "gaussian":
        return GaussianEncoder(c.x_dim, c.hidden_sizes, c.z_dim, c.activation)
    return FlowEncoder(
        c.x_dim,
        c.hidden_sizes,
        c.z_dim,
        c.posterior,
        c.layers,
        c.flow_context,
        activation=c.activation,
    )


def build_vae(config: VAEConfig) -> VAE | ComposedVAE:
    """The seed VAE (fast path) when ``config`` is the seed's, a :class:`HierarchicalVAE` with
    a second stochastic layer, else a :class:`ComposedVAE`."""
    if config.seed_model:
        return VAE(config)
    if config.z2_dim is not None:
        from deepgen.vae.hierarchical import HierarchicalVAE  # it builds on this module

        return HierarchicalVAE.from_config(config)
    return ComposedVAE.from_config(config)


def describe_model(c: VAEConfig) -> str:
    """One paragraph naming the architecture, posterior, prior, objective and estimator."""
    h = "→".join(str(n) for n in c.hidden_sizes)
    enc = f"encoder {c.x_dim}→{h} ({c.activation})→2×{c.z_dim}, a Gaussian q(z|x)"
    if c.arch == "conv":
        enc = (
            f"convolutional encoder (4×4 stride-2 convolutions of {c.channels} and "
            f"{2 * c.channels} channels, ReLU)→2×{c.z_dim}, a Gaussian q(z|x)"
        )
    if c.posterior != "gaussian":
        kind = "inverse autoregressive (IAF)" if c.posterior == "iaf" else "planar"
        enc += (
            f" followed by {c.layers} {kind} layers conditioned on a {c.flow_context}-feature "
            "encoder context h(x)"
        )
    dec = f"decoder {c.z_dim}→{h} ({c.activation})→{c.x_dim} Bernoulli logits"
    if c.arch == "conv":
        dec = (
            f"decoder {c.z_dim}→linear→two 4×4 stride-2 transposed convolutions→{c.x_dim} "
            "Bernoulli logits"
        )
    if c.z2_dim is not None:
        h2 = "→".join(str(n) for n in c.hidden2_sizes)
        enc += f", then q(z2|z) {c.z_dim}→{h2}→2×{c.z2_dim}"
        dec = f"p(z|z2) {c.z2_dim}→{h2}→2×{c.z_dim} Gaussian, " + dec
    prior = {
        "normal": "prior N(0, I)",
        "vamp": f"VampPrior with {c.pseudo_inputs or 100} learned pseudo-inputs",
        "flow": f"a MAF prior with {c.prior_flows or 4} layers",
    }[c.prior] + (" on z2" if c.z2_dim is not None else "")
    s = c.samples
    objective = {
        "elbo": (
            f"ELBO with {s} reparameterized sample{'s' * (s > 1)} per image"
            if c.beta in (None, 1.0)
            else f"β-ELBO (β = {c.beta}) with {s} sample{'s' * (s > 1)} per image"
        ),
        "iwae": f"the importance-weighted bound L_K with K = {s}",
        "miwae": f"MIWAE with {c.groups} groups of {s // (c.groups or 1)} samples",
        "piwae": (
            f"PIWAE: IWAE_{s} for the decoder, MIWAE with {c.groups} groups of "
            f"{s // (c.groups or 1)} for the encoder"
        ),
        "ciwae": f"CIWAE: {c.beta}·ELBO + {1 - (c.beta or 0):g}·IWAE_{s}",
    }[c.objective]
    estimator = "DReG" if c.estimator == "dreg" else "reparameterized"
    return (
        f"VAE: {enc}; {dec}; {prior}. Objective: {objective}; {estimator} gradients for the "
        "encoder."
    )
