"""Do bf16 autocast and torch.compile pay on this hardware? One training update (forward,
backward, fused Adam step) of each family's model, timed in several ways in one process: fp32
eager (the reference), bf16 autocast, torch.compile (what ``--compile`` compiles), and both.
The VAE and the PixelCNN (14×14) get all four; the flows (RealNVP on 2-D points, the
multi-scale image flow on 28×28) and the GANs (the leaderboard's DCGAN with R1, the MLP GAN of
ring8) get fp32 and compile, through the training commands' own tasks (``FlowTask``,
``GANTask``), since bf16 is refused for them on a CPU. Rounds are interleaved (order
rotated), medians reported, ratios = reference ms per update / variant ms per update (> 1: the
variant is faster). The one-off compile time is recorded too: on a short run it can cost more
than the speed-up returns.

    python benchmarks/precision_compile.py --out benchmarks/results
    python benchmarks/precision_compile.py --quick --out /tmp/bench
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import itertools
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from deepgen.autoregressive.pixelcnn import PixelCNN, PixelCNNConfig
from deepgen.fileio import write_json
from deepgen.flows.experiment import FlowRunConfig, FlowTask
from deepgen.flows.recipe import build_flow
from deepgen.gan.conv import build_conv_gan
from deepgen.gan.experiment import GANTask, config_for
from deepgen.gan.models import Discriminator, Generator
from deepgen.provenance import git_state, load_average
from deepgen.train.optim import adam, maybe_compiled
from deepgen.vae.model import VAE

RESULT_NAME = "precision_compile.json"
VARIANTS = ("fp32", "bf16", "compile", "bf16+compile")
CASES = ("vae", "pixelcnn", "flow_2d", "flow_image", "gan_dcgan", "gan_mlp")
CPU = torch.device("cpu")
Step = Callable[[], None]


def _step(model: torch.nn.Module, x: torch.Tensor, variant: str) -> Step:
    """One update of a model with a ``loss(x, validate=False)`` (the VAE, the PixelCNN)."""
    opt = adam(model.parameters(), 1e-3)

    def loss_of(x: torch.Tensor) -> torch.Tensor:
        out = model.loss(x, validate=False)
        return out[0] if isinstance(out, tuple) else out

    loss_fn = maybe_compiled(loss_of, "compile" in variant)
    autocast = (
        (lambda: torch.autocast("cpu", dtype=torch.bfloat16))
        if "bf16" in variant
        else contextlib.nullcontext
    )

    def step() -> None:
        with autocast():
            loss = loss_fn(x)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    return step


def _task_step(task: Any) -> Step:
    """The task's own update (``FlowTask``/``GANTask.step``), update counter included."""
    counter = itertools.count(1)
    return lambda: task.step(next(counter))


def flow_step(settings: dict[str, Any], n: int, shape: tuple[int, int] | None) -> Any:
    """A maker of FlowTask updates: ``settings`` of ``deepgen flow``, ``n`` training points
    (2-D) or binary images of ``shape``."""
    g = torch.Generator().manual_seed(0)
    features = 2 if shape is None else shape[0] * shape[1]
    data = torch.randn(n, 2, generator=g) if shape is None else torch.rand(n, features) > 0.5

    def make(variant: str) -> Step:
        cfg = FlowRunConfig.from_settings({**settings, "compile": "compile" in variant})
        flow, deq = build_flow(cfg.model, features, shape, 2, 0)
        task = FlowTask(flow, data.float(), data[:8].float(), cfg, CPU, deq)
        return _task_step(task)

    return make


def gan_step(data: str, settings: dict[str, Any]) -> Any:
    """A maker of GANTask updates with ``deepgen gan``'s settings for ``data``."""

    def make(variant: str) -> Step:
        cfg = config_for(data, **settings, compile="compile" in variant)
        if cfg.arch == "dcgan":
            gen, disc = build_conv_gan(cfg.model)
            images = (torch.rand(2000, cfg.model.x_dim) > 0.5).float()
        else:
            gen, disc, images = Generator(cfg.model), Discriminator(cfg.model), None
        return _task_step(GANTask(cfg, gen, disc, CPU, images))

    return make


