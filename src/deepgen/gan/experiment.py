"""Train a GAN with the foundation trainer, evaluate it offline, write plots, report, metrics.

``run_gan(config, out_dir)`` is what ``deepgen gan`` calls. Data: ``ring8`` and ``grid25``
(2-D mixtures of Gaussians, σ = 0.02, fresh samples every step), ``mnist14`` (binary 14×14
images) or ``binarized-mnist`` (28×28; ``--arch dcgan`` by default): the generator outputs pixel
probabilities; the discriminator and the scores see binary images sampled from them.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, ClassVar

import torch
from torch import Tensor

from deepgen.data import IMAGE_SHAPES, load_dataset
from deepgen.data.toy import grid_modes, ring_modes, sample_toy
from deepgen.errors import ConfigError
from deepgen.gan.classifier import DigitClassifier, load_or_train_classifier
from deepgen.gan.conv import MINIBATCH_GROUP, ConvGANConfig, build_conv_gan
from deepgen.gan.losses import (
    LOSSES,
    boundary_seeking_loss,
    d_loss,
    g_loss,
    gradient_penalty,
    r1_penalty,
)
from deepgen.gan.metrics import (
    SATURATED,
    class_histogram_kl,
    frechet_distance,
    mixture_metrics,
    saturated_fraction,
)
from deepgen.gan.models import EMA, Discriminator, GANModelConfig, Generator
from deepgen.shard import bernoulli, local
from deepgen.train import EpochSampler, TrainResult
from deepgen.train.optim import adam, maybe_compiled
from deepgen.train.runconfig import RunConfig, merge_settings
from deepgen.train.runner import Outcome, ReportFigure, Session, run_experiment

GAN_DATA = ("ring8", "grid25", "mnist14", "binarized-mnist")
IMAGE_DATA = ("mnist14", "binarized-mnist")
# the gradient a binary sample b ~ Bernoulli(σ(ℓ)) passes back: to p = σ(ℓ), then through the
# sigmoid (× p(1 − p), which vanishes where the generator saturates), or to ℓ directly
STRAIGHT_THROUGH = ("probability", "logit")
ARCHS = ("mlp", "dcgan")
TOY_STD = 0.02  # the σ of deepgen.data.toy's ring8 and grid25


def toy_modes(name: str) -> Tensor:
    """Mode centres of a toy mixture."""
    return ring_modes(8, 2.0) if name == "ring8" else grid_modes(5, 1.0)


@dataclass(frozen=True)
class GANRunConfig(RunConfig):
    """Everything that defines a GAN run (``config.json`` is this, as JSON).

    One *step* is ``d_steps`` discriminator updates followed by one generator update.
    ``r1`` = 0 and ``ema`` = 0 switch those off; ``gp`` is the WGAN-GP weight λ. The networks'
    config is nested as ``model``: a :class:`GANModelConfig` (``arch`` mlp) or a
    :class:`ConvGANConfig` (``arch`` dcgan), its sizes of the data decided by the data.

    >>> cfg = GANRunConfig.from_settings({"data": "mnist14", "arch": "dcgan", "width": 16})
    >>> type(cfg.model).__name__, cfg.model.width, cfg.model.image_shape
    ('ConvGANConfig', 16, (14, 14))
    """

    EVALUATION_ONLY = ("eval_samples",)
    MODELS = (GANModelConfig, ConvGANConfig)
    LEGACY_DEFAULTS: ClassVar[dict[str, Any]] = {"hidden": 128, "layers": 3, "width": 64}

    data: str = "ring8"
    data_dir: str | None = None  # binarized-mnist: the .amat.gz files
    classifier_dir: str | None = None  # binarized-mnist: labelled MNIST for the scoring network
    arch: str = "mlp"  # or "dcgan" (convolutional, images): the class of ``model``
    loss: str = "ns"
    steps: int = 6000
    batch_size: int = 256
    lr_g: float = 5e-4
    lr_d: float = 5e-4
    beta1: float = 0.5
    beta2: float = 0.999
    d_steps: int = 1
    r1: float = 0.0
    gp: float = 10.0
    straight_through: str = "probability"  # images: ∂b/∂p = 1, or "logit": ∂b/∂ℓ = 1
    boundary_seeking: int = 0  # images: M samples per z for the BGAN generator loss; 0 off
    ema: float = 0.99
    seed: int = 0
    device: str = "auto"
    threads: int = 1
    tensorboard: bool = False  # also write TensorBoard event files
    precision: str = "fp32"  # bf16: updates under torch.autocast (where it pays)
    compile: bool = False  # torch.compile the generator's and discriminator's forward passes
    val_every: int = 250
    checkpoint_every: int = 1000
    eval_samples: int = 10000
    classifier_epochs: int = 8
    model: GANModelConfig | ConvGANConfig = None  # type: ignore[assignment]  # None: defaults

    @classmethod
    def model_class_of(cls, settings: Mapping[str, Any]) -> type:
        """MLP networks, or DCGAN-style convolutional ones (``arch`` dcgan)."""
        return ConvGANConfig if settings.get("arch") == "dcgan" else GANModelConfig

    def model_from_data(self) -> dict[str, Any]:
        """The data decide the image shape (dcgan), or the size and output of an MLP."""
        if self.data not in IMAGE_DATA:
            return {"x_dim": 2, "output": "linear"}
        shape = IMAGE_SHAPES[self.data]
        if self.arch == "dcgan":
            return {"image_shape": shape}
        return {"x_dim": shape[0] * shape[1], "output": "sigmoid"}

    def __post_init__(self) -> None:
        if self.data not in GAN_DATA:
            raise ConfigError(f"unknown GAN data {self.data!r}; choose from {', '.join(GAN_DATA)}")
        if self.arch not in ARCHS:
            raise ConfigError(f"unknown arch {self.arch!r}; choose from {', '.join(ARCHS)}")
        if self.arch == "dcgan" and self.data not in IMAGE_DATA:
            raise ConfigError(f"--arch dcgan is for images ({', '.join(IMAGE_DATA)})")
        self.settle_model()
        if self.data != "binarized-mnist" and (self.data_dir, self.classifier_dir) != (None, None):
            raise ConfigError("--data-dir and --classifier-dir are for binarized-mnist")
        if self.loss not in LOSSES:
            raise ConfigError(f"unknown GAN loss {self.loss!r}; choose from {', '.join(LOSSES)}")
        for name in ("lr_g", "lr_d"):
            if not getattr(self, name) > 0:
                raise ConfigError(
                    f"--{name.replace('_', '-')} must be > 0, got {getattr(self, name)}"
                )
        for name in ("beta1", "beta2", "ema"):
            if not 0 <= getattr(self, name) < 1:
                raise ConfigError(f"--{name} must be in [0, 1), got {getattr(self, name)}")
        if getattr(self.model, "minibatch_std", False) and self.batch_size % MINIBATCH_GROUP:
            raise ConfigError(
                f"--minibatch-std takes groups of {MINIBATCH_GROUP} images: --batch-size must be "
                f"a multiple of {MINIBATCH_GROUP}, got {self.batch_size}"
            )
        if self.straight_through not in STRAIGHT_THROUGH:
            raise ConfigError(
                f"unknown --straight-through {self.straight_through!r}; choose from "
                f"{', '.join(STRAIGHT_THROUGH)}"
            )
        if self.straight_through != "probability" and self.data not in IMAGE_DATA:
            raise ConfigError("--straight-through is for binary images (the generator samples)")
        if self.boundary_seeking:
            self._check_boundary_seeking()
        if self.r1 < 0 or self.gp < 0:
            raise ConfigError(f"--r1 and --gp must be >= 0, got {self.r1} and {self.gp}")
        for name in (
            "steps",
            "batch_size",
            "d_steps",
            "threads",
            "val_every",
            "checkpoint_every",
            "eval_samples",
            "classifier_epochs",
        ):
            if getattr(self, name) < 1:
                raise ConfigError(
                    f"--{name.replace('_', '-')} must be >= 1, got {getattr(self, name)}"
                )

    def _check_boundary_seeking(self) -> None:
        m = self.boundary_seeking
        if m < 2:
            raise ConfigError(
                f"--boundary-seeking takes M >= 2 samples per noise draw (0: off), got {m}"
            )
        if self.data not in IMAGE_DATA:
            raise ConfigError("--boundary-seeking is for binary images (the generator samples)")
        if self.loss not in ("ns", "minimax"):
            raise ConfigError(
                f"--boundary-seeking weighs samples by exp D(x), the density ratio a logit of "
                f"the ns or minimax discriminator estimates; not --loss {self.loss}"
            )
        if self.straight_through != "probability":
            raise ConfigError(
                "--boundary-seeking sends no gradient through the samples: "
                "--straight-through does not apply"
            )


# Per-data defaults, applied under the flags a user gives.
DATA_DEFAULTS: dict[str, dict[str, Any]] = {
    "ring8": {},
    "grid25": {},
    "mnist14": {
        "steps": 3000,
        "ema": 0.999,
        "batch_size": 64,
        "lr_g": 2e-4,
        "lr_d": 2e-4,
        "z_dim": 32,
        "hidden": 256,
        "layers": 2,
        "val_every": 500,
        "eval_samples": 1000,
    },
    "binarized-mnist": {
        # without spectral normalisation and R1 the discriminator won outright: the generator
        # collapsed to blank images (Fréchet distance 2,060 after 12 minutes, leaderboard run)
        "steps": 5000,
        "arch": "dcgan",
        "spectral_norm": True,
        "r1": 10.0,
        "ema": 0.999,
        "batch_size": 64,
        "lr_g": 2e-4,
        "lr_d": 2e-4,
        "z_dim": 64,
        # a 3×3 convolution after each strided one in D: 43.0 / 53.6 (raw / EMA, 1,000 samples)
        # at 5,000 steps against 75.7 / 85.8 with one (benchmarks/results/gan_recipes.json)
        "d_depth": 2,
        "val_every": 500,
    },
}


def config_for(data: str = "ring8", **given: Any) -> GANRunConfig:
    """Run settings for ``data``: dataclass defaults, then per-data ones, then ``given`` (flat
    or nested); the per-data model defaults that the chosen networks lack are left out."""
    if data not in GAN_DATA:
        raise ConfigError(f"unknown GAN data {data!r}; choose from {', '.join(GAN_DATA)}")
    given = GANRunConfig.nest(given)
    defaults = GANRunConfig.nest(DATA_DEFAULTS[data])
    arch = given.get("arch", defaults.get("arch", "mlp"))
    takes = {f.name for f in fields(ConvGANConfig if arch == "dcgan" else GANModelConfig)}
    defaults["model"] = {k: v for k, v in defaults.get("model", {}).items() if k in takes}
    return GANRunConfig(**merge_settings({**defaults, "data": data}, given))


def _seeded(seed: int, device: torch.device | None = None) -> torch.Generator:
    return torch.Generator(device=device or "cpu").manual_seed(seed)


class ImageScorer:
    """Offline MNIST 14×14 scores: classifier features' Fréchet distance to the test split and
    the class histogram's KL to uniform."""

    def __init__(self, classifier: DigitClassifier, reference: Tensor) -> None:
        self.classifier = classifier
        self.reference_features = self.features(reference)

    @torch.no_grad()
    def features(self, x: Tensor) -> Tensor:
        """Classifier features of flat images [n, H·W] (on the CPU)."""
        return self.classifier.features(x.detach().float().cpu())

    @torch.no_grad()
    def score(self, images: Tensor) -> dict[str, float]:
        """fid (Fréchet distance to the reference), class_kl, and the class histogram."""
        x = images.detach().float().cpu()
        labels = self.classifier.head(self.classifier.features(x)).argmax(1)
        return {
            "fid": frechet_distance(self.features(x), self.reference_features),
            "class_kl": class_histogram_kl(labels),
            "class_counts": torch.bincount(labels, minlength=10).tolist(),
        }


