"""``deepgen vi``: mean-field inference on a discrete model, against the exact answer."""

from __future__ import annotations

import argparse
import math
from pathlib import Path

from deepgen.cli.common import add_common, positive_float, positive_int, print_json
from deepgen.vi.discrete import MAX_ENUMERATION_N
from deepgen.vi.meanfield import FAMILIES, METHODS
from deepgen.vi.run import VIConfig, run_vi


def finite_float(text: str) -> float:
    """argparse type: any finite number."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"must be a finite number, got {text}")
    return value


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``vi`` command."""
    p = subparsers.add_parser(
        "vi",
        help="mean-field inference on a discrete model, compared with exact enumeration",
        description="Find the best product distribution q in a mean-field family (Q1: a factor "
        "per variable; Q2: one shared factor) for p(w) = exp(-beta Phi(w))/Z on {0,1}^N, and "
        "compare it with the exact log Z and marginals (enumeration, N <= "
        f"{MAX_ENUMERATION_N}). Writes metrics.json and marginals.png into --out.",
    )
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument(
        "--example",
        choices=("seed", "ising"),
        help="seed: p(w) ∝ 1 - prod_i w_i (SPEC §6); ising: an L x L grid of spins",
    )
    src.add_argument(
        "--table",
        metavar="FILE",
        help="energies Phi of all 2^N configurations (.npy, or text with one number per "
        "entry; 'inf' = probability 0), in itertools.product((0, 1), repeat=N) order",
    )
    p.add_argument("--n", type=positive_int, default=10, help="variables of --example seed")
    p.add_argument("--size", type=positive_int, default=3, help="grid side L of --example ising")
    p.add_argument("--coupling", type=finite_float, default=1.0, help="Ising K (default 1)")
    p.add_argument("--field", type=finite_float, default=0.0, help="Ising H (default 0)")
    p.add_argument("--beta", type=finite_float, default=1.0, help="inverse temperature (1)")
    p.add_argument("--family", choices=FAMILIES, default="Q1", help="default Q1")
    p.add_argument("--method", choices=METHODS, default="cavi", help="default cavi")
    p.add_argument(
        "--clamp",
        action="append",
        default=[],
        metavar="wI=V",
        help="fix a Q1 factor: w1=0 means q_1(w_1) = 1 - w_1 (repeatable)",
    )
    p.add_argument("--init", choices=("random", "uniform"), default="random")
    p.add_argument("--max-iter", type=positive_int, help="sweeps (cavi) or steps (gradient)")
    p.add_argument("--tol", type=positive_float, help="convergence tolerance")
    add_common(p, out="runs/vi")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--quiet", action="store_true", help="print nothing (files only)")
    p.set_defaults(func=_vi)


def _vi(args: argparse.Namespace) -> int:
    cfg = VIConfig(
        example=args.example,
        table=args.table,
        n=args.n,
        size=args.size,
        coupling=args.coupling,
        field=args.field,
        beta=args.beta,
        family=args.family,
        method=args.method,
        clamp=tuple(args.clamp),
        init=args.init,
        seed=args.seed,
        max_iter=args.max_iter,
        tol=args.tol,
        device=args.device,
    )
    result = run_vi(cfg, args.out)
    if args.json:
        print_json(result)
    elif not args.quiet:
        bound = (
            ""
            if result["log_z"] is None
            else (f"; log Z = {result['log_z']:.6f}, KL(q*‖p) = {result['kl']:.6f}")
        )
        print(
            f"{result['model']}, beta={args.beta}: {args.family} by {args.method}, F(q*) = "
            f"{result['free_energy']:.6f}{bound}\n  q* = "
            + ", ".join(f"{v:.4f}" for v in result["q_star"][:12])
            + (" …" if result["n"] > 12 else "")
            + f"\n  files: {Path(args.out).resolve()}"
        )
    return 0
