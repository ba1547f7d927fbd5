"""The main job: train the SPEC §1 VAE, evaluate it, and write plots, report and metrics.

``run_vae(config, out_dir)`` is what ``deepgen vae`` calls; ``evaluate_checkpoint`` is what
``deepgen vae eval`` calls. Data flows one way: data → model → objective → trainer → report.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import torch
from torch import Tensor

from deepgen.bounds import importance_sampled_log_px
from deepgen.data import DATASETS, IMAGE_SHAPES, BinaryImageData, load_dataset, spread
from deepgen.distributions import check_binary
from deepgen.errors import CheckpointError, ConfigError
from deepgen.report.plots import (
    plot_elbo_terms,
    plot_image_grid,
    plot_reconstructions,
    plot_train_vs_val,
)
from deepgen.shard import local
from deepgen.train import EpochSampler, TrainResult, load_checkpoint, resolve_device
from deepgen.train.optim import adam, maybe_compiled
from deepgen.train.runconfig import RunConfig
from deepgen.train.runner import Outcome, ReportFigure, Session, run_experiment
from deepgen.train.schedules import BURDA_ADAM_EPS, SCHEDULES, learning_rate
from deepgen.vae.composed import ComposedVAE, build_vae, describe_model
from deepgen.vae.model import VAE, VAEConfig

AnyVAE = VAE | ComposedVAE


@dataclass(frozen=True)
class VAERunConfig(RunConfig):
    """Everything that defines a VAE run (``config.json`` is this, as JSON): the run's
    settings, and the model's :class:`VAEConfig` nested as ``model`` (its ``x_dim`` from the
    data).

    >>> cfg = VAERunConfig.from_settings({"data": "mnist14", "hidden": 64, "steps": 10})
    >>> cfg.model.hidden, cfg.model.x_dim, cfg.steps
    (64, 196, 10)
    """

    ALIASES: ClassVar[dict[str, str]] = {"updates": "steps"}  # runs before --steps
    EVALUATION_ONLY = ("eval_k", "eval_images")
    MODELS = (VAEConfig,)

    data: str = "mnist14"
    data_dir: str | None = None
    steps: int = 15000  # weight updates (--steps, or its alias --updates)
    batch_size: int = 100
    lr: float = 3e-3
    schedule: str = "constant"  # or "burda": 3^i epochs at lr·10^(−i/7), Adam ε = 1e-4
    seed: int = 0
    device: str = "auto"
    threads: int = 1  # CPU threads; 1 is fastest for this small model and immune to a busy machine
    tensorboard: bool = False  # also write TensorBoard event files
    precision: str = "fp32"  # bf16: updates under torch.autocast (where it pays)
    compile: bool = False  # torch.compile the training loss
    val_every: int = 100
    val_images: int = 100
    checkpoint_every: int = 1000
    eval_k: int = 1000
    eval_images: int | None = None  # the final evaluation on the first N train and val images
    model: VAEConfig = None  # type: ignore[assignment]  # None: VAEConfig's defaults

    def model_from_data(self) -> dict[str, Any]:
        """The data decide the input size."""
        h, w = IMAGE_SHAPES[self.data]
        return {"x_dim": h * w}

    def __post_init__(self) -> None:
        if self.data not in DATASETS:
            raise ConfigError(
                f"unknown data set {self.data!r}; choose one of {', '.join(DATASETS)}"
            )
        self.settle_model()
        if not self.lr > 0:
            raise ConfigError(f"--lr must be > 0, got {self.lr}")
        if self.eval_images is not None and self.eval_images < 1:
            raise ConfigError(f"--eval-images must be >= 1, got {self.eval_images}")
        for name in ("steps", "batch_size", "threads", "val_every", "val_images", "eval_k"):
            if getattr(self, name) < 1:
                raise ConfigError(
                    f"--{name.replace('_', '-')} must be >= 1, got {getattr(self, name)}"
                )
        if self.schedule not in SCHEDULES:
            raise ConfigError(
                f"unknown schedule {self.schedule!r}; choose from {', '.join(SCHEDULES)}"
            )


def _seeded(seed: int, device: torch.device) -> torch.Generator:
    return torch.Generator(device=device).manual_seed(seed)


class VAETask:
    """One Adam update of the VAE on a minibatch; validation on held-out images."""

    def __init__(
        self, model: AnyVAE, data: BinaryImageData, cfg: VAERunConfig, device: torch.device
    ) -> None:
        self.model, self.cfg, self.device = model, cfg, device
        self.dynamic = data.dynamic
        self.train_x = data.train.to(device)
        self.val_x = data.val[: cfg.val_images].to(device)
        self.sampler = EpochSampler(len(self.train_x), cfg.batch_size, cfg.seed, device)
        eps = BURDA_ADAM_EPS if cfg.schedule == "burda" else 1e-8
        self.optimizer = adam(model.parameters(), cfg.lr, eps=eps)
        self.loss = maybe_compiled(model.loss, cfg.compile)

    def step(self, update: int) -> dict[str, Tensor]:
        lr = learning_rate(self.cfg.schedule, self.cfg.lr, update, self.sampler.batches_per_epoch)
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        x = self.train_x[self.sampler.indices(update)]  # the global batch
        if self.dynamic:
            x = torch.bernoulli(x)
        loss, stats = self.loss(local(x), validate=False)  # this process's slice
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        if self.cfg.schedule != "constant":  # the rate is logged where it changes
            stats = {**stats, "lr": torch.tensor(lr)}
        return {"loss": loss.detach(), **stats}

    @torch.no_grad()
    def validate(self, update: int) -> dict[str, float]:
        g = _seeded(self.cfg.seed * 7919 + update, self.device)
        terms = self.model.elbo_terms(self.val_x, generator=g, validate=False)
        rec, kl = terms.rec.mean().item(), terms.kl.mean().item()
        return {"val_rec": rec, "val_kl": kl, "val_elbo": rec - kl}

    def state_dict(self) -> dict[str, Any]:
        return {"model": self.model.state_dict(), "optimizer": self.optimizer.state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])


@torch.no_grad()
def elbo_on(
    model: AnyVAE, x: Tensor, samples: int, seed: int, batch: int = 1000
) -> dict[str, float]:
    """Mean ELBO, reconstruction and KL over ``x`` (fixed noise from ``seed``)."""
    device = next(model.parameters()).device
    g = _seeded(seed, device)
    rec = kl = 0.0
    for i in range(0, len(x), batch):
        terms = model.elbo_terms(x[i : i + batch].to(device), samples, g, validate=False)
        rec += terms.rec.sum().item()
        kl += terms.kl.sum().item()
    rec, kl = rec / len(x), kl / len(x)
    return {"rec": rec, "kl": kl, "elbo": rec - kl}


@torch.no_grad()
def log_likelihood_on(
    model: AnyVAE, x: Tensor, k: int, seed: int, batch: int = 100, chunk: int = 500
) -> dict[str, float]:
    """Importance-sampled log p(x) (K samples per image), averaged over ``x``.

    Returns the mean, the standard error of that mean across images (data variability), and
    the mean Monte Carlo standard error of the per-image estimates.
    """
    device = next(model.parameters()).device
    g = _seeded(seed, device)
    values, mc = [], []
    for i in range(0, len(x), batch):
        xb = x[i : i + batch].to(device)
        est = importance_sampled_log_px(
            lambda n, xb=xb: model.log_weights(xb, n, g, validate=False), k, chunk
        )
        values.append(est.log_px.cpu())
        mc.append(est.stderr.cpu())
    v = torch.cat(values)
    return {
        "log_px": v.mean().item(),
        "stderr": (v.std(unbiased=True) / len(v) ** 0.5).item() if len(v) > 1 else float("nan"),
        "mc_stderr": torch.cat(mc).mean().item(),
        "k": k,
        "images": len(v),
    }


class VAEExperiment:
    """``deepgen vae`` for the runner: build the data, VAE and task; evaluate and draw."""

    kind = "vae"

    def build(self, session: Session) -> tuple[VAETask, dict[str, Any]]:
        """Load and check the data, build the VAE and its task."""
        cfg: VAERunConfig = session.cfg
        data = load_dataset(cfg.data, cfg.data_dir)
        if not data.dynamic:
            check_binary(data.train, f"{cfg.data} training data")
        check_binary(data.val, f"{cfg.data} validation data")
        if cfg.val_images > len(data.val):
            raise ConfigError(f"--val-images {cfg.val_images} exceeds the {len(data.val)} held out")
        model = build_vae(cfg.model).to(session.device)
        self.data = data
        return VAETask(model, data, cfg, session.device), {"model": model.config.to_dict()}

    def finish(self, session: Session, task: VAETask, result: TrainResult) -> Outcome:
        """The ELBO on the training and validation sets, log p(x) (K = eval_k), four plots."""
        cfg: VAERunConfig = session.cfg
        model, data, out, device = task.model, self.data, session.out, session.device
        model.eval()
        t_eval = time.perf_counter()
        n = cfg.eval_images
        all_train = data.train_batch(
            torch.arange(min(n or len(data.train), len(data.train))),
            torch.Generator().manual_seed(cfg.seed),
        )
        val_x = data.val[:n]
        train_eval = elbo_on(model, all_train, cfg.model.samples, cfg.seed)
        val_eval = elbo_on(model, val_x, cfg.model.samples, cfg.seed)
        ll = log_likelihood_on(model, val_x, cfg.eval_k, cfg.seed)
        eval_seconds = time.perf_counter() - t_eval

        shape = data.image_shape
        g = _seeded(cfg.seed, device)
        originals = data.val[:8]
        recon = model.reconstruct(originals.to(device)).cpu().numpy()
        samples = model.sample(64, g).cpu().numpy()
        last = result.val[-1]
        metrics: dict[str, Any] = {
            "data": cfg.data,
            "train_elbo": train_eval["elbo"],
            "train_rec": train_eval["rec"],
            "train_kl": train_eval["kl"],
            "val_elbo": val_eval["elbo"],
            "val_rec": val_eval["rec"],
            "val_kl": val_eval["kl"],
            "val_loglik_iwae": ll["log_px"],
            "val_loglik_iwae_stderr": ll["stderr"],
            "val_loglik_iwae_mc_stderr": ll["mc_stderr"],
            "iwae_k": cfg.eval_k,
            "val_images": len(val_x),
            "last_val100_rec": last["val_rec"],
            "eval_seconds": eval_seconds,
        }
        figures = [
            ReportFigure(
                plot_elbo_terms(result.train, out / "elbo_terms.png"),
                "Reconstruction term and KL term, per minibatch",
                "1. The two ELBO terms against weight updates",
            ),
            ReportFigure(
                plot_reconstructions(originals.numpy(), recon, shape, out / "reconstructions.png"),
                "8 held-out images (top) and reconstructions (bottom)",
                "2. Images and their reconstructions",
            ),
            ReportFigure(
                plot_image_grid(
                    samples,
                    shape,
                    out / "samples.png",
                    f"Pixel means decoded from z ~ p(z) ({cfg.model.prior})",
                ),
                f"Decoded z ~ p(z) ({cfg.model.prior} prior), a mini-batch of 64",
                "3. Samples",
            ),
            ReportFigure(
                plot_train_vs_val(result.train, result.val, out / "loglik_train_vs_val.png"),
                f"Each training minibatch, and {cfg.val_images} held-out images "
                f"every {cfg.val_every} updates",
                "4. Reconstruction log-likelihood: training vs. validation",
            ),
        ]
        return Outcome(
            f"VAE on {cfg.data}: {result.updates:,} updates",
            [describe_model(model.config) + " All log-likelihoods in nats per image."],
            metrics,
            figures,
        )


def run_vae(
    cfg: VAERunConfig, out_dir: str | Path, resume: bool = False, quiet: bool = False
) -> dict[str, Any]:
    """Train (or resume) the VAE, then write the four plots, report.html, metrics.json,
    config.json and checkpoint.pt into ``out_dir``. Returns the metrics ({} on the other
    processes of a torchrun run)."""
    return run_experiment(VAEExperiment(), cfg, out_dir, resume, quiet)


def load_vae(checkpoint: str | Path, device: torch.device) -> tuple[AnyVAE, dict[str, Any]]:
    """Rebuild a trained VAE from a ``deepgen vae`` checkpoint; returns it and its run settings."""
    state = load_checkpoint(checkpoint, map_location=device)
    meta = state.get("meta", {})
    if meta.get("kind") != "vae":
        raise CheckpointError(f"{checkpoint} is not a VAE checkpoint (kind {meta.get('kind')!r})")
    model = build_vae(VAEConfig(**meta["model"])).to(device)
    model.load_state_dict(state["task"]["model"])
    model.eval()
    return model, meta["run"]


def evaluate_checkpoint(
    checkpoint: str | Path,
    k: int = 5000,
    split: str = "test",
    device: str = "auto",
    data_dir: str | None = None,
    seed: int = 0,
    limit: int | None = None,
    threads: int = 1,
    spread_over: int | None = None,
) -> dict[str, Any]:
    """Importance-sampled log p(x) with K samples on a split, plus the ELBO for comparison."""
    dev = resolve_device(device)
    torch.set_num_threads(threads)
    model, run = load_vae(checkpoint, dev)
    data = load_dataset(run["data"], data_dir or run.get("data_dir"))
    if split not in ("train", "val", "test"):
        raise ConfigError(f"unknown split {split!r}; choose train, val or test")
    x = getattr(data, split)
    if split == "train":
        x = data.train_batch(torch.arange(len(x)), torch.Generator().manual_seed(seed))
    if limit is not None:
        x = x[:limit]
    if spread_over is not None:  # N images spread evenly over the split
        x = x[spread(len(x), spread_over)]
    t0 = time.perf_counter()
    ll = log_likelihood_on(model, x, k, seed)
    el = elbo_on(model, x, model.config.samples, seed)
    return {
        "split": split,
        "data": run["data"],
        "images": len(x),
        "k": k,
        "log_px": ll["log_px"],
        "stderr": ll["stderr"],
        "mc_stderr": ll["mc_stderr"],
        "elbo": el["elbo"],
        "seconds": time.perf_counter() - t0,
    }
