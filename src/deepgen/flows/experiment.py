"""``deepgen flow``: train a flow by maximum likelihood on a 2-D density or on binary images.

2-D data (``deepgen.data.toy``): a fixed training sample, validation on held-out points, and at
the end the test log-likelihood on fresh points (nats per point), the learned density on a fine
grid (its Riemann sum over a box holding the data must be 1 ± 0.01), a heat-map and samples.

Binary images (``mnist14`` …): uniform dequantization. With y = (x + u)/2, u ~ U[0, 1)^D, the flow
models y ∈ [0, 1)^D (a :class:`Logit` first); Jensen gives
log P(x) = log ∫ p_y((x + u)/2) 2^{−D} du ≥ E_u[log p_y(y)] − D log 2, so
−E_u[log p_y(y)] + D log 2 is an upper bound on the discrete NLL in nats per image, comparable
with the VAE's −log p(x). With K draws, −log (1/K) Σ_k p_y(y_k) + D log 2 is a tighter bound.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from deepgen.bounds import log_mean_exp
from deepgen.data import load_dataset
from deepgen.data.datasets import DATASETS
from deepgen.data.toy import TOY_DATASETS, sample_toy
from deepgen.distributions import check_binary
from deepgen.errors import ConfigError
from deepgen.flows.actnorm import ActNorm
from deepgen.flows.base import Compose
from deepgen.flows.bounded import Logit
from deepgen.flows.flow import Flow
from deepgen.flows.residual import ResidualBlock
from deepgen.flows.zoo import KINDS, build_transform
from deepgen.report.plots import (
    plot_curves,
    plot_density,
    plot_image_grid,
    plot_samples_over_data,
)
from deepgen.shard import local
from deepgen.train import EpochSampler, TrainResult
from deepgen.train.optim import adam
from deepgen.train.runconfig import RunConfig
from deepgen.train.runner import Outcome, ReportFigure, Session, run_experiment

IMAGE_DATA = tuple(DATASETS)


@dataclass(frozen=True)
class FlowRunConfig(RunConfig):
    """Settings of one ``deepgen flow`` run (defaults are the command's)."""

    EVALUATION_ONLY = ("grid",)

    data: str = "moons"
    flow: str = "realnvp"
    steps: int = 3000
    layers: int | None = None
    hidden: int = 64
    batch_size: int = 256
    lr: float = 1e-3
    seed: int = 0
    device: str = "auto"
    threads: int = 1
    tensorboard: bool = False  # also write TensorBoard event files
    precision: str = "fp32"  # bf16: updates under torch.autocast (where it pays)
    compile: bool = False  # refused: the flows' data checks force graph breaks
    val_every: int = 100
    checkpoint_every: int = 1000
    train_size: int = 20_000
    test_size: int = 20_000
    grid: int = 600
    eval_k: int = 16
    data_dir: str | None = None

    def __post_init__(self) -> None:
        if self.compile:
            raise ConfigError(
                "--compile is not built for flow yet (its input checks and ActNorm's "
                "initialization break the compiled graph); it is for vae and pixelcnn"
            )
        if self.flow not in KINDS:
            raise ConfigError(f"unknown flow {self.flow!r}; choose from {', '.join(KINDS)}")
        if self.data not in TOY_DATASETS and self.data not in IMAGE_DATA:
            known = ", ".join([*TOY_DATASETS, *IMAGE_DATA])
            raise ConfigError(f"unknown data {self.data!r}; choose from {known}")
        for name in ("steps", "hidden", "batch_size", "threads", "train_size", "test_size"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.grid < 10:
            raise ConfigError(f"grid must be at least 10 points a side, got {self.grid}")
        if not (math.isfinite(self.lr) and self.lr > 0):
            raise ConfigError(f"lr must be a finite number > 0, got {self.lr}")

    @property
    def images(self) -> bool:
        """Whether the data are binary images (dequantized) rather than 2-D points."""
        return self.data in IMAGE_DATA


@contextmanager
def exact_logdets(module: nn.Module) -> Iterator[None]:
    """Within the block, residual blocks compute log-determinants exactly (for evaluation)."""
    blocks = [m for m in module.modules() if isinstance(m, ResidualBlock)]
    saved = [b.logdet_method for b in blocks]
    for b in blocks:
        b.logdet_method = "exact"
    try:
        yield
    finally:
        for b, method in zip(blocks, saved, strict=True):
            b.logdet_method = method


def dequantize(x: Tensor, generator: torch.Generator | None = None) -> Tensor:
    """y = (x + u)/2 with u ~ U[0, 1)^D: binary pixels to points of [0, 1)^D."""
    u = torch.rand(x.shape, generator=generator, dtype=x.dtype, device=x.device)
    return (x + u) / 2


class FlowTask:
    """One Adam update of −mean log p(x) on a minibatch (dequantized for images)."""

    def __init__(
        self,
        flow: Flow,
        train_x: Tensor,
        val_x: Tensor,
        cfg: FlowRunConfig,
        device: torch.device,
    ) -> None:
        self.flow, self.cfg, self.images = flow, cfg, cfg.images
        self.train_x, self.val_x = train_x.to(device), val_x.to(device)
        self.offset = train_x.shape[1] * math.log(2) if self.images else 0.0
        self.sampler = EpochSampler(len(self.train_x), cfg.batch_size, cfg.seed, device)
        self.optimizer = adam(flow.parameters(), cfg.lr)
        self.actnorms = [m for m in flow.modules() if isinstance(m, ActNorm)]

    def step(self, update: int) -> dict[str, Tensor]:
        x = self.train_x[self.sampler.indices(update)]  # the global batch
        if self.images:
            x = dequantize(x)
        if not all(bool(m.initialized) for m in self.actnorms):
            # ActNorm's data-dependent start from the whole global batch (every process alike)
            with torch.no_grad(), exact_logdets(self.flow):
                self.flow.log_prob(x)
        loss = -self.flow.log_prob(local(x)).mean()  # this process's slice
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        return {"loss": loss.detach(), "nll": loss.detach() + self.offset}

    @torch.no_grad()
    def validate(self, update: int) -> dict[str, float]:
        x = self.val_x
        if self.images:
            g = torch.Generator(device=x.device).manual_seed(self.cfg.seed + 1)
            x = dequantize(x, g)
        with exact_logdets(self.flow):
            nll = -self.flow.log_prob(x).mean().item() + self.offset
        return {"val_nll": nll}

    def state_dict(self) -> dict[str, Any]:
        return {"flow": self.flow.state_dict(), "optimizer": self.optimizer.state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.flow.load_state_dict(state["flow"])
        self.optimizer.load_state_dict(state["optimizer"])


@torch.no_grad()
def batched_log_prob(flow: Flow, x: Tensor, batch: int = 20_000) -> Tensor:
    """log p(x) in chunks, with residual log-determinants exact."""
    with exact_logdets(flow):
        return torch.cat([flow.log_prob(chunk) for chunk in x.split(batch)])


def grid_box(
    data: Tensor, margin: float = 0.5, extra: float = 1.0
) -> tuple[float, float, float, float]:
    """A box around the data: each side widened by ``margin`` × its range, plus ``extra``."""
    lo, hi = data.min(0).values, data.max(0).values
    pad = margin * (hi - lo) + extra
    (x0, y0), (x1, y1) = (lo - pad).tolist(), (hi + pad).tolist()
    return x0, x1, y0, y1


@torch.no_grad()
def density_on_grid(
    flow: Flow, box: tuple[float, float, float, float], n: int, device: torch.device
) -> tuple[np.ndarray, float]:
    """log p at the midpoints of an n×n grid over ``box`` ([n, n], rows = y) and the Riemann
    sum Σ p·ΔA, which approximates ∫_box p and so must be ≈ 1 when the box holds the mass."""
    x0, x1, y0, y1 = box
    dx, dy = (x1 - x0) / n, (y1 - y0) / n
    xs = x0 + dx * (torch.arange(n, dtype=torch.float64) + 0.5)
    ys = y0 + dy * (torch.arange(n, dtype=torch.float64) + 0.5)
    yy, xx = torch.meshgrid(ys, xs, indexing="ij")
    pts = torch.stack([xx.flatten(), yy.flatten()], -1).float().to(device)
    logp = batched_log_prob(flow, pts).double().cpu()
    integral = (torch.logsumexp(logp, 0) + math.log(dx * dy)).exp().item()
    return logp.view(n, n).numpy(), integral


def _image_bounds(flow: Flow, x: Tensor, k: int, seed: int) -> dict[str, float]:
    """Jensen and K-draw importance-weighted upper bounds on −log P(x), nats per image."""
    g = torch.Generator(device=x.device).manual_seed(seed)
    offset = x.shape[1] * math.log(2)
    logps = torch.stack([batched_log_prob(flow, dequantize(x, g), 1000) for _ in range(k)])
    jensen = -logps.mean(0) + offset
    iw = -log_mean_exp(logps, 0) + offset
    n = x.shape[0]
    return {
        "nll": jensen.mean().item(),
        "nll_stderr": (jensen.std() / n**0.5).item() if n > 1 else float("nan"),
        "nll_iw": iw.mean().item(),
        "bits_per_dim": jensen.mean().item() / (x.shape[1] * math.log(2)),
    }


def _build(cfg: FlowRunConfig, features: int, device: torch.device) -> Flow:
    transform = build_transform(cfg.flow, features, cfg.layers, cfg.hidden, permute=cfg.images)
    if cfg.images:
        transform = Compose([Logit(features, alpha=1e-4), *transform.transforms])
    return Flow(transform).to(device)


def _load_data(cfg: FlowRunConfig) -> tuple[Tensor, Tensor, Tensor, tuple[int, int] | None]:
    if cfg.images:
        data = load_dataset(cfg.data, cfg.data_dir)
        train = data.train
        if data.dynamic:  # a fixed binarization of the training set, drawn from the seed
            train = torch.bernoulli(train, generator=torch.Generator().manual_seed(cfg.seed))
        check_binary(train, f"{cfg.data} training data")
        return train, data.val, data.test, data.image_shape
    train = sample_toy(cfg.data, cfg.train_size, torch.Generator().manual_seed(cfg.seed))
    val = sample_toy(cfg.data, 2000, torch.Generator().manual_seed(cfg.seed + 10_007))
    test = sample_toy(cfg.data, cfg.test_size, torch.Generator().manual_seed(cfg.seed + 20_011))
    return train, val, test, None


class FlowExperiment:
    """``deepgen flow`` for the runner: data, flow and task; test likelihood, density, plots."""

    kind = "flow"

    def build(self, session: Session) -> tuple[FlowTask, dict[str, Any]]:
        """Load (or draw) the data and build the flow and its task."""
        cfg: FlowRunConfig = session.cfg
        train, val, test, shape = _load_data(cfg)
        if cfg.batch_size > len(train):
            raise ConfigError(
                f"--batch-size {cfg.batch_size} exceeds the {len(train)} training points"
            )
        self.test, self.shape = test, shape
        flow = _build(cfg, train.shape[1], session.device)
        fixed = {
            "features": train.shape[1],
            "image_shape": list(shape) if shape is not None else None,
        }
        return FlowTask(flow, train, val, cfg, session.device), fixed

    def finish(self, session: Session, task: FlowTask, result: TrainResult) -> Outcome:
        """Images: the dequantization bounds on −log P(x); 2-D: test log-likelihood and the
        density's integral on a grid. Samples and the loss curve."""
        cfg: FlowRunConfig = session.cfg
        flow, test, shape, out, device = (
            task.flow,
            self.test,
            self.shape,
            session.out,
            session.device,
        )
        flow.eval()
        t_eval = time.perf_counter()
        metrics: dict[str, Any] = {
            "data": cfg.data,
            "flow": cfg.flow,
            "parameters": sum(p.numel() for p in flow.parameters()),
        }
        figures: list[ReportFigure] = []
        torch.manual_seed(cfg.seed + 1)  # sampling randomness, independent of training
        if cfg.images:
            assert shape is not None
            test_b = _image_bounds(flow, test.to(device), cfg.eval_k, cfg.seed + 2)
            val_b = _image_bounds(flow, task.val_x, cfg.eval_k, cfg.seed + 3)
            metrics.update(
                {
                    "test_nll": test_b["nll"],
                    "test_nll_stderr": test_b["nll_stderr"],
                    "test_nll_iw": test_b["nll_iw"],
                    "test_bits_per_dim": test_b["bits_per_dim"],
                    "val_nll": val_b["nll"],
                    "val_nll_iw": val_b["nll_iw"],
                    "eval_k": cfg.eval_k,
                    "test_images": len(test),
                }
            )
            with torch.no_grad():
                x = (2 * flow.sample(64)).floor().clamp(0, 1).cpu().numpy()
            path = plot_image_grid(
                x, shape, out / "samples.png", "Flow samples, discretized: x = ⌊2y⌋"
            )
            figures.append(ReportFigure(path, "Samples from the flow", "Samples from the flow"))
        else:
            test_lp = batched_log_prob(flow, test.to(device)).cpu()
            box = grid_box(test)
            _, integral = density_on_grid(flow, box, cfg.grid, device)
            view = grid_box(test, margin=0.05, extra=0.2)
            logp_view, _ = density_on_grid(flow, view, 300, device)
            with torch.no_grad():
                samples = flow.sample(2000).cpu()
            metrics.update(
                {
                    "test_log_likelihood": test_lp.mean().item(),
                    "test_log_likelihood_stderr": (test_lp.std() / len(test_lp) ** 0.5).item(),
                    "test_points": len(test_lp),
                    "density_integral": integral,
                    "density_box": list(box),
                    "density_grid": cfg.grid,
                    "samples_finite": bool(torch.isfinite(samples).all()),
                }
            )
            figures.append(
                ReportFigure(
                    plot_density(
                        logp_view,
                        view,
                        out / "density.png",
                        f"Learned density ({cfg.flow} on {cfg.data})",
                    ),
                    "Learned density",
                    "Learned density",
                )
            )
            caption = "Samples from the flow (orange) over data"
            figures.append(
                ReportFigure(
                    plot_samples_over_data(
                        samples.numpy(),
                        test[:2000].numpy(),
                        out / "samples.png",
                        "Samples over data",
                    ),
                    caption,
                    caption,
                )
            )
        metrics["eval_seconds"] = time.perf_counter() - t_eval
        unit = " per image, bound)" if cfg.images else " per point)"
        loss = plot_curves(
            result.train,
            result.val,
            "nll",
            "val_nll",
            "negative log-likelihood (nats" + unit,
            "Training and validation NLL",
            out / "loss.png",
        )
        caption = "NLL per minibatch and on held-out data"
        figures.append(ReportFigure(loss, caption, caption))
        text = (
            "Maximum-likelihood training of a normalizing flow (data → N(0, I)); log p(x) = "
            "log N(f(x); 0, I) + log|det J_f(x)|, exact. "
            + (
                "Images are dequantized uniformly: the NLL is an upper bound on the discrete NLL "
                "in nats per image, comparable with the VAE's −log p(x)."
                if cfg.images
                else "Test log-likelihood in nats per point on fresh samples; the density "
                "integral is the Riemann sum of the learned density over a box holding the data."
            )
        )
        title = f"{cfg.flow} flow on {cfg.data}: {result.updates:,} updates"
        return Outcome(title, [text], metrics, figures)


def run_flow(
    cfg: FlowRunConfig, out_dir: str | Path, resume: bool = False, quiet: bool = False
) -> dict[str, Any]:
    """Train (or resume) a flow and write metrics.json, plots, report.html, config.json
    ({} on the other processes of a torchrun run)."""
    return run_experiment(FlowExperiment(), cfg, out_dir, resume, quiet, desc=f"flow {cfg.flow}")
