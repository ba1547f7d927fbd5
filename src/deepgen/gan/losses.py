"""GAN objectives on discriminator outputs, and the gradient penalties.

With r = D(x_real), f = D(G(z)) (logits; critic values for WGAN), each loss is minimised:

- minimax: L_D = softplus(−r) + softplus(f) = −log σ(r) − log(1 − σ(f)); L_G = −softplus(f)
  = log(1 − σ(f)) (Goodfellow et al. 2014, saturating).
- ns (non-saturating): same L_D; L_G = softplus(−f) = −log σ(f).
- wgan-gp: L_D = E f − E r + λ E(‖∇D(x̂)‖ − 1)² on x̂ = t x + (1 − t) x̃; L_G = −E f.
- hinge: L_D = E relu(1 − r) + E relu(1 + f); L_G = −E f.

R1 (Mescheder et al. 2018): (γ/2) E_real ‖∇_x D(x)‖², added to L_D.

Boundary-seeking generator loss for binary data (Hjelm et al. 2018, discrete BGAN): no
gradient passes through the samples; the generator's log-likelihood of M samples of each z is
weighted by D's estimate of the density ratio p_data/p_g = exp D(x) (a logit of the ns or
minimax discriminator), normalised over the M samples.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from deepgen.errors import ConfigError, ShapeError
from deepgen.shard import draw

LOSSES = ("minimax", "ns", "wgan-gp", "hinge")


def check_loss(name: str) -> None:
    """Raise :class:`ConfigError` for an unknown loss name."""
    if name not in LOSSES:
        raise ConfigError(f"unknown GAN loss {name!r}; choose from {', '.join(LOSSES)}")


def d_loss(name: str, real: Tensor, fake: Tensor) -> Tensor:
    """Discriminator loss (without penalties) from outputs on real and generated data."""
    check_loss(name)
    if name in ("minimax", "ns"):
        return F.softplus(-real).mean() + F.softplus(fake).mean()
    if name == "wgan-gp":
        return fake.mean() - real.mean()
    return F.relu(1 - real).mean() + F.relu(1 + fake).mean()


def g_loss(name: str, fake: Tensor) -> Tensor:
    """Generator loss from discriminator outputs on generated data."""
    check_loss(name)
    if name == "minimax":
        return -F.softplus(fake).mean()
    if name == "ns":
        return F.softplus(-fake).mean()
    return -fake.mean()


def boundary_seeking_loss(logits: Tensor, samples: Tensor, d_logits: Tensor) -> Tensor:
    """L_G = −(1/n) Σ_i Σ_m w̃_im log g(x_im | z_i), w̃_im = softmax_m D(x_im) (no gradient),
    log g(x | z_i) = Σ_j x_j log σ(ℓ_ij) + (1 − x_j) log σ(−ℓ_ij); ``logits`` [n, P] are G's
    pixel logits ℓ, ``samples`` [M, n, P] binary draws from them, ``d_logits`` [M, n] D's
    outputs on them. Its gradient in ℓ_i is −(1/n) Σ_m w̃_im (x_im − σ(ℓ_i)): as M grows it
    moves g(· | z_i) towards g · exp D, normalised.

    >>> logits = torch.zeros(1, 2, requires_grad=True)
    >>> samples = torch.tensor([[[1.0, 0.0]], [[0.0, 0.0]]])  # M = 2 samples of one z
    >>> boundary_seeking_loss(logits, samples, torch.tensor([[5.0], [-5.0]])).backward()
    >>> logits.grad.round(decimals=3)  # the sample D prefers has pixel 0 on: its logit rises
    tensor([[-0.5000,  0.5000]])
    """
    if samples.dim() != 3 or samples.shape[1:] != logits.shape:
        raise ShapeError(
            f"samples must be [M, {', '.join(map(str, logits.shape))}], got {list(samples.shape)}"
        )
    weights = torch.softmax(d_logits.detach(), dim=0)
    log_g = -F.binary_cross_entropy_with_logits(
        logits.expand_as(samples), samples, reduction="none"
    ).sum(-1)
    return -(weights * log_g).sum(0).mean()


def _input_grad(disc: nn.Module, x: Tensor) -> Tensor:
    x = x.detach().requires_grad_(True)
    out = disc(x)
    (grad,) = torch.autograd.grad(out.sum(), x, create_graph=True)
    return grad.flatten(1)


def r1_penalty(disc: nn.Module, real: Tensor) -> Tensor:
    """E_real ‖∇_x D(x)‖² (multiply by γ/2 for the R1 term)."""
    return _input_grad(disc, real).pow(2).sum(1).mean()


def gradient_penalty(
    disc: nn.Module, real: Tensor, fake: Tensor, generator: torch.Generator | None = None
) -> Tensor:
    """WGAN-GP: E(‖∇D(x̂)‖ − 1)² at x̂ = t x + (1 − t) x̃, t ~ U(0, 1) per pair."""
    t = draw(  # under data parallelism: this process's slice of the global draw
        lambda s: torch.rand(s, generator=generator, device=real.device, dtype=real.dtype),
        (len(real), 1),
        dim=0,
    )
    mix = t * real.detach() + (1 - t) * fake.detach()
    return (_input_grad(disc, mix).norm(dim=1) - 1).pow(2).mean()