VALIDATION_SAMPLES = 1000  # images scored at each validation of an image GAN


def check_eval_samples(n: int, val_images: int) -> None:
    """Refuse scoring more generated images than there are validation images to score the
    real reference at the same size."""
    if n > val_images:
        raise ConfigError(
            f"--eval-samples {n} is more than the {val_images} validation images that give the "
            "real reference at the same sample size"
        )


def real_reference(scorer: ImageScorer, val: Tensor, n: int) -> dict[str, Any]:
    """The real-vs-real reference at the generator's sample size: the Fréchet distance of the
    first ``n`` validation images to the test split (and of the first 1,000, the size scored at
    each validation). The estimate's bias falls as 1/n (binarized MNIST: 4.54 at 1,000 images,
    1.43 at 10,000), so a score is only compared with a reference of the same size.
    """
    check_eval_samples(n, len(val))
    real = scorer.score(val[:n])
    small = real if n == VALIDATION_SAMPLES else scorer.score(val[:VALIDATION_SAMPLES])
    return {
        "fid_real_val": real["fid"],
        "class_kl_real_val": real["class_kl"],
        "real_val_images": n,
        f"fid_real_val_{VALIDATION_SAMPLES}": small["fid"],
    }


class GANTask:
    """One step: ``d_steps`` discriminator updates, then one generator update and the EMA."""

    def __init__(
        self,
        cfg: GANRunConfig,
        gen: Generator,
        disc: Discriminator,
        device: torch.device,
        train_images: Tensor | None = None,
        scorer: ImageScorer | None = None,
    ) -> None:
        self.cfg, self.gen, self.disc, self.device = cfg, gen, disc, device
        betas = (cfg.beta1, cfg.beta2)
        self.opt_g = adam(gen.parameters(), cfg.lr_g, betas)
        self.opt_d = adam(disc.parameters(), cfg.lr_d, betas)
        self.ema = EMA(gen, cfg.ema) if cfg.ema > 0 else None
        self.train_images = train_images
        self.scorer = scorer
        self.sampler = (
            EpochSampler(len(train_images), cfg.batch_size, cfg.seed, device)
            if train_images is not None
            else None
        )
        self.modes = None if train_images is not None else toy_modes(cfg.data)
        # --compile: the two networks' forward passes (the penalties' double backward runs
        # through the eager discriminator: torch.compile has no double backward)
        self.G = maybe_compiled(gen.forward, cfg.compile)
        self.G_logits = maybe_compiled(gen.logits, cfg.compile) if self.modes is None else None
        self.D = maybe_compiled(disc.forward, cfg.compile)

    def real_batch(self, update: int, i: int) -> Tensor:
        """The i-th real minibatch of step ``update``: a pure function of (seed, update, i)."""
        k = (update - 1) * self.cfg.d_steps + i + 1
        if self.sampler is not None and self.train_images is not None:
            return local(self.train_images[self.sampler.indices(k)])
        g = _seeded(self.cfg.seed * 1_000_003 + k)
        return local(sample_toy(self.cfg.data, self.cfg.batch_size, g).to(self.device))

    def _noise(self) -> Tensor:
        """z for this process's slice of the global batch (the whole batch is drawn)."""
        z_dim = self.cfg.model.z_dim
        return local(torch.randn(self.cfg.batch_size, z_dim, device=self.device))

    def _fake(self, z: Tensor) -> Tensor:
        """G(z); for binary images, Bernoulli samples b of p = G(z) = σ(ℓ), so the
        discriminator never tells real from fake by binary vs. grey pixels, with a
        straight-through gradient: ∂b/∂p = 1 (``probability``: the logits then get
        p(1 − p) ∂D/∂b, nothing where the generator saturates) or ∂b/∂ℓ = 1 (``logit``: the
        natural gradient of the Bernoulli, whose Fisher information in ℓ is p(1 − p))."""
        if self.modes is not None:
            return self.G(z)
        if self.cfg.straight_through == "logit":
            logits = self.G_logits(z)
            b = bernoulli(torch.sigmoid(logits.detach()))
            return b + (logits - logits.detach())  # exactly b forward (x − x = 0)
        p = self.G(z)
        return bernoulli(p.detach()) + (p - p.detach())

    def _boundary_seeking(self, z: Tensor) -> Tensor:
        """The BGAN generator loss on ``boundary_seeking`` = M binary samples of each z
        (:func:`deepgen.gan.losses.boundary_seeking_loss`); D sees the M·n samples as one
        batch, sample-major, so that a group of consecutive images shares its m."""
        logits = self.G_logits(z)
        m = self.cfg.boundary_seeking
        with torch.no_grad():
            p = torch.sigmoid(logits).expand(m, *logits.shape).contiguous()
            samples = bernoulli(p, dim=1)  # the global batch is split along dim 1 (the z)
            d_logits = self.D(samples.flatten(0, 1)).view(m, len(z))
        return boundary_seeking_loss(logits, samples, d_logits)

    def step(self, update: int) -> dict[str, Tensor]:
        cfg = self.cfg
        self.disc.requires_grad_(True)
        for i in range(cfg.d_steps):
            real = self.real_batch(update, i)
            with torch.no_grad():
                fake = self._fake(self._noise())
            r, f = self.D(real), self.D(fake)
            loss_d = d_loss(cfg.loss, r, f)
            penalty = torch.zeros((), device=self.device)
            if cfg.loss == "wgan-gp" and cfg.gp > 0:
                penalty = penalty + cfg.gp * gradient_penalty(self.disc, real, fake)
            if cfg.r1 > 0:
                penalty = penalty + cfg.r1 / 2 * r1_penalty(self.disc, real)
            self.opt_d.zero_grad(set_to_none=True)
            (loss_d + penalty).backward()
            self.opt_d.step()
        self.disc.requires_grad_(False)
        if cfg.boundary_seeking:
            loss_g = self._boundary_seeking(self._noise())
        else:
            loss_g = g_loss(cfg.loss, self.D(self._fake(self._noise())))
        self.opt_g.zero_grad(set_to_none=True)
        loss_g.backward()
        self.opt_g.step()
        if self.ema is not None:
            self.ema.update(self.gen)
        ld = loss_d.detach()
        return {
            "loss": ld + penalty.detach() + loss_g.detach(),
            "d_loss": ld,
            "g_loss": loss_g.detach(),
            "penalty": penalty.detach(),
            "d_real": r.detach().mean(),
            "d_fake": f.detach().mean(),
        }

    def generators(self) -> dict[str, Generator]:
        """The trained generator and, when kept, its moving average."""
        out = {"": self.gen}
        if self.ema is not None:
            out["_ema"] = self.ema.model  # type: ignore[assignment]
        return out

    @torch.no_grad()
    def evaluate(self, n: int, seed: int) -> dict[str, Any]:
        """Metrics of each generator on n samples from fixed noise."""
        out: dict[str, Any] = {}
        for suffix, gen in self.generators().items():
            g = _seeded(seed, self.device)
            x = gen.sample(n, g)
            if self.modes is not None:
                m = mixture_metrics(x, self.modes, TOY_STD)
                out[f"modes_covered{suffix}"] = m["modes_covered"]
                out[f"high_quality_fraction{suffix}"] = m["high_quality_fraction"]
                out[f"mode_kl{suffix}"] = m["mode_kl_to_uniform"]
            elif self.scorer is not None:
                s = self.scorer.score(torch.bernoulli(x, generator=g))
                out[f"fid{suffix}"] = s["fid"]
                out[f"class_kl{suffix}"] = s["class_kl"]
                out[f"saturated{suffix}"] = saturated_fraction(x)
        return out

    def validate(self, update: int) -> dict[str, float]:
        n = VALIDATION_SAMPLES if self.modes is None else 2000
        return self.evaluate(n, self.cfg.seed * 7919 + update)

    def state_dict(self) -> dict[str, Any]:
        state = {
            "gen": self.gen.state_dict(),
            "disc": self.disc.state_dict(),
            "opt_g": self.opt_g.state_dict(),
            "opt_d": self.opt_d.state_dict(),
        }
        if self.ema is not None:
            state["ema"] = self.ema.state_dict()
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.gen.load_state_dict(state["gen"])
        self.disc.load_state_dict(state["disc"])
        self.opt_g.load_state_dict(state["opt_g"])
        self.opt_d.load_state_dict(state["opt_d"])
        if self.ema is not None:
            self.ema.load_state_dict(state["ema"])


