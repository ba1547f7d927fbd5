"""``deepgen sample``: draw samples from any checkpoint (vae, flow, pixelcnn, gan)."""

from __future__ import annotations

import argparse
from pathlib import Path

from deepgen.cli.common import nonnegative_int, positive_int, print_json
from deepgen.sampling import draw, write_samples


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``sample`` command."""
    p = subparsers.add_parser(
        "sample",
        help="draw samples from a trained model's checkpoint",
        description="Draw N samples from the model in a vae, flow, pixelcnn or gan checkpoint "
        "and write samples.png (an image grid, or a scatter for 2-D points), samples.pt (the "
        "samples as a float tensor [N, features]) and samples.json into --out.",
    )
    p.add_argument("--checkpoint", required=True, metavar="FILE", help="checkpoint.pt of a run")
    p.add_argument("--n", type=positive_int, default=64, help="samples (default 64)")
    p.add_argument("--out", required=True, metavar="DIR", help="output folder")
    p.add_argument("--seed", type=nonnegative_int, default=0, help="random seed (default 0)")
    p.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto")
    p.add_argument("--json", action="store_true", help="print samples.json's content")
    p.set_defaults(func=_sample)


def _sample(args: argparse.Namespace) -> int:
    samples = draw(args.checkpoint, args.n, args.seed, args.device)
    files = write_samples(samples, args.out, args.checkpoint)
    if args.json:
        print_json({"kind": samples.kind, "n": args.n, "files": [str(f) for f in files]})
    else:
        print(f"{args.n} {samples.kind} samples ({samples.what}): {Path(args.out).resolve()}")
    return 0
