"""``deepgen leaderboard``: every family trained for the same budget on one data set and scored on
the same test images, beside the published figures.

Each family is a real training run (``DIR/<family>/``, the same runner as its own command), for
the same budget: wall-clock ``minutes`` each, or ``epochs`` (which reproduce on any machine).
The score is −log p(x) in nats per test image, with what kind of number it is:

* ``exact``: the PixelCNN's −Σ_i log p(x_i | x_<i);
* ``estimate``: the latent-variable models' importance-sampled log p(x) with K = ``eval_k``
  samples (5,000 by default; a stochastic lower bound of log p(x) whose bias shrinks with K),
  with the standard error of the mean over test images;
* ``upper bound``: the flow's uniform-dequantization bound −E_u[log p(y)] + D log 2;
* ``sample metrics``: the GAN has no likelihood; its row gives the classifier Fréchet distance
  of 10,000 samples to the test images, beside as many real held-out images scored the same
  way (the distance's bias depends on the sample size, so the two are scored at one size).

Published figures (Burda et al. 2016, Table 1; van den Oord et al. 2016) stand beside ours
where one exists for the same data and model family.
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from deepgen.errors import CheckpointError, ConfigError
from deepgen.fileio import atomic_write_bytes, dumps, write_json
from deepgen.leaderboard_scoring import score_checkpoint, vae_test_score
from deepgen.report import HtmlReport
from deepgen.report.plots import moving_average
from deepgen.train.checkpoint import load_checkpoint
from deepgen.train.lock import claim_out_dir

FAMILIES = ("vae", "iwae", "pixelcnn", "flow", "gan")

PUBLISHED: dict[str, dict[str, tuple[float, str]]] = {
    "binarized-mnist": {
        "vae": (86.76, "Burda et al. 2016, Table 1: VAE, 1 stochastic layer, k = 1"),
        "iwae": (84.78, "Burda et al. 2016, Table 1: IWAE, 1 stochastic layer, k = 50"),
        "pixelcnn": (81.30, "van den Oord et al. 2016: PixelCNN"),
    }
}
# Burda et al. 2016's models on binarized MNIST: tanh MLPs with two deterministic layers of 200
# units below the first stochastic layer, a Gaussian posterior and a standard normal prior;
# (z_dim, z2_dim, hidden2) gives the stochastic layers, (objective, k) the column of Table 1
BURDA_COMMON = {
    "arch": "mlp",
    "hidden": 200,
    "depth": 2,
    "activation": "tanh",
    "posterior": "gaussian",
    "prior": "normal",
}
BURDA_LAYERS = {(50, None, None): 1, (100, 50, 100): 2}
BURDA_TABLE_1 = {
    (1, "elbo", 1): 86.76,
    (1, "iwae", 50): 84.78,
    (2, "elbo", 1): 85.33,
    (2, "iwae", 50): 82.90,
}


def published_figure(
    data: str, family: str, model: dict[str, Any] | None = None
) -> tuple[float | None, str | None]:
    """The published −log p(x) a row is compared with, and its reference. A VAE or IWAE row's
    figure is that of the Burda et al. model its checkpoint holds (``model``: its settings),
    and none for any other model, whose figure nobody has published.

    >>> published_figure("binarized-mnist", "vae", {**BURDA_COMMON, "z_dim": 100,
    ...     "z2_dim": 50, "hidden2": 100, "objective": "iwae", "samples": 50})
    (82.9, 'Burda et al. 2016, Table 1: IWAE, 2 stochastic layers, k = 50')
    >>> published_figure("binarized-mnist", "vae", {**BURDA_COMMON, "z_dim": 32})
    (None, None)
    """
    if family not in ("vae", "iwae") or model is None:
        return PUBLISHED.get(data, {}).get(family, (None, None))
    if data != "binarized-mnist" or any(model.get(k) != v for k, v in BURDA_COMMON.items()):
        return None, None
    layers = BURDA_LAYERS.get((model.get("z_dim"), model.get("z2_dim"), model.get("hidden2")))
    objective, k = model.get("objective"), model.get("samples")
    figure = BURDA_TABLE_1.get((layers, objective, k))  # type: ignore[arg-type]
    if figure is None:
        return None, None
    name = "VAE" if objective == "elbo" else "IWAE"
    plural = "layer" if layers == 1 else "layers"
    return figure, f"Burda et al. 2016, Table 1: {name}, {layers} stochastic {plural}, k = {k}"


# what each family's learning curve plots (train_log key, label); the GAN's losses are not nats
CURVES: dict[str, tuple[str, str] | None] = {
    "vae": ("loss", "−ELBO per minibatch"),
    "iwae": ("loss", "−L_K per minibatch"),
    "pixelcnn": ("nll", "NLL per minibatch"),
    "flow": ("nll", "dequantized NLL bound per minibatch"),
    "gan": None,
}
EVAL_IMAGES = 500  # each run's own final evaluation (train, validation): the test is scored here
KINDS = {
    "vae": "estimate",
    "iwae": "estimate",
    "pixelcnn": "exact",
    "flow": "upper bound",
    "gan": "sample metrics",
}


@dataclass(frozen=True)
class LeaderboardConfig:
    """One leaderboard: data, families, the budget (``minutes`` or ``epochs`` per family),
    the test images scored and the importance samples of the latent-variable models."""

    data: str = "binarized-mnist"
    data_dir: str | None = None
    families: tuple[str, ...] = FAMILIES
    minutes: float | None = None
    epochs: float | None = None
    test_images: int | None = None
    eval_k: int = 5000
    classifier_epochs: int = 8  # the GAN's scoring classifier (MNIST 28×28 with labels)
    checkpoints: tuple[tuple[str, str], ...] = ()  # (family, checkpoint file): scored, not trained
    seed: int = 0
    device: str = "auto"
    threads: int = 1

    def __post_init__(self) -> None:
        unknown = [f for f in self.families if f not in FAMILIES]
        if unknown or not self.families:
            raise ConfigError(
                f"unknown families {', '.join(unknown) or '(none given)'}; choose from "
                f"{', '.join(FAMILIES)}"
            )
        if len(set(self.families)) != len(self.families):
            raise ConfigError("--families names a family twice")
        trained = set(self.families) - {f for f, _ in self.checkpoints}
        if self.minutes is not None and self.epochs is not None:
            raise ConfigError("give exactly one budget: --minutes M or --epochs E")
        if trained and self.minutes is None and self.epochs is None:
            raise ConfigError(
                f"give a budget for {', '.join(sorted(trained))}: --minutes M or --epochs E"
            )
        for name in ("minutes", "epochs"):
            value = getattr(self, name)
            if value is not None and not (math.isfinite(value) and value > 0):
                raise ConfigError(f"--{name} must be a finite number > 0, got {value}")
        if self.test_images is not None and self.test_images < 1:
            raise ConfigError(f"--test-images must be >= 1, got {self.test_images}")
        for family, _ in self.checkpoints:
            if family not in self.families:
                raise ConfigError(f"--checkpoint {family}=…: {family} is not in --families")
        if len({f for f, _ in self.checkpoints}) != len(self.checkpoints):
            raise ConfigError("--checkpoint names a family twice")
        if self.eval_k < 1:
            raise ConfigError(f"--eval-k must be >= 1, got {self.eval_k}")


# Per family: the model's name in the table, the run's batch size and its command's settings.
# The VAE and IWAE are Burda et al.'s one-stochastic-layer architecture and schedule.
_BURDA1 = {"hidden": 200, "depth": 2, "z_dim": 50, "lr": 1e-3, "schedule": "burda"}
SETTINGS: dict[str, dict[str, Any]] = {
    "vae": {**_BURDA1, "objective": "elbo", "samples": 1, "batch_size": 20},
    "iwae": {**_BURDA1, "objective": "iwae", "samples": 50, "batch_size": 20},
    "pixelcnn": {"batch_size": 64, "lr": 1e-3, "lr_halflife": 20_000.0},
    "flow": {
        "flow": "multiscale",
        "dequantization": "variational",
        "hidden": 32,
        "batch_size": 32,
        "lr": 2e-3,
    },
    "gan": {"batch_size": 64, "arch": "dcgan", "width": 32},  # and deepgen gan's data defaults
}
MODELS = {
    "vae": "VAE 784-200-200-50 (Burda et al. 1-layer), ELBO k = 1, Burda schedule",
    "iwae": "IWAE 784-200-200-50 (Burda et al. 1-layer), k = 50, Burda schedule",
    "pixelcnn": "PixelCNN, 6 masked layers of 32 channels (smaller than the paper's)",
    "flow": "multi-scale flow (2 scales × 4 steps: ActNorm, 1×1 conv, affine coupling; 32 "
    "channels), variational dequantization",
    "gan": "DCGAN-style (width 32, no batch norm; D with two convolutions at each resolution), "
    "non-saturating loss, spectral norm and R1 (γ = 10) on D, generator EMA",
}


def _steps(cfg: LeaderboardConfig, train_size: int, batch: int) -> int:
    if cfg.epochs is None:
        return 10**9  # the minutes decide
    return max(1, math.ceil(cfg.epochs * (train_size // batch)))


def _common(cfg: LeaderboardConfig, steps: int) -> dict[str, Any]:
    return {
        "data": cfg.data,
        "data_dir": cfg.data_dir,
        "steps": steps,
        "minutes": cfg.minutes,
        "seed": cfg.seed,
        "device": cfg.device,
        "threads": cfg.threads,
    }


def _resumed_budget(cfg: LeaderboardConfig, out: Path, steps: int) -> tuple[bool, int, Any]:
    """Whether the family's run in ``out`` resumes (it has a checkpoint), its steps and its
    minutes: a run stopped part-way continues for what is left of the budget; with no time
    left it stops at the update it reached (and is evaluated)."""
    checkpoint = out / "checkpoint.pt"
    if not checkpoint.is_file():
        return False, steps, cfg.minutes
    if cfg.minutes is None:
        return True, steps, None
    state = load_checkpoint(checkpoint)
    left = cfg.minutes - float(state["wall_seconds"]) / 60.0
    if left <= 0:
        return True, int(state["update"]), cfg.minutes
    return True, steps, left


# Per family: the run's own schedule and final evaluation (kept small: the test is scored here).
_VAE_RUN = {"eval_k": 100, "eval_images": EVAL_IMAGES, "val_images": 100, "val_every": 500}
RUN_SETTINGS: dict[str, dict[str, Any]] = {
    "vae": {**_VAE_RUN, "checkpoint_every": 5000},
    "iwae": {**_VAE_RUN, "checkpoint_every": 5000},
    "pixelcnn": {
        "val_every": 500,
        "val_images": 200,
        "checkpoint_every": 1000,
        "samples": 16,
        "eval_images": EVAL_IMAGES,
    },
    "flow": {
        "val_images": 200,
        "val_every": 500,
        "checkpoint_every": 2000,
        "eval_images": EVAL_IMAGES,
    },
    "gan": {"val_every": 1000, "checkpoint_every": 2000},  # eval_samples: gan_samples()
}


GAN_SAMPLES = 10_000  # generated images scored, against as many real validation images


def gan_samples(sizes: dict[str, int]) -> int:
    """How many generated images the GAN row scores: 10,000, or fewer where the validation
    split (the real reference, scored at the same size) is smaller."""
    return min(GAN_SAMPLES, sizes["val"])


def _command(family: str) -> tuple[Callable[..., Any], Callable[..., dict[str, Any]]]:
    """The family's run-config builder (from flat settings) and its command's run function."""
    if family in ("vae", "iwae"):
        from deepgen.vae.experiment import VAERunConfig, run_vae

        return VAERunConfig.from_settings, run_vae
    if family == "pixelcnn":
        from deepgen.autoregressive.experiment import PixelCNNRunConfig, run_pixelcnn

        return PixelCNNRunConfig.from_settings, run_pixelcnn
    if family == "gan":
        from deepgen.gan.experiment import config_for, run_gan

        return lambda settings: config_for(**settings), run_gan  # with its per-data defaults
    from deepgen.flows.experiment import FlowRunConfig, run_flow

    return FlowRunConfig.from_settings, run_flow


def _train_family(
    family: str,
    cfg: LeaderboardConfig,
    out: Path,
    sizes: dict[str, int],
    quiet: bool,
    resume: bool = False,
) -> dict[str, Any]:
    """Train one family into ``out`` (``resume``: continue a run stopped there); returns its
    run's metrics and its score."""
    settings = SETTINGS[family]
    steps = _steps(cfg, sizes["train"], settings["batch_size"])
    again, steps, minutes = _resumed_budget(cfg, out, steps) if resume else (False, steps, None)
    common = {**_common(cfg, steps), **({"minutes": minutes} if again else {})}
    given = {**common, **settings, **RUN_SETTINGS[family]}
    if family in ("pixelcnn", "flow"):
        given["test_images"] = cfg.test_images  # scored by the run itself (exact or a bound)
    if family == "gan":
        given["classifier_epochs"] = cfg.classifier_epochs
        given["eval_samples"] = gan_samples(sizes)
    build, run = _command(family)
    metrics = run(build(given), out, resume=again, quiet=quiet)
    if family in ("vae", "iwae"):
        score = vae_test_score(out / "checkpoint.pt", cfg)
    elif family == "gan":
        score = {"test_nll": None, "stderr": None, "test_images": sizes["test"]}
    else:
        score = {"stderr": metrics["test_nll_stderr"]}
    return {**metrics, **score, "curve": CURVES[family]}


