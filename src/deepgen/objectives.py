"""Variational objectives as functions of log weights, and gradient estimators for them.

Log weights are log w_s = log p(x | z_s) + log p(z_s) − log q(z_s | x), z_s ~ q(z | x), in a
tensor of shape [S, batch] (samples first). Every objective returns one value per example
([batch]), to be maximised:

* ELBO:   L_1 = (1/S) Σ_s log w_s, an unbiased estimate of E_q[log w].
* β-ELBO: (1/S) Σ_s log p(x | z_s) − β (1/S) Σ_s [log q(z_s | x) − log p(z_s)]; β = 1 is the
  ELBO, β > 1 weighs the KL term more (Higgins et al. 2017, "β-VAE").
* IWAE:   L_S = log (1/S) Σ_s w_s (Burda et al. 2016, "Importance weighted autoencoders").
* MIWAE_{m,k}: S = m·k samples in m groups of k, (1/m) Σ_i log (1/k) Σ_j w_{ij}; m = 1 is
  IWAE_S, k = 1 is the ELBO (Rainforth et al. 2018, "Tighter variational bounds are not
  necessarily better").
* CIWAE_β: β·ELBO + (1 − β)·IWAE_S for β in [0, 1] (Rainforth et al. 2018).
* PIWAE_{m,k}: the generative model θ follows ∇θ IWAE_S and the inference network φ follows
  ∇φ MIWAE_{m,k} (Rainforth et al. 2018); the value reported is IWAE_S
  (:func:`piwae_surrogate` gives the gradients).
* DReG: the doubly reparameterized IWAE gradient for φ, Σ_s w̃_s² ∂log w_s/∂z_s ∂z_s/∂φ with
  w̃ = softmax(log w) (Tucker et al. 2019, "Doubly reparameterized gradient estimators for Monte
  Carlo objectives"); unbiased for ∇φ IWAE_S with lower variance (:func:`dreg_surrogate`).

Rainforth et al. show that the signal-to-noise ratio of the standard reparameterized IWAE
gradient for φ falls like 1/√S as S grows, while that for θ grows like √S; MIWAE, CIWAE and
PIWAE trade bound tightness for φ's gradient signal, and DReG removes the noisy score term.

The gradient functions return scalar *surrogate losses* to minimise with ``.backward()``: their
gradients are the estimators, their values are not the objectives (report :func:`iwae` etc.).
For the plain reparameterized estimator of any objective the surrogate is just
``-objective(...).mean()``.
"""

from __future__ import annotations

import math
import operator

import torch
from torch import Tensor

from deepgen.bounds import iwae_bound, log_mean_exp
from deepgen.errors import ConfigError, ShapeError

__all__ = [
    "beta_elbo",
    "beta_elbo_closed_form",
    "ciwae",
    "dreg_surrogate",
    "elbo",
    "iwae",
    "miwae",
    "piwae_surrogate",
]

_DREG_MARK = "_deepgen_dreg_hooked"


def _check_log_w(log_w: Tensor, name: str = "log_w") -> None:
    if log_w.dim() < 1 or log_w.shape[0] < 1:
        raise ShapeError(
            f"{name} must be [S, batch] with S >= 1 samples first, got shape {tuple(log_w.shape)}"
        )


def _check_groups(log_w: Tensor, m: int) -> int:
    """Validate m against S = log_w.shape[0]; return the group size k = S / m."""
    _check_log_w(log_w)
    s = log_w.shape[0]
    try:
        m_int = operator.index(m)
    except TypeError:
        m_int = 0
    if isinstance(m, bool) or m_int < 1:
        raise ConfigError(f"the number of groups m must be an integer >= 1, got {m!r}")
    m = m_int
    if s % m != 0:
        raise ConfigError(f"S = {s} samples cannot be split into m = {m} equal groups")
    return s // m


def _group(log_w: Tensor, m: int) -> Tensor:
    """[S, *batch] → [m, k, *batch]: group i holds samples i·k, …, i·k + k − 1."""
    k = _check_groups(log_w, m)
    return log_w.reshape(m, k, *log_w.shape[1:])


def elbo(log_w: Tensor) -> Tensor:
    """ELBO estimate L_1 = (1/S) Σ_s log w_s, shape [batch].

    >>> elbo(torch.log(torch.tensor([[1.0], [4.0]])))  # (log 1 + log 4) / 2 = log 2
    tensor([0.6931])
    """
    _check_log_w(log_w)
    return log_w.mean(0)


