"""``deepgen pixelcnn``: train a (gated) PixelCNN on binary images and report its exact NLL."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from tqdm import tqdm

from deepgen.autoregressive.experiment import PixelCNNRunConfig, run_pixelcnn
from deepgen.autoregressive.masks import CONVENTIONS
from deepgen.autoregressive.pixelcnn import SAMPLERS
from deepgen.cli.common import add_training, positive_float, positive_int, run_config
from deepgen.data import DATASETS


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``pixelcnn`` command."""
    p = subparsers.add_parser(
        "pixelcnn",
        help="train a PixelCNN on binary images and report its exact test NLL",
        description="Train a PixelCNN (or, with --gated, a Gated PixelCNN) with a Bernoulli per "
        "pixel, then write the exact test NLL (nats per image), samples.png, nll.png, "
        "report.html, metrics.json, config.json and checkpoint.pt into --out.",
    )
    d = PixelCNNRunConfig()
    # Defaults are None so that --resume can tell which flags were given.
    p.add_argument("--data", choices=DATASETS, help=f"data set (default {d.data})")
    p.add_argument(
        "--data-dir", metavar="DIR", help="folder of the raw files (mnist28, binarized-mnist)"
    )
    p.add_argument("--steps", type=positive_int, help=f"weight updates (default {d.steps})")
    p.add_argument(
        "--batch-size", type=positive_int, help=f"minibatch size (default {d.batch_size})"
    )
    p.add_argument("--lr", type=positive_float, help=f"Adam learning rate (default {d.lr})")
    p.add_argument(
        "--lr-halflife",
        type=positive_float,
        help=f"updates over which the learning rate halves (default {d.lr_halflife:g})",
    )
    p.add_argument(
        "--layers",
        type=positive_int,
        help=f"masked layers, the first of type A (default {d.model.layers})",
    )
    p.add_argument(
        "--channels", type=positive_int, help=f"feature maps (default {d.model.channels})"
    )
    p.add_argument(
        "--kernel", type=positive_int, help=f"odd kernel size (default {d.model.kernel})"
    )
    p.add_argument(
        "--first-kernel",
        type=positive_int,
        help=f"odd kernel size of the type-A layer (default {d.model.first_kernel})",
    )
    p.add_argument(
        "--gated",
        action="store_const",
        const=True,
        help="Gated PixelCNN: vertical + horizontal stacks, no blind spot",
    )
    p.add_argument(
        "--convention", choices=CONVENTIONS, help=f"pixel ordering (default {d.model.convention})"
    )
    p.add_argument(
        "--val-images",
        type=positive_int,
        help=f"held-out images per validation (default {d.val_images})",
    )
    p.add_argument(
        "--samples", type=positive_int, help=f"images to sample at the end (default {d.samples})"
    )
    p.add_argument("--sampler", choices=SAMPLERS, help=f"sampler (default {d.sampler})")
    p.add_argument(
        "--test-images",
        type=positive_int,
        help="score N test images spread evenly over the split (default all)",
    )
    p.add_argument(
        "--eval-images",
        type=positive_int,
        help="the final evaluation on the first N validation (and training) images (all)",
    )
    add_training(p, d, out="runs/pixelcnn")
    p.set_defaults(func=_train)


def _train(args: argparse.Namespace) -> int:
    cfg = run_config(PixelCNNRunConfig, args)
    show = not args.quiet and sys.stderr.isatty()

    def progress(pixels: Iterable[Any]) -> Iterable[Any]:
        items = list(pixels)
        return tqdm(items, desc="sampling", disable=not show, dynamic_ncols=True)

    metrics = run_pixelcnn(cfg, args.out, resume=args.resume, quiet=args.quiet, progress=progress)
    if metrics and not args.quiet:  # {} on the other processes of a torchrun run
        out = Path(args.out)
        ref = ""
        if metrics["reference_nll"] is not None:
            ref = f"\n  reference: {metrics['reference']}: {metrics['reference_nll']:.2f} nats"
        print(
            f"{metrics['model']} on {cfg.data}: {metrics['updates']} updates in "
            f"{metrics['wall_seconds']:.1f} s ({metrics['updates_per_second']:.1f} updates/s)\n"
            f"  test NLL {metrics['test_nll']:.2f} ± {metrics['test_nll_stderr']:.2f} nats/image "
            f"({metrics['test_bits_per_dim']:.4f} bits/dim, {metrics['test_images']} images); "
            f"validation {metrics['val_nll']:.2f}{ref}\n"
            f"  {len(range(cfg.samples))} samples in {metrics['sample_seconds']:.1f} s; "
            f"report: {(out / 'report.html').resolve()}"
        )
    return 0