def _row(
    family: str,
    cfg: LeaderboardConfig,
    result: dict[str, Any],
    checkpoint: Path,
    loaded: str | None = None,
) -> dict[str, Any]:
    model = None
    if family in ("vae", "iwae"):  # the figure of the model the checkpoint holds
        from deepgen.vae.model import VAEConfig

        # the model's settings, read as deepgen.vae.experiment.load_vae reads them
        model = asdict(VAEConfig(**load_checkpoint(checkpoint)["meta"]["model"]))
    published, reference = published_figure(cfg.data, family, model)
    extra = {}
    if family == "gan":  # the offline sample metrics, against real held-out images
        extra["sample_metrics"] = {
            k: result[k]
            for k in (
                "fid_ema",
                "fid",
                "fid_real_val",
                "real_val_images",
                "class_kl_ema",
                "class_kl_real_val",
            )
            if k in result
        }
    return {
        "family": family,
        "model": MODELS[family] if loaded is None else f"checkpoint {loaded}",
        "test_nll": result["test_nll"],
        "stderr": result["stderr"],
        "kind": KINDS[family],
        "published": published,
        "reference": reference,
        "minutes": result["wall_seconds"] / 60.0,
        "updates": result["updates"],
        "test_images": result["test_images"],
        **extra,
    }