def beta_elbo(log_px_z: Tensor, log_pz: Tensor, log_qz: Tensor, beta: float) -> Tensor:
    """β-ELBO (1/S) Σ_s log p(x|z_s) − β (1/S) Σ_s [log q(z_s|x) − log p(z_s)], shape [batch].

    All three inputs are [S, batch], evaluated at the same samples z_s ~ q(z|x); β = 1 gives
    :func:`elbo` of log w = log p(x|z) + log p(z) − log q(z|x).

    >>> rec, prior, post = torch.tensor([[-3.0]]), torch.tensor([[-1.0]]), torch.tensor([[0.5]])
    >>> beta_elbo(rec, prior, post, beta=2.0)  # −3 − 2·(0.5 + 1)
    tensor([-6.])
    """
    _check_log_w(log_px_z, "log_px_z")
    if log_pz.shape != log_px_z.shape or log_qz.shape != log_px_z.shape:
        raise ShapeError(
            "log_px_z, log_pz and log_qz must have the same [S, batch] shape, got "
            f"{tuple(log_px_z.shape)}, {tuple(log_pz.shape)} and {tuple(log_qz.shape)}"
        )
    beta = _check_beta_elbo_weight(beta)
    return log_px_z.mean(0) - beta * (log_qz - log_pz).mean(0)


def beta_elbo_closed_form(rec: Tensor, kl: Tensor, beta: float) -> Tensor:
    """β-ELBO with a closed-form KL: rec − β·KL(q(z|x) ‖ p(z)), shape [batch].

    ``rec`` is the reconstruction term E_q[log p(x|z)] already averaged over samples ([batch]).

    >>> beta_elbo_closed_form(torch.tensor([-3.0]), torch.tensor([1.5]), beta=4.0)
    tensor([-9.])
    """
    if rec.shape != kl.shape:
        raise ShapeError(
            f"rec and kl must have the same [batch] shape, got {tuple(rec.shape)} "
            f"and {tuple(kl.shape)}"
        )
    return rec - _check_beta_elbo_weight(beta) * kl


def _check_beta_elbo_weight(beta: float) -> float:
    beta = float(beta)
    if not math.isfinite(beta) or beta < 0:
        raise ConfigError(f"the β-ELBO weight β must be finite and >= 0, got {beta!r}")
    return beta


def iwae(log_w: Tensor) -> Tensor:
    """IWAE bound estimate L_S = log (1/S) Σ_s w_s, shape [batch] (logsumexp, no overflow).

    >>> iwae(torch.log(torch.tensor([[1.0], [3.0]])))  # log((1 + 3) / 2) = log 2
    tensor([0.6931])
    """
    _check_log_w(log_w)
    return iwae_bound(log_w)


def miwae(log_w: Tensor, m: int) -> Tensor:
    """MIWAE_{m,k} = (1/m) Σ_i log (1/k) Σ_j w_{ij} with S = m·k, shape [batch].

    Samples are grouped in order: group i holds samples i·k, …, i·k + k − 1. ELBO ≤ MIWAE ≤ IWAE
    for any weights, m = 1 gives :func:`iwae` and m = S gives :func:`elbo`.

    >>> log_w = torch.log(torch.tensor([[1.0], [3.0], [2.0], [2.0]]))
    >>> miwae(log_w, m=2)  # (log 2 + log 2) / 2
    tensor([0.6931])
    """
    return log_mean_exp(_group(log_w, m), dim=1).mean(0)


def ciwae(log_w: Tensor, beta: float) -> Tensor:
    """CIWAE_β = β·ELBO + (1 − β)·IWAE_S on the same samples, β in [0, 1], shape [batch].

    >>> log_w = torch.log(torch.tensor([[1.0], [3.0]]))
    >>> torch.allclose(ciwae(log_w, 0.25), 0.25 * elbo(log_w) + 0.75 * iwae(log_w))
    True
    """
    beta = float(beta)
    if not 0.0 <= beta <= 1.0:  # also refuses NaN
        raise ConfigError(f"the CIWAE weight β must be in [0, 1], got {beta!r}")
    return beta * elbo(log_w) + (1.0 - beta) * iwae(log_w)


