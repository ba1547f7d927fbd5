"""``deepgen check``: verify every built-in transform against autograd, in float64."""

from __future__ import annotations

import argparse

import torch

from deepgen.cli.common import positive_int, print_json
from deepgen.flows.check import check_bijection
from deepgen.flows.registry import BUILTINS, ReluMap, randomize_parameters


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
    g = torch.Generator().manual_seed(args.seed)
    d = args.features + args.features % 2  # couplings of SPEC §3 need an even size
    rows = []
    for name, spec in BUILTINS.items():
        t = spec.build(d)
        randomize_parameters(t, g)
        x, y = spec.x(args.batch, d, g), spec.y(args.batch, d, g)
        c = torch.randn(args.batch, spec.context, generator=g, dtype=torch.float64)
        report = check_bijection(t, x, c if spec.context else None, spec.tol, name, y)
        rows.append({**report.to_dict(), "tolerance": spec.tol, "context": spec.context})
    relu = check_bijection(
        ReluMap(d),
        torch.randn(args.batch, d, generator=g, dtype=torch.float64),
        name="a*ReLU(b*z+c)",
    )
    result = {
        "features": d,
        "transforms": rows,
        "counterexamples": [{"name": relu.name, "ok": relu.ok, "message": relu.message}],
    }
    if args.json:
        print_json(result)
    else:
        for row in rows:
            mark = "ok  " if row["ok"] else "FAIL"
            print(
                f"{mark} {row['name']}: inverse error {row['max_inverse_error']:.2e}, "
                f"log-det error {row['max_logdet_error']:.2e} (tolerance {row['tolerance']:g})"
            )
        print(f"not a flow: {relu.name}: {relu.message}")
    return 0 if all(row["ok"] for row in rows) else 1
