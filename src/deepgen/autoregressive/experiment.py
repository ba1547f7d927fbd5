"""Train a PixelCNN on binary images; write metrics, samples, loss plot, report and config.

``run_pixelcnn(config, out_dir)`` is what ``deepgen pixelcnn`` calls. The test NLL is exact:
−log p(x) = −Σ_i log p(x_i | x_<i) in nats per image, comparable with the VAE's −log p(x).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from matplotlib.figure import Figure
from torch import Tensor

from deepgen.autoregressive.pixelcnn import (
    SAMPLERS,
    GatedPixelCNN,
    PixelCNN,
    PixelCNNConfig,
    Progress,
    build_model,
    sample,
)
from deepgen.data import DATASETS, IMAGE_SHAPES, BinaryImageData, load_dataset, spread
from deepgen.distributions import check_binary
from deepgen.errors import CheckpointError, ConfigError
from deepgen.report.plots import moving_average, plot_image_grid
from deepgen.shard import local
from deepgen.train import EpochSampler, TrainResult, load_checkpoint
from deepgen.train.optim import adam, maybe_compiled
from deepgen.train.runconfig import RunConfig
from deepgen.train.runner import Outcome, ReportFigure, Session, run_experiment

# What the NLL is compared with in the report (nats per image).
REFERENCES: dict[str, dict[str, Any]] = {
    "mnist14": {
        "nll": 31.82,
        "what": "the SPEC §1 VAE's test −log p(x) (deepgen vae eval --k 5000, README)",
    },
    "binarized-mnist": {
        "nll": 81.30,
        "what": "PixelCNN's published test NLL (van den Oord et al., 2016)",
    },
}


@dataclass(frozen=True)
class PixelCNNRunConfig(RunConfig):
    """Everything that defines a PixelCNN run (``config.json`` is this, as JSON): the run's
    settings and the model's :class:`PixelCNNConfig` nested as ``model`` (its height and width
    from the data).

    >>> cfg = PixelCNNRunConfig.from_settings({"data": "mnist14", "gated": True, "layers": 4})
    >>> cfg.model.gated, cfg.model.layers, cfg.model.height
    (True, 4, 14)
    """

    EVALUATION_ONLY = ("samples", "sampler", "test_images", "eval_images")
    MODELS = (PixelCNNConfig,)

    data: str = "mnist14"
    data_dir: str | None = None
    steps: int = 3000
    batch_size: int = 64
    lr: float = 2e-3
    lr_halflife: float = 1000.0  # Adam's step size halves every this many updates
    seed: int = 0
    device: str = "auto"
    threads: int = 1
    tensorboard: bool = False  # also write TensorBoard event files
    precision: str = "fp32"  # bf16: updates under torch.autocast (where it pays)
    compile: bool = False  # torch.compile the training loss
    val_every: int = 250
    val_images: int = 500
    checkpoint_every: int = 500
    samples: int = 64
    sampler: str = "restricted"
    test_images: int | None = None  # N test images spread evenly over the split (all)
    eval_images: int | None = None  # the final evaluation on the first N val (and train) images
    model: PixelCNNConfig = None  # type: ignore[assignment]  # None: PixelCNNConfig's defaults

    def model_from_data(self) -> dict[str, Any]:
        """The data decide the image's height and width."""
        height, width = IMAGE_SHAPES[self.data]
        return {"height": height, "width": width}

    def __post_init__(self) -> None:
        if self.data not in DATASETS:
            known = ", ".join(DATASETS)
            raise ConfigError(f"unknown data set {self.data!r}; choose one of {known}")
        self.settle_model()
        if not self.lr > 0:
            raise ConfigError(f"--lr must be > 0, got {self.lr}")
        if not self.lr_halflife > 0:
            raise ConfigError(f"--lr-halflife must be > 0, got {self.lr_halflife}")
        for name in ("steps", "batch_size", "threads", "val_every", "val_images", "samples"):
            if getattr(self, name) < 1:
                raise ConfigError(
                    f"--{name.replace('_', '-')} must be >= 1, got {getattr(self, name)}"
                )
        if self.checkpoint_every < 1:
            raise ConfigError(f"--checkpoint-every must be >= 1, got {self.checkpoint_every}")
        for name in ("test_images", "eval_images"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise ConfigError(f"--{name.replace('_', '-')} must be >= 1, got {value}")
        if self.sampler not in SAMPLERS:
            raise ConfigError(f"unknown sampler {self.sampler!r}")


class PixelCNNTask:
    """One Adam update on a minibatch of exact NLL; validation NLL on held-out images.

    The step size of update u is lr · 2^(−(u − 1) / lr_halflife): a function of u alone, so a
    resumed or extended run follows the same schedule as an uninterrupted one."""

    def __init__(
        self,
        model: PixelCNN | GatedPixelCNN,
        data: BinaryImageData,
        cfg: PixelCNNRunConfig,
        device: torch.device,
    ) -> None:
        self.model, self.cfg, self.device = model, cfg, device
        self.shape = (1, *data.image_shape)
        self.dynamic = data.dynamic
        self.train_x = data.train.to(device)
        self.val_x = data.val[: cfg.val_images].to(device)
        self.sampler = EpochSampler(len(self.train_x), cfg.batch_size, cfg.seed, device)
        self.optimizer = adam(model.parameters(), cfg.lr)
        self.loss = maybe_compiled(model.loss, cfg.compile)

    def step(self, update: int) -> dict[str, Tensor]:
        x = self.train_x[self.sampler.indices(update)]  # the global batch
        if self.dynamic:
            x = torch.bernoulli(x)
        for group in self.optimizer.param_groups:
            group["lr"] = self.cfg.lr * 0.5 ** ((update - 1) / self.cfg.lr_halflife)
        loss = self.loss(local(x).view(-1, *self.shape), validate=False)  # this process's slice
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        return {"loss": loss.detach(), "nll": loss.detach()}

    def validate(self, update: int) -> dict[str, float]:
        self.model.eval()
        value = nll_on(self.model, self.val_x)["nll"]
        self.model.train()
        return {"val_nll": value}

    def state_dict(self) -> dict[str, Any]:
        return {"model": self.model.state_dict(), "optimizer": self.optimizer.state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])


