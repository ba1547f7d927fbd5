"""``deepgen flow``: train a flow by maximum likelihood on a 2-D density or on binary images.

2-D data (``deepgen.data.toy``): a fixed training sample, validation on held-out points, and at
the end the test log-likelihood on fresh points (nats per point), the learned density on a fine
grid (its Riemann sum over a box holding the data must be 1 ± 0.01), a heat-map and samples.

Images with L levels (binary ``mnist14`` …: L = 2; grey ``mnist-grey``: L = 256), dequantized.
With y = (x + u)/L, u ~ q(u | x) on [0, 1)^D (uniform, or learned with ``--dequantization
variational``), the flow models y ∈ [0, 1)^D (a :class:`Logit` first); Jensen gives
log P(x) = log ∫ p_y((x + u)/L) L^{−D} du ≥ E_q[log p_y(y) − log q(u | x)] − D log L, an upper
bound on the discrete NLL in nats per image (and bits per dimension), comparable with the VAE's
−log p(x); the K-draw importance-weighted form is tighter.
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

from deepgen.data import load_dataset, spread
from deepgen.data.datasets import DATASETS, GREY_DATASETS
from deepgen.data.toy import TOY_DATASETS, sample_toy
from deepgen.distributions import check_binary
from deepgen.errors import ConfigError
from deepgen.flows.actnorm import ActNorm
from deepgen.flows.base import Compose
from deepgen.flows.bounded import Logit
from deepgen.flows.dequantization import VariationalDequantizer, dequantized_nll
from deepgen.flows.flow import Flow
from deepgen.flows.recipe import FlowModelConfig, build_flow
from deepgen.flows.residual import ResidualBlock
from deepgen.report.plots import (
    plot_curves,
    plot_density,
    plot_image_grid,
    plot_samples_over_data,
)
from deepgen.shard import local
from deepgen.train import EpochSampler, TrainResult
from deepgen.train.optim import adam, maybe_compiled
from deepgen.train.runconfig import RunConfig
from deepgen.train.runner import Outcome, ReportFigure, Session, run_experiment

IMAGE_DATA = (*DATASETS, *GREY_DATASETS)  # binary (2 levels) and grey (256 levels) images


@dataclass(frozen=True)
class FlowRunConfig(RunConfig):
    """Settings of one ``deepgen flow`` run (defaults are the command's), the flow's
    :class:`FlowModelConfig` nested as ``model``.

    >>> cfg = FlowRunConfig.from_settings({"data": "moons", "flow": "maf", "hidden": 32})
    >>> cfg.model.flow, cfg.model.hidden, cfg.steps
    ('maf', 32, 3000)
    """

    EVALUATION_ONLY = ("grid", "test_images", "eval_k", "eval_images")
    MODELS = (FlowModelConfig,)

    data: str = "moons"
    steps: int = 3000
    batch_size: int = 256
    lr: float = 1e-3
    seed: int = 0
    device: str = "auto"
    threads: int = 1
    tensorboard: bool = False  # also write TensorBoard event files
    precision: str = "fp32"  # bf16: updates under torch.autocast (where it pays)
    compile: bool = False  # torch.compile the flow's log-density
    val_every: int = 100
    checkpoint_every: int = 1000
    train_size: int = 20_000
    test_size: int = 20_000
    grid: int = 600
    eval_k: int = 16
    val_images: int | None = None  # images: validate on the first N held-out images (all)
    test_images: int | None = None  # images: N test images spread evenly over the split
    eval_images: int | None = None  # images: the final bounds on the first N val images
    data_dir: str | None = None
    model: FlowModelConfig = None  # type: ignore[assignment]  # None: FlowModelConfig's defaults

    def __post_init__(self) -> None:
        self.settle_model()
        if self.data not in TOY_DATASETS and self.data not in IMAGE_DATA:
            known = ", ".join([*TOY_DATASETS, *IMAGE_DATA])
            raise ConfigError(f"unknown data {self.data!r}; choose from {known}")
        for name in ("steps", "batch_size", "threads", "train_size", "test_size"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be >= 1, got {getattr(self, name)}")
        for name in ("test_images", "eval_images", "val_images"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise ConfigError(f"{name} must be >= 1, got {value}")
            if value is not None and self.data not in IMAGE_DATA:
                raise ConfigError(f"--{name.replace('_', '-')} is for images, not {self.data}")
        points = {"train_size": 20_000, "test_size": 20_000, "grid": 600}  # their defaults
        for name, default in points.items():
            if self.data in IMAGE_DATA and getattr(self, name) != default:
                raise ConfigError(f"--{name.replace('_', '-')} is for 2-D data, not {self.data}")
        if self.model.images_only and self.data not in IMAGE_DATA:
            raise ConfigError(
                "--flow multiscale and --dequantization variational are for images "
                f"({', '.join(IMAGE_DATA)}), not {self.data}"
            )
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


def dequantize(x: Tensor, generator: torch.Generator | None = None, levels: int = 2) -> Tensor:
    """y = (x + u)/L with u ~ U[0, 1)^D: pixels 0 … L − 1 to points of [0, 1)^D."""
    u = torch.rand(x.shape, generator=generator, dtype=x.dtype, device=x.device)
    return (x + u) / levels


class FlowTask:
    """One Adam update of −mean log p(x) on a minibatch (dequantized for images)."""

    def __init__(
        self,
        flow: Flow,
        train_x: Tensor,
        val_x: Tensor,
        cfg: FlowRunConfig,
        device: torch.device,
        dequantizer: VariationalDequantizer | None = None,
        levels: int = 2,
    ) -> None:
        self.flow, self.cfg, self.images, self.levels = flow, cfg, cfg.images, levels
        self.train_x, self.val_x = train_x.to(device), val_x[: cfg.val_images].to(device)
        self.offset = train_x.shape[1] * math.log(levels) if self.images else 0.0
        self.sampler = EpochSampler(len(self.train_x), cfg.batch_size, cfg.seed, device)
        self.dequantizer = dequantizer
        params = list(flow.parameters())
        if dequantizer is not None:
            params += list(dequantizer.parameters())
        self.optimizer = adam(params, cfg.lr)
        self.actnorms = [m for m in flow.modules() if isinstance(m, ActNorm)]
        # --compile: the flow's log-density (ActNorm starts eagerly, before the first call)
        self.log_prob = maybe_compiled(flow.log_prob, cfg.compile)

    def _y(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """Dequantized y = (x + u)/L of pixels x and log q(u | x) (0 when uniform)."""
        if self.dequantizer is None:
            return dequantize(x, levels=self.levels), x.new_zeros(len(x))
        u, log_q = self.dequantizer(x)
        return (x + u) / self.levels, log_q

    def step(self, update: int) -> dict[str, Tensor]:
        x = self.train_x[self.sampler.indices(update)]  # the global batch
        log_q: Tensor | float = 0.0
        if self.images and self.dequantizer is None:
            x = dequantize(x, levels=self.levels)  # uniform noise for the whole global batch
        if not all(bool(m.initialized) for m in self.actnorms):
            # ActNorm's data-dependent start from the whole global batch (every process alike;
            # a variational dequantizer's draws for it leave the random state as it was)
            with torch.no_grad(), exact_logdets(self.flow), torch.random.fork_rng(devices=[]):
                self.flow.log_prob(x if self.dequantizer is None else self._y(x)[0])
        x = local(x)  # this process's slice
        if self.dequantizer is not None:
            x, log_q = self._y(x)
        loss = -(self.log_prob(x) - log_q).mean()
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        return {"loss": loss.detach(), "nll": loss.detach() + self.offset}

    @torch.no_grad()
    def validate(self, update: int) -> dict[str, float]:
        x = self.val_x
        if self.images:
            deq = self.dequantizer
            bounds = image_bounds(self.flow, x, 1, self.cfg.seed + 1, deq, levels=self.levels)
            return {"val_nll": bounds["nll"]}
        with exact_logdets(self.flow):
            nll = -self.flow.log_prob(x).mean().item()
        return {"val_nll": nll}

    def state_dict(self) -> dict[str, Any]:
        state = {"flow": self.flow.state_dict(), "optimizer": self.optimizer.state_dict()}
        if self.dequantizer is not None:
            state["dequantizer"] = self.dequantizer.state_dict()
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.flow.load_state_dict(state["flow"])
        if self.dequantizer is not None:
            self.dequantizer.load_state_dict(state["dequantizer"])
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


@torch.no_grad()
def image_bounds(
    flow: Flow,
    x: Tensor,
    k: int,
    seed: int,
    dequantizer: VariationalDequantizer | None = None,
    batch: int = 500,
    levels: int = 2,
) -> dict[str, float]:
    """Jensen and K-draw importance-weighted upper bounds on −log P(x), nats per image, under
    uniform (``dequantizer`` None) or variational dequantization; batched over images."""
    g = torch.Generator(device=x.device).manual_seed(seed)
    jensen, iw = [], []
    with exact_logdets(flow):
        for i in range(0, len(x), batch):
            j, w = dequantized_nll(flow.log_prob, x[i : i + batch], levels, dequantizer, k, g)
            jensen.append(j)
            iw.append(w)
    nll, nll_iw = torch.cat(jensen).double(), torch.cat(iw).double()
    n = len(nll)
    return {
        "nll": nll.mean().item(),
        "nll_stderr": (nll.std() / n**0.5).item() if n > 1 else float("nan"),
        "nll_iw": nll_iw.mean().item(),
        "bits_per_dim": nll.mean().item() / (x.shape[1] * math.log(2)),
    }


@torch.no_grad()
def sample_binary_images(flow: Flow, n: int, levels: int = 2) -> Tensor:
    """x = ⌊Ly⌋ for y ~ the flow (L = ``levels``, 2 for binary pixels): z ~ N(0, I) through the
    inverse of every transform after the first (a :class:`Logit`), then y = (σ(v) − α)/(1 − 2α)
    clipped to [0, 1): a sample may leave the range the Logit maps [0, 1] to, and its pixel is
    then 0 or L − 1 all the same."""
    transforms = flow.transform.transforms
    logit = transforms[0]
    assert isinstance(logit, Logit)
    z = flow.base().sample((n,))
    v, _ = Compose(list(transforms[1:])).inverse(z)
    y = (torch.sigmoid(v) - logit.alpha) / (1 - 2 * logit.alpha)
    return (levels * y.clamp(0, 1 - 1e-6)).floor()


def _load_data(
    cfg: FlowRunConfig,
) -> tuple[Tensor, Tensor, Tensor, tuple[int, int] | None, int]:
    """Train, validation and test data, the image shape (None for points) and the levels."""
    if cfg.images:
        data = load_dataset(cfg.data, cfg.data_dir)
        train = data.train
        if data.dynamic:  # a fixed binarization of the training set, drawn from the seed
            train = torch.bernoulli(train, generator=torch.Generator().manual_seed(cfg.seed))
        if data.levels == 2:
            check_binary(train, f"{cfg.data} training data")
        return train, data.val, data.test, data.image_shape, data.levels
    train = sample_toy(cfg.data, cfg.train_size, torch.Generator().manual_seed(cfg.seed))
    val = sample_toy(cfg.data, 2000, torch.Generator().manual_seed(cfg.seed + 10_007))
    test = sample_toy(cfg.data, cfg.test_size, torch.Generator().manual_seed(cfg.seed + 20_011))
    return train, val, test, None, 2


class FlowExperiment:
    """``deepgen flow`` for the runner: data, flow and task; test likelihood, density, plots."""

    kind = "flow"

    def build(self, session: Session) -> tuple[FlowTask, dict[str, Any]]:
        """Load (or draw) the data and build the flow and its task."""
        cfg: FlowRunConfig = session.cfg
        train, val, test, shape, levels = _load_data(cfg)
        if cfg.batch_size > len(train):
            raise ConfigError(
                f"--batch-size {cfg.batch_size} exceeds the {len(train)} training points"
            )
        if cfg.images:
            test = test[spread(len(test), cfg.test_images)]
        self.test, self.shape, self.levels = test, shape, levels
        flow, dequantizer = build_flow(cfg.model, train.shape[1], shape, levels, cfg.seed)
        flow = flow.to(session.device)
        if dequantizer is not None:
            dequantizer = dequantizer.to(session.device)
        fixed = {
            "features": train.shape[1],
            "image_shape": list(shape) if shape is not None else None,
            "levels": levels,
        }
        task = FlowTask(flow, train, val, cfg, session.device, dequantizer, levels)
        return task, fixed

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
            "flow": cfg.model.flow,
            "parameters": sum(p.numel() for p in flow.parameters()),
        }
        figures: list[ReportFigure] = []
        torch.manual_seed(cfg.seed + 1)  # sampling randomness, independent of training
        if cfg.images:
            assert shape is not None
            deq, levels = task.dequantizer, self.levels
            test_b = image_bounds(
                flow, test.to(device), cfg.eval_k, cfg.seed + 2, deq, levels=levels
            )
            val_x = task.val_x[: cfg.eval_images]
            val_b = image_bounds(flow, val_x, cfg.eval_k, cfg.seed + 3, deq, levels=levels)
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
            x = sample_binary_images(flow, 64, levels).cpu().numpy() / (levels - 1)
            path = plot_image_grid(
                x, shape, out / "samples.png", f"Flow samples, discretized: x = ⌊{levels}y⌋"
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
                        f"Learned density ({cfg.model.flow} on {cfg.data})",
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
                f"Images are dequantized ({cfg.model.dequantization}): the NLL is an upper bound "
                "on the discrete NLL in nats per image, comparable with the VAE's −log p(x)."
                if cfg.images
                else "Test log-likelihood in nats per point on fresh samples; the density "
                "integral is the Riemann sum of the learned density over a box holding the data."
            )
        )
        title = f"{cfg.model.flow} flow on {cfg.data}: {result.updates:,} updates"
        return Outcome(title, [text], metrics, figures)


def run_flow(
    cfg: FlowRunConfig, out_dir: str | Path, resume: bool = False, quiet: bool = False
) -> dict[str, Any]:
    """Train (or resume) a flow and write metrics.json, plots, report.html, config.json
    ({} on the other processes of a torchrun run)."""
    return run_experiment(
        FlowExperiment(), cfg, out_dir, resume, quiet, desc=f"flow {cfg.model.flow}"
    )
