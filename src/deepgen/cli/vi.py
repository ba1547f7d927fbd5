"""``deepgen vi``: mean-field inference on a discrete model, against the exact answer."""

from __future__ import annotations

import argparse
import math
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from deepgen.cli.common import add_common, positive_float, positive_int, print_json
from deepgen.errors import ConfigError, DataError
from deepgen.fileio import write_json
from deepgen.train import resolve_device
from deepgen.vi.discrete import MAX_ENUMERATION_N, EnergyModel, TableEnergy, enumerate_exact
from deepgen.vi.examples import ising_model, seed_closed_form, seed_model
from deepgen.vi.meanfield import FAMILIES, METHODS, mean_field, parse_clamp


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


def _load_table(path: str, device: torch.device) -> TableEnergy:
    file = Path(path)
    if not file.is_file():
        raise FileNotFoundError(2, "No such file", path)
    try:
        values = np.load(file) if file.suffix == ".npy" else np.loadtxt(file, ndmin=1)
    except ValueError as exc:
        raise DataError(f"{path}: not a table of numbers ({exc})") from None
    return TableEnergy(torch.as_tensor(np.asarray(values, dtype=np.float64)), device)


def _model(args: argparse.Namespace, device: torch.device) -> tuple[EnergyModel, str]:
    if args.table:
        return _load_table(args.table, device), f"table {args.table}"
    if args.example == "seed":
        return seed_model(args.n, device), "seed: p(w) ∝ 1 - prod_i w_i"
    return (
        ising_model(args.size, args.coupling, args.field, device),
        f"ising {args.size}x{args.size}, K={args.coupling}, H={args.field}",
    )


def _vi(args: argparse.Namespace) -> int:
    torch.set_num_threads(1)
    device = resolve_device(args.device)
    model, name = _model(args, device)
    clamp = parse_clamp(args.clamp, model.n)
    if clamp and args.family == "Q2":
        raise ConfigError("--clamp applies to --family Q1; Q2 has one shared factor")
    t0 = time.perf_counter()
    res = mean_field(
        model,
        args.family,
        args.method,
        args.beta,
        clamp,
        args.init,
        args.seed,
        args.max_iter,
        args.tol,
    )
    seconds = time.perf_counter() - t0
    exact = model.n <= MAX_ENUMERATION_N
    result: dict[str, Any] = {
        "model": name,
        "n": model.n,
        "family": args.family,
        "method": args.method,
        "beta": args.beta,
        "clamp": {f"w{i + 1}": v for i, v in sorted(clamp.items())},
        "q_star": res.q.tolist(),
        "free_energy": res.free_energy,
        "kl": None,
        "log_z": None,
        "p_marginals": None,
        "iterations": res.iterations,
        "converged": res.converged,
        "face": res.face,
        "seconds": seconds,
    }
    if exact:
        t1 = time.perf_counter()
        ex = enumerate_exact(model, args.beta)
        result.update(
            kl=res.kl(ex.log_z),
            log_z=ex.log_z,
            p_marginals=ex.marginals.cpu().tolist(),
            mean_energy=ex.mean_energy,
            enumeration_seconds=time.perf_counter() - t1,
        )
    if args.example == "seed" and (args.family == "Q2" or clamp == {0: 0}):
        result["closed_form"] = seed_closed_form(model.n, args.family)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    write_json(out / "metrics.json", result)
    _plot(result, out / "marginals.png")
    if args.json:
        print_json(result)
    elif not args.quiet:
        bound = (
            ""
            if result["log_z"] is None
            else (f"; log Z = {result['log_z']:.6f}, KL(q*‖p) = {result['kl']:.6f}")
        )
        print(
            f"{name}, beta={args.beta}: {args.family} by {args.method}, F(q*) = "
            f"{res.free_energy:.6f}{bound}\n  q* = "
            + ", ".join(f"{v:.4f}" for v in result["q_star"][:12])
            + (" …" if model.n > 12 else "")
            + f"\n  files: {out.resolve()}"
        )
    return 0


def _plot(result: dict[str, Any], path: Path) -> None:
    from matplotlib.figure import Figure

    n = result["n"]
    x = np.arange(1, n + 1)
    fig = Figure(figsize=(max(5.0, 0.35 * n + 2), 3.4))
    ax = fig.subplots()
    width = 0.4 if result["p_marginals"] is not None else 0.8
    ax.bar(
        x - (width / 2 if result["p_marginals"] else 0),
        result["q_star"],
        width,
        label=f"q* ({result['family']}, {result['method']})",
        color="tab:blue",
    )
    if result["p_marginals"] is not None:
        ax.bar(x + width / 2, result["p_marginals"], width, label="p (exact)", color="tab:orange")
    ax.set_xlabel("variable i")
    ax.set_ylabel("P(w_i = 1)")
    ax.set_ylim(0, 1)
    ax.legend(loc="best", fontsize=8)
    kl = result["kl"]
    ax.set_title(
        "mean-field marginals vs exact"
        + (f"  (KL = {kl:.4g})" if kl is not None else "  (N too large for exact)")
    )
    fig.savefig(path, dpi=100, bbox_inches="tight")
