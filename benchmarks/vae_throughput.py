"""Training throughput of the SPEC §1 VAE: deepgen's Trainer, a plain PyTorch loop, and pythae.

The same model (encoder 196 → 128 → tanh → 2×8, decoder 8 → 128 → tanh → 196 Bernoulli logits,
negative ELBO with the closed-form KL, minibatches of 100, Adam with lr 1e-3) is trained in one
process in these ways:

* ``deepgen_s2`` / ``deepgen_s1``: deepgen's real loop, ``Trainer(VAETask(...)).run()``, with
  L = 2 (deepgen's default) or L = 1 reparameterized samples. This includes what the Trainer
  does every update (buffered per-update JSON-lines log, NaN guard, the disabled progress bar)
  and the one validation and checkpoint it always does at the last update; validation and
  checkpoints are otherwise scheduled past the end so they do not dominate.
* ``plain_s2`` / ``plain_s1``: the minimal honest reference written here: nn.Sequential
  networks, the same loss maths inline (:func:`plain_loss`), random minibatch indices per step,
  zero_grad / backward / step and nothing else.
* ``pythae_loop``: pythae's ``VAE`` (one reparameterized sample, ``reconstruction_loss="bce"``)
  with the same networks as custom pythae encoder / decoder classes, trained by calling its
  forward in a minimal loop: the fair model-level comparison.
* ``pythae_trainer``: the same pythae model trained by pythae's ``BaseTrainer`` for whole epochs:
  the library-level comparison.

Runs are interleaved (one of each method per repeat, the order rotated every repeat) after a
warm-up of each, and the reported numbers are medians over the repeats. The result is written
atomically to ``<out>/vae_throughput.json``.

    python benchmarks/vae_throughput.py --out benchmarks/results
    python benchmarks/vae_throughput.py --quick --skip-pythae --out /tmp/bench
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import gc
import logging
import math
import os
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from deepgen.data import BinaryImageData, load_dataset
from deepgen.errors import DeepgenError
from deepgen.fileio import write_json
from deepgen.provenance import git_state, load_average
from deepgen.train import Trainer, TrainerConfig, resolve_device
from deepgen.vae.composed import build_vae
from deepgen.vae.experiment import VAERunConfig, VAETask

RESULT_NAME = "vae_throughput.json"
DATA = "mnist14"
BATCH_SIZE = 100
LR = 1e-3
HIDDEN = 128
Z_DIM = 8
SEED = 0
# deepgen's Trainer always validates and checkpoints at the last update; scheduling them every
# NEVER updates leaves exactly that one validation (100 images) and one checkpoint per run.
NEVER = 10**9
TARGETS = {"deepgen_vs_plain": 1.0, "deepgen_vs_pythae": 1.0}

Runner = Callable[[int], dict[str, float]]


# --- the plain PyTorch reference ------------------------------------------------------------
def plain_networks(x_dim: int = 196) -> tuple[nn.Sequential, nn.Sequential]:
    """Encoder x → (μ, log σ²) and decoder z → logits, the SPEC §1 architecture."""
    encoder = nn.Sequential(nn.Linear(x_dim, HIDDEN), nn.Tanh(), nn.Linear(HIDDEN, 2 * Z_DIM))
    decoder = nn.Sequential(nn.Linear(Z_DIM, HIDDEN), nn.Tanh(), nn.Linear(HIDDEN, x_dim))
    return encoder, decoder


def plain_loss(encoder: nn.Module, decoder: nn.Module, x: Tensor, samples: int) -> Tensor:
    """Negative ELBO averaged over the batch: L reparameterized samples, closed-form KL."""
    loc, log_var = encoder(x).chunk(2, dim=-1)
    eps = torch.randn((samples, *loc.shape), dtype=loc.dtype, device=loc.device)
    z = loc + torch.exp(0.5 * log_var) * eps  # [L, batch, Z]
    logits = decoder(z)
    nll = F.binary_cross_entropy_with_logits(logits, x.expand_as(logits), reduction="none")
    rec = -nll.sum(-1).mean(0)  # E_q log p(x | z), per example
    kl = 0.5 * (loc.pow(2) + log_var.exp() - 1.0 - log_var).sum(-1)
    return (kl - rec).mean()


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def plain_runner(
    data: BinaryImageData, device: torch.device, samples: int, fused: bool = False
) -> Runner:
    train_x = data.train.to(device)
    n = len(train_x)

    def run(updates: int) -> dict[str, float]:
        torch.manual_seed(SEED)
        encoder, decoder = plain_networks(data.num_pixels)
        encoder.to(device)
        decoder.to(device)
        params = [*encoder.parameters(), *decoder.parameters()]
        optimizer = torch.optim.Adam(params, lr=LR, fused=fused or None)
        _sync(device)
        t0 = time.perf_counter()
        for _ in range(updates):
            x = train_x[torch.randint(n, (BATCH_SIZE,), device=device)]
            loss = plain_loss(encoder, decoder, x, samples)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
        _sync(device)
        return {"updates": updates, "seconds": time.perf_counter() - t0}

    return run


# --- deepgen ----------------------------------------------------------------------------------
def deepgen_runner(
    data: BinaryImageData,
    device: torch.device,
    samples: int,
    work_dir: Path,
    posterior: str = "gaussian",
) -> Runner:
    counter = iter(range(10**9))

    def run(updates: int) -> dict[str, float]:
        cfg = VAERunConfig.from_settings(
            dict(
                data=DATA,
                steps=updates,
                batch_size=BATCH_SIZE,
                lr=LR,
                samples=samples,
                hidden=HIDDEN,
                z_dim=Z_DIM,
                seed=SEED,
                val_every=NEVER,
                checkpoint_every=NEVER,
                posterior=posterior,
            )
        )
        torch.manual_seed(SEED)
        model = build_vae(cfg.model).to(device)
        task = VAETask(model, data, cfg, device)
        trainer = Trainer(
            task,
            TrainerConfig(
                updates=updates,
                val_every=cfg.val_every,
                checkpoint_every=cfg.checkpoint_every,
                quiet=True,
                desc="bench",
            ),
            work_dir / f"deepgen_{posterior}_s{samples}_{next(counter)}",
        )
        t0 = time.perf_counter()
        result = trainer.run()
        outer = time.perf_counter() - t0
        # The Trainer's own clock covers the loop (from the first update to after the final
        # validation and checkpoint), not the log-file setup before it.
        return {"updates": updates, "seconds": updates / result.updates_per_second, "outer": outer}

    return run


# --- pythae -----------------------------------------------------------------------------------
def pythae_version() -> str | None:
    """pythae's version, or None when it cannot be imported."""
    try:
        import pythae  # noqa: F401  (imported for the check)
    except Exception:
        return None
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("pythae")
    except PackageNotFoundError:
        return "unknown"


