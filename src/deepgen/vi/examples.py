"""The worked examples of SPEC §6 and their closed-form mean-field optima.

* ``seed_model(n)``: p(w) ∝ 1 − Π_i w_i — every configuration of {0,1}^n equally likely except
  all ones, which has probability 0 (energy +∞). log Z = log(2^n − 1) for every β > 0.
* ``ising_model(size, ...)``: an L × L grid of ±1 spins (:func:`deepgen.vi.discrete.ising_grid`).

The closed forms (derived in docs/mean_field.md):

* Q2 (one shared factor q): any 0 < q puts mass qⁿ > 0 on the forbidden configuration, so the
  only member with finite KL is q = 0 (all zeros surely): F = 0, KL = log(2^n − 1).
* Q1 with q₁(w₁) = 1 − w₁ (w₁ = 0 surely): p restricted to w₁ = 0 is uniform, so the best
  remaining factors are q_i = ½: F = (n − 1) log 2, KL = log(2^n − 1) − (n − 1) log 2.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from deepgen.errors import ConfigError
from deepgen.vi.discrete import CallableEnergy, PairwiseEnergy, ising_grid


def seed_model(n: int, device: torch.device | str = "cpu") -> CallableEnergy:
    """p(w) ∝ 1 − Π_i w_i on {0,1}^n: Φ(w) = +∞ if every w_i = 1, else 0."""
    if n < 1:
        raise ConfigError(f"--n must be >= 1, got {n}")

    def energy(w: Tensor) -> Tensor:
        all_ones = w.sum(-1) == w.shape[-1]
        return torch.where(all_ones, math.inf, 0.0).to(torch.float64)

    return CallableEnergy(n, energy, device)


def log_two_pow_minus_one(n: int) -> float:
    """log(2^n − 1), accurate for every n ≥ 1."""
    return n * math.log(2.0) + math.log1p(-(2.0**-n))


def seed_closed_form(n: int, family: str) -> dict[str, object]:
    """The closed-form optimum of the seed example: ``Q2``, or ``Q1`` with w₁ = 0 clamped.

    Returns q_star (P(w_i = 1)), free_energy F(q*), log_z and kl = log Z − F(q*), plus the exact
    marginals of p: P(w_i = 1) = (2^{n−1} − 1) / (2^n − 1).
    """
    log_z = log_two_pow_minus_one(n)
    if family == "Q2":
        q, f = [0.0] * n, 0.0
    elif family == "Q1":
        q, f = [0.0] + [0.5] * (n - 1), (n - 1) * math.log(2.0)
    else:
        raise ConfigError(f"unknown family {family!r}; choose Q1 or Q2")
    marginal = (2.0 ** (n - 1) - 1) / (2.0**n - 1)
    return {
        "q_star": q,
        "free_energy": f,
        "log_z": log_z,
        "kl": log_z - f,
        "p_marginals": [marginal] * n,
    }


def ising_model(
    size: int, coupling: float = 1.0, field: float = 0.0, device: torch.device | str = "cpu"
) -> PairwiseEnergy:
    """An L × L Ising grid, free boundary: Φ(s) = −K Σ_⟨ij⟩ s_i s_j − H Σ_i s_i, s = 2w − 1."""
    return ising_grid(size, coupling, field, device)