class GANExperiment:
    """``deepgen gan`` for the runner: data (and the scoring classifier), the two networks and
    the task; final sample metrics against the real-data reference, figures."""

    kind = "gan"

    def build(self, session: Session) -> tuple[GANTask, dict[str, Any]]:
        """Data, classifier (trained once by rank 0 and cached in the folder), G, D, task."""
        cfg: GANRunConfig = session.cfg
        per_process = cfg.batch_size // session.dist.world_size
        if getattr(cfg.model, "minibatch_std", False) and per_process % MINIBATCH_GROUP:
            raise ConfigError(
                f"--minibatch-std takes groups of {MINIBATCH_GROUP} images: the batch of "
                f"{per_process} per process ({cfg.batch_size} over {session.dist.world_size}) "
                f"is not a multiple of {MINIBATCH_GROUP}"
            )
        images = scorer = None
        self.classifier_info: dict[str, Any] = {}
        self.reference: dict[str, Any] = {}
        t_cls = time.perf_counter()
        if cfg.data in IMAGE_DATA:
            data = load_dataset(cfg.data, cfg.data_dir)
            check_eval_samples(cfg.eval_samples, len(data.val))  # before the classifier trains
            labelled = data if cfg.data == "mnist14" else _labelled_mnist(cfg)
            for rank_turn in (True, False):  # rank 0 trains and caches; the others then load
                if session.dist.is_main == rank_turn:
                    with torch.random.fork_rng():  # the training's random state stays the seed's
                        classifier, self.classifier_info = load_or_train_classifier(
                            labelled, session.out / "classifier.pt", cfg.classifier_epochs
                        )
                session.dist.barrier()
            scorer = ImageScorer(classifier, data.test)
            self.reference = real_reference(scorer, data.val, cfg.eval_samples)
            images = data.train.to(session.device)
        self.classifier_seconds = time.perf_counter() - t_cls
        if isinstance(cfg.model, ConvGANConfig):
            gen, disc = build_conv_gan(cfg.model)
            model = {"arch": "dcgan", **cfg.model.to_dict()}
        else:
            gen, disc = Generator(cfg.model), Discriminator(cfg.model)
            model = cfg.model.to_dict()
        gen, disc = gen.to(session.device), disc.to(session.device)
        task = GANTask(cfg, gen, disc, session.device, images, scorer)  # type: ignore[arg-type]
        return task, {"model": model}

    def finish(self, session: Session, task: GANTask, result: TrainResult) -> Outcome:
        """Sample metrics of the generator (and its EMA) on ``eval_samples`` samples."""
        cfg: GANRunConfig = session.cfg
        t_eval = time.perf_counter()
        task.gen.eval()
        final = task.evaluate(cfg.eval_samples, cfg.seed + 12345)
        reference = self.reference
        if task.modes is not None:
            real = sample_toy(cfg.data, cfg.eval_samples, _seeded(cfg.seed + 54321))
            ref = mixture_metrics(real, task.modes, TOY_STD)
            reference = {
                "modes_covered_real": ref["modes_covered"],
                "high_quality_fraction_real": ref["high_quality_fraction"],
                "mode_kl_real": ref["mode_kl_to_uniform"],
            }
        eval_seconds = time.perf_counter() - t_eval
        files = _figures(cfg, task, result, session.out, self.reference)
        metrics: dict[str, Any] = {
            "data": cfg.data,
            "loss": cfg.loss,
            **final,
            **reference,
            **{f"classifier_{k}": v for k, v in self.classifier_info.items() if k != "data"},
            "eval_samples": cfg.eval_samples,
            "classifier_seconds": self.classifier_seconds,
            "eval_seconds": eval_seconds,
        }
        if cfg.data in IMAGE_DATA:
            metrics["scoring"] = (
                f"{cfg.eval_samples} binary images sampled from the generated pixel "
                "probabilities against the test split; real reference: as many validation "
                "images"
            )
        figures = [
            ReportFigure(files["samples"], "Samples of the trained generator(s)", "1. Samples")
        ]
        if "probabilities" in files:
            figures.append(
                ReportFigure(files["probabilities"], "The same samples' pixel probabilities")
            )
        figures += [
            ReportFigure(
                files["losses"], "Discriminator and generator losses per step", "2. Losses"
            ),
            ReportFigure(
                files["metrics_curve"], f"Every {cfg.val_every} steps", "3. Validation metrics"
            ),
        ]
        title = f"GAN ({cfg.loss}) on {cfg.data}: {result.updates:,} steps"
        return Outcome(title, _report_text(cfg), metrics, figures)