@torch.no_grad()
def nll_on(model: PixelCNN | GatedPixelCNN, x: Tensor, batch: int = 500) -> dict[str, float]:
    """Exact mean −log p(x) over ``x`` (nats per image), its standard error across images,
    and bits per dimension."""
    device = next(model.parameters()).device
    values = torch.cat(
        [
            -model.log_prob(x[i : i + batch].to(device), validate=False).cpu()
            for i in range(0, len(x), batch)
        ]
    ).double()
    n, d = len(values), x.shape[1]
    stderr = (values.std(unbiased=True) / math.sqrt(n)).item() if n > 1 else float("nan")
    mean = values.mean().item()
    return {"nll": mean, "stderr": stderr, "bits_per_dim": mean / (d * math.log(2)), "images": n}


def plot_nll(train: list[dict[str, float]], val: list[dict[str, float]], path: Path) -> Path:
    """Training NLL per minibatch (and its moving mean) with the validation NLL, nats/image."""
    fig = Figure(figsize=(7.5, 4.2))
    ax = fig.subplots()
    u = [r["update"] for r in train]
    y = [r["nll"] for r in train]
    ax.plot(u, y, color="tab:blue", alpha=0.25, linewidth=0.6, label="training minibatch")
    ax.plot(u, moving_average(y, max(1, len(y) // 50)), color="tab:blue", label="moving mean")
    ax.plot(
        [r["update"] for r in val],
        [r["val_nll"] for r in val],
        "o-",
        color="tab:orange",
        markersize=3,
        label="validation",
    )
    if y:
        lo = min(min(y), min((r["val_nll"] for r in val), default=min(y)))
        hi = sorted(y)[int(0.9 * (len(y) - 1))]
        ax.set_ylim(lo - 0.05 * abs(lo), max(hi, lo + 1.0))
    ax.set_xlabel("weight updates")
    ax.set_ylabel("−log p(x)  (nats per image)")
    ax.grid(alpha=0.3)
    ax.legend(loc="upper right")
    ax.set_title("PixelCNN negative log-likelihood")
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110, bbox_inches="tight")
    return path


class PixelCNNExperiment:
    """``deepgen pixelcnn`` for the runner: data, model and task; exact NLL, samples, plots.

    ``progress`` wraps the pixel loop of sampling (e.g. a tqdm bar made by the CLI)."""

    kind = "pixelcnn"

    def __init__(self, progress: Progress | None = None) -> None:
        self.progress = progress

    def build(self, session: Session) -> tuple[PixelCNNTask, dict[str, Any]]:
        """Load and check the data, build the model and its task."""
        cfg: PixelCNNRunConfig = session.cfg
        data = load_dataset(cfg.data, cfg.data_dir)
        if not data.dynamic:
            check_binary(data.train, f"{cfg.data} training data")
        check_binary(data.val, f"{cfg.data} validation data")
        check_binary(data.test, f"{cfg.data} test data")
        if cfg.val_images > len(data.val):
            raise ConfigError(f"--val-images {cfg.val_images} exceeds the {len(data.val)} held out")
        model = build_model(cfg.model).to(session.device)
        self.data = data
        return PixelCNNTask(model, data, cfg, session.device), {"model": model.config.to_dict()}

    def finish(self, session: Session, task: PixelCNNTask, result: TrainResult) -> Outcome:
        """Exact NLL on the test, validation and (1,000) training images; samples; plots."""
        cfg: PixelCNNRunConfig = session.cfg
        model, data, out = task.model, self.data, session.out
        model.eval()
        t_eval = time.perf_counter()
        test_x = data.test[spread(len(data.test), cfg.test_images)]
        test = nll_on(model, test_x)
        val = nll_on(model, data.val[: cfg.eval_images])
        n_train = min(cfg.eval_images or 1000, 1000, len(data.train))
        train = nll_on(model, data.train_batch(torch.arange(n_train)))
        eval_seconds = time.perf_counter() - t_eval

        t_sample = time.perf_counter()
        g = torch.Generator(device=session.device).manual_seed(cfg.seed)
        images = sample(model, cfg.samples, g, cfg.sampler, self.progress)
        sample_seconds = time.perf_counter() - t_sample

        shape = data.image_shape
        ref = REFERENCES.get(cfg.data)
        name = "GatedPixelCNN" if cfg.model.gated else "PixelCNN"
        metrics: dict[str, Any] = {
            "data": cfg.data,
            "model": name,
            "test_nll": test["nll"],
            "test_nll_stderr": test["stderr"],
            "test_bits_per_dim": test["bits_per_dim"],
            "test_images": test["images"],
            "val_nll": val["nll"],
            "val_nll_stderr": val["stderr"],
            "train_nll_first1000": train["nll"],  # or the first eval_images
            "last_val_nll": result.val[-1]["val_nll"],
            "parameters": sum(p.numel() for p in model.parameters()),
            "seconds_per_update": (
                1.0 / result.updates_per_second if result.updates_per_second > 0 else math.nan
            ),
            "eval_seconds": eval_seconds,
            "sampler": cfg.sampler,
            "sample_seconds": sample_seconds,
            "reference_nll": ref["nll"] if ref else None,
            "reference": ref["what"] if ref else None,
        }
        title, arch = ("Gated PixelCNN" if cfg.model.gated else "PixelCNN"), cfg.model
        text = [
            f"{title} for binary images, a Bernoulli per pixel: a {arch.first_kernel}×"
            f"{arch.first_kernel} type-A masked layer then {arch.layers - 1} type-B "
            f"{arch.kernel}×{arch.kernel} layers, {arch.channels} channels, {arch.convention} "
            "ordering. "
            "log p(x) = Σ_i log p(x_i | x_<i) is exact, so the NLL below is not a bound. All "
            "values in nats per image."
        ]
        if ref:
            text.append(
                f"Reference: {ref['what']}: {ref['nll']:.2f} nats. This run: test NLL "
                f"{test['nll']:.2f} ± {test['stderr']:.2f} nats ({test['images']} images)."
            )
        figures = [
            ReportFigure(
                plot_nll(result.train, result.val, out / "nll.png"),
                f"Each minibatch, and {cfg.val_images} held-out images every {cfg.val_every} "
                "updates",
                "Negative log-likelihood during training",
            ),
            ReportFigure(
                plot_image_grid(
                    images.cpu().numpy(),
                    shape,
                    out / "samples.png",
                    f"{cfg.samples} samples, drawn pixel by pixel",
                ),
                f"{cfg.samples} samples ({cfg.sampler} sampler, {sample_seconds:.1f} s)",
                "Samples",
            ),
            ReportFigure(
                plot_image_grid(
                    data.test[:16].numpy(), shape, out / "test_images.png", "Test images", columns=8
                ),
                "Test images, for comparison",
            ),
        ]
        return Outcome(f"{title} on {cfg.data}: {result.updates:,} updates", text, metrics, figures)


def run_pixelcnn(
    cfg: PixelCNNRunConfig,
    out_dir: str | Path,
    resume: bool = False,
    quiet: bool = False,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """Train (or resume) a PixelCNN, then write samples.png, nll.png, report.html,
    metrics.json, config.json and checkpoint.pt into ``out_dir``. Returns the metrics ({} on
    the other processes of a torchrun run).

    ``progress`` wraps the pixel loop of sampling (e.g. a tqdm bar made by the CLI)."""
    return run_experiment(PixelCNNExperiment(progress), cfg, out_dir, resume, quiet)


def load_pixelcnn(
    checkpoint: str | Path, device: torch.device
) -> tuple[PixelCNN | GatedPixelCNN, dict[str, Any]]:
    """Rebuild a trained model from a ``deepgen pixelcnn`` checkpoint; returns it and its run."""
    state = load_checkpoint(checkpoint, map_location=device)
    meta = state.get("meta", {})
    if meta.get("kind") != "pixelcnn":
        raise CheckpointError(
            f"{checkpoint} is not a PixelCNN checkpoint (kind {meta.get('kind')!r})"
        )
    model = build_model(PixelCNNConfig(**meta["model"])).to(device)
    model.load_state_dict(state["task"]["model"])
    model.eval()
    return model, meta["run"]
