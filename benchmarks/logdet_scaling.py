"""Cost of log|det J| against the dimension K for SPEC §2's three affine maps of N(0, I).

* ``diagonal``: g(z) = μ + σ ∘ z. log|det J| = Σ log|σ_i|, computed from the scale vector of a
  deepgen ``ElementwiseAffine`` (σ = exp(log_scale)): O(K).
* ``triangular``: g(z) = μ + L z, L lower-triangular. log|det J| = Σ log|L_ii|, read off the
  K × K matrix of a deepgen ``LowerTriangularLinear`` (``matrix()``): O(K).
* ``triangular_param``: what ``LowerTriangularLinear.forward`` itself computes, Σ d_i over its
  log-diagonal parameter vector (L_ii = exp(d_i)); it never touches the K × K matrix: O(K).
  Beyond ``--max-k`` (extended grid) the same expression is timed on a K-vector, since the module
  itself would hold K² parameters.
* ``dense``: g(z) = μ + S z, S a general non-singular matrix (the ``matrix()`` of a deepgen
  ``LULinear``, i.e. W = P L U). log|det J| = ``torch.linalg.slogdet(S)``: an LU factorization,
  O(K³) (≈ ⅔K³ flops).

Before timing, every value is checked against the log-determinant that deepgen's transform returns
from its forward pass (and, for K ≤ 1024, the triangular one against slogdet).

Timing: K = 8, 16, …, 4096 for every method (``--max-k``), and the O(K) vector methods also on an
extended grid up to 2^20 (``--extended-max-k``), where their cost finally exceeds the fixed cost of
a PyTorch call. Each measurement calls the method n times in a loop (n calibrated so that one
measurement lasts ≥ 5 ms, or one call for slow ones) and records the time per call; measurements
are interleaved (every (method, K) once per round, in a fresh random order each round) and the
medians over rounds are reported. One thread (``--threads``).

The growth exponent p in time ≈ c·K^p is fitted by least squares on (log K, log time):
``full_range`` over 8 … max-k, and the headline ``fit`` over the range where the time is not
dominated by the per-call overhead: K with median time ≥ 4 × the time at the method's smallest K
(at least 3 points; otherwise the top 3 points, flagged ``overhead_dominated``). Local exponents
between neighbouring K are recorded too: for the dense map they rise towards 3 as the LU's BLAS
kernels get more efficient with K (the achieved GFLOP/s is recorded).

    python benchmarks/logdet_scaling.py --out benchmarks/results
    python benchmarks/logdet_scaling.py --quick --out /tmp/bench
"""

from __future__ import annotations

import argparse
import datetime
import math
import os
import platform
import random
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from deepgen.fileio import write_json
from deepgen.flows import ElementwiseAffine, LowerTriangularLinear, LULinear
from deepgen.provenance import git_state, load_average

RESULT_NAME = "logdet_scaling.json"
PLOT_NAME = "logdet_scaling.png"
DTYPE = torch.float64
OVERHEAD_FACTOR = 4.0  # the fit range starts where time >= this × the smallest-K time
TARGET_SECONDS = 5e-3  # one measurement lasts at least this long (or is one call)
MAX_CALLS = 20_000
EXPECTED = {"diagonal": 1.0, "triangular": 1.0, "triangular_param": 1.0, "dense": 3.0}
DESCRIPTIONS = {
    "diagonal": "sum(log|sigma_i|), sigma = exp(ElementwiseAffine.log_scale), a K-vector",
    "triangular": "sum(log|L_ii|) read off the K x K matrix LowerTriangularLinear.matrix()",
    "triangular_param": (
        "LowerTriangularLinear's own log-det: log_diag.sum() over its K-vector parameter "
        "(L_ii = exp(d_i)); the K x K matrix is not read"
    ),
    "dense": "torch.linalg.slogdet(W).logabsdet, W = LULinear.matrix() (K x K, LU inside)",
}
VECTOR_METHODS = ("diagonal", "triangular_param")  # O(K) memory: timed on the extended grid


