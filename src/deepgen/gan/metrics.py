"""Sample-quality metrics that need no downloaded weights.

Mixtures of Gaussians (modes known): each sample goes to its nearest mode; it is *high
quality* when within 3σ of it; a mode is *covered* when it receives at least ``min_share`` of
a fair share (n / K) of high-quality samples.

Images: features from a classifier trained by deepgen itself; the Fréchet distance between
Gaussian fits of two feature sets, ‖μ₁ − μ₂‖² + tr(Σ₁ + Σ₂ − 2(Σ₁^½ Σ₂ Σ₁^½)^½), and the KL
divergence of the predicted-class histogram to the uniform one (0 when all classes are equally
frequent, log 10 when every sample is one class).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
from torch import Tensor

from deepgen.errors import ShapeError


def mixture_metrics(
    samples: Tensor, modes: Tensor, std: float, min_share: float = 0.1
) -> dict[str, Any]:
    """Modes covered, high-quality fraction (within 3σ of the nearest mode), mode histogram."""
    if samples.ndim != 2 or samples.shape[1] != modes.shape[1]:
        raise ShapeError(f"samples must be [n, {modes.shape[1]}], got {list(samples.shape)}")
    x = samples.detach().to("cpu", torch.float64)
    dist = torch.cdist(x, modes.to(torch.float64))
    nearest_d, nearest = dist.min(1)
    finite = torch.isfinite(nearest_d)
    hq = finite & (nearest_d <= 3 * std)
    k, n = len(modes), len(x)
    counts = torch.bincount(nearest[hq], minlength=k)
    covered = int((counts >= min_share * n / k).sum())
    p = counts.double() / max(int(counts.sum()), 1)
    kl = float((p[p > 0] * (p[p > 0] * k).log()).sum()) if counts.sum() > 0 else math.log(k)
    return {
        "modes_covered": covered,
        "modes": k,
        "high_quality_fraction": float(hq.double().mean()),
        "mode_kl_to_uniform": kl,
        "mode_counts": counts.tolist(),
    }


def _sqrtm_psd(a: np.ndarray) -> np.ndarray:
    w, v = np.linalg.eigh((a + a.T) / 2)
    return (v * np.sqrt(np.clip(w, 0, None))) @ v.T


def frechet_distance(feats_a: Tensor, feats_b: Tensor) -> float:
    """Fréchet distance between Gaussians fitted to two feature sets [n, k] (float64)."""
    if feats_a.ndim != 2 or feats_b.ndim != 2 or feats_a.shape[1] != feats_b.shape[1]:
        raise ShapeError(
            f"feature sets must be [n, k] with equal k, got {list(feats_a.shape)} and "
            f"{list(feats_b.shape)}"
        )
    a = feats_a.detach().cpu().double().numpy()
    b = feats_b.detach().cpu().double().numpy()
    mu_a, mu_b = a.mean(0), b.mean(0)
    cov_a = np.atleast_2d(np.cov(a, rowvar=False))
    cov_b = np.atleast_2d(np.cov(b, rowvar=False))
    root_a = _sqrtm_psd(cov_a)
    cross = np.sqrt(np.clip(np.linalg.eigvalsh(root_a @ cov_b @ root_a), 0, None)).sum()
    value = float(((mu_a - mu_b) ** 2).sum() + np.trace(cov_a) + np.trace(cov_b) - 2 * cross)
    return max(value, 0.0)


def class_histogram_kl(labels: Tensor, classes: int = 10) -> float:
    """KL(p̂ ‖ uniform) of the class histogram p̂ of ``labels``: Σ p̂ log(K p̂)."""
    counts = torch.bincount(labels.flatten().cpu(), minlength=classes).double()
    p = counts / counts.sum()
    nz = p > 0
    return float((p[nz] * (p[nz] * classes).log()).sum())


SATURATED = 0.01  # a pixel probability within this of 0 or 1 is saturated


def saturated_fraction(probs: Tensor, margin: float = SATURATED) -> float:
    """Fraction of pixel probabilities p outside (margin, 1 − margin): where the sigmoid's
    derivative p(1 − p) ≤ margin(1 − margin), so a straight-through gradient to p barely
    reaches the logit ℓ.

    >>> saturated_fraction(torch.tensor([[0.001, 0.5, 0.999, 0.2]]))
    0.5
    """
    if not 0 < margin < 0.5:
        raise ValueError(f"margin must be in (0, 0.5), got {margin}")
    p = probs.detach()
    return float(((p <= margin) | (p >= 1 - margin)).double().mean())
