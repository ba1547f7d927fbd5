"""Time to sample 100 binary 14×14 images from a PixelCNN: naive against restricted samplers.

* ``naive``: one full forward pass over the whole image per pixel (196 passes).
* ``crop``: per pixel, the whole network runs on the pixel's row and the ``vertical_reach``
  rows before it only.
* ``restricted`` (deepgen's default): per pixel, each layer runs only on the rows that the
  pixel's row can still read through the layers after it (the band shrinks to one row; the
  gated horizontal stack runs on one row throughout).

All three give the same logits, see
``tests/autoregressive/test_pixelcnn.py::test_restricted_rows_give_the_same_logits_as_a_full_pass``.

Both use the same uniforms, so they draw the same images (up to float32 rounding at a threshold).
Measured for the default ``deepgen pixelcnn`` models (PixelCNN and Gated PixelCNN) with their
initial weights: the cost does not depend on the weights. Interleaved rounds, order rotated,
medians; JSON to ``<out>/pixelcnn_sampling.json``.

    python benchmarks/pixelcnn_sampling.py --out benchmarks/results
    python benchmarks/pixelcnn_sampling.py --quick --out /tmp/bench
"""

from __future__ import annotations

import argparse
import datetime
import gc
import os
import platform
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import torch

from deepgen.autoregressive.pixelcnn import PixelCNNConfig, build_model, sample
from deepgen.fileio import write_json

RESULT_NAME = "pixelcnn_sampling.json"


def main(argv: list[str] | None = None) -> dict[str, Any]:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", default="benchmarks/results")
    p.add_argument("--images", type=int, default=100, help="images per sampling call (100)")
    p.add_argument("--repeats", type=int, default=3, help="timed calls per method (3)")
    p.add_argument("--size", type=int, default=14, help="image side (14)")
    p.add_argument("--threads", type=int, default=1, help="torch threads (1)")
    p.add_argument("--quick", action="store_true", help="tiny sizes, for the smoke test")
    args = p.parse_args(argv)
    if args.quick:
        args.images, args.repeats, args.size = 4, 1, 6
    torch.set_num_threads(args.threads)
    t_start = time.perf_counter()
    load_before = os.getloadavg()
    models = {}
    for gated in (False, True):
        sizes = {"channels": 4, "layers": 2, "first_kernel": 3} if args.quick else {}
        arch = PixelCNNConfig(height=args.size, width=args.size, gated=gated, **sizes)
        torch.manual_seed(0)
        model = build_model(arch).eval()
        models["gated" if gated else "pixelcnn"] = model
    u = torch.rand(args.images, args.size, args.size, generator=torch.Generator().manual_seed(0))
    methods = [(m, s) for m in models for s in ("naive", "crop", "restricted")]
    draws: dict[str, torch.Tensor] = {}
    for model_name, method in methods:  # warm-up, and the draws to compare
        draws[f"{model_name}_{method}"] = sample(
            models[model_name], args.images, None, method, uniforms=u
        )
    times: dict[str, list[float]] = {f"{m}_{s}": [] for m, s in methods}
    for r in range(args.repeats):
        order = methods[r % len(methods) :] + methods[: r % len(methods)]
        for model_name, method in order:
            gc.collect()
            t0 = time.perf_counter()
            sample(models[model_name], args.images, None, method, uniforms=u)
            times[f"{model_name}_{method}"].append(time.perf_counter() - t0)
    med = {k: statistics.median(v) for k, v in times.items()}
    ratios, paired, same = {}, {}, {}
    for m in models:
        for fast in ("crop", "restricted"):
            key = f"{m}_{fast}_speedup"
            ratios[key] = med[f"{m}_naive"] / med[f"{m}_{fast}"]
            paired[key] = statistics.median(
                a / b for a, b in zip(times[f"{m}_naive"], times[f"{m}_{fast}"], strict=True)
            )
            a, b = draws[f"{m}_naive"], draws[f"{m}_{fast}"]
            same[f"{m}_{fast}"] = (a == b).all(1).double().mean().item()
    result: dict[str, Any] = {
        "benchmark": "pixelcnn_sampling",
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "quick": args.quick,
        "ratios": ratios,
        "ratio_definitions": {
            k: "median seconds of the naive sampler / median seconds of the faster one named "
            "(> 1: faster than naive)"
            for k in ratios
        },
        "paired_ratio_medians": paired,
        "fraction_of_identical_images": same,
        "methods": {k: {"median_seconds": med[k], "repeats_seconds": v} for k, v in times.items()},
        "setup": {
            "images": args.images,
            "image_shape": [args.size, args.size],
            "models": {
                m: {**models[m].config.to_dict(), "vertical_reach": models[m].vertical_reach}
                for m in models
            },
            "repeats": args.repeats,
            "torch": torch.__version__,
            "torch_threads": torch.get_num_threads(),
            "cpu_count": os.cpu_count(),
            "python": platform.python_version(),
            "load_average_1_5_15min_before": [round(v, 2) for v in load_before],
            "load_average_1_5_15min_after": [round(v, 2) for v in os.getloadavg()],
        },
        "wall_seconds": time.perf_counter() - t_start,
    }
    out = Path(args.out) / RESULT_NAME
    out.parent.mkdir(parents=True, exist_ok=True)
    write_json(out, result)
    for k, v in med.items():
        print(f"{k}: {v:.2f} s for {args.images} images", file=sys.stderr)
    print(f"speedups: {ratios}; wrote {out}", file=sys.stderr)
    return result


if __name__ == "__main__":
    main()
