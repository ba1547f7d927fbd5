"""Does data parallelism pay on this machine? Training throughput of 1 process against 2
processes (``torchrun --standalone --nproc_per_node 2``, gloo, one thread each) at the same
global batch, for the SPEC §1 VAE (an overhead-bound MLP: ~2 ms per update) and for a PixelCNN
on 28×28 binarized MNIST (compute-bound convolutions).

Each run is the real command (``deepgen vae`` / ``deepgen pixelcnn``); its throughput is the
trainer's own ``updates_per_second`` from ``metrics.json`` (the training loop only: no start-up,
no final evaluation; validation and checkpoints are pushed past the end). Runs alternate
1, 2, 1, 2, … and the ratio of each pair is taken; the median pair ratio is reported
(> 1: two processes train faster).

    python benchmarks/ddp_scaling.py --out benchmarks/results
    python benchmarks/ddp_scaling.py --quick --out /tmp/bench
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import torch

from deepgen.fileio import write_json
from deepgen.provenance import git_state, load_average

RESULT_NAME = "ddp_scaling.json"
REPO = Path(__file__).resolve().parents[1]
DEEPGEN = str(Path(sys.executable).with_name("deepgen"))


def _command(args: list[str], processes: int) -> list[str]:
    if processes == 1:
        return [DEEPGEN, *args]
    launcher = [sys.executable, "-m", "torch.distributed.run", "--standalone"]
    return [*launcher, "--nproc_per_node", str(processes), DEEPGEN, *args]


def _updates_per_second(args: list[str], processes: int) -> float:
    env = {k: v for k, v in os.environ.items() if k not in ("RANK", "WORLD_SIZE", "LOCAL_RANK")}
    env["OMP_NUM_THREADS"] = "1"
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "run"
        cmd = _command([*args, "--out", str(out), "--quiet", "--threads", "1"], processes)
        done = subprocess.run(cmd, capture_output=True, text=True, env=env)
        if done.returncode != 0:
            raise SystemExit(f"{' '.join(cmd)} failed:\n{done.stderr[-3000:]}")
        metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["world_size"] == processes
    return float(metrics["updates_per_second"])


def measure(name: str, args: list[str], pairs: int) -> dict[str, Any]:
    """Alternate 1- and 2-process runs; the paired ratios and their median."""
    one, two = [], []
    for _ in range(pairs):
        one.append(_updates_per_second(args, 1))
        two.append(_updates_per_second(args, 2))
        print(
            f"{name}: 1 process {one[-1]:.1f}, 2 processes {two[-1]:.1f} updates/s", file=sys.stderr
        )
    ratios = [b / a for a, b in zip(one, two, strict=True)]
    return {
        "command": "deepgen " + " ".join(args),
        "updates_per_second_1": one,
        "updates_per_second_2": two,
        "median_updates_per_second_1": statistics.median(one),
        "median_updates_per_second_2": statistics.median(two),
        "pair_ratios": ratios,
        "speedup_2_vs_1": statistics.median(ratios),
    }


def main(argv: list[str] | None = None) -> dict[str, Any]:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", default="benchmarks/results")
    p.add_argument("--quick", action="store_true", help="tiny runs, for a smoke test")
    p.add_argument(
        "--data-dir",
        default=str(REPO.parent / "shared" / "data" / "binarized_mnist"),
        help="the binarized MNIST 28×28 files (for the PixelCNN case)",
    )
    p.add_argument("--cases", nargs="+", choices=("vae", "pixelcnn"), default=["vae", "pixelcnn"])
    args = p.parse_args(argv)
    pairs = 2 if args.quick else 5
    never = ["--val-every", "1000000", "--checkpoint-every", "1000000"]
    vae_steps, cnn_steps = ("60", "6") if args.quick else ("3000", "150")
    cases_args = {
        "vae": ["vae", "--steps", vae_steps, "--batch-size", "100", "--eval-k", "10", *never],
        "pixelcnn": [
            "pixelcnn",
            "--data",
            "binarized-mnist",
            "--data-dir",
            args.data_dir,
            "--steps",
            cnn_steps,
            "--batch-size",
            "64",
            "--val-images",
            "100",
            "--test-images",
            "100",
            "--samples",
            "1",
            *never,
        ],
    }
    if args.quick:  # a small network on 14×14 images, and no need for ../shared
        cases_args["pixelcnn"] = ["pixelcnn", "--steps", cnn_steps, "--layers", "2"]
        cases_args["pixelcnn"] += ["--channels", "8", "--batch-size", "32", "--samples", "1"]
        cases_args["pixelcnn"] += ["--val-images", "50", "--test-images", "50", *never]
    load_before = load_average()
    cases = {name: measure(name, cases_args[name], pairs) for name in args.cases}
    result = {
        "benchmark": "ddp_scaling",
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "quick": args.quick,
        "cases": cases,
        "definition": "speedup_2_vs_1 = median over alternating pairs of (updates/s with 2 "
        "processes) / (updates/s with 1 process), at the same global batch",
        "target": "PixelCNN 28x28: speedup_2_vs_1 >= 1.7 on 2 cores",
        "setup": {
            "torch": torch.__version__,
            "threads_per_process": 1,
            "backend": "gloo",
            "device": "cpu",
            "cpus": os.cpu_count(),
            "pairs": pairs,
            "vae": "SPEC §1 VAE (196-128-8), global batch 100, L = 2, fused Adam",
            "pixelcnn": "PixelCNN defaults (6 layers, 32 channels, 7x7 then 3x3 masks) on "
            "binarized MNIST 28x28, global batch 64, fused Adam",
            "load_average_1_5_15min_before": load_before,
            "load_average_1_5_15min_after": load_average(),
            "deepgen_git": git_state(REPO),
        },
    }
    write_json(Path(args.out) / RESULT_NAME, result)
    return result


if __name__ == "__main__":
    main()
