"""``deepgen check``: verify every built-in transform against autograd, in float64."""

from __future__ import annotations

import argparse

from deepgen.cli.common import positive_int, print_json
from deepgen.flows.registry import check_builtins


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``check`` command."""
    p = subparsers.add_parser(
        "check",
        help="verify every built-in transform: inverse and log|det J| against autograd",
        description="Build every built-in transform with random parameters in float64 and check "
        "x -> y -> x and y -> x -> y (also at the edges of bounded domains) and log|det J| "
        "against torch.autograd's Jacobian; conditional ones with a random context. Exits 1 when "
        "any transform fails. Also shows that g(z) = a·ReLU(bz + c) is not a bijection.",
    )
    p.add_argument("--features", type=positive_int, default=4, help="dimension (default 4)")
    p.add_argument("--batch", type=positive_int, default=8, help="points checked (default 8)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=_check)


def _check(args: argparse.Namespace) -> int:
    result = check_builtins(args.features, args.batch, args.seed)
    if args.json:
        print_json({k: v for k, v in result.items() if k != "ok"})
    else:
        for row in result["transforms"]:
            mark = "ok  " if row["ok"] else "FAIL"
            print(
                f"{mark} {row['name']}: inverse error {row['max_inverse_error']:.2e}, "
                f"log-det error {row['max_logdet_error']:.2e} (tolerance {row['tolerance']:g})"
            )
        relu = result["counterexamples"][0]
        print(f"not a flow: {relu['name']}: {relu['message']}")
    return 0 if result["ok"] else 1