def build_pythae_vae(x_dim: int = 196) -> Any:
    """pythae's VAE with the SPEC §1 networks as custom encoder / decoder classes."""
    from pythae.models import VAE as PythaeVAE
    from pythae.models import VAEConfig as PythaeVAEConfig
    from pythae.models.base.base_utils import ModelOutput
    from pythae.models.nn import BaseDecoder, BaseEncoder

    class Encoder(BaseEncoder):
        def __init__(self) -> None:
            BaseEncoder.__init__(self)
            self.net = nn.Sequential(
                nn.Linear(x_dim, HIDDEN), nn.Tanh(), nn.Linear(HIDDEN, 2 * Z_DIM)
            )

        def forward(self, x: Tensor) -> ModelOutput:
            loc, log_var = self.net(x).chunk(2, dim=-1)
            return ModelOutput(embedding=loc, log_covariance=log_var)

    class Decoder(BaseDecoder):
        def __init__(self) -> None:
            BaseDecoder.__init__(self)
            self.net = nn.Sequential(nn.Linear(Z_DIM, HIDDEN), nn.Tanh(), nn.Linear(HIDDEN, x_dim))

        def forward(self, z: Tensor) -> ModelOutput:
            # pythae's "bce" loss is binary_cross_entropy on probabilities, not on logits.
            return ModelOutput(reconstruction=torch.sigmoid(self.net(z)))

    config = PythaeVAEConfig(input_dim=(x_dim,), latent_dim=Z_DIM, reconstruction_loss="bce")
    return PythaeVAE(config, encoder=Encoder(), decoder=Decoder())


