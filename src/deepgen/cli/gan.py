"""``deepgen gan``: train an MLP GAN on ring8, grid25 or mnist14 and score it offline."""

from __future__ import annotations

import argparse
from pathlib import Path

from deepgen.cli.common import (
    add_training,
    positive_float,
    positive_int,
    print_json,
    run_config,
)
from deepgen.gan.conv import MINIBATCH_GROUP, ConvGANConfig
from deepgen.gan.experiment import (
    ARCHS,
    DATA_DEFAULTS,
    GAN_DATA,
    IMAGE_DATA,
    STRAIGHT_THROUGH,
    GANRunConfig,
    config_for,
    run_gan,
)
from deepgen.gan.losses import LOSSES


def _unit_interval(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not 0 <= value < 1:
        raise argparse.ArgumentTypeError(f"must be in [0, 1), got {text}")
    return value


def _nonnegative(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not value >= 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"must be a finite number >= 0, got {text}")
    return value


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``gan`` command."""
    p = subparsers.add_parser(
        "gan",
        help="train a GAN (ring8, grid25, mnist14, binarized-mnist) and score it with no "
        "downloaded weights",
        description="Train an MLP GAN with the deepgen trainer (checkpoints, --resume) and write "
        "samples.png, losses.png, metrics_curve.png, report.html, metrics.json and config.json "
        "into --out. Mixtures are scored by modes covered and the fraction of samples within "
        "3σ of a mode; mnist14 by a deepgen-trained classifier's Fréchet distance and class "
        "histogram, next to real held-out images scored the same way.",
    )
    d = GANRunConfig()
    p.add_argument("--data", choices=GAN_DATA, help=f"data (default {d.data})")
    p.add_argument("--data-dir", metavar="DIR", help="binarized-mnist: its .amat.gz files")
    p.add_argument(
        "--classifier-dir",
        metavar="DIR",
        help="binarized-mnist: labelled MNIST IDX files for the scoring classifier (default: "
        "the mnist folder beside --data-dir)",
    )
    p.add_argument(
        "--arch",
        choices=ARCHS,
        help="mlp, or dcgan (convolutional, images) (default mlp; binarized-mnist dcgan)",
    )
    p.add_argument(
        "--width", type=positive_int, help=f"dcgan channel unit (default {ConvGANConfig().width})"
    )
    p.add_argument(
        "--d-depth",
        type=positive_int,
        help="dcgan: the discriminator's convolutions at each of its two resolutions, the first "
        f"4×4 stride 2, the others 3×3 (default {ConvGANConfig().d_depth})",
    )
    p.add_argument("--loss", choices=LOSSES, help=f"objective (default {d.loss})")
    p.add_argument(
        "--steps",
        type=positive_int,
        help=f"generator updates (default {d.steps}; mnist14 {DATA_DEFAULTS['mnist14']['steps']})",
    )
    p.add_argument("--batch-size", type=positive_int, help=f"minibatch (default {d.batch_size})")
    p.add_argument("--lr-g", type=positive_float, help=f"generator Adam lr (default {d.lr_g})")
    p.add_argument("--lr-d", type=positive_float, help=f"critic Adam lr (default {d.lr_d})")
    p.add_argument("--beta1", type=_unit_interval, help=f"Adam β₁ (default {d.beta1})")
    p.add_argument("--beta2", type=_unit_interval, help=f"Adam β₂ (default {d.beta2})")
    m = d.model
    p.add_argument("--z-dim", type=positive_int, help=f"noise size (default {m.z_dim})")
    p.add_argument("--hidden", type=positive_int, help=f"mlp: hidden units (default {m.hidden})")
    p.add_argument("--layers", type=positive_int, help=f"mlp: hidden layers (default {m.layers})")
    p.add_argument(
        "--d-hidden", type=positive_int, help="mlp: discriminator's hidden units (--hidden)"
    )
    p.add_argument(
        "--d-layers", type=positive_int, help="mlp: discriminator's hidden layers (--layers)"
    )
    p.add_argument(
        "--d-steps", type=positive_int, help=f"critic updates per step (default {d.d_steps})"
    )
    p.add_argument(
        "--r1", type=_nonnegative, metavar="GAMMA", help="R1 penalty weight γ (default 0: off)"
    )
    p.add_argument("--gp", type=_nonnegative, help=f"WGAN-GP weight λ (default {d.gp})")
    p.add_argument(
        "--straight-through",
        choices=STRAIGHT_THROUGH,
        help="images: the gradient of a binary sample b ~ Bernoulli(σ(ℓ)) goes to p (then "
        "through the sigmoid, vanishing where it saturates) or to the logit ℓ directly "
        f"(default {d.straight_through})",
    )
    p.add_argument(
        "--boundary-seeking",
        type=int,
        metavar="M",
        help="images: train the generator by the boundary-seeking loss for binary data (Hjelm "
        "et al. 2018): M samples of each noise draw, their log-likelihood weighted by "
        "softmax D(x); no gradient through the samples; M >= 2, ns or minimax loss "
        f"(default {d.boundary_seeking}: off, straight-through)",
    )
    p.add_argument(
        "--spectral-norm",
        action=argparse.BooleanOptionalAction,
        help="spectrally normalise the discriminator's layers (default off; binarized-mnist on)",
    )
    p.add_argument(
        "--minibatch-std",
        action=argparse.BooleanOptionalAction,
        help="dcgan: give the discriminator the features' standard deviation over each group "
        f"of {MINIBATCH_GROUP} images (the batch must be a multiple of {MINIBATCH_GROUP}) "
        "(default off)",
    )
    p.add_argument(
        "--ema",
        type=_unit_interval,
        metavar="DECAY",
        help=f"generator moving-average decay, 0 = off (default {d.ema})",
    )
    p.add_argument(
        "--eval-samples",
        type=positive_int,
        help="samples scored at the end, against as many real validation images (default 10000; "
        "mnist14 1000, the size of its validation split)",
    )
    p.add_argument(
        "--classifier-epochs",
        type=positive_int,
        help=f"epochs of the mnist14 scoring classifier (default {d.classifier_epochs})",
    )
    add_training(p, d, out="runs/gan")
    p.add_argument("--json", action="store_true", help="print metrics.json as one JSON object")
    p.set_defaults(func=_train)


def _train(args: argparse.Namespace) -> int:
    cfg = run_config(GANRunConfig, args, fresh=config_for)
    metrics = run_gan(cfg, args.out, resume=args.resume, quiet=args.quiet or args.json)
    if not metrics:  # the other processes of a torchrun run
        return 0
    if args.json:
        print_json(metrics)
        return 0
    if args.quiet:
        return 0
    head = (
        f"GAN ({cfg.loss}) on {cfg.data}: {metrics['updates']} steps in "
        f"{metrics['wall_seconds']:.1f} s ({metrics['updates_per_second']:.0f} steps/s)"
    )
    lines = [head]
    for suffix, name in (("", "generator"), ("_ema", "EMA generator")):
        if cfg.data in IMAGE_DATA and f"fid{suffix}" in metrics:
            lines.append(
                f"  {name}: classifier Fréchet distance {metrics[f'fid{suffix}']:.3f}, "
                f"class KL to uniform {metrics[f'class_kl{suffix}']:.4f}, "
                f"saturated pixels {metrics[f'saturated{suffix}']:.1%}"
            )
        elif f"modes_covered{suffix}" in metrics:
            lines.append(
                f"  {name}: {metrics[f'modes_covered{suffix}']}/{metrics['modes_covered_real']} "
                f"modes, high-quality fraction {metrics[f'high_quality_fraction{suffix}']:.3f}"
            )
    if cfg.data in IMAGE_DATA:
        lines.append(
            f"  {metrics['real_val_images']} real validation images: Fréchet distance "
            f"{metrics['fid_real_val']:.3f}, "
            f"class KL {metrics['class_kl_real_val']:.4f}; classifier test accuracy "
            f"{metrics['classifier_test_accuracy']:.3f}"
        )
    else:
        lines.append(
            f"  real samples: high-quality fraction {metrics['high_quality_fraction_real']:.3f}"
        )
    lines.append(f"  report: {(Path(args.out) / 'report.html').resolve()}")
    print("\n".join(lines))
    return 0