def dreg_surrogate(log_w: Tensor, z: Tensor) -> Tensor:
    """Surrogate loss whose gradient is the DReG estimator of −∇ IWAE_S (Tucker et al. 2019).

    Gradients: the generative model θ gets −Σ_s w̃_s ∇θ log w_s (the usual IWAE gradient) and
    the inference network φ gets −Σ_s w̃_s² ∂log w_s/∂z_s ∂z_s/∂φ, with w̃ = softmax_s(log w)
    held constant. The value −Σ_s w̃_s log w_s (mean over the batch) is *not* −IWAE_S.

    Precondition: ``log_w`` = log p(x|z) + log p(z) − log q(z|x) was computed with log q(z|x)
    evaluated with the variational parameters *detached* (stop-gradient), but at ``z``, the
    reparameterized sample z = g_φ(ε) of shape [S, batch, ...]. So φ reaches log w only through
    z: these are the "path" derivatives, without the score term ∇φ log q whose expectation is
    zero but whose variance grows with S.

    The trick: a hook on ``z`` multiplies the gradient arriving at z by w̃ (broadcast over z's
    trailing dims). Differentiating the surrogate −Σ_s w̃_s log w_s gives −w̃_s ∂log w_s/∂z_s at
    z_s; the hook turns it into −w̃_s² ∂log w_s/∂z_s, which backpropagates into φ. θ's gradient
    does not pass through z, so it stays −Σ_s w̃_s ∇θ log w_s = −∇θ IWAE_S. The hook stays on z:
    build a fresh z for each call, and do not feed this z into any other loss term, since every
    gradient reaching z is rescaled.

    Raises ConfigError if ``z`` does not require grad (it must come from the reparameterization)
    or already carries a DReG hook, ShapeError if z's leading dims are not log_w's shape.

    >>> mu = torch.tensor([0.3, -0.2], requires_grad=True)  # q = N(μ, I), p(x, z) ∝ N(z; 0, I)
    >>> z = mu + torch.tensor([[[0.5, -1.0]], [[1.0, 2.0]], [[-2.0, 0.0]]])  # [S=3, batch=1, 2]
    >>> log_w = -0.5 * (z**2).sum(-1) + 0.5 * ((z - mu.detach()) ** 2).sum(-1)  # ∂/∂z = −μ
    >>> dreg_surrogate(log_w, z).backward()
    >>> w = torch.softmax(log_w.detach(), 0)
    >>> torch.allclose(mu.grad, (w**2).sum() * mu.detach())  # −Σ w̃² · (−μ) · ∂z/∂μ
    True
    """
    _check_log_w(log_w)
    if not z.requires_grad:
        raise ConfigError(
            "dreg_surrogate needs the reparameterized sample z (requires_grad=True), got a z "
            "outside the autograd graph"
        )
    if z.shape[: log_w.dim()] != log_w.shape:
        raise ShapeError(
            f"z must be [S, batch, ...] matching log_w {tuple(log_w.shape)}, got {tuple(z.shape)}"
        )
    if getattr(z, _DREG_MARK, False):
        raise ConfigError("z already carries a DReG gradient hook; draw a fresh z for each call")
    w_tilde = torch.softmax(log_w.detach(), dim=0)
    scale = w_tilde.reshape(*w_tilde.shape, *([1] * (z.dim() - w_tilde.dim())))

    def _reweight(grad: Tensor) -> Tensor:
        return grad * scale.to(grad.dtype)

    z.register_hook(_reweight)
    setattr(z, _DREG_MARK, True)
    return -(w_tilde * log_w).sum(0).mean()


def piwae_surrogate(log_w: Tensor, log_joint_detached_z: Tensor, m: int) -> Tensor:
    """Surrogate loss for PIWAE: θ gets −∇θ IWAE_S, φ gets −∇φ MIWAE_{m,S/m}.

    With a = MIWAE's normalized weights (softmax of log w within each group of k = S/m samples,
    divided by m) and b = IWAE_S's (softmax over all S), both held constant, the loss is
    −[Σ_s a_s log w_s + Σ_s (b_s − a_s) log p_θ(x, z̄_s)], summed over samples and averaged
    over the batch, where z̄ = z.detach().

    Why: ∇ MIWAE = Σ a ∇ log w and ∇ IWAE = Σ b ∇ log w. ``log_w`` (the usual log weights,
    reparameterized z, log q not detached) gives Σ a ∇ log w to both networks. The correction
    ``log_joint_detached_z`` = log p(x|z̄) + log p(z̄) depends on θ only, so it adds
    Σ (b − a) ∇θ log p_θ(x, z̄) = Σ (b − a) ∇θ log w to θ alone: θ ends with Σ b ∇θ log w and φ
    keeps Σ a ∇φ log w. The value is not an objective; report :func:`iwae`.

    >>> log_w = torch.tensor([[0.0], [1.0], [2.0], [3.0]], requires_grad=True)
    >>> piwae_surrogate(log_w, torch.zeros(4, 1), m=2).backward()  # log w's gradient is −a
    >>> torch.allclose(-log_w.grad.sum(), torch.tensor(1.0))  # a sums to 1 over the S samples
    True
    """
    k = _check_groups(log_w, m)
    if log_joint_detached_z.shape != log_w.shape:
        raise ShapeError(
            f"log_joint_detached_z must have log_w's shape {tuple(log_w.shape)}, got "
            f"{tuple(log_joint_detached_z.shape)}"
        )
    lw = log_w.detach()
    a = (torch.softmax(lw.reshape(m, k, *lw.shape[1:]), dim=1) / m).reshape(lw.shape)
    b = torch.softmax(lw, dim=0)
    return -((a * log_w).sum(0) + ((b - a) * log_joint_detached_z).sum(0)).mean()