def run_gan(
    cfg: GANRunConfig, out_dir: str | Path, resume: bool = False, quiet: bool = False
) -> dict[str, Any]:
    """Train (or resume) the GAN, then write samples.png, losses.png, metrics_curve.png,
    report.html, metrics.json, config.json and checkpoint.pt into ``out_dir`` ({} on the
    other processes of a torchrun run)."""
    return run_experiment(GANExperiment(), cfg, out_dir, resume, quiet, desc=f"gan {cfg.data}")


def _figures(
    cfg: GANRunConfig, task: GANTask, result: Any, out: Path, reference: dict[str, Any]
) -> dict[str, Path]:
    from deepgen.gan.plots import (
        plot_image_tiles,
        plot_losses,
        plot_metric_curves,
        plot_samples_2d,
    )

    files = {"losses": plot_losses(result.train, out / "losses.png")}
    gens = task.generators()
    with torch.no_grad():
        if task.modes is not None:
            n = 2000
            real = sample_toy(cfg.data, n, _seeded(cfg.seed + 1)).numpy()
            panels = {
                ("EMA generator" if k else "generator"): g.sample(
                    n, _seeded(cfg.seed + 2, task.device)
                )
                .cpu()
                .numpy()
                for k, g in gens.items()
            }
            files["samples"] = plot_samples_2d(
                real,
                panels,
                task.modes.numpy(),
                3 * TOY_STD,
                out / "samples.png",
                f"{cfg.data}: data and {len(panels[next(iter(panels))])} samples "
                "(red circles: 3σ around each mode)",
            )
            keys = [("modes_covered", "modes covered"), ("high_quality_fraction", "HQ fraction")]
        else:
            g = gens.get("_ema", gens[""])
            probs = g.sample(64, _seeded(cfg.seed + 2, task.device)).cpu()
            side = round(probs.shape[1] ** 0.5)
            binary = torch.bernoulli(probs, generator=_seeded(cfg.seed + 3))
            files["samples"] = plot_image_tiles(
                binary.numpy(),
                (side, side),
                out / "samples.png",
                f"Generated {side}×{side} digits (binary samples of the pixel probabilities)",
            )
            files["probabilities"] = plot_image_tiles(
                probs.numpy(), (side, side), out / "probabilities.png", "Pixel probabilities"
            )
            keys = [
                ("fid", "classifier Fréchet distance"),
                ("class_kl", "class KL to uniform"),
                ("saturated", f"pixels with p outside ({SATURATED}, {1 - SATURATED})"),
            ]
    real = reference.get(f"fid_real_val_{VALIDATION_SAMPLES}")  # validation's sample size
    files["metrics_curve"] = plot_metric_curves(
        result.val,
        keys,
        out / "metrics_curve.png",
        "Validation metrics during training",
        references=None if real is None else {"fid": real},
    )
    return files


