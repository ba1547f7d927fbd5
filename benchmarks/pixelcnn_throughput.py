"""Training throughput of deepgen's PixelCNN against a plain PyTorch PixelCNN of the same shape.

Both train the default ``deepgen pixelcnn`` architecture on mnist14 (a 7×7 type-A masked
convolution, 5 residual 3×3 type-B layers h ← h + conv(ReLU(h)), a 1×1 ReLU head, 32 channels,
Bernoulli logits; minibatches of 64; Adam):

* ``deepgen``: the real loop, ``Trainer(PixelCNNTask(...)).run()``: the per-update stats
  buffer, JSON-lines log, NaN guard, EpochSampler, and the one validation (500 images) and
  checkpoint the Trainer always does at the last update (both otherwise scheduled past the end).
  Timed by the Trainer's own clock (``TrainResult.updates_per_second``).
* ``plain``: written here with nothing from deepgen: a Conv2d subclass multiplying its weight
  by a registered 0/1 mask, the same modules (so the state dicts are interchangeable, which the
  smoke test uses to check that both compute the same loss), ``binary_cross_entropy_with_logits``
  summed over pixels, ``torch.randint`` minibatches, zero_grad / backward / step.

Runs are interleaved (one of each per round, order rotated) after a warm-up, fresh model and
optimizer per run; medians and the median of per-round ratios go to
``<out>/pixelcnn_throughput.json``.

    python benchmarks/pixelcnn_throughput.py --out benchmarks/results
    python benchmarks/pixelcnn_throughput.py --quick --out /tmp/bench
"""

from __future__ import annotations

import argparse
import datetime
import gc
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

from deepgen.autoregressive.experiment import PixelCNNRunConfig, PixelCNNTask
from deepgen.autoregressive.pixelcnn import PixelCNN
from deepgen.data import BinaryImageData, load_dataset
from deepgen.fileio import write_json
from deepgen.provenance import load_average
from deepgen.train import Trainer, TrainerConfig

RESULT_NAME = "pixelcnn_throughput.json"
NEVER = 10**9
Runner = Callable[[int], dict[str, float]]