def _randomize(module: torch.nn.Module, k: int, g: torch.Generator) -> None:
    """Well-conditioned random parameters: off-diagonals ~ N(0, 1/K), log-scales ~ N(0, 0.1²)."""
    with torch.no_grad():
        for name, p in module.named_parameters():
            scale = (
                0.1 if ("log" in name or name == "shift" or name == "bias") else 1 / math.sqrt(k)
            )
            p.copy_(scale * torch.randn(p.shape, generator=g, dtype=p.dtype))


def build_case(
    method: str, k: int, seed: int, max_module_k: int = 4096
) -> tuple[Callable[[], Tensor], dict[str, float]]:
    """The timed closure for (method, K), and a check of its value against deepgen's forward."""
    g = torch.Generator().manual_seed(seed + k)
    x = torch.randn(1, k, generator=g, dtype=DTYPE)
    check: dict[str, float] = {}
    if method == "diagonal":
        t = ElementwiseAffine(k).to(DTYPE)
        _randomize(t, k, g)
        sigma = torch.exp(t.log_scale.detach())

        def fn() -> Tensor:
            return torch.log(torch.abs(sigma)).sum()

    elif method == "triangular_param" and k > max_module_k:
        # The same expression as LowerTriangularLinear's forward, on a K-vector: the module
        # itself would need K² parameters at this K.
        log_diag = 0.1 * torch.randn(k, generator=g, dtype=DTYPE)

        def fn() -> Tensor:
            return log_diag.sum()

        check["value"] = fn().item()
        check["module_built"] = 0.0  # no deepgen forward to compare with at this K
        return fn, check
    elif method in ("triangular", "triangular_param"):
        t = LowerTriangularLinear(k).to(DTYPE)
        _randomize(t, k, g)
        lower = t.matrix().detach()
        log_diag = t.log_diag.detach()
        if method == "triangular":

            def fn() -> Tensor:
                return torch.log(torch.abs(torch.diagonal(lower))).sum()

            if k <= 1024:
                check["abs_error_vs_slogdet"] = abs(
                    fn().item() - torch.linalg.slogdet(lower).logabsdet.item()
                )
        else:

            def fn() -> Tensor:
                return log_diag.sum()

    elif method == "dense":
        t = LULinear(k, seed=k).to(DTYPE)
        _randomize(t, k, g)
        w = t.matrix().detach()

        def fn() -> Tensor:
            return torch.linalg.slogdet(w).logabsdet

    else:
        raise ValueError(f"unknown method {method!r}")
    with torch.no_grad():
        _, logabsdet = t(x)
    value = fn().item()
    check["value"] = value
    check["abs_error_vs_deepgen_forward"] = abs(value - logabsdet[0].item())
    return fn, check


def _time_calls(fn: Callable[[], Tensor], calls: int) -> float:
    t0 = time.perf_counter()
    for _ in range(calls):
        fn()
    return (time.perf_counter() - t0) / calls


def fit_exponent(ks: list[int], seconds: list[float]) -> dict[str, Any]:
    """Least-squares slope and intercept of log(time) against log(K)."""
    lx, ly = np.log(np.asarray(ks, float)), np.log(np.asarray(seconds, float))
    slope, intercept = np.polyfit(lx, ly, 1)
    resid = ly - (slope * lx + intercept)
    return {
        "k_min": int(min(ks)),
        "k_max": int(max(ks)),
        "points": len(ks),
        "exponent": float(slope),
        "log_intercept": float(intercept),
        "rms_log_residual": float(np.sqrt(np.mean(resid**2))),
    }


def fit_method(ks: list[int], med: list[float], max_k: int) -> dict[str, Any]:
    """Full-range fit (K ≤ max_k), the headline fit above the overhead floor, local slopes."""
    inside = [(k, t) for k, t in zip(ks, med, strict=True) if k <= max_k]
    full = fit_exponent([k for k, _ in inside], [t for _, t in inside])
    floor = med[0]
    above = [(k, t) for k, t in zip(ks, med, strict=True) if t >= OVERHEAD_FACTOR * floor]
    dominated = len(above) < 3
    if dominated:
        above = list(zip(ks, med, strict=True))[-3:]
    head = fit_exponent([k for k, _ in above], [t for _, t in above])
    head["rule"] = (
        f"K with median time >= {OVERHEAD_FACTOR:g} x the time at K={ks[0]} ({floor * 1e6:.2f} us)"
        if not dominated
        else "fewer than 3 points above the overhead floor: the top 3 K values"
    )
    head["overhead_dominated"] = dominated
    local = [
        {
            "k_from": k0,
            "k_to": k1,
            "exponent": math.log(t1 / t0) / math.log(k1 / k0),
        }
        for (k0, t0), (k1, t1) in zip(
            zip(ks[:-1], med[:-1], strict=True), zip(ks[1:], med[1:], strict=True), strict=True
        )
    ]
    return {"full_range": full, "fit": head, "local_exponents": local}


