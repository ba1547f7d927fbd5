"""``deepgen game``: exact training dynamics of GDA-type methods on small games (SPEC §5)."""

from __future__ import annotations

import argparse
import math
from pathlib import Path

from deepgen.cli.common import nonnegative_int, positive_float, positive_int, print_json
from deepgen.gan.game_run import GameConfig, run_game
from deepgen.gan.games import DIRAC_VARIANTS, METHODS


def _momentum(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not (math.isfinite(value) and -1 < value < 1):
        raise argparse.ArgumentTypeError(f"must be in (-1, 1), got {text}")
    return value


def _nonnegative_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not (math.isfinite(value) and value >= 0):
        raise argparse.ArgumentTypeError(f"must be a finite number >= 0, got {text}")
    return value


def _numbers(text: str) -> list[float]:
    try:
        values = [float(t) for t in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected comma-separated numbers, got {text!r}"
        ) from None
    if not all(math.isfinite(v) for v in values):
        raise argparse.ArgumentTypeError(f"numbers must be finite, got {text!r}")
    return values


def _matrix(text: str) -> list[list[float]]:
    rows = [_numbers(r) for r in text.split(";")]
    if len({len(r) for r in rows}) != 1:
        raise argparse.ArgumentTypeError(f"rows of {text!r} have different lengths")
    return rows


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``game`` command."""
    p = subparsers.add_parser(
        "game",
        help="exact dynamics of GDA, extragradient, optimistic, momentum, consensus on games",
        description="For V(d, g) = d·g (or dᵀMg with --payoff, or the Dirac-GAN with --game "
        "dirac): the update matrix of a method, its eigenvalues and spectral radius, the "
        "stationary point, a simulated trajectory, and a verdict (converges / cycles / "
        "diverges) cross-checked against a long simulation. d maximises V, g minimises it.",
    )
    p.add_argument("--game", choices=("bilinear", "dirac"), default="bilinear")
    p.add_argument(
        "--method",
        choices=(*METHODS, "all"),
        default="simultaneous",
        help="update rule (default simultaneous; all = every method)",
    )
    p.add_argument("--lr", type=positive_float, default=0.1, help="step size α (default 0.1)")
    p.add_argument("--steps", type=positive_int, default=200, help="simulated steps (default 200)")
    p.add_argument("--start", type=_numbers, help="start d,g (default 1,1 for each entry)")
    p.add_argument(
        "--momentum",
        type=_momentum,
        default=-0.3,
        help="β of the momentum methods, negative allowed, |β| < 1 (default -0.3)",
    )
    p.add_argument(
        "--gamma",
        type=_nonnegative_float,
        default=1.0,
        help="weight γ of ½‖v‖² in consensus optimisation (default 1)",
    )
    p.add_argument(
        "--payoff", type=_matrix, metavar="M", help="bilinear payoff M, rows split by ';'"
    )
    p.add_argument(
        "--variant", choices=DIRAC_VARIANTS, help="Dirac-GAN kind (--game dirac; default plain)"
    )
    p.add_argument("--r1", type=positive_float, help="R1 weight γ of --variant r1 (default 1)")
    p.add_argument("--plot", metavar="FILE", help="draw every method's trajectory into FILE")
    p.add_argument("--out", metavar="DIR", help="also write DIR/metrics.json (and the plot)")
    p.add_argument("--seed", type=nonnegative_int, default=0, help="seed of the cross-check start")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=_run)


def _one_line(matrix: list[list[float]]) -> str:
    return "[" + "; ".join(", ".join(f"{v:.6g}" for v in row) for row in matrix) + "]"


def _summary(r: dict) -> str:
    eig = ", ".join(f"{re:.6g}{im:+.6g}i" for re, im in r["eigenvalues"])
    check = r["simulation_check"]
    agree = {True: "agrees", False: "DISAGREES", None: "inconclusive"}[check["agrees"]]
    lines = [
        f"{r['method']} (α = {r['lr']:g}) on {r['game']}",
        f"  update matrix on {r['state']}: {_one_line(r['matrix'])}",
        f"  eigenvalues: {eig}",
        f"  spectral radius: {r['spectral_radius']:.6g} → {r['verdict']}",
        f"  stationary point: {r['stationary_point']}"
        + (f" (+ span of {r['stationary_basis']})" if r["stationary_basis"] else ""),
        f"  ‖z_{r['steps']} − z*‖ = {r['final_norm']:.6g}",
        f"  simulation over {check['steps']} steps: {check['verdict']} ({agree})",
    ]
    return "\n".join(lines)


def _run(args: argparse.Namespace) -> int:
    cfg = GameConfig(
        game=args.game,
        method=args.method,
        lr=args.lr,
        steps=args.steps,
        start=None if args.start is None else tuple(args.start),
        momentum=args.momentum,
        gamma=args.gamma,
        payoff=None if args.payoff is None else tuple(map(tuple, args.payoff)),
        variant=args.variant,
        r1=args.r1,
        seed=args.seed,
    )
    out = run_game(cfg, out_dir=args.out, plot=args.plot)
    if args.json:
        print_json(out)
    else:
        rows = out.get("methods", [out])
        print("\n".join(_summary(r) for r in rows))
        if args.plot:
            print(f"plot: {Path(args.plot).resolve()}")
    return 0
