"""The VAE of Kingma & Welling (2013), Section 3 setup, with a Bernoulli decoder.

Encoder x → (μ, log σ²): Linear(D, H) → tanh → Linear(H, 2Z).  Decoder z → logits:
Linear(Z, H) → tanh → Linear(H, D); the pixel means are y = σ(logits).

Objective (maximised), per example:
  ELBO(x) = (1/L) Σ_l log p(x | z_l) − KL(q(z | x) ‖ N(0, I)),  z_l = μ + σ ∘ ε_l,
with the closed-form KL; or the IWAE bound L_K = log (1/K) Σ_k p(x, z_k) / q(z_k | x).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import torch
from torch import Tensor, nn
from torch.distributions import Distribution, Independent, Normal

from deepgen.bounds import iwae_bound
from deepgen.distributions import (
    LOG_2PI,
    DiagonalNormal,
    bernoulli_log_likelihood,
    kl_standard_normal,
    reparameterize,
)
from deepgen.errors import ConfigError, ShapeError
from deepgen.nn import ACTIVATIONS, mlp

OBJECTIVES = ("elbo", "iwae", "miwae", "piwae", "ciwae")
ESTIMATORS = ("reparam", "dreg")
POSTERIORS = ("gaussian", "iaf", "planar")
PRIORS = ("normal", "vamp", "flow")
DEFAULT_FLOWS = {"iaf": 2, "planar": 8}
ARCHS = ("mlp", "conv")


@dataclass(frozen=True)
class VAEConfig:
    """Architecture and objective. Defaults are SPEC §1: 196 → 128 → 8 latents, L = 2.

    ``posterior``/``flows``/``flow_context``: q(z|x) (gaussian, or iaf/planar with that many
    layers fed by an encoder context of ``flow_context`` features); ``prior`` with
    ``pseudo_inputs`` (vamp) or ``prior_flows`` (flow); ``objective`` on ``samples`` samples
    (``groups`` for miwae/piwae, ``beta`` for the β-ELBO and ciwae); ``estimator`` of the
    encoder's gradient. An option that the chosen parts do not use is refused, not ignored.

    >>> VAEConfig(posterior="iaf").layers
    2
    >>> VAEConfig(objective="miwae", samples=8, groups=2).seed_model
    False
    """

    x_dim: int = 196
    hidden: int = 128
    z_dim: int = 8
    activation: str = "tanh"
    depth: int = 1  # deterministic hidden layers of ``hidden`` units in each network
    z2_dim: int | None = None  # a second stochastic layer z2 above z (Burda et al. 2016)
    hidden2: int | None = None  # units of the depth layers between z and z2 (default hidden)
    arch: str = "mlp"  # or "conv": convolutional encoder and decoder (square images, side % 4)
    channels: int = 32  # conv: channels of the first convolution (then 2×)
    objective: str = "elbo"
    samples: int = 2  # L for the ELBO, K (all groups together) for the others
    posterior: str = "gaussian"
    flows: int | None = None
    flow_context: int = 16
    prior: str = "normal"
    pseudo_inputs: int | None = None
    prior_flows: int | None = None
    groups: int | None = None
    beta: float | None = None
    estimator: str = "reparam"

    def __post_init__(self) -> None:
        for name in ("x_dim", "hidden", "z_dim", "samples", "flow_context", "depth", "channels"):
            if getattr(self, name) < 1:
                raise ConfigError(f"VAE {name} must be >= 1, got {getattr(self, name)}")
        for name, value, choices in (
            ("objective", self.objective, OBJECTIVES),
            ("posterior", self.posterior, POSTERIORS),
            ("prior", self.prior, PRIORS),
            ("estimator", self.estimator, ESTIMATORS),
        ):
            if value not in choices:
                raise ConfigError(f"unknown {name} {value!r}; choose from {', '.join(choices)}")
        self._check_parts()
        self._check_objective()

    def _check_parts(self) -> None:
        if self.activation not in ACTIVATIONS:
            known = ", ".join(sorted(ACTIVATIONS))
            raise ConfigError(f"unknown activation {self.activation!r}; choose from {known}")
        if self.arch not in ARCHS:
            raise ConfigError(f"unknown arch {self.arch!r}; choose from {', '.join(ARCHS)}")
        if self.arch == "mlp" and self.channels != 32:
            raise ConfigError("--channels sizes the convolutions of --arch conv")
        if self.arch == "conv":
            from deepgen.vae.conv import image_side

            image_side(self.x_dim)
            if self.depth != 1:
                raise ConfigError("--depth sizes the MLP networks; --arch conv has its own")
            if self.activation != "tanh":
                raise ConfigError("activation sizes the MLP networks; --arch conv uses ReLU")
            if self.posterior != "gaussian" or self.z2_dim is not None:
                raise ConfigError(
                    "--arch conv is built with a Gaussian posterior and one stochastic layer"
                )
        if self.z2_dim is None:
            if self.hidden2 is not None:
                raise ConfigError(
                    "--hidden2 sizes the networks of a second stochastic layer: give --z2-dim too"
                )
        else:
            if self.z2_dim < 1 or (self.hidden2 is not None and self.hidden2 < 1):
                raise ConfigError("--z2-dim and --hidden2 must be >= 1")
            if self.prior == "vamp" or self.estimator != "reparam":
                raise ConfigError(
                    "a second stochastic layer (--z2-dim) is built with the normal or flow "
                    "prior and reparameterized gradients (no VampPrior, no DReG)"
                )
            if self.objective == "piwae":
                raise ConfigError("--objective piwae is not built for two stochastic layers")
        if self.posterior == "gaussian" and self.flows is not None:
            raise ConfigError("--flows needs a flow posterior (--posterior iaf or planar)")
        if self.flows is not None and self.flows < 1:
            raise ConfigError(f"--flows must be >= 1, got {self.flows}")
        if self.pseudo_inputs is not None and (self.prior != "vamp" or self.pseudo_inputs < 1):
            raise ConfigError("--pseudo-inputs K (K >= 1) goes with --prior vamp only")
        if self.prior_flows is not None and (self.prior != "flow" or self.prior_flows < 1):
            raise ConfigError("--prior-flows N (N >= 1) goes with --prior flow only")

    def _check_objective(self) -> None:
        kind = self.objective
        if kind in ("miwae", "piwae"):
            if self.groups is None:
                raise ConfigError(f"--objective {kind} needs --groups M (M divides --samples)")
            if self.groups < 1 or self.samples % self.groups:
                raise ConfigError(
                    f"--groups {self.groups} must be >= 1 and divide --samples {self.samples}"
                )
        elif self.groups is not None:
            raise ConfigError(f"--groups goes with --objective miwae or piwae, not {kind}")
        if kind == "ciwae":
            if self.beta is None or not 0.0 <= self.beta <= 1.0:
                raise ConfigError("--objective ciwae needs --beta B with 0 <= B <= 1")
        elif kind == "elbo":
            if self.beta is not None and not (math.isfinite(self.beta) and self.beta >= 0):
                raise ConfigError(f"--beta must be finite and >= 0, got {self.beta}")
        elif self.beta is not None:
            raise ConfigError(f"--beta goes with --objective elbo (β-ELBO) or ciwae, not {kind}")
        if self.estimator == "dreg":
            if kind != "iwae":
                raise ConfigError("--estimator dreg is the IWAE gradient: use --objective iwae")
            if self.posterior != "gaussian":
                raise ConfigError(
                    "--estimator dreg needs --posterior gaussian: it evaluates log q at a "
                    "given z with stopped parameters, which a flow posterior cannot do in one pass"
                )

    @property
    def seed_model(self) -> bool:
        """Whether the seed VAE (Gaussian q, N(0, I) prior, ELBO or IWAE, reparameterized
        gradients) is what this configures: it has its own fast path."""
        return (
            self.posterior == "gaussian"
            and self.prior == "normal"
            and self.objective in ("elbo", "iwae")
            and self.beta in (None, 1.0)
            and self.estimator == "reparam"
            and self.depth == 1
            and self.z2_dim is None
            and self.arch == "mlp"
        )

    @property
    def hidden_sizes(self) -> tuple[int, ...]:
        """Hidden layer sizes of the networks between x and z."""
        return (self.hidden,) * self.depth

    @property
    def hidden2_sizes(self) -> tuple[int, ...]:
        """Hidden layer sizes of the networks between z and z2."""
        return (self.hidden2 or self.hidden,) * self.depth

    @property
    def layers(self) -> int:
        """Layers of the flow posterior (0 for a Gaussian one)."""
        if self.posterior == "gaussian":
            return 0
        return DEFAULT_FLOWS[self.posterior] if self.flows is None else self.flows

    def to_dict(self) -> dict[str, Any]:
        """Plain dict (JSON-serialisable)."""
        return asdict(self)


@dataclass(frozen=True)
class ElboTerms:
    """Per-example terms of the ELBO: reconstruction E_q[log p(x|z)] and KL(q ‖ p).

    >>> import torch
    >>> ElboTerms(rec=torch.tensor([-30.0]), kl=torch.tensor([5.0])).elbo
    tensor([-35.])
    """

    rec: Tensor  # [batch]
    kl: Tensor  # [batch]

    @property
    def elbo(self) -> Tensor:
        """ELBO = rec − KL, per example."""
        return self.rec - self.kl


class VAE(nn.Module):
    """Gaussian encoder, Bernoulli decoder, standard normal prior.

    >>> import torch
    >>> vae = VAE()                                  # SPEC §1: 196 → 128 → 8
    >>> loss, stats = vae.loss(torch.rand(10, 196).round())
    >>> sorted(stats)
    ['kl', 'objective', 'rec']
    """

    def __init__(self, config: VAEConfig | None = None) -> None:
        super().__init__()
        self.config = config or VAEConfig()
        c = self.config
        if not c.seed_model:
            raise ConfigError(
                "the seed VAE has a Gaussian posterior, a N(0, I) prior and the ELBO or IWAE "
                "objective with reparameterized gradients; build other models with build_vae"
            )
        self.encoder = mlp([c.x_dim, c.hidden, 2 * c.z_dim], c.activation)
        self.decoder = mlp([c.z_dim, c.hidden, c.x_dim], c.activation)

    # --- the two networks -------------------------------------------------------------------
    def encode(self, x: Tensor) -> DiagonalNormal:
        """q(z | x) = N(μ(x), diag σ²(x)); the encoder predicts log σ², so it is unconstrained."""
        return DiagonalNormal(*self.encode_params(x))

    def encode_params(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """(μ(x), log σ²(x)), the two halves of the encoder's output."""
        self._check_input(x)
        loc, log_var = self.encoder(x).chunk(2, dim=-1)
        return loc, log_var

    def decode(self, z: Tensor) -> Tensor:
        """Logits of the D Bernoulli pixels; the means are their sigmoid."""
        if z.shape[-1] != self.config.z_dim:
            raise ShapeError(
                f"expected latents with {self.config.z_dim} features, got {z.shape[-1]}"
            )
        return self.decoder(z)

    # --- the interface every VAE shares (see ComposedVAE) -------------------------------------
    def local_params(self, x: Tensor) -> tuple[Tensor, ...]:
        """The encoder's output for x: (μ(x), log σ²(x))."""
        return self.encode_params(x)

    def posterior(self, loc: Tensor, log_var: Tensor) -> DiagonalNormal:
        """q(z | x) from its local parameters."""
        return DiagonalNormal(loc, log_var)

    def prior_distribution(self) -> Distribution:
        """p(z) = N(0, I) on the model's device and dtype."""
        w = self.decoder[0].weight
        zeros = w.new_zeros(self.config.z_dim)
        return Independent(Normal(zeros, torch.ones_like(zeros), validate_args=False), 1, False)

    def log_likelihood(self, x: Tensor, z: Tensor) -> Tensor:
        """log p(x | z), [..., batch]."""
        return bernoulli_log_likelihood(self.decode(z), x, validate=False)

    def log_joint(self, x: Tensor, z: Tensor) -> Tensor:
        """log p(x | z) + log N(z; 0, I), [..., batch]."""
        return self.log_likelihood(x, z) - 0.5 * (z.pow(2) + LOG_2PI).sum(-1)

    # --- objectives -------------------------------------------------------------------------
    def elbo_terms(
        self,
        x: Tensor,
        samples: int | None = None,
        generator: torch.Generator | None = None,
        validate: bool = True,
    ) -> ElboTerms:
        """Reconstruction term averaged over L reparameterized samples, and the closed-form KL."""
        n = samples or self.config.samples
        loc, log_var = self.encode_params(x)
        z = reparameterize(loc, log_var, (n,), generator)  # [L, batch, Z]
        rec = bernoulli_log_likelihood(self.decode(z), x, validate=validate).mean(0)
        return ElboTerms(rec=rec, kl=kl_standard_normal(loc, log_var))

    def _log_weights(
        self,
        x: Tensor,
        loc: Tensor,
        log_var: Tensor,
        k: int,
        generator: torch.Generator | None,
        validate: bool,
    ) -> tuple[Tensor, Tensor]:
        """(log w, log p(x | z)) for K samples z ~ N(loc, diag exp(log_var)), each [K, batch]."""
        z = reparameterize(loc, log_var, (k,), generator)
        log_px_z = bernoulli_log_likelihood(self.decode(z), x, validate=validate)
        log_prior = -0.5 * (z.pow(2) + LOG_2PI).sum(-1)
        log_q = DiagonalNormal(loc, log_var).log_prob(z)
        return log_px_z + log_prior - log_q, log_px_z

    def log_weights(
        self, x: Tensor, k: int, generator: torch.Generator | None = None, validate: bool = True
    ) -> Tensor:
        """log w_k = log p(x | z_k) + log N(z_k; 0, I) − log q(z_k | x), z_k ~ q: [K, batch]."""
        loc, log_var = self.encode_params(x)
        return self._log_weights(x, loc, log_var, k, generator, validate)[0]

    def iwae(
        self, x: Tensor, k: int, generator: torch.Generator | None = None, validate: bool = True
    ) -> Tensor:
        """The importance-weighted bound L_K per example (one K-sample estimate)."""
        return iwae_bound(self.log_weights(x, k, generator, validate))

    def loss(
        self, x: Tensor, generator: torch.Generator | None = None, validate: bool = True
    ) -> tuple[Tensor, dict[str, Tensor]]:
        """Minibatch loss (the negated objective, averaged) and detached per-batch statistics.

        The statistics always hold ``objective``, ``rec`` (E_q[log p(x|z)] from the same samples)
        and ``kl`` (closed form), whichever objective is trained.
        """
        if self.config.objective == "iwae":
            loc, log_var = self.encode_params(x)
            log_w, log_px_z = self._log_weights(
                x, loc, log_var, self.config.samples, generator, validate
            )
            loss = -iwae_bound(log_w).mean()
            with torch.no_grad():
                kl = kl_standard_normal(loc, log_var).mean()
                stats = {"objective": -loss, "rec": log_px_z.mean(), "kl": kl}
            return loss, stats
        terms = self.elbo_terms(x, generator=generator, validate=validate)
        loss = (terms.kl - terms.rec).mean()  # one autograd node chain: the hot path
        with torch.no_grad():
            stats = {"objective": -loss, "rec": terms.rec.mean(), "kl": terms.kl.mean()}
        return loss, stats

    # --- using the model --------------------------------------------------------------------
    @torch.no_grad()
    def reconstruct(self, x: Tensor) -> Tensor:
        """Pixel means σ(decoder(μ(x))): encode, take the posterior mean, decode."""
        return torch.sigmoid(self.decode(self.encode(x).loc))

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator | None = None) -> Tensor:
        """Pixel means of n images decoded from z ~ N(0, I)."""
        p = next(self.parameters())
        z = torch.randn(n, self.config.z_dim, generator=generator, device=p.device, dtype=p.dtype)
        return torch.sigmoid(self.decode(z))

    def _check_input(self, x: Tensor) -> None:
        if x.dim() < 1 or x.shape[-1] != self.config.x_dim:
            raise ShapeError(
                f"expected inputs with {self.config.x_dim} features (last dimension), "
                f"got shape {tuple(x.shape)}"
            )
