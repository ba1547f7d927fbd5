"""``deepgen vae``: train the SPEC §1 VAE; ``deepgen vae eval``: estimate log p(x);
``deepgen vae gap``: the approximation and amortization gaps of a trained VAE."""

from __future__ import annotations

import argparse
from pathlib import Path

from deepgen.cli.common import (
    add_common,
    add_training,
    nonnegative_float,
    positive_float,
    positive_int,
    print_json,
    run_config,
)
from deepgen.data import DATASETS
from deepgen.errors import ConfigError
from deepgen.train.schedules import SCHEDULES
from deepgen.vae.amortization import GapConfig, run_gap
from deepgen.vae.experiment import VAERunConfig, evaluate_checkpoint, run_vae
from deepgen.vae.model import ARCHS, DEFAULT_FLOWS, ESTIMATORS, OBJECTIVES, POSTERIORS, PRIORS


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``vae`` command and its ``eval`` sub-command."""
    p = subparsers.add_parser(
        "vae",
        help="train the VAE of SPEC §1 (the main job) and write its report",
        description="Train the Kingma & Welling VAE on binarized MNIST 14×14 and write the "
        "four plots, report.html, metrics.json, config.json and checkpoint.pt into --out.",
    )
    d = VAERunConfig()
    # Defaults are None so that --resume can tell which flags were given.
    p.add_argument(
        "--steps",
        "--updates",
        dest="steps",
        type=positive_int,
        help=f"weight updates (default {d.steps})",
    )
    p.add_argument(
        "--batch-size", type=positive_int, help=f"minibatch size (default {d.batch_size})"
    )
    p.add_argument("--lr", type=positive_float, help=f"Adam learning rate (default {d.lr})")
    p.add_argument(
        "--samples",
        type=positive_int,
        help=f"L (ELBO) or K (IWAE) samples (default {d.model.samples})",
    )
    p.add_argument(
        "--objective",
        choices=OBJECTIVES,
        help="elbo (β-ELBO with --beta), iwae, miwae/piwae (with --groups), ciwae (with --beta); "
        "default elbo",
    )
    p.add_argument(
        "--posterior",
        choices=POSTERIORS,
        help="q(z|x): gaussian, or a Gaussian followed by --flows iaf or planar layers "
        "(default gaussian)",
    )
    p.add_argument(
        "--flows",
        type=positive_int,
        help=f"layers of a flow posterior (default {DEFAULT_FLOWS['iaf']} iaf, "
        f"{DEFAULT_FLOWS['planar']} planar)",
    )
    p.add_argument(
        "--prior",
        choices=PRIORS,
        help="p(z): normal N(0, I), vamp (VampPrior), flow (a MAF) (default normal)",
    )
    p.add_argument(
        "--pseudo-inputs", type=positive_int, help="VampPrior pseudo-inputs (default 100)"
    )
    p.add_argument("--prior-flows", type=positive_int, help="layers of a flow prior (default 4)")
    p.add_argument(
        "--groups",
        type=positive_int,
        help="M for miwae/piwae: --samples split into M groups (M divides --samples)",
    )
    p.add_argument(
        "--beta",
        type=nonnegative_float,
        help="β of the β-ELBO (elbo, default 1) or of ciwae (required, in [0, 1])",
    )
    p.add_argument(
        "--estimator",
        choices=ESTIMATORS,
        help="encoder gradient: reparam, or dreg (doubly reparameterized, with iwae and a "
        "gaussian posterior) (default reparam)",
    )
    p.add_argument("--hidden", type=positive_int, help=f"hidden units (default {d.model.hidden})")
    p.add_argument("--z-dim", type=positive_int, help=f"latent size (default {d.model.z_dim})")
    p.add_argument(
        "--depth", type=positive_int, help=f"hidden layers per network (default {d.model.depth})"
    )
    p.add_argument(
        "--z2-dim", type=positive_int, help="size of a second stochastic layer above z (none)"
    )
    p.add_argument(
        "--hidden2", type=positive_int, help="hidden units between z and z2 (default --hidden)"
    )
    p.add_argument(
        "--arch",
        choices=ARCHS,
        help="mlp, or conv: convolutional encoder and decoder (28×28 images) (default mlp)",
    )
    p.add_argument(
        "--channels", type=positive_int, help=f"conv: first layer's channels ({d.model.channels})"
    )
    p.add_argument(
        "--schedule",
        choices=SCHEDULES,
        help="learning rate: constant, or burda (3^i epochs at lr·10^(−i/7), i = 0..7, "
        "Adam ε = 1e-4; Burda et al. 2016) (default constant)",
    )
    p.add_argument("--data", choices=DATASETS, help=f"data set (default {d.data})")
    p.add_argument(
        "--data-dir", metavar="DIR", help="folder of the raw files (mnist28, binarized-mnist)"
    )
    p.add_argument(
        "--val-images",
        type=positive_int,
        help=f"held-out images per validation (default {d.val_images})",
    )
    p.add_argument(
        "--eval-k",
        type=positive_int,
        help=f"importance samples for the final log p(x) estimate (default {d.eval_k})",
    )
    p.add_argument(
        "--eval-images",
        type=positive_int,
        help="the final evaluation on the first N validation (and training) images (all)",
    )
    add_training(p, d, out="runs/vae")
    p.set_defaults(func=_train)

    sub = p.add_subparsers(dest="vae_command", metavar="{eval,gap}")
    e = sub.add_parser(
        "eval",
        help="importance-sampled log p(x) of a trained VAE",
        description="Estimate log p(x) = log E_q[p(x, z)/q(z|x)] with K importance samples per "
        "image on a split, with its standard error.",
    )
    e.add_argument("--checkpoint", required=True, metavar="FILE", help="checkpoint.pt of a run")
    e.add_argument("--k", type=positive_int, default=5000, help="samples per image (default 5000)")
    e.add_argument("--split", choices=("train", "val", "test"), default="test")
    which = e.add_mutually_exclusive_group()
    which.add_argument("--limit", type=positive_int, help="only the first N images of the split")
    which.add_argument(
        "--spread",
        type=positive_int,
        metavar="N",
        help="N images spread evenly over the split (as deepgen leaderboard --test-images)",
    )
    e.add_argument("--data-dir", metavar="DIR", help="folder of the raw files, if the run used one")
    e.add_argument("--seed", type=int, default=0)
    e.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto")
    e.add_argument("--threads", type=positive_int, default=1, help="CPU threads (default 1)")
    e.add_argument("--json", action="store_true", help="print one JSON object")
    e.set_defaults(func=_eval)
    _register_gap(sub)


def _register_gap(sub: argparse._SubParsersAction) -> None:
    g = GapConfig()
    p = sub.add_parser(
        "gap",
        help="approximation and amortization gaps of a trained VAE",
        description="For each of the first --n images: optimise a Gaussian q* per image from the "
        "encoder's output, estimate log p(x) by importance sampling (--k samples), and report "
        "the approximation gap log p(x) - L[q*] and the amortization gap L[q*] - L[q_phi], with "
        "the time and memory of both kinds of inference. Writes metrics.json, gaps.png and "
        "report.html into --out.",
    )
    p.add_argument("--checkpoint", required=True, metavar="FILE", help="checkpoint.pt of a run")
    p.add_argument("--n", type=positive_int, default=g.n, help=f"images (default {g.n})")
    p.add_argument("--split", choices=("train", "val", "test"), default=g.split)
    p.add_argument("--k", type=positive_int, default=g.k, help=f"importance samples ({g.k})")
    p.add_argument(
        "--steps", type=positive_int, default=g.steps, help=f"Adam steps per image ({g.steps})"
    )
    p.add_argument("--lr", type=positive_float, default=g.lr, help=f"Adam step size ({g.lr})")
    p.add_argument(
        "--opt-samples",
        type=positive_int,
        default=g.opt_samples,
        help=f"reparameterized samples per optimisation step ({g.opt_samples})",
    )
    p.add_argument(
        "--eval-samples",
        type=positive_int,
        default=g.eval_samples,
        help=f"samples of the ELBO estimator for L[q*] and L[q_phi] ({g.eval_samples})",
    )
    p.add_argument("--data-dir", metavar="DIR", help="folder of the raw files, if the run used one")
    add_common(p, out="runs/vae_gap")
    p.add_argument("--threads", type=positive_int, default=1, help="CPU threads (default 1)")
    p.add_argument("--json", action="store_true", help="print the means as one JSON object")
    p.add_argument("--quiet", action="store_true", help="print nothing")
    p.set_defaults(func=_gap)


def _train(args: argparse.Namespace) -> int:
    if args.vae_command is not None:  # pragma: no cover - argparse routes sub-commands itself
        raise ConfigError(f"unknown vae command {args.vae_command}")
    cfg = run_config(VAERunConfig, args)
    metrics = run_vae(cfg, args.out, resume=args.resume, quiet=args.quiet)
    if metrics and not args.quiet:  # {} on the other processes of a torchrun run
        out = Path(args.out)
        print(
            f"VAE on {cfg.data}: {metrics['updates']} updates in {metrics['wall_seconds']:.1f} s "
            f"({metrics['updates_per_second']:.0f} updates/s)\n"
            f"  validation ELBO {metrics['val_elbo']:.2f} nats/image "
            f"(rec {metrics['val_rec']:.2f}, KL {metrics['val_kl']:.2f}); "
            f"log p(x) ≈ {metrics['val_loglik_iwae']:.2f} ± {metrics['val_loglik_iwae_stderr']:.2f}"
            f" (K={metrics['iwae_k']})\n"
            f"  report: {(out / 'report.html').resolve()}"
        )
    return 0


def _eval(args: argparse.Namespace) -> int:
    result = evaluate_checkpoint(
        args.checkpoint,
        k=args.k,
        split=args.split,
        device=args.device,
        data_dir=args.data_dir,
        seed=args.seed,
        limit=args.limit,
        threads=args.threads,
        spread_over=args.spread,
    )
    if args.json:
        print_json(result)
    else:
        print(
            f"log p(x) on {result['data']} {result['split']} ({result['images']} images, "
            f"K={result['k']}): {result['log_px']:.3f} ± {result['stderr']:.3f} nats/image "
            f"(standard error across images; mean Monte Carlo s.e. {result['mc_stderr']:.3f}); "
            f"ELBO {result['elbo']:.3f}"
        )
    return 0


def _gap(args: argparse.Namespace) -> int:
    cfg = GapConfig(
        n=args.n,
        split=args.split,
        k=args.k,
        steps=args.steps,
        lr=args.lr,
        opt_samples=args.opt_samples,
        eval_samples=args.eval_samples,
        seed=args.seed,
        device=args.device,
        threads=args.threads,
    )
    m = run_gap(args.checkpoint, args.out, cfg, data_dir=args.data_dir, progress=not args.quiet)
    summary = {
        "images": m["images"],
        **m["mean"],
        "optimal_below_amortized": m["optimal_below_amortized"],
        **m["time"],
        "out": str(Path(args.out)),
    }
    if args.json:
        print_json(summary)
    elif not args.quiet:
        mean, t = m["mean"], m["time"]
        print(
            f"{m['images']} {m['data']} {cfg.split} images, K={cfg.k}: log p(x) ≈ "
            f"{mean['log_px']:.3f}, L[q*] = {mean['elbo_optimal']:.3f}, "
            f"L[q_phi] = {mean['elbo_amortized']:.3f} nats/image\n"
            f"  approximation gap {mean['approximation_gap']:.3f}, amortization gap "
            f"{mean['amortization_gap']:.3f}, inference gap {mean['inference_gap']:.3f}\n"
            f"  inference time: amortized {t['amortized_seconds'] * 1e3:.2f} ms, "
            f"per-datapoint {t['per_datapoint_seconds']:.2f} s "
            f"({t['per_datapoint_over_amortized']:.0f}x)\n"
            f"  report: {(Path(args.out) / 'report.html').resolve()}"
        )
    return 0