# --- the plain PyTorch reference ------------------------------------------------------------
class PlainMaskedConv(nn.Conv2d):
    """Conv2d whose weight is multiplied by a fixed mask (rows above + left; centre for B)."""

    def __init__(self, c_in: int, c_out: int, k: int, kind: str) -> None:
        super().__init__(c_in, c_out, k, padding=k // 2)
        mask = torch.ones(c_out, c_in, k, k)
        mask[:, :, k // 2, k // 2 + (1 if kind == "B" else 0) :] = 0
        mask[:, :, k // 2 + 1 :, :] = 0
        self.register_buffer("mask", mask)

    def forward(self, x: Tensor) -> Tensor:
        return F.conv2d(x, self.weight * self.mask, self.bias, padding=self.padding)


class PlainPixelCNN(nn.Module):
    """The same network as deepgen's PixelCNN, written directly."""

    def __init__(self, channels: int, layers: int, kernel: int, first_kernel: int) -> None:
        super().__init__()
        self.first = PlainMaskedConv(1, channels, first_kernel, "A")
        self.hidden = nn.ModuleList(
            PlainMaskedConv(channels, channels, kernel, "B") for _ in range(layers - 1)
        )
        self.head = nn.Sequential(
            nn.ReLU(), nn.Conv2d(channels, channels, 1), nn.ReLU(), nn.Conv2d(channels, 1, 1)
        )

    def forward(self, x: Tensor) -> Tensor:
        h = self.first(x)
        for layer in self.hidden:
            h = h + layer(F.relu(h))
        return self.head(h)


def plain_loss(model: nn.Module, x: Tensor) -> Tensor:
    """Mean over images of −log p(x) = Σ_pixels BCE(logits, x)."""
    logits = model(x)
    return F.binary_cross_entropy_with_logits(logits, x, reduction="sum") / x.shape[0]


def plain_runner(data: BinaryImageData, cfg: PixelCNNRunConfig) -> Runner:
    h, w = data.image_shape
    train_x = data.train.view(-1, 1, h, w)
    n = len(train_x)

    def run(updates: int) -> dict[str, float]:
        torch.manual_seed(cfg.seed)
        m = cfg.model
        model = PlainPixelCNN(m.channels, m.layers, m.kernel, m.first_kernel)
        optimizer = torch.optim.Adam(model.parameters(), lr=cfg.lr)
        t0 = time.perf_counter()
        for _ in range(updates):
            x = train_x[torch.randint(n, (cfg.batch_size,))]
            loss = plain_loss(model, x)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
        return {"updates": updates, "seconds": time.perf_counter() - t0}

    return run


def deepgen_runner(data: BinaryImageData, cfg: PixelCNNRunConfig, work: Path) -> Runner:
    counter = iter(range(10**9))

    def run(updates: int) -> dict[str, float]:
        torch.manual_seed(cfg.seed)
        model = PixelCNN(cfg.model)
        task = PixelCNNTask(model, data, cfg, torch.device("cpu"))
        trainer = Trainer(
            task,
            TrainerConfig(updates=updates, val_every=NEVER, checkpoint_every=NEVER, quiet=True),
            work / f"deepgen_{next(counter)}",
        )
        result = trainer.run()
        return {"updates": updates, "seconds": updates / result.updates_per_second}

    return run


def measure(
    runners: dict[str, Runner], updates: int, repeats: int, warmup: int
) -> dict[str, list[float]]:
    """Updates per second of each method: a warm-up each, then rounds in rotated order."""
    names = list(runners)
    for name in names:
        runners[name](warmup)
    rates: dict[str, list[float]] = {name: [] for name in names}
    for r in range(repeats):
        for name in names[r % len(names) :] + names[: r % len(names)]:
            gc.collect()
            row = runners[name](updates)
            rates[name].append(row["updates"] / row["seconds"])
    return rates


def main(argv: list[str] | None = None) -> dict[str, Any]:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", default="benchmarks/results")
    p.add_argument("--updates", type=int, default=150, help="updates per timed run (150)")
    p.add_argument("--repeats", type=int, default=6, help="timed runs per method (6)")
    p.add_argument("--warmup", type=int, default=20, help="updates of the warm-up runs (20)")
    p.add_argument("--threads", type=int, default=1, help="torch threads (1, deepgen's default)")
    p.add_argument("--quick", action="store_true", help="tiny sizes, for the smoke test")
    args = p.parse_args(argv)
    if args.quick:
        args.updates, args.repeats, args.warmup = 3, 2, 1
    torch.set_num_threads(args.threads)
    load_before = load_average()
    t_start = time.perf_counter()
    data = load_dataset("mnist14")
    cfg = PixelCNNRunConfig(device="cpu", val_images=500)
    if args.quick:
        cfg = PixelCNNRunConfig.from_settings(
            {"device": "cpu", "channels": 4, "layers": 2, "val_images": 20}
        )
    with tempfile.TemporaryDirectory(prefix="pixelcnn_throughput_") as tmp:
        runners = {
            "deepgen": deepgen_runner(data, cfg, Path(tmp)),
            "plain": plain_runner(data, cfg),
        }
        rates = measure(runners, args.updates, args.repeats, args.warmup)
    med = {k: statistics.median(v) for k, v in rates.items()}
    paired = statistics.median(a / b for a, b in zip(rates["deepgen"], rates["plain"], strict=True))
    result: dict[str, Any] = {
        "benchmark": "pixelcnn_throughput",
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "quick": args.quick,
        "ratios": {"deepgen_vs_plain": med["deepgen"] / med["plain"]},
        "ratio_definitions": {
            "deepgen_vs_plain": "median updates/s of deepgen's Trainer(PixelCNNTask) over the "
            "plain PyTorch loop; > 1 means deepgen is faster"
        },
        "paired_ratio_medians": {"deepgen_vs_plain": paired},
        "methods": {
            name: {
                "median_updates_per_second": med[name],
                "median_ms_per_update": 1e3 / med[name],
                "repeats_updates_per_second": rates[name],
            }
            for name in rates
        },
        "setup": {
            "architecture": (
                f"{cfg.model.first_kernel}x{cfg.model.first_kernel} type-A masked conv, "
                f"{cfg.model.layers - 1} residual {cfg.model.kernel}x{cfg.model.kernel} type-B "
                f"layers, 1x1 ReLU head, {cfg.model.channels} channels, Bernoulli logits"
            ),
            "data": f"mnist14 train, {len(data.train)} images 14x14",
            "batch_size": cfg.batch_size,
            "optimizer": f"Adam(lr={cfg.lr})",
            "updates_per_repeat": args.updates,
            "repeats": args.repeats,
            "warmup_updates": args.warmup,
            "torch": torch.__version__,
            "torch_threads": torch.get_num_threads(),
            "cpu_count": os.cpu_count(),
            "python": platform.python_version(),
            "load_average_1_5_15min_before": load_before,
            "load_average_1_5_15min_after": load_average(),
            "deepgen_timed": "TrainResult.updates_per_second, incl. the final validation "
            f"({cfg.val_images} images) and checkpoint",
        },
        "wall_seconds": time.perf_counter() - t_start,
    }
    out = Path(args.out) / RESULT_NAME
    out.parent.mkdir(parents=True, exist_ok=True)
    write_json(out, result)
    print(
        f"deepgen {med['deepgen']:.1f} updates/s, plain {med['plain']:.1f} updates/s: "
        f"ratio {result['ratios']['deepgen_vs_plain']:.3f} (paired {paired:.3f}); wrote {out}",
        file=sys.stderr,
    )
    return result


if __name__ == "__main__":
    main()