def plot(results: dict[str, Any], path: Path) -> None:
    """Median time per call against K (log-log) with the headline fitted lines."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    fig = Figure(figsize=(7.5, 5))
    ax = fig.subplots()
    colours = {
        "diagonal": "tab:blue",
        "triangular": "tab:green",
        "triangular_param": "tab:olive",
        "dense": "tab:red",
    }
    for name, entry in results.items():
        ks = entry["k"]
        ts = entry["median_seconds"]
        fit = entry["fit"]
        ax.loglog(ks, ts, "o-", color=colours[name], ms=3.5, lw=1, label=name)
        xs = np.array([fit["k_min"], fit["k_max"]], float)
        ax.loglog(
            xs,
            np.exp(fit["log_intercept"]) * xs ** fit["exponent"],
            "--",
            color=colours[name],
            lw=2,
            alpha=0.7,
            label=f"{name}: fit K^{fit['exponent']:.2f} (K={fit['k_min']}..{fit['k_max']})",
        )
    ax.set_xlabel("dimension K")
    ax.set_ylabel("median seconds per log|det J|")
    ax.set_title("log|det J| cost: diagonal and triangular O(K), dense (slogdet) O(K³)")
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=7, loc="upper left")
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110, bbox_inches="tight")


def _pow2_grid(lo: int, hi: int) -> list[int]:
    out, k = [], lo
    while k <= hi:
        out.append(k)
        k *= 2
    return out


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description="Time log|det J| of diagonal, triangular and dense maps for K = 8 ... 4096."
    )
    p.add_argument("--out", default="benchmarks/results", help="folder for the JSON and PNG")
    p.add_argument("--max-k", type=int, default=None, help="largest K of every method (4096)")
    p.add_argument(
        "--extended-max-k",
        type=int,
        default=None,
        help="largest K of the O(K) vector methods (2^20; <= max-k turns the extension off)",
    )
    p.add_argument("--repeats", type=int, default=None, help="interleaved rounds (7)")
    p.add_argument("--threads", type=int, default=1, help="torch.set_num_threads (1)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--quick", action="store_true", help="tiny sizes, for a smoke test")
    args = p.parse_args(argv)
    quick = {"max_k": 64, "extended_max_k": 256, "repeats": 2}
    full = {"max_k": 4096, "extended_max_k": 2**20, "repeats": 7}
    for key, value in (quick if args.quick else full).items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    if args.max_k < 32:
        p.error("--max-k must be >= 32 (at least 3 sizes from 8)")
    for key in ("repeats", "threads"):
        if getattr(args, key) < 1:
            p.error(f"--{key} must be >= 1")
    return args


def main(argv: list[str] | None = None) -> dict[str, Any]:
    args = parse_args(argv)
    t_start = time.perf_counter()
    load_before = load_average()

    def log(msg: str) -> None:
        print(msg, file=sys.stderr, flush=True)

    torch.set_num_threads(args.threads)
    grid = _pow2_grid(8, args.max_k)
    ext = _pow2_grid(8, max(args.extended_max_k, args.max_k))
    grids = {m: (ext if m in VECTOR_METHODS else grid) for m in EXPECTED}

    cases: dict[tuple[str, int], Callable[[], Tensor]] = {}
    checks: dict[str, dict[str, dict[str, float]]] = {m: {} for m in EXPECTED}
    calls: dict[tuple[str, int], int] = {}
    for method, ks in grids.items():
        for k in ks:
            fn, check = build_case(method, k, args.seed, args.max_k)
            cases[(method, k)] = fn
            checks[method][str(k)] = check
            fn()  # warm-up, then calibrate the loop length on warm calls (the fastest of 3)
            one = min(_time_calls(fn, 1 if k > 1024 else 20) for _ in range(3))
            calls[(method, k)] = max(1, min(MAX_CALLS, math.ceil(TARGET_SECONDS / max(one, 1e-9))))
        log(f"{method}: built and checked K = {ks[0]} .. {ks[-1]}")

    runs: dict[tuple[str, int], list[float]] = {key: [] for key in cases}
    rng = random.Random(args.seed)
    keys = list(cases)
    for r in range(args.repeats):
        rng.shuffle(keys)
        for key in keys:
            runs[key].append(_time_calls(cases[key], calls[key]))
        log(f"round {r + 1}/{args.repeats} done")

    results: dict[str, Any] = {}
    for method, ks in grids.items():
        med = [statistics.median(runs[(method, k)]) for k in ks]
        entry: dict[str, Any] = {
            "description": DESCRIPTIONS[method],
            "expected_exponent": EXPECTED[method],
            "k": ks,
            "median_seconds": med,
            "min_seconds": [min(runs[(method, k)]) for k in ks],
            "max_seconds": [max(runs[(method, k)]) for k in ks],
            "calls_per_measurement": [calls[(method, k)] for k in ks],
            **fit_method(ks, med, args.max_k),
            "max_abs_error_vs_deepgen_forward": max(
                c["abs_error_vs_deepgen_forward"]
                for c in checks[method].values()
                if "abs_error_vs_deepgen_forward" in c
            ),
        }
        if method == "dense":
            entry["gflops_lu"] = [(2 / 3) * k**3 / t / 1e9 for k, t in zip(ks, med, strict=True)]
        if method == "triangular":
            entry["max_abs_error_vs_slogdet"] = max(
                c.get("abs_error_vs_slogdet", 0.0) for c in checks[method].values()
            )
        results[method] = entry

    exponents = {m: results[m]["fit"]["exponent"] for m in results}
    result: dict[str, Any] = {
        "benchmark": "logdet_scaling",
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "quick": args.quick,
        "exponents": exponents,
        "exponents_full_range": {m: results[m]["full_range"]["exponent"] for m in results},
        "fit_ranges": {
            m: [results[m]["fit"]["k_min"], results[m]["fit"]["k_max"]] for m in results
        },
        "expected_exponents": EXPECTED,
        "methods": results,
        "setup": {
            "dtype": str(DTYPE),
            "k_grid": grid,
            "extended_k_grid_vector_methods": ext,
            "repeats": args.repeats,
            "schedule": (
                "every (method, K) measured once per round in a fresh random order; a "
                "measurement is a loop of n calls (n calibrated to last >= 5 ms, at most "
                f"{MAX_CALLS}); time per call = loop time / n; medians over rounds"
            ),
            "fit": (
                "least squares of log(median time) on log(K). full_range: every K <= max-k. "
                f"fit: K with median time >= {OVERHEAD_FACTOR:g} x the smallest-K time (the "
                "per-call overhead floor), on the method's whole grid (extended for the vector "
                "methods)"
            ),
            "deepgen_git": git_state(Path(__file__).resolve().parents[1]),
            "torch": torch.__version__,
            "torch_threads": torch.get_num_threads(),
            "cpu_count": os.cpu_count(),
            "load_average_1_5_15min_before": load_before,
            "load_average_1_5_15min_after": load_average(),
            "python": platform.python_version(),
            "platform": platform.platform(),
        },
        "wall_seconds": time.perf_counter() - t_start,
    }
    out = Path(args.out)
    plot(results, out / PLOT_NAME)
    write_json(out / RESULT_NAME, result)
    for m, entry in results.items():
        f, full = entry["fit"], entry["full_range"]
        log(
            f"{m:17s} exponent {f['exponent']:.2f} over K={f['k_min']}..{f['k_max']} "
            f"(full range 8..{args.max_k}: {full['exponent']:.2f}); expected {EXPECTED[m]:g}"
        )
    log(f"wrote {out / RESULT_NAME} and {out / PLOT_NAME}")
    return result


if __name__ == "__main__":
    main()