def _labelled_mnist(cfg: GANRunConfig) -> Any:
    """MNIST 28×28 with labels, for the scoring classifier of binarized MNIST (which has none):
    ``classifier_dir``, else the ``mnist`` folder beside ``data_dir``."""
    folder = cfg.classifier_dir
    if folder is None and cfg.data_dir is not None:
        folder = str(Path(cfg.data_dir).parent / "mnist")
    if folder is None:
        raise ConfigError(
            "binarized MNIST has no labels: --classifier-dir DIR must name the MNIST IDX files "
            "that train the scoring classifier"
        )
    return load_dataset("mnist28", folder)


def _report_text(cfg: GANRunConfig) -> list[str]:
    extras = [
        f"R1 γ = {cfg.r1:g}" if cfg.r1 > 0 else "",
        "spectral normalisation" if cfg.model.spectral_norm else "",
        f"generator EMA β = {cfg.ema:g}" if cfg.ema > 0 else "",
    ]
    m = cfg.model
    if isinstance(m, ConvGANConfig):
        nets = (
            f"DCGAN-style convolutional generator and discriminator (channel unit {m.width}, "
            "no batch normalisation)"
        )
    else:
        nets = (
            f"MLP generator ({m.layers} hidden layers of {m.hidden}) and discriminator "
            f"({m.d_layers} of {m.d_hidden})"
        )
    text = [
        f"{nets}; "
        f"loss {cfg.loss}; {cfg.d_steps} discriminator update(s) per generator update; "
        + ", ".join(e for e in extras if e)
        + "."
    ]
    if cfg.data in IMAGE_DATA:
        trained_on = (
            "the mnist14 training split"
            if cfg.data == "mnist14"
            else "MNIST 28×28 (labelled, binarized)"
        )
        text.append(
            f"Scores use a CNN classifier trained by deepgen on {trained_on} (no downloaded "
            "weights): Fréchet distance of its 64 penultimate features to the test images, and "
            "the KL divergence of the predicted-class histogram to uniform. The real "
            "validation images scored the same way are the reference."
        )
    else:
        text.append(
            "A sample is high quality when within 3σ of its nearest mode; a mode is covered "
            "when it gets at least 10% of a fair share of high-quality samples. Real samples "
            "scored the same way are the reference."
        )
    return text
