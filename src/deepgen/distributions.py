"""Probability core: the diagonal Gaussian and the Bernoulli likelihood used by the models.

* ``DiagonalNormal(loc, log_var)``: q(z) = N(μ, diag σ²) with σ² = exp(log σ²), built on
  :class:`torch.distributions.Independent` so it plugs into ``torch.distributions`` code.
* Closed-form KL divergences, registered with :func:`torch.distributions.kl.kl_divergence`:
  KL(N(μ, σ²) ‖ N(0, 1)) = ½(μ² + σ² − 1) − log σ per dimension, summed over dimensions.
* ``bernoulli_log_likelihood(logits, x)``: Σ_i x_i log y_i + (1 − x_i) log(1 − y_i) with
  y = σ(logits), computed as x·l − softplus(l), which never takes the log of 0.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor
from torch.distributions import Independent, Normal, register_kl

from deepgen.errors import DataError, ShapeError
from deepgen.shard import draw

LOG_2PI = math.log(2.0 * math.pi)


class DiagonalNormal(Independent):
    """N(μ, diag σ²) over the last dimension, parameterized by μ and log σ².

    ``log_prob`` and ``entropy`` sum over the last dimension, so they have the batch shape.
    ``rsample`` is the reparameterization z = μ + σ ∘ ε with ε ~ N(0, I); :meth:`rsample_with`
    does the same with an explicit generator (for reproducible evaluation).
    """

    def __init__(self, loc: Tensor, log_var: Tensor, validate_args: bool = False) -> None:
        if loc.shape != log_var.shape:
            raise ShapeError(
                f"loc and log_var must have the same shape, got {tuple(loc.shape)} "
                f"and {tuple(log_var.shape)}"
            )
        if loc.dim() < 1:
            raise ShapeError("DiagonalNormal needs at least one (event) dimension")
        self.log_var = log_var
        base = Normal(loc, torch.exp(0.5 * log_var), validate_args=validate_args)
        super().__init__(base, 1, validate_args=validate_args)

    @property
    def loc(self) -> Tensor:
        """μ."""
        return self.base_dist.loc

    @property
    def scale(self) -> Tensor:
        """σ = exp(½ log σ²)."""
        return self.base_dist.scale

    def rsample(self, sample_shape: torch.Size | tuple[int, ...] = ()) -> Tensor:
        """z = μ + σ ∘ ε, ε ~ N(0, I) (under data parallelism: this process's slice of the
        global batch's draw)."""
        return reparameterize(self.loc, self.log_var, sample_shape)

    def sample(self, sample_shape: torch.Size | tuple[int, ...] = ()) -> Tensor:
        """A sample without gradients (drawn as :meth:`rsample`)."""
        with torch.no_grad():
            return self.rsample(sample_shape)

    def rsample_with(
        self,
        sample_shape: torch.Size | tuple[int, ...] = (),
        generator: torch.Generator | None = None,
    ) -> Tensor:
        """Reparameterized sample z = μ + σ ∘ ε, ε drawn with ``generator`` (global RNG if None)."""
        return reparameterize(self.loc, self.log_var, sample_shape, generator)

    def rsample_and_log_prob(
        self, sample_shape: torch.Size | tuple[int, ...] = ()
    ) -> tuple[Tensor, Tensor]:
        """Reparameterized z = μ + σ ∘ ε and log q(z), from the same ε (as flows offer it)."""
        eps = _standard_normal(torch.Size(sample_shape), self.loc, None)
        z = self.loc + self.scale * eps
        log_q = -0.5 * (eps.pow(2) + self.log_var + LOG_2PI).sum(-1)
        return z, log_q

    def log_prob(self, value: Tensor) -> Tensor:
        """log N(value; μ, σ²) summed over the event dimension (stable: uses log σ² directly)."""
        z = (value - self.loc) / self.scale
        return -0.5 * (z.pow(2) + self.log_var + LOG_2PI).sum(-1)

    def entropy(self) -> Tensor:
        """H = ½ Σ (1 + log 2π + log σ²)."""
        return 0.5 * (1.0 + LOG_2PI + self.log_var).sum(-1)

    def kl_to_standard_normal(self) -> Tensor:
        """KL(q ‖ N(0, I)) in closed form, shape = batch shape."""
        return kl_standard_normal(self.loc, self.log_var)


def reparameterize(
    loc: Tensor,
    log_var: Tensor,
    sample_shape: torch.Size | tuple[int, ...] = (),
    generator: torch.Generator | None = None,
) -> Tensor:
    """z = μ + exp(½ log σ²) ∘ ε with ε ~ N(0, I) of shape ``sample_shape + loc.shape``.

    The hot path of VAE training uses this directly, without building a distribution object.
    """
    eps = _standard_normal(torch.Size(sample_shape), loc, generator)
    return loc + torch.exp(0.5 * log_var) * eps


def _standard_normal(
    sample_shape: torch.Size, like: Tensor, generator: torch.Generator | None
) -> Tensor:
    """ε ~ N(0, I) of shape ``sample_shape + like.shape``; under data parallelism this
    process's slice of the draw for the global batch (the first dimension of ``like``)."""
    return draw(
        lambda shape: torch.randn(shape, generator=generator, dtype=like.dtype, device=like.device),
        sample_shape + like.shape,
        dim=len(sample_shape),
    )


def kl_standard_normal(loc: Tensor, log_var: Tensor) -> Tensor:
    """KL(N(μ, diag σ²) ‖ N(0, I)) = −½ Σ (1 + log σ² − μ² − σ²), summed over the last dim."""
    return 0.5 * (loc.pow(2) + log_var.exp() - 1.0 - log_var).sum(-1)


def kl_diagonal_normals(
    loc_p: Tensor, log_var_p: Tensor, loc_q: Tensor, log_var_q: Tensor
) -> Tensor:
    """KL(N(μp, σp²) ‖ N(μq, σq²)) = ½ Σ [log σq² − log σp² + (σp² + (μp − μq)²)/σq² − 1]."""
    return 0.5 * (
        log_var_q - log_var_p + (log_var_p.exp() + (loc_p - loc_q).pow(2)) / log_var_q.exp() - 1.0
    ).sum(-1)


@register_kl(DiagonalNormal, DiagonalNormal)
def _kl_diag_diag(p: DiagonalNormal, q: DiagonalNormal) -> Tensor:
    return kl_diagonal_normals(p.loc, p.log_var, q.loc, q.log_var)


def check_binary(x: Tensor, what: str = "data") -> None:
    """Raise :class:`DataError` unless every entry of ``x`` is exactly 0 or 1 (and finite)."""
    bad = (x != 0) & (x != 1)
    if bool(bad.any()):
        first = x[bad].flatten()[0].item()
        count = int(bad.sum())
        raise DataError(
            f"non-binary {what} for a Bernoulli likelihood: {count} value(s) not in {{0, 1}} "
            f"(first: {first!r}); binarize the data first"
        )


def bernoulli_log_likelihood(logits: Tensor, x: Tensor, validate: bool = True) -> Tensor:
    """log p(x | logits) = Σ_i x_i l_i − softplus(l_i), summed over the last dimension.

    ``logits`` may carry leading sample dimensions ([K, batch, D] against x of [batch, D]).
    With ``validate`` the targets are checked to be binary (a clear DataError otherwise).
    """
    if logits.shape[-1] != x.shape[-1]:
        raise ShapeError(f"logits have {logits.shape[-1]} features but the data has {x.shape[-1]}")
    if validate:
        check_binary(x)
    # the same function as x·l − softplus(l), in torch's fused (and stable) kernel
    nll = F.binary_cross_entropy_with_logits(logits, x.expand_as(logits), reduction="none")
    return -nll.sum(-1)
