"""One mean-field run, as ``deepgen vi`` does it: build the model, fit q*, compare with exact.

:func:`run_vi` finds max_{q ∈ family} F(q) for p(w) = exp(−β Φ(w)) / Z on {0,1}^N, adds the
exact log Z, marginals and KL(q*‖p) = log Z − F(q*) when N ≤ MAX_ENUMERATION_N (and the seed
example's closed form where it applies), and writes metrics.json and marginals.png.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from deepgen.errors import ConfigError, DataError
from deepgen.fileio import write_json
from deepgen.train import resolve_device
from deepgen.train.lock import claim_out_dir
from deepgen.vi.discrete import MAX_ENUMERATION_N, EnergyModel, TableEnergy, enumerate_exact
from deepgen.vi.examples import ising_model, seed_closed_form, seed_model
from deepgen.vi.meanfield import mean_field, parse_clamp


@dataclass(frozen=True)
class VIConfig:
    """Settings of one ``deepgen vi`` run: the model (``table`` wins over ``example``) and the fit.

    >>> cfg = VIConfig(example="seed", n=4, family="Q2", device="cpu")
    >>> (cfg.n, cfg.family, cfg.method, cfg.clamp)
    (4, 'Q2', 'cavi', ())
    """

    example: str | None = "seed"  # "seed" or "ising"; ignored when table is given
    table: str | None = None  # energies Φ of all 2^N configurations (.npy or text)
    n: int = 10  # variables of the seed example
    size: int = 3  # grid side L of the Ising example
    coupling: float = 1.0  # Ising K
    field: float = 0.0  # Ising H
    beta: float = 1.0  # inverse temperature
    family: str = "Q1"
    method: str = "cavi"
    clamp: tuple[str, ...] = ()  # "wI=V" items as given
    init: str = "random"
    seed: int = 0
    max_iter: int | None = None
    tol: float | None = None
    device: str = "auto"


def load_table(path: str, device: torch.device) -> TableEnergy:
    """Φ from a file: ``.npy``, or text with one number per entry."""
    file = Path(path)
    if not file.is_file():
        raise FileNotFoundError(2, "No such file", path)
    try:
        values = np.load(file) if file.suffix == ".npy" else np.loadtxt(file, ndmin=1)
    except ValueError as exc:
        raise DataError(f"{path}: not a table of numbers ({exc})") from None
    return TableEnergy(torch.as_tensor(np.asarray(values, dtype=np.float64)), device)


def build_model(cfg: VIConfig, device: torch.device) -> tuple[EnergyModel, str]:
    """The energy model the config names, and a one-line description of it."""
    if cfg.table:
        return load_table(cfg.table, device), f"table {cfg.table}"
    if cfg.example == "seed":
        return seed_model(cfg.n, device), "seed: p(w) ∝ 1 - prod_i w_i"
    if cfg.example == "ising":
        return (
            ising_model(cfg.size, cfg.coupling, cfg.field, device),
            f"ising {cfg.size}x{cfg.size}, K={cfg.coupling}, H={cfg.field}",
        )
    raise ConfigError(f"unknown example {cfg.example!r}; choose seed or ising (or a table)")


def run_vi(cfg: VIConfig, out_dir: str | Path) -> dict[str, Any]:
    """Fit q* = argmax_{q ∈ family} F(q), compare with exact enumeration, write
    ``out_dir``/metrics.json and marginals.png (holding the folder's lock); return the metrics."""
    torch.set_num_threads(1)
    device = resolve_device(cfg.device)
    model, name = build_model(cfg, device)
    clamp = parse_clamp(cfg.clamp, model.n)
    if clamp and cfg.family == "Q2":
        raise ConfigError("--clamp applies to --family Q1; Q2 has one shared factor")
    t0 = time.perf_counter()
    res = mean_field(
        model,
        cfg.family,
        cfg.method,
        cfg.beta,
        clamp,
        cfg.init,
        cfg.seed,
        cfg.max_iter,
        cfg.tol,
    )
    seconds = time.perf_counter() - t0
    result: dict[str, Any] = {
        "model": name,
        "n": model.n,
        "family": cfg.family,
        "method": cfg.method,
        "beta": cfg.beta,
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
    if model.n <= MAX_ENUMERATION_N:
        t1 = time.perf_counter()
        ex = enumerate_exact(model, cfg.beta)
        result.update(
            kl=res.kl(ex.log_z),
            log_z=ex.log_z,
            p_marginals=ex.marginals.cpu().tolist(),
            mean_energy=ex.mean_energy,
            enumeration_seconds=time.perf_counter() - t1,
        )
    if not cfg.table and cfg.example == "seed" and (cfg.family == "Q2" or clamp == {0: 0}):
        result["closed_form"] = seed_closed_form(model.n, cfg.family)
    with claim_out_dir(out_dir) as out:
        write_json(out / "metrics.json", result)
        plot_marginals(result, out / "marginals.png")
    return result


def plot_marginals(result: dict[str, Any], path: str | Path) -> None:
    """Bar chart of q*(w_i = 1) next to the exact p(w_i = 1) (when known), saved to ``path``."""
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
