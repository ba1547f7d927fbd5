"""Matplotlib figures of a run, drawn from plain numbers (no model objects).

Figures are built with :class:`matplotlib.figure.Figure` directly, so nothing depends on a
display or on pyplot's global state.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

Rows = Sequence[dict[str, float]]


def moving_average(values: Sequence[float], window: int) -> np.ndarray:
    """Trailing mean over ``window`` points (shorter at the start), same length as ``values``."""
    v = np.asarray(values, dtype=float)
    if len(v) == 0 or window <= 1:
        return v
    c = np.cumsum(np.insert(v, 0, 0.0))
    idx = np.arange(1, len(v) + 1)
    lo = np.maximum(idx - window, 0)
    return (c[idx] - c[lo]) / (idx - lo)


def _smooth_window(n: int) -> int:
    return max(1, n // 50)


def _save(fig: Figure, path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110, bbox_inches="tight")
    return path


def plot_elbo_terms(train: Rows, path: str | Path) -> Path:
    """SPEC §1 plot 1: reconstruction term E_q[log p(x|z)] and KL(q‖p) against updates."""
    u = [r["update"] for r in train]
    fig = Figure(figsize=(10, 3.8))
    axes = fig.subplots(1, 2)
    for ax, key, label, colour in (
        (axes[0], "rec", "reconstruction  E_q[log p(x|z)]  (nats)", "tab:blue"),
        (axes[1], "kl", "KL(q(z|x) ‖ N(0, I))  (nats)", "tab:red"),
    ):
        y = [r[key] for r in train]
        ax.plot(u, y, color=colour, alpha=0.25, linewidth=0.6, label="per minibatch")
        ax.plot(u, moving_average(y, _smooth_window(len(y))), color=colour, label="moving mean")
        ax.set_xlabel("weight updates")
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
        ax.legend(loc="best", fontsize=8)
    fig.suptitle("The two ELBO terms during training")
    return _save(fig, path)


def plot_image_grid(
    images: np.ndarray,
    image_shape: tuple[int, int],
    path: str | Path,
    title: str,
    columns: int = 8,
    row_labels: Sequence[str] | None = None,
) -> Path:
    """Images (rows of pixel values in [0, 1]) drawn in a grid, black background digits white."""
    images = np.asarray(images, dtype=float).reshape(-1, *image_shape)
    n = images.shape[0]
    rows = math.ceil(n / columns)
    fig = Figure(figsize=(1.1 * columns, 1.1 * rows + 0.5))
    axes = np.atleast_2d(fig.subplots(rows, columns, squeeze=False))
    for i, ax in enumerate(axes.flat):
        ax.set_xticks([])
        ax.set_yticks([])
        if i < n:
            ax.imshow(images[i], cmap="gray", vmin=0.0, vmax=1.0, interpolation="nearest")
        else:
            ax.axis("off")
    if row_labels is not None:
        for r, label in enumerate(row_labels[:rows]):
            axes[r, 0].set_ylabel(label, fontsize=9)
    fig.suptitle(title)
    return _save(fig, path)


def plot_reconstructions(
    originals: np.ndarray,
    reconstructions: np.ndarray,
    image_shape: tuple[int, int],
    path: str | Path,
) -> Path:
    """SPEC §1 plot 2: images (top row) with their reconstructions (bottom row)."""
    both = np.concatenate([np.asarray(originals), np.asarray(reconstructions)], axis=0)
    return plot_image_grid(
        both,
        image_shape,
        path,
        "Held-out images (top) and their reconstructions σ(dec(μ(x))) (bottom)",
        columns=len(originals),
        row_labels=["data", "recon."],
    )


def plot_train_vs_val(train: Rows, val: Rows, path: str | Path, val_key: str = "val_rec") -> Path:
    """SPEC §1 plot 4: reconstruction log-likelihood per training minibatch vs. validation."""
    fig = Figure(figsize=(7.5, 4.2))
    ax = fig.subplots()
    u = [r["update"] for r in train]
    y = [r["rec"] for r in train]
    ax.plot(u, y, color="tab:blue", alpha=0.35, linewidth=0.6, label="training minibatch")
    ax.plot(
        [r["update"] for r in val],
        [r[val_key] for r in val],
        "o-",
        color="tab:orange",
        markersize=3,
        label="validation (held-out images)",
    )
    ax.set_xlabel("weight updates")
    ax.set_ylabel("reconstruction log-likelihood  E_q[log p(x|z)]  (nats)")
    lo = np.percentile(y, 2) if y else None
    if lo is not None:
        ax.set_ylim(bottom=min(lo, min(r[val_key] for r in val) if val else lo))
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right")
    ax.set_title("Reconstruction log-likelihood: training vs. validation")
    return _save(fig, path)


def plot_curves(
    train: Rows,
    val: Rows,
    train_key: str,
    val_key: str,
    ylabel: str,
    title: str,
    path: str | Path,
) -> Path:
    """A per-update training quantity (raw and moving mean) with a validation series on top."""
    fig = Figure(figsize=(7.5, 4.2))
    ax = fig.subplots()
    u = [r["update"] for r in train]
    y = [r[train_key] for r in train]
    ax.plot(u, y, color="tab:blue", alpha=0.25, linewidth=0.6, label="training minibatch")
    ax.plot(u, moving_average(y, _smooth_window(len(y))), color="tab:blue", label="moving mean")
    if val:
        vu, vy = [r["update"] for r in val], [r[val_key] for r in val]
        ax.plot(vu, vy, "o-", color="tab:orange", markersize=3, label="validation")
    if y:
        lo, hi = np.percentile(y, [1, 99])
        pad = 0.1 * (hi - lo + 1e-9)
        ax.set_ylim(lo - pad, hi + pad)
    ax.set_xlabel("weight updates")
    ax.set_ylabel(ylabel)
    ax.grid(alpha=0.3)
    ax.legend(loc="best", fontsize=8)
    ax.set_title(title)
    return _save(fig, path)


def plot_density(
    log_density: np.ndarray,
    extent: tuple[float, float, float, float],
    path: str | Path,
    title: str,
) -> Path:
    """Heat-map of a 2-D density from its log on a grid ([ny, nx], rows = increasing y)."""
    fig = Figure(figsize=(5.2, 4.6))
    ax = fig.subplots()
    im = ax.imshow(np.exp(log_density), origin="lower", extent=extent, cmap="magma", aspect="auto")
    fig.colorbar(im, ax=ax, label="density")
    ax.set_xlabel("x₁")
    ax.set_ylabel("x₂")
    ax.set_title(title)
    return _save(fig, path)


def plot_samples_over_data(
    samples: np.ndarray,
    data: np.ndarray,
    path: str | Path,
    title: str,
    modes: np.ndarray | None = None,
) -> Path:
    """Model samples (orange) drawn over real data (blue), 2-D, optionally with mode centres."""
    fig = Figure(figsize=(5.2, 5.0))
    ax = fig.subplots()
    ax.scatter(data[:, 0], data[:, 1], s=2, alpha=0.3, color="tab:blue", label="data")
    ax.scatter(samples[:, 0], samples[:, 1], s=2, alpha=0.3, color="tab:orange", label="model")
    if modes is not None:
        ax.scatter(modes[:, 0], modes[:, 1], marker="x", color="black", s=40, label="modes")
    ax.set_aspect("equal")
    ax.legend(loc="upper right", fontsize=8, markerscale=4)
    ax.set_title(title)
    return _save(fig, path)