def measure(
    name: str,
    make: Callable[[str], Step],
    variants: tuple[str, ...],
    args: argparse.Namespace,
    scale: float = 1.0,
) -> dict[str, Any]:
    """Median ms per update of each variant, interleaved rounds, and the one-off compile time.
    ``make(variant)`` builds a fresh model and returns its update; ``scale`` shortens the
    rounds of a slow model (updates per round and warm-up × scale, at least 2)."""
    updates = max(2, round(args.updates * scale))
    warmup = max(2, round(args.warmup * scale))
    steps, compile_seconds = {}, {}
    for variant in variants:
        torch.manual_seed(0)
        steps[variant] = make(variant)
        t0 = time.perf_counter()
        for _ in range(warmup):
            steps[variant]()
        compile_seconds[variant] = time.perf_counter() - t0
    times: dict[str, list[float]] = {v: [] for v in variants}
    for r in range(args.rounds):
        order = variants[r % len(variants) :] + variants[: r % len(variants)]
        for variant in order:
            t0 = time.perf_counter()
            for _ in range(updates):
                steps[variant]()
            times[variant].append((time.perf_counter() - t0) / updates * 1e3)
    med = {v: statistics.median(t) for v, t in times.items()}
    print(f"{name}: " + ", ".join(f"{v} {med[v]:.3f} ms" for v in variants), file=sys.stderr)
    return {
        "median_ms_per_update": med,
        "repeats_ms_per_update": times,
        "speedup_vs_fp32": {v: med["fp32"] / med[v] for v in variants},
        "warmup_seconds": compile_seconds,  # includes compilation for the compiled variants
        "updates_per_round": updates,
        "warmup_updates": warmup,
    }


def main(argv: list[str] | None = None) -> dict[str, Any]:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", default="benchmarks/results")
    p.add_argument("--quick", action="store_true", help="tiny sizes, for a smoke test")
    p.add_argument(
        "--variants",
        nargs="+",
        choices=VARIANTS,
        default=list(VARIANTS),
        help="which to time; fp32 (the reference) is always included",
    )
    p.add_argument(
        "--cases",
        nargs="+",
        choices=CASES,
        default=list(CASES),
        help="which models to time (default all)",
    )
    args = p.parse_args(argv)
    args.variants = ["fp32", *[v for v in args.variants if v != "fp32"]]
    args.updates, args.rounds, args.warmup = (5, 2, 3) if args.quick else (200, 6, 30)
    torch.set_num_threads(1)
    load_before = load_average()
    g = torch.Generator().manual_seed(0)
    vae_x = torch.rand(100, 196, generator=g).round()
    pixel_x = torch.rand(32, 196, generator=g).round()
    plain = tuple(args.variants)
    fast = tuple(v for v in plain if "bf16" not in v)  # bf16 is refused for flow and gan on CPU
    image_flow = {
        "data": "binarized-mnist",
        "flow": "multiscale",
        "hidden": 8 if args.quick else 32,
        "batch_size": 32,
    }
    makers: dict[str, tuple[Callable[[str], Step], tuple[str, ...], float]] = {
        "vae": (lambda v: _step(VAE(), vae_x, v), plain, 1.0),
        "pixelcnn": (lambda v: _step(PixelCNN(PixelCNNConfig()), pixel_x, v), plain, 1.0),
        "flow_2d": (flow_step({"data": "moons"}, 2000, None), fast, 1.0),
        "flow_image": (flow_step(image_flow, 256, (28, 28)), fast, 0.1),
        "gan_dcgan": (gan_step("binarized-mnist", {"width": 32}), fast, 0.1),
        "gan_mlp": (gan_step("ring8", {}), fast, 1.0),
    }
    cases = {
        name: measure(name, make, variants, args, scale)
        for name, (make, variants, scale) in makers.items()
        if name in args.cases
    }
    result = {
        "benchmark": "precision_compile",
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "quick": args.quick,
        "cases": cases,
        "definition": "speedup_vs_fp32[v] = median ms per update of fp32 eager / of v",
        "setup": {
            "torch": torch.__version__,
            "threads": torch.get_num_threads(),
            "device": "cpu",
            "updates_per_round": args.updates,
            "rounds": args.rounds,
            "warmup_updates": args.warmup,
            "vae": "SPEC §1 VAE, batch 100, L = 2, fused Adam",
            "pixelcnn": "PixelCNN defaults (6 layers, 32 channels, 14x14), batch 32, fused Adam",
            "flow_2d": "deepgen flow defaults: RealNVP on 2-D points, batch 256 (FlowTask)",
            "flow_image": "multi-scale image flow (2 scales x 4 steps, 32 channels), uniform "
            "dequantization, 28x28 binary images, batch 32 (FlowTask)",
            "gan_dcgan": "deepgen gan binarized-mnist defaults with width 32 (DCGAN, spectral "
            "norm, R1 10, EMA), batch 64 (GANTask); R1's double backward stays eager",
            "gan_mlp": "deepgen gan ring8 defaults (MLP 3x128, batch 256) (GANTask)",
            "load_average_1_5_15min_before": load_before,
            "load_average_1_5_15min_after": load_average(),
            "deepgen_git": git_state(Path(__file__).resolve().parents[1]),
        },
    }
    write_json(Path(args.out) / RESULT_NAME, result)
    return result


if __name__ == "__main__":
    main()