def pythae_loop_runner(data: BinaryImageData, device: torch.device) -> Runner:
    train_x = data.train.to(device)
    n = len(train_x)

    def run(updates: int) -> dict[str, float]:
        torch.manual_seed(SEED)
        model = build_pythae_vae(data.num_pixels).to(device)
        model.train()
        optimizer = torch.optim.Adam(model.parameters(), lr=LR)
        _sync(device)
        t0 = time.perf_counter()
        for _ in range(updates):
            x = train_x[torch.randint(n, (BATCH_SIZE,), device=device)]
            loss = model({"data": x}).loss
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
        _sync(device)
        return {"updates": updates, "seconds": time.perf_counter() - t0}

    return run


def _quiet_pythae_loggers() -> None:
    # pythae logs its banner and every epoch's loss at INFO to stderr handlers made at import.
    for name in list(logging.root.manager.loggerDict):
        if name.startswith("pythae"):
            logging.getLogger(name).setLevel(logging.WARNING)


def pythae_trainer_runner(data: BinaryImageData, device: torch.device, work_dir: Path) -> Runner:
    from pythae.data.datasets import BaseDataset
    from pythae.trainers import BaseTrainer, BaseTrainerConfig

    dataset = BaseDataset(data.train, torch.zeros(len(data.train)))
    batches_per_epoch = math.ceil(len(data.train) / BATCH_SIZE)
    counter = iter(range(10**9))

    def run(updates: int) -> dict[str, float]:
        epochs = max(1, round(updates / batches_per_epoch))
        config = BaseTrainerConfig(
            output_dir=str(work_dir / f"pythae_{next(counter)}"),
            per_device_train_batch_size=BATCH_SIZE,
            num_epochs=epochs,
            learning_rate=LR,
            optimizer_cls="Adam",
            seed=SEED,
            no_cuda=device.type != "cuda",
        )
        torch.manual_seed(SEED)
        model = build_pythae_vae(data.num_pixels)
        _quiet_pythae_loggers()
        with open(os.devnull, "w") as devnull, contextlib.redirect_stderr(devnull):
            trainer = BaseTrainer(model, dataset, None, config)  # its own device choice
            _quiet_pythae_loggers()
            _sync(device)
            t0 = time.perf_counter()
            trainer.train()  # progress bars go to the redirected stderr
            _sync(device)
            seconds = time.perf_counter() - t0
        return {"updates": epochs * batches_per_epoch, "seconds": seconds}

    return run


# --- measurement ------------------------------------------------------------------------------
def _ratio(a: float | None, b: float | None) -> float | None:
    if a is None or b is None or not (a > 0 and b > 0):
        return None
    return a / b


def measure(
    runners: dict[str, Runner], updates: int, repeats: int, warmup: int, log: Callable[[str], None]
) -> dict[str, list[dict[str, float]]]:
    """Warm each method up, then ``repeats`` rounds of one run each, the order rotated per round."""
    names = list(runners)
    for name in names:
        runners[name](warmup)
        log(f"warm-up {name} done")
    runs: dict[str, list[dict[str, float]]] = {name: [] for name in names}
    for r in range(repeats):
        order = names[r % len(names) :] + names[: r % len(names)]
        for name in order:
            gc.collect()
            res = runners[name](updates)
            res["updates_per_second"] = res["updates"] / res["seconds"]
            runs[name].append(res)
            log(f"repeat {r + 1}/{repeats} {name:15s} {res['updates_per_second']:8.1f} updates/s")
    return runs