def markdown_table(rows: list[dict[str, Any]]) -> str:
    """The rows as a markdown table (nats per test image)."""

    def num(v: Any, fmt: str = ".2f") -> str:
        return "—" if v is None or (isinstance(v, float) and math.isnan(v)) else format(v, fmt)

    lines = [
        "| family | model | −log p(x), nats | ± | kind | published | reference | minutes | "
        "updates | test images |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['family']} | {r['model']} | {num(r['test_nll'])} | {num(r['stderr'])} | "
            f"{r['kind']} | {num(r['published'])} | {r['reference'] or '—'} | "
            f"{num(r['minutes'], '.1f')} | {r['updates']:,} | {r['test_images']:,} |"
        )
    return "\n".join(lines) + "\n"


def _read_rows(path: Path) -> list[dict[str, float]]:
    import json

    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def plot_learning_curves(curves: dict[str, tuple[list[int], list[float], str]], path: Path) -> Path:
    """Each family's training objective (nats per image, moving mean) against updates."""
    fig = Figure(figsize=(8, 4.5))
    ax = fig.subplots()
    for family, (u, y, label) in curves.items():
        if y:
            ax.plot(u, moving_average(y, max(1, len(y) // 50)), label=f"{family}: {label}")
    ax.set_xscale("log")
    ax.set_xlabel("weight updates")
    ax.set_ylabel("nats per image (training minibatches)")
    ys = [v for _, y, _ in curves.values() for v in y]
    if ys:
        lo, hi = float(np.min(ys)), float(np.percentile(ys, 90))
        ax.set_ylim(lo - 5, max(hi, lo + 10))
    ax.grid(alpha=0.3)
    if curves:
        ax.legend(fontsize=8)
    ax.set_title("Learning curves")
    fig.savefig(path, dpi=110, bbox_inches="tight")
    return path


def _rows_done(out: Path, cfg: LeaderboardConfig) -> list[dict[str, Any]]:
    """The rows of a stopped leaderboard in ``out`` (``partial.json``), after checking that it
    ran with the same settings."""
    import json

    partial = out / "partial.json"
    if not partial.is_file():
        raise CheckpointError(f"--resume: no stopped leaderboard in {out} ({partial} missing)")
    try:
        saved = json.loads(partial.read_text())
        rows, config = saved["rows"], saved["config"]
    except (json.JSONDecodeError, KeyError, TypeError) as exc:
        raise CheckpointError(f"{partial} is corrupt: {exc}") from None
    now = json.loads(dumps(asdict(cfg)))
    differ = sorted(k for k in now if config.get(k) != now[k])
    if differ:
        raise ConfigError(
            "--resume continues the leaderboard as it was started; these settings differ: "
            + ", ".join(f"{k} (was {config.get(k)!r})" for k in differ)
        )
    return list(rows)


def run_leaderboard(
    cfg: LeaderboardConfig,
    out_dir: str | Path,
    quiet: bool = False,
    on_family: Callable[[str], None] | None = None,
    resume: bool = False,
) -> dict[str, Any]:
    """Train and score every family of ``cfg`` into ``out_dir``; write ``leaderboard.json``,
    ``leaderboard.md`` and ``report.html``. Returns ``{"rows": [...], ...}``.

    With ``resume``, a leaderboard stopped part-way (same settings) continues: the families it
    finished keep their rows, the one it was training resumes its run for what is left of its
    budget, and the rest train as usual."""
    from deepgen.data import load_dataset

    t0 = time.perf_counter()
    with claim_out_dir(out_dir, resume=None) as out:
        if (out / "leaderboard.json").exists():
            raise ConfigError(f"{out} already holds a finished leaderboard; use another --out")
        done = {r["family"]: r for r in _rows_done(out, cfg)} if resume else {}
        if not resume and (out / "partial.json").exists():
            raise ConfigError(
                f"{out} holds a stopped leaderboard; pass --resume to continue it or use "
                "another --out"
            )
        sizes = load_dataset(cfg.data, cfg.data_dir).sizes()
        rows, samples, curves = [], {}, {}
        for family in cfg.families:
            if on_family is not None:
                on_family(family)
            loaded = dict(cfg.checkpoints).get(family)
            folder = out / family if loaded is None else Path(loaded).parent
            if family in done:  # finished before the stop
                rows.append(done[family])
                result = {"curve": CURVES[family]}
            elif loaded is None:
                result = _train_family(family, cfg, folder, sizes, quiet, resume)
                rows.append(_row(family, cfg, result, folder / "checkpoint.pt"))
            else:
                result = {**score_checkpoint(family, loaded, cfg), "curve": CURVES[family]}
                rows.append(_row(family, cfg, result, Path(loaded), loaded))
            # the rows so far, so that a stop later in a long leaderboard loses nothing
            write_json(out / "partial.json", {"rows": rows, "config": asdict(cfg)})
            samples[family] = folder / "samples.png"
            if result["curve"] is not None:  # in nats per image
                key, label = result["curve"]
                log = [r for r in _read_rows(folder / "train_log.jsonl") if key in r]
                curves[family] = ([r["update"] for r in log], [r[key] for r in log], label)
        table = markdown_table(rows)
        for row in rows:
            m = row.get("sample_metrics")
            if m:
                gen = "EMA generator" if "fid_ema" in m else "generator"
                n = m.get("real_val_images")  # absent from rows of older leaderboards
                count = f"{n:,} samples" if n else "1,000 samples"
                real = "as many real held-out images" if n else "real held-out images"
                table += (
                    f"\nGAN ({gen}, {count}): classifier Fréchet distance "
                    f"{m.get('fid_ema', m.get('fid')):.2f} to the test images; {real} score "
                    f"{m['fid_real_val']:.2f}.\n"
                )
        atomic_write_bytes(out / "leaderboard.md", table.encode())
        figure = plot_learning_curves(curves, out / "learning_curves.png")
        report = HtmlReport(f"Leaderboard on {cfg.data}")
        budget = (
            f"{cfg.minutes:g} minutes"
            if cfg.minutes
            else f"{cfg.epochs:g} epochs"
            if cfg.epochs
            else "the budgets of their checkpoints"
        )
        report.paragraph(
            f"Each family trained for {budget} and scored on the same test images, in nats per "
            "image: exact (PixelCNN), an importance-sampled estimate with K = "
            f"{cfg.eval_k} (latent-variable models), or an upper bound (the dequantized flow)."
        )
        report.heading("Results")
        for row in rows:
            flat = {k: v for k, v in row.items() if k not in ("family", "sample_metrics")}
            report.table({**flat, **row.get("sample_metrics", {})}, caption=row["family"])
        report.heading("Samples")
        for family, path in samples.items():
            with contextlib.suppress(FileNotFoundError):
                report.image(path, f"{family}: {MODELS[family]}")
        report.heading("Learning curves")
        report.image(figure, "Training objective per minibatch (moving mean), nats per image")
        report.heading("Configuration")
        report.table(asdict(cfg))
        report.write(out / "report.html")
        result = {
            "rows": rows,
            "config": asdict(cfg),
            "total_seconds": time.perf_counter() - t0,
        }
        write_json(out / "leaderboard.json", result)
        (out / "partial.json").unlink(missing_ok=True)
        return result
