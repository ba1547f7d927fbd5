"""``deepgen receptive-field``: which input pixels an output pixel of masked layers reads."""

from __future__ import annotations

import argparse
from pathlib import Path

from deepgen.autoregressive.masks import CONVENTIONS
from deepgen.autoregressive.receptive_field import (
    ORDER_TEXT,
    autograd_field,
    parse_masks,
    pixel_label,
    receptive_field,
)
from deepgen.cli.common import add_common, positive_int, print_json
from deepgen.errors import ConfigError
from deepgen.fileio import write_json


def _pixel(text: str) -> tuple[int, int]:
    parts = text.replace(" ", "").split(",")
    if len(parts) != 2:
        raise argparse.ArgumentTypeError(f"expected ROW,COLUMN (1-indexed), got {text!r}")
    try:
        return int(parts[0]), int(parts[1])
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected ROW,COLUMN (1-indexed), got {text!r}") from None


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``receptive-field`` command."""
    p = subparsers.add_parser(
        "receptive-field",
        help="the input pixels an output pixel of stacked masked convolutions reads",
        description="Compute the receptive field of one output pixel of a stack of masked "
        "convolutions (zero padding, same size), analytically by set propagation and checked by "
        "autograd in float64. Pixels are 1-indexed, labelled row then column (34 = row 3, "
        "column 4). Also reports the blind spot: preceding pixels within reach that are missed.",
    )
    p.add_argument(
        "--masks",
        type=str,
        default="A,B",
        help="mask type of each layer, input side first, e.g. A,B,B (default A,B)",
    )
    p.add_argument("--size", type=positive_int, default=5, help="image side (default 5)")
    p.add_argument(
        "--pixel", type=_pixel, default=(3, 4), help="output pixel ROW,COLUMN (default 3,4)"
    )
    p.add_argument("--kernel", type=int, default=3, help="odd kernel size k (default 3)")
    p.add_argument(
        "--convention",
        choices=CONVENTIONS,
        default="seed",
        help="seed = SPEC §4 (rows below, then left); pixelcnn = rows above (default seed)",
    )
    p.add_argument(
        "--gated",
        action="store_true",
        help="gated vertical + horizontal stacks; --masks then types the horizontal stack",
    )
    p.add_argument("--json", action="store_true", help="print one JSON object")
    add_common(p, out=None)
    p.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    masks = parse_masks(args.masks)
    if args.kernel < 1 or args.kernel % 2 == 0:
        raise ConfigError(
            f"--kernel must be odd and >= 1 (a masked kernel needs a centre), got {args.kernel}"
        )
    n = args.size
    rf = receptive_field(n, n, args.pixel, masks, args.kernel, args.convention, args.gated)
    checked = autograd_field(
        n, n, args.pixel, masks, args.kernel, args.convention, args.gated, seed=args.seed
    )
    result = {**rf.to_dict(), "autograd_agrees": checked == rf.field}
    if args.out is not None:
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        write_json(out / "metrics.json", result)
    if args.json:
        print_json(result)
    else:
        stacks = "gated stacks" if args.gated else "masked convolutions"
        target = pixel_label(rf.pixel, n, n)
        print(
            f"receptive field of output pixel {target} (row {rf.pixel[0]}, column "
            f"{rf.pixel[1]}): {len(masks)} layers of {args.kernel}×{args.kernel} {stacks}, "
            f"masks {','.join(masks)} (input side first), {args.convention} convention, "
            f"{n}×{n} image"
        )
        print(rf.grid())
        print(
            "[ij] in the field, (ij) the output pixel outside its own field, {ij} inside it, "
            "ij! blind spot"
        )
        print(f"order: {ORDER_TEXT[args.convention]}")
        print(f"field ({len(rf.field)} pixels): {' '.join(result['field']) or 'none'}")
        print(f"includes itself: {'yes' if rf.includes_self else 'no'}")
        print(f"blind spot: {' '.join(result['blind_spot']) or 'none'}")
        print(f"autograd check (float64): {'agrees' if result['autograd_agrees'] else 'DIFFERS'}")
    return 0 if result["autograd_agrees"] else 1