DESCRIPTIONS = {
    "deepgen_s2": "deepgen Trainer(VAETask).run(), L=2 samples (deepgen's default)",
    "deepgen_s1": "deepgen Trainer(VAETask).run(), L=1 sample",
    "deepgen_iaf_s2": "deepgen Trainer(VAETask).run() of the composed VAE with an IAF posterior "
    "(2 layers, MADE 64-64, 16-feature context), L=2",
    "plain_s2": "plain PyTorch loop written in the benchmark, L=2 samples",
    "plain_s1": "plain PyTorch loop written in the benchmark, L=1 sample",
    "plain_s2_fused": "the plain loop with torch.optim.Adam(fused=True), as deepgen's Trainer "
    "uses, L=2 samples",
    "pythae_loop": "pythae VAE forward (.loss) + Adam in a minimal loop, 1 sample",
    "pythae_trainer": "pythae BaseTrainer.train() for whole epochs, no eval set, 1 sample",
}
SAMPLES = {
    "deepgen_s2": 2,
    "deepgen_s1": 1,
    "deepgen_iaf_s2": 2,
    "plain_s2": 2,
    "plain_s1": 1,
    "plain_s2_fused": 2,
    "pythae_loop": 1,
    "pythae_trainer": 1,
}
RATIOS = {
    # name: (numerator, denominator, definition)
    "deepgen_vs_plain": (
        "deepgen_s2",
        "plain_s2",
        "deepgen Trainer vs the plain loop, both L=2 (deepgen's default); target >= 1.0",
    ),
    "deepgen_vs_plain_samples1": ("deepgen_s1", "plain_s1", "as deepgen_vs_plain with L=1"),
    "deepgen_vs_plain_fused_adam": (
        "deepgen_s2",
        "plain_s2_fused",
        "deepgen Trainer vs the plain loop given the same fused Adam: what deepgen's own "
        "bookkeeping costs once the optimizer is equal",
    ),
    "iaf_posterior_cost": (
        "deepgen_s2",
        "deepgen_iaf_s2",
        "cost of an update with the IAF posterior relative to the seed VAE's (both L=2): "
        "how many times longer it takes",
    ),
    "deepgen_vs_pythae": (
        "deepgen_s1",
        "pythae_loop",
        "deepgen's full Trainer (L=1) vs pythae's VAE forward in a minimal loop (1 sample): "
        "apples to apples in samples, conservative for deepgen; target > 1",
    ),
    "deepgen_vs_pythae_trainer": (
        "deepgen_s1",
        "pythae_trainer",
        "library level: deepgen's Trainer (L=1) vs pythae's BaseTrainer (1 sample)",
    ),
    "deepgen_samples2_vs_pythae": (
        "deepgen_s2",
        "pythae_loop",
        "deepgen's default L=2 vs pythae's single sample (not like for like; for reference)",
    ),
    "plain_vs_pythae": ("plain_s1", "pythae_loop", "plain loop (L=1) vs pythae's loop"),
}


def summarize(
    runs: dict[str, list[dict[str, float]]],
) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """Per-method medians, ratios of medians, and medians of the per-repeat (paired) ratios."""
    methods: dict[str, Any] = {}
    medians: dict[str, float] = {}
    for name, rows in runs.items():
        ups = [row["updates_per_second"] for row in rows]
        medians[name] = statistics.median(ups)
        entry: dict[str, Any] = {
            "description": DESCRIPTIONS[name],
            "samples": SAMPLES[name],
            "updates_per_repeat": int(rows[0]["updates"]),
            "median_updates_per_second": medians[name],
            "median_us_per_update": 1e6 / medians[name],
            "min_updates_per_second": min(ups),
            "max_updates_per_second": max(ups),
            "repeats_updates_per_second": ups,
        }
        if "outer" in rows[0]:
            entry["repeats_run_call_seconds"] = [row["outer"] for row in rows]
        methods[name] = entry
    ratios: dict[str, Any] = {}
    paired: dict[str, Any] = {}
    for key, (num, den, _) in RATIOS.items():
        ratios[key] = _ratio(medians.get(num), medians.get(den))
        if num in runs and den in runs:
            per_repeat = [
                a["updates_per_second"] / b["updates_per_second"]
                for a, b in zip(runs[num], runs[den], strict=True)
            ]
            paired[key] = statistics.median(per_repeat)
        else:
            paired[key] = None
    return methods, ratios, paired


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description="Updates per second of the SPEC §1 VAE: deepgen vs plain PyTorch vs pythae."
    )
    p.add_argument("--out", default="benchmarks/results", help="folder for vae_throughput.json")
    p.add_argument("--updates", type=int, default=None, help="updates per timed run (2000)")
    p.add_argument("--repeats", type=int, default=None, help="timed runs per method (8)")
    p.add_argument("--warmup", type=int, default=None, help="updates of the warm-up runs (300)")
    p.add_argument("--device", choices=["cpu", "cuda", "auto"], default="cpu")
    p.add_argument(
        "--threads",
        type=int,
        default=None,
        help="torch.set_num_threads for every method (default: leave torch's default)",
    )
    p.add_argument("--skip-pythae", action="store_true", help="leave pythae out")
    p.add_argument("--quick", action="store_true", help="tiny sizes, for a smoke test")
    args = p.parse_args(argv)
    quick = {"updates": 20, "repeats": 2, "warmup": 5}
    full = {"updates": 2000, "repeats": 8, "warmup": 300}
    for key, value in (quick if args.quick else full).items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    for key in ("updates", "repeats", "warmup", "threads"):
        if getattr(args, key) is not None and getattr(args, key) < 1:
            p.error(f"--{key} must be >= 1")
    return args


