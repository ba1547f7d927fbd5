"""Figures of the GAN module: game trajectories, 2-D samples, loss and metric curves."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure
from matplotlib.patches import Circle

from deepgen.report.plots import moving_average


def _save(fig: Figure, path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110, bbox_inches="tight")
    return path


def plot_trajectories(
    trajectories: Mapping[str, np.ndarray],
    verdicts: Mapping[str, str],
    path: str | Path,
    title: str,
    limit: float | None = None,
    coords: tuple[int, int] = (0, 1),
) -> Path:
    """Every method's iterates (d_k, g_k) in the (d, g) plane, in one figure.

    ``coords`` picks the two entries of z drawn (the first d and the first g entry).
    """
    fig = Figure(figsize=(7.5, 7))
    ax = fig.subplots()
    finite_pts = [t[np.all(np.isfinite(t), axis=1)][:, list(coords)] for t in trajectories.values()]
    start = next(iter(trajectories.values()))[0, list(coords)]
    for name, pts in zip(trajectories, finite_pts, strict=True):
        ax.plot(pts[:, 0], pts[:, 1], "-", linewidth=0.9, label=f"{name}: {verdicts[name]}")
    ax.plot([start[0]], [start[1]], "ko", markersize=5, label="start")
    ax.plot([0], [0], "k*", markersize=10, label="equilibrium")
    if limit is None:
        limit = 3 * float(np.abs(start).max() or 1.0)
    ax.set_xlim(-limit, limit)
    ax.set_ylim(-limit, limit)
    ax.set_aspect("equal")
    ax.set_xlabel("d (discriminator, maximises V)")
    ax.set_ylabel("g (generator, minimises V)")
    ax.grid(alpha=0.3)
    ax.legend(loc="upper left", fontsize=8)
    ax.set_title(title)
    return _save(fig, path)


def plot_samples_2d(
    real: np.ndarray,
    panels: Mapping[str, np.ndarray],
    modes: np.ndarray,
    radius: float,
    path: str | Path,
    title: str,
) -> Path:
    """Real points and each generator's samples side by side, modes with their 3σ circles."""
    fig = Figure(figsize=(4.2 * (1 + len(panels)), 4.4))
    axes = np.atleast_1d(fig.subplots(1, 1 + len(panels)))
    lo, hi = modes.min() - 1.0, modes.max() + 1.0
    for ax, (name, pts), colour in zip(
        axes,
        [("data", real), *panels.items()],
        ["tab:gray", "tab:blue", "tab:green", "tab:purple"],
        strict=False,
    ):
        ax.scatter(pts[:, 0], pts[:, 1], s=2, alpha=0.4, color=colour)
        for m in modes:
            ax.add_patch(_circle(m, radius))
        ax.set_xlim(lo, hi)
        ax.set_ylim(lo, hi)
        ax.set_aspect("equal")
        ax.set_title(name, fontsize=10)
        ax.grid(alpha=0.3)
    fig.suptitle(title)
    return _save(fig, path)


def _circle(centre: np.ndarray, radius: float) -> Circle:

    return Circle(tuple(centre), radius, fill=False, color="tab:red", linewidth=0.8)


def plot_losses(train: Sequence[dict[str, float]], path: str | Path) -> Path:
    """Discriminator and generator losses per update, raw and as a moving mean."""
    u = [r["update"] for r in train]
    fig = Figure(figsize=(10, 3.8))
    axes = fig.subplots(1, 2)
    window = max(1, len(u) // 50)
    for ax, key, label, colour in (
        (axes[0], "d_loss", "discriminator loss", "tab:red"),
        (axes[1], "g_loss", "generator loss", "tab:blue"),
    ):
        y = [r[key] for r in train]
        ax.plot(u, y, color=colour, alpha=0.25, linewidth=0.6, label="per update")
        ax.plot(u, moving_average(y, window), color=colour, label="moving mean")
        ax.set_xlabel("generator updates")
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
        ax.legend(loc="best", fontsize=8)
    fig.suptitle("GAN losses during training")
    return _save(fig, path)


def plot_metric_curves(
    val: Sequence[dict[str, float]],
    keys: Sequence[tuple[str, str]],
    path: str | Path,
    title: str,
    references: dict[str, float] | None = None,
) -> Path:
    """Validation metrics against updates, one panel per (key, label); ``references`` draws a
    horizontal line at the value real images score on a key (scored at the same size)."""
    fig = Figure(figsize=(4.6 * len(keys), 3.6))
    axes = np.atleast_1d(fig.subplots(1, len(keys)))
    u = [r["update"] for r in val]
    for ax, (key, label) in zip(axes, keys, strict=True):
        for suffix, style in (("", "o-"), ("_ema", "s--")):
            if val and key + suffix in val[0]:
                name = "EMA generator" if suffix else "generator"
                ax.plot(u, [r[key + suffix] for r in val], style, markersize=3, label=name)
        if references and key in references:  # log scale: the gap to real images shows
            ax.axhline(references[key], color="k", lw=1, ls=":", label="real images")
            ax.set_yscale("log")
        ax.set_xlabel("generator updates")
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
        ax.legend(loc="best", fontsize=8)
    fig.suptitle(title)
    return _save(fig, path)


def plot_image_tiles(
    images: np.ndarray,
    image_shape: tuple[int, int],
    path: str | Path,
    title: str,
    columns: int = 8,
) -> Path:
    """Images (rows of pixel values in [0, 1]) tiled into one picture with 1-pixel gaps."""
    h, w = image_shape
    images = np.asarray(images, dtype=float).reshape(-1, h, w)
    rows = -(-len(images) // columns)
    canvas = np.full((rows * (h + 1) + 1, columns * (w + 1) + 1), 0.5)
    for i, img in enumerate(images):
        r, c = divmod(i, columns)
        canvas[1 + r * (h + 1) : 1 + r * (h + 1) + h, 1 + c * (w + 1) : 1 + c * (w + 1) + w] = img
    fig = Figure(figsize=(0.8 * columns, 0.8 * rows + 0.5))
    ax = fig.subplots()
    ax.imshow(canvas, cmap="gray", vmin=0.0, vmax=1.0, interpolation="nearest")
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_title(title, fontsize=10)
    return _save(fig, path)
