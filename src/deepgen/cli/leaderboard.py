"""``deepgen leaderboard``: every family, one data set, one budget, one table."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from deepgen.cli.common import nonnegative_int, positive_float, positive_int, print_json
from deepgen.data import DATASETS
from deepgen.errors import ConfigError
from deepgen.leaderboard import FAMILIES, LeaderboardConfig, run_leaderboard


def _families(text: str) -> tuple[str, ...]:
    return tuple(f.strip() for f in text.split(",") if f.strip())


def _checkpoint(text: str) -> tuple[str, str]:
    family, sep, path = text.partition("=")
    if not sep or family not in FAMILIES or not path:
        raise argparse.ArgumentTypeError(
            f"expected FAMILY=FILE with FAMILY one of {', '.join(FAMILIES)}, got {text!r}"
        )
    return family, path


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``leaderboard`` command."""
    d = LeaderboardConfig(minutes=1.0)
    p = subparsers.add_parser(
        "leaderboard",
        help="train every family for the same budget and score them on the same test images",
        description="Train each family (a real run in DIR/FAMILY) for the same budget, score "
        "all of them on the same test images in nats per image (exact, estimate or upper "
        "bound, said per row) beside the published figures, and write leaderboard.json, "
        "leaderboard.md and report.html into --out.",
    )
    p.add_argument("--data", choices=DATASETS, default=d.data, help=f"default {d.data}")
    p.add_argument("--data-dir", metavar="DIR", help="folder of the raw files")
    p.add_argument(
        "--families",
        type=_families,
        default=FAMILIES,
        help=f"comma-separated, from {','.join(FAMILIES)} (default all)",
    )
    budget = p.add_mutually_exclusive_group()
    budget.add_argument("--minutes", type=positive_float, help="wall-clock minutes per family")
    budget.add_argument(
        "--epochs", type=positive_float, help="epochs per family (reproduces on any machine)"
    )
    p.add_argument(
        "--test-images",
        type=positive_int,
        help="score N test images spread evenly over the split (all 10,000)",
    )
    p.add_argument(
        "--eval-k",
        type=positive_int,
        help=f"importance samples per test image for the latent-variable models, vae and iwae "
        f"({d.eval_k})",
    )
    p.add_argument(
        "--classifier-epochs",
        type=positive_int,
        help=f"epochs of the GAN's scoring classifier (gan) (default {d.classifier_epochs})",
    )
    p.add_argument(
        "--checkpoint",
        action="append",
        type=_checkpoint,
        default=[],
        metavar="FAMILY=FILE",
        help="score this trained checkpoint for FAMILY instead of training it (repeatable)",
    )
    p.add_argument("--out", default="runs/leaderboard", metavar="DIR")
    p.add_argument("--seed", type=nonnegative_int, default=d.seed)
    p.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto")
    p.add_argument("--threads", type=positive_int, default=1, help="CPU threads (default 1)")
    p.add_argument(
        "--resume",
        action="store_true",
        help="continue a leaderboard stopped in --out (same flags): finished families keep "
        "their rows, the interrupted one resumes for what is left of its budget",
    )
    p.add_argument("--json", action="store_true", help="print the rows as one JSON object")
    p.add_argument("--quiet", action="store_true", help="no progress bars, no summary")
    p.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    for flag, value, needs in (
        ("--eval-k", args.eval_k, ("vae", "iwae")),
        ("--classifier-epochs", args.classifier_epochs, ("gan",)),
    ):
        if value is not None and not set(needs) & set(args.families):
            raise ConfigError(f"{flag} is for {' and '.join(needs)}, which --families leaves out")
    defaults = LeaderboardConfig(minutes=1.0)  # for the fields' defaults
    cfg = LeaderboardConfig(
        data=args.data,
        data_dir=args.data_dir,
        families=args.families,
        minutes=args.minutes,
        epochs=args.epochs,
        test_images=args.test_images,
        eval_k=args.eval_k or defaults.eval_k,
        classifier_epochs=args.classifier_epochs or defaults.classifier_epochs,
        checkpoints=tuple(args.checkpoint),
        seed=args.seed,
        device=args.device,
        threads=args.threads,
    )
    quiet = args.quiet or args.json

    loaded = dict(cfg.checkpoints)

    def announce(family: str) -> None:
        if not quiet:
            what = f"scoring {loaded[family]}" if family in loaded else "training"
            print(f"leaderboard: {family}: {what}", file=sys.stderr)

    result = run_leaderboard(cfg, args.out, quiet=quiet, on_family=announce, resume=args.resume)
    if args.json:
        print_json({"rows": result["rows"]})
    elif not args.quiet:
        print((Path(args.out) / "leaderboard.md").read_text(), end="")
        print(f"report: {(Path(args.out) / 'report.html').resolve()}")
    if not result["rows"]:  # pragma: no cover - the config refuses an empty list
        raise ConfigError("no family was trained")
    return 0