def main(argv: list[str] | None = None) -> dict[str, Any]:
    args = parse_args(argv)
    t_start = time.perf_counter()
    load_before = load_average()

    def log(msg: str) -> None:
        print(msg, file=sys.stderr, flush=True)

    if args.threads is not None:
        torch.set_num_threads(args.threads)
    device = resolve_device(args.device)
    data = load_dataset(DATA)
    pythae = None
    pythae_note = None
    if args.skip_pythae:
        pythae_note = "skipped (--skip-pythae)"
    else:
        pythae = pythae_version()
        if pythae is None:
            pythae_note = (
                "skipped: pythae is not importable; install it with "
                "pip install -c constraints.txt -e '.[bench]'"
            )
            log(f"vae_throughput: {pythae_note}")

    with tempfile.TemporaryDirectory(prefix="vae_throughput_") as tmp:
        work = Path(tmp)
        runners: dict[str, Runner] = {
            "deepgen_s2": deepgen_runner(data, device, 2, work),
            "plain_s2": plain_runner(data, device, 2),
            "deepgen_s1": deepgen_runner(data, device, 1, work),
            "plain_s1": plain_runner(data, device, 1),
            "plain_s2_fused": plain_runner(data, device, 2, fused=True),
            "deepgen_iaf_s2": deepgen_runner(data, device, 2, work, posterior="iaf"),
        }
        if pythae is not None:
            runners["pythae_loop"] = pythae_loop_runner(data, device)
            runners["pythae_trainer"] = pythae_trainer_runner(data, device, work)
        runs = measure(runners, args.updates, args.repeats, args.warmup, log)

    methods, ratios, paired = summarize(runs)
    for key in RATIOS:
        ratios.setdefault(key, None)
    result: dict[str, Any] = {
        "benchmark": "vae_throughput",
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "quick": args.quick,
        "ratios": ratios,
        "targets": {
            "deepgen_vs_plain": f">= {TARGETS['deepgen_vs_plain']}",
            "deepgen_vs_pythae": f"> {TARGETS['deepgen_vs_pythae']}",
        },
        "targets_met": {
            "deepgen_vs_plain": (
                None
                if ratios["deepgen_vs_plain"] is None
                else ratios["deepgen_vs_plain"] >= TARGETS["deepgen_vs_plain"]
            ),
            "deepgen_vs_pythae": (
                None
                if ratios["deepgen_vs_pythae"] is None
                else ratios["deepgen_vs_pythae"] > TARGETS["deepgen_vs_pythae"]
            ),
        },
        "ratio_definitions": {
            key: f"{num} / {den} (ratio of median updates per second): {text}"
            for key, (num, den, text) in RATIOS.items()
        },
        "paired_ratio_medians": paired,
        "methods": methods,
        "setup": {
            "device": str(device),
            "deepgen_git": git_state(Path(__file__).resolve().parents[1]),
            "torch": torch.__version__,
            "torch_threads": torch.get_num_threads(),
            "torch_threads_from": "--threads" if args.threads is not None else "torch default",
            "torch_interop_threads": torch.get_num_interop_threads(),
            "cpu_count": os.cpu_count(),
            "load_average_1_5_15min_before": load_before,
            "load_average_1_5_15min_after": load_average(),
            "python": platform.python_version(),
            "platform": platform.platform(),
            "pythae": pythae,
            "pythae_status": pythae_note or "measured",
            "data": f"{DATA} train split, {len(data.train)} images x {data.num_pixels} pixels",
            "architecture": (
                f"encoder Linear({data.num_pixels},{HIDDEN})-tanh-Linear({HIDDEN},{2 * Z_DIM}) "
                f"-> (mu, log var); decoder Linear({Z_DIM},{HIDDEN})-tanh-"
                f"Linear({HIDDEN},{data.num_pixels}) -> Bernoulli logits"
            ),
            "batch_size": BATCH_SIZE,
            "optimizer": f"torch.optim.Adam(lr={LR}), other settings default, in every method",
            "updates_per_repeat": args.updates,
            "repeats": args.repeats,
            "warmup_updates": args.warmup,
            "schedule": (
                "one warm-up run per method, then `repeats` rounds with one timed run per "
                "method, the order rotated each round; fresh model and optimizer per run; "
                "medians reported"
            ),
            "deepgen_trainer": {
                "val_every": NEVER,
                "checkpoint_every": NEVER,
                "log_every": TrainerConfig(updates=1).log_every,
                "quiet": True,
                "timed": (
                    "TrainResult.updates_per_second: the Trainer's own clock over the loop, "
                    "including the per-update stats buffer, the JSON-lines log flush every "
                    "log_every updates, the NaN guard, and the single validation (100 images) "
                    "and checkpoint the Trainer always does at the last update"
                ),
                "data_order": "EpochSampler (a fresh permutation per epoch)",
            },
            "plain_loop": (
                "x = train[torch.randint(N, (100,))]; inline loss (plain_loss); "
                "zero_grad(set_to_none=True); backward; step"
            ),
            "pythae_loop": (
                "same minibatches as the plain loop; loss = model({'data': x}).loss; "
                "zero_grad(set_to_none=True); backward; step"
            ),
            "pythae_trainer": (
                "BaseTrainer(model, BaseDataset(train), eval_dataset=None, "
                "BaseTrainerConfig(per_device_train_batch_size=100, learning_rate=1e-3, "
                "num_epochs=round(updates/100))); timed: trainer.train(), i.e. its DataLoader "
                "collating per-example dicts, a deepcopy of the model after each epoch whose "
                "loss improved, .item() of every loss, progress bars (sent to a null stderr) "
                "and the final model save; its INFO logging turned off"
            ),
        },
        "notes": [
            "pythae's VAE draws a single reparameterized sample per example; deepgen's default "
            "is L=2, so deepgen and the plain loop are also measured with L=1 and "
            "deepgen_vs_pythae uses the L=1 runs.",
            "pythae's 'bce' reconstruction loss is F.binary_cross_entropy on sigmoid "
            "probabilities (its decoder applies the sigmoid); deepgen uses x*l - softplus(l) on "
            "logits and the plain loop F.binary_cross_entropy_with_logits. Same objective, "
            "different kernels.",
            "The machine may be shared and noisy: compare medians, and paired_ratio_medians "
            "(median over repeats of the per-round ratio) as a check.",
        ],
        "wall_seconds": time.perf_counter() - t_start,
    }
    out = Path(args.out) / RESULT_NAME
    write_json(out, result)
    for name, entry in methods.items():
        log(f"{name:15s} median {entry['median_updates_per_second']:8.1f} updates/s")
    for key, value in ratios.items():
        log(f"{key:27s} {'n/a' if value is None else f'{value:.3f}'}")
    log(f"wrote {out}")
    return result


if __name__ == "__main__":
    try:
        main()
    except DeepgenError as exc:  # e.g. --device cuda without a GPU: a message, not a traceback
        print(f"vae_throughput: error: {exc}", file=sys.stderr)
        sys.exit(2)
