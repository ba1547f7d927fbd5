"""``deepgen flow``: train a normalizing flow on a 2-D density or on binary images."""

from __future__ import annotations

import argparse
from pathlib import Path

from deepgen.cli.common import add_training, positive_float, positive_int, run_config
from deepgen.data.datasets import DATASETS, GREY_DATASETS
from deepgen.data.toy import TOY_DATASETS
from deepgen.flows.experiment import FlowRunConfig, run_flow
from deepgen.flows.recipe import DEQUANTIZATIONS, FLOWS
from deepgen.flows.zoo import KINDS


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``flow`` command."""
    p = subparsers.add_parser(
        "flow",
        help="train a normalizing flow (2-D densities or dequantized binary images)",
        description="Train a flow by maximum likelihood with the deepgen trainer and write "
        "metrics.json (test log-likelihood; on 2-D data also the density integral over a fine "
        "grid), plots and report.html into --out.",
    )
    d = FlowRunConfig()
    p.add_argument(
        "--data",
        choices=(*TOY_DATASETS, *DATASETS, *GREY_DATASETS),
        help=f"default {d.data}; mnist-grey: 256 grey levels, in bits per dimension",
    )
    p.add_argument(
        "--flow",
        choices=FLOWS,
        help=f"default {d.model.flow}; multiscale: the RealNVP/Glow image flow (squeeze, ActNorm, "
        "1×1 convolution, convolutional couplings, factor-out), images only",
    )
    p.add_argument(
        "--dequantization",
        choices=DEQUANTIZATIONS,
        help="images: uniform u ~ U[0,1), or variational q(u|x) learned with the flow "
        "(Ho et al. 2019) (default uniform)",
    )
    p.add_argument(
        "--scales", type=positive_int, help=f"multiscale: levels (default {d.model.scales})"
    )
    p.add_argument(
        "--coupling",
        choices=("affine", "spline"),
        help=f"multiscale: the couplings' map (default {d.model.coupling})",
    )
    p.add_argument(
        "--val-images",
        type=positive_int,
        help="images: validate on the first N held-out images (default all)",
    )
    p.add_argument("--steps", type=positive_int, help=f"weight updates (default {d.steps})")
    p.add_argument(
        "--layers",
        type=positive_int,
        help="blocks (default per flow: "
        + ", ".join(f"{k} {n}" for k, (_, n) in KINDS.items())
        + ")",
    )
    p.add_argument("--hidden", type=positive_int, help=f"hidden units (default {d.model.hidden})")
    p.add_argument("--batch-size", type=positive_int, help=f"default {d.batch_size}")
    p.add_argument("--lr", type=positive_float, help=f"Adam learning rate (default {d.lr})")
    p.add_argument(
        "--train-size", type=positive_int, help=f"2-D training points (default {d.train_size})"
    )
    p.add_argument(
        "--test-size", type=positive_int, help=f"fresh 2-D test points (default {d.test_size})"
    )
    p.add_argument(
        "--grid", type=positive_int, help=f"grid points a side for the integral (default {d.grid})"
    )
    p.add_argument(
        "--eval-k",
        type=positive_int,
        help=f"dequantization draws per test image (default {d.eval_k})",
    )
    p.add_argument(
        "--test-images",
        type=positive_int,
        help="images: score N test images spread evenly over the split (all)",
    )
    p.add_argument("--data-dir", metavar="DIR", help="folder of the raw files (mnist28 …)")
    p.add_argument(
        "--eval-images",
        type=positive_int,
        help="the final evaluation on the first N validation (and training) images (all)",
    )
    add_training(p, d, out="runs/flow")
    p.set_defaults(func=_train)


def _train(args: argparse.Namespace) -> int:
    cfg = run_config(FlowRunConfig, args)
    m = run_flow(cfg, args.out, resume=args.resume, quiet=args.quiet)
    if m and not args.quiet:  # {} on the other processes of a torchrun run
        head = (
            f"{cfg.model.flow} flow on {cfg.data}: {m['updates']} updates in "
            f"{m['wall_seconds']:.1f} s"
        )
        if cfg.images:
            body = (
                f"test NLL ≤ {m['test_nll']:.2f} ± {m['test_nll_stderr']:.2f} nats/image "
                f"({m['test_nll_iw']:.2f} with K={m['eval_k']} draws)"
            )
        else:
            body = (
                f"test log-likelihood {m['test_log_likelihood']:.3f} ± "
                f"{m['test_log_likelihood_stderr']:.3f} nats/point; "
                f"density integral {m['density_integral']:.4f}"
            )
        print(f"{head}\n  {body}\n  report: {(Path(args.out) / 'report.html').resolve()}")
    return 0
