"""Do bf16 autocast and torch.compile pay on this hardware? One training update (forward,
backward, fused Adam step) of the SPEC §1 VAE and of the default PixelCNN on 14×14 images,
timed in four ways in one process: fp32 eager (the reference), bf16 autocast, torch.compile of
the loss, and both. Rounds are interleaved (order rotated), medians reported, ratios =
reference ms per update / variant ms per update (> 1: the variant is faster). The one-off
compile time is recorded too: on a short run it can cost more than the speed-up returns.

    python benchmarks/precision_compile.py --out benchmarks/results
    python benchmarks/precision_compile.py --quick --out /tmp/bench
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from deepgen.autoregressive.pixelcnn import PixelCNN, PixelCNNConfig
from deepgen.fileio import write_json
from deepgen.provenance import git_state, load_average
from deepgen.train.optim import adam
from deepgen.vae.model import VAE

RESULT_NAME = "precision_compile.json"
VARIANTS = ("fp32", "bf16", "compile", "bf16+compile")


def _step(model: torch.nn.Module, x: torch.Tensor, variant: str) -> Callable[[], None]:
    opt = adam(model.parameters(), 1e-3)

    def loss_of(x: torch.Tensor) -> torch.Tensor:
        out = model.loss(x, validate=False)
        return out[0] if isinstance(out, tuple) else out

    loss_fn = torch.compile(loss_of) if "compile" in variant else loss_of
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


def measure(
    name: str, build: Callable[[], torch.nn.Module], x: torch.Tensor, args: argparse.Namespace
) -> dict[str, Any]:
    """Median ms per update of each variant, interleaved rounds, and the one-off compile time."""
    variants = tuple(args.variants)
    steps, compile_seconds = {}, {}
    for variant in variants:
        torch.manual_seed(0)
        steps[variant] = _step(build(), x, variant)
        t0 = time.perf_counter()
        for _ in range(args.warmup):
            steps[variant]()
        compile_seconds[variant] = time.perf_counter() - t0
    times: dict[str, list[float]] = {v: [] for v in variants}
    for r in range(args.rounds):
        order = variants[r % len(variants) :] + variants[: r % len(variants)]
        for variant in order:
            t0 = time.perf_counter()
            for _ in range(args.updates):
                steps[variant]()
            times[variant].append((time.perf_counter() - t0) / args.updates * 1e3)
    med = {v: statistics.median(t) for v, t in times.items()}
    print(f"{name}: " + ", ".join(f"{v} {med[v]:.3f} ms" for v in variants), file=sys.stderr)
    return {
        "median_ms_per_update": med,
        "repeats_ms_per_update": times,
        "speedup_vs_fp32": {v: med["fp32"] / med[v] for v in variants},
        "warmup_seconds": compile_seconds,  # includes compilation for the compiled variants
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
    args = p.parse_args(argv)
    args.variants = ["fp32", *[v for v in args.variants if v != "fp32"]]
    args.updates, args.rounds, args.warmup = (5, 2, 3) if args.quick else (200, 6, 30)
    torch.set_num_threads(1)
    load_before = load_average()
    g = torch.Generator().manual_seed(0)
    cases = {
        "vae": measure("vae", VAE, torch.rand(100, 196, generator=g).round(), args),
        "pixelcnn": measure(
            "pixelcnn",
            lambda: PixelCNN(PixelCNNConfig()),
            torch.rand(32, 196, generator=g).round(),
            args,
        ),
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
            "load_average_1_5_15min_before": load_before,
            "load_average_1_5_15min_after": load_average(),
            "deepgen_git": git_state(Path(__file__).resolve().parents[1]),
        },
    }
    write_json(Path(args.out) / RESULT_NAME, result)
    return result


if __name__ == "__main__":
    main()
