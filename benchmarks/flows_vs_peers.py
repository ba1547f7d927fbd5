"""Normalizing flows in deepgen against nflows and Zuko: training-step time, log_prob throughput,
and the test log-likelihood each library reaches with the same settings.

The same architectures are built in each library (conditioners with two hidden ReLU layers of
width 64, Adam lr 1e-3):

* RealNVP: 8 affine coupling layers whose changed half alternates (deepgen ``AffineCoupling`` with
  ``swap=i % 2``; nflows ``AffineCouplingTransform`` with the same masks and an MLP conditioner;
  Zuko ``flows.RealNVP(transforms=8, hidden_features=(64, 64))``, whose alternating masks are
  checkered: the same sizes, so the same cost).
* MAF: 5 MADE layers, the feature order reversed between layers (deepgen ``MAF`` + ``Reverse``;
  nflows ``MaskedAffineAutoregressiveTransform(num_blocks=1, use_residual_blocks=False)`` +
  ``ReversePermutation``; Zuko ``flows.MAF(transforms=5, hidden_features=(64, 64))``, which
  alternates the order instead).
* NSF (coupling): 4 rational-quadratic spline couplings, 8 bins on [−5, 5] with identity
  (linear) tails, the changed half alternating (deepgen ``flows.NSF``; nflows
  ``PiecewiseRationalQuadraticCouplingTransform(tails="linear", tail_bound=5)`` with the same
  masks and MLP conditioner; Zuko has no coupling-spline flow (its ``flows.NSF`` is masked
  autoregressive), so its coupling NSF is built from its public parts:
  ``GeneralCouplingTransform`` (the class behind its RealNVP) with
  ``univariate=MonotonicRQSTransform`` and the same masks).
* Autoregressive NSF: 4 MADE-conditioned spline layers (same bins and bound), the order reversed
  between layers (deepgen ``flows.AutoregressiveNSF``; nflows
  ``MaskedPiecewiseRationalQuadraticAutoregressiveTransform(num_blocks=1,
  use_residual_blocks=False)`` + ``ReversePermutation``; Zuko ``flows.NSF(bins=8, transforms=4)``).
* Conditional MAF: p(x | c) with 2-D x and 2-D c, 5 MADE layers (deepgen
  ``flows.MAF(2, context=2)``; nflows ``MaskedAffineAutoregressiveTransform(context_features=2)``
  + ``ReversePermutation``; Zuko ``flows.MAF(2, 2)``).

The parameter counts agree across the libraries (recorded in the JSON), except that nflows' MADE
feeds the context through a layer of its own (one bias of 64 more per layer: 320 more in all). The
libraries differ in how they keep the affine scale finite, a choice each makes for its users:
deepgen soft-clamps the log scale to 5·tanh(s/5), Zuko to s/(1 + |s|/6.9), nflows' coupling uses
the scale sigmoid(s + 2) + 0.001 (at most 1.001: it can only contract data towards the noise, so
its log-density can never exceed the base's maximum, −(d/2)·log 2π = −1.84 nats for d = 2) and its
MAF softplus(s) + 0.001. The splines have 3·8 − 1 = 23 raw numbers per feature in all three;
deepgen and nflows keep bins at least 1e-3 wide and high and slopes at least 1e-3 (nflows also
divides the raw widths and heights by √64 when the conditioner says its width, as its own nets
do), Zuko bounds the raw numbers softly instead.

Data: two moons (``deepgen.data.toy.sample_toy("moons")``, d = 2), an 8-D mixture of four
correlated Gaussians with fixed random means and covariances (``gauss8``), and for the
conditional flow ``cgauss``: c ~ N(0, I₂), x | c ~ N(A c, diag exp(W c)²) with fixed A and W,
whose true conditional log-density is known.

Speed (one CPU thread by default): a training step is ``zero_grad``, ``-log_prob(x).mean()`` on a
batch of 256 (``log_prob(x, c)`` for the conditional flow), ``backward`` and an Adam step;
throughput is ``log_prob`` of 10,000 points under ``torch.no_grad``. Every library gets the same
batches. After a warm-up, each round times one block of steps (and one block of log_prob calls)
per library, the library order rotated every round; medians over rounds are reported, with
ratios of throughputs (> 1 means deepgen is faster) against nflows, Zuko and the faster of the
two, and the median of per-round ratios as a check.

Quality: each library's RealNVP and MAF are trained on moons, and each conditional MAF on cgauss,
from the same seed with the same stream of fresh training batches, steps, batch size and learning
rate, then scored by the mean test log-likelihood (nats per point) on 50,000 fresh samples; for
cgauss next to the true conditional log-likelihood of the same test points.

    python benchmarks/flows_vs_peers.py --out benchmarks/results
    python benchmarks/flows_vs_peers.py --quick --out /tmp/bench
"""

from __future__ import annotations

import argparse
import datetime
import math
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn
from torch.distributions import Independent, Normal

from deepgen import flows
from deepgen.data.toy import sample_toy
from deepgen.fileio import write_json
from deepgen.flows import AffineCoupling, Flow, MaskedAffineAutoregressive, Reverse
from deepgen.nn import mlp
from deepgen.provenance import git_state, load_average

RESULT_NAME = "flows_vs_peers.json"
HIDDEN = 64
BINS = 8  # spline bins
BOUND = 5.0  # spline tail bound: identity outside [-BOUND, BOUND]
LAYERS = {"realnvp": 8, "maf": 5, "nsf": 4, "autoregressive_nsf": 4, "conditional_maf": 5}
LR = 1e-3
SEED = 0
LIBRARIES = ("deepgen", "nflows", "zuko")
PEERS = ("nflows", "zuko")
# data set -> (features of x, features of the context c)
DATASETS = {"moons": (2, 0), "gauss8": (8, 0), "cgauss": (2, 2)}
# the (data set, flow) pairs that are timed, in order
CASES = (
    ("moons", "realnvp"),
    ("moons", "maf"),
    ("gauss8", "realnvp"),
    ("gauss8", "maf"),
    ("moons", "nsf"),
    ("gauss8", "nsf"),
    ("moons", "autoregressive_nsf"),
    ("gauss8", "autoregressive_nsf"),
    ("cgauss", "conditional_maf"),
)
INSTALL_HINT = "pip install -c constraints.txt -e '.[bench]'"
# the target for deepgen's throughput / the faster peer's, per flow (train step and log_prob):
# parity for RealNVP and MAF, 10 % ahead for the spline and conditional flows
TARGETS = {
    "realnvp": 1.0,
    "maf": 1.0,
    "nsf": 1.1,
    "autoregressive_nsf": 1.1,
    "conditional_maf": 1.1,
}

Batch = tuple[Tensor, ...]  # (x,) or (x, c)


# --- data -------------------------------------------------------------------------------------
def gauss8_sampler(seed: int = 1234) -> Callable[[int, torch.Generator], Tensor]:
    """A fixed 8-D mixture of 4 correlated Gaussians: means ~ 2·N(0, I), covariances A Aᵀ/8 + 0.05 I
    with A ~ N(0, I)."""
    g = torch.Generator().manual_seed(seed)
    d, k = 8, 4
    means = 2 * torch.randn(k, d, generator=g)
    a = torch.randn(k, d, d, generator=g)
    chol = torch.linalg.cholesky(a @ a.transpose(1, 2) / d + 0.05 * torch.eye(d))

    def sample(n: int, gen: torch.Generator) -> Tensor:
        idx = torch.randint(k, (n,), generator=gen)
        eps = torch.randn(n, d, 1, generator=gen)
        return means[idx] + (chol[idx] @ eps).squeeze(-1)

    return sample


# cgauss: x | c ~ N(A c, diag exp(W c)²), c ~ N(0, I) (the data of the conditional-MAF test)
CGAUSS_A = torch.tensor([[1.5, -1.0], [0.5, 2.0]])
CGAUSS_W = torch.tensor([[0.6, 0.0], [-0.4, 0.5]])


def cgauss_true_log_prob(x: Tensor, c: Tensor) -> Tensor:
    """The true log p(x | c) of cgauss, per point."""
    return Independent(Normal(c @ CGAUSS_A.T, torch.exp(c @ CGAUSS_W.T)), 1).log_prob(x)


def sample_data(name: str, n: int, seed: int) -> Batch:
    """n float32 points of the named data set, reproducible from ``seed``: (x,) or (x, c)."""
    g = torch.Generator().manual_seed(seed)
    if name == "moons":
        return (sample_toy("moons", n, g),)
    if name == "gauss8":
        return (gauss8_sampler()(n, g).float(),)
    if name == "cgauss":
        c = torch.randn(n, 2, generator=g)
        x = c @ CGAUSS_A.T + torch.exp(c @ CGAUSS_W.T) * torch.randn(n, 2, generator=g)
        return x, c
    raise ValueError(f"unknown data set {name!r}")


def rows(data: Batch, start: int, stop: int) -> Batch:
    return tuple(t[start:stop] for t in data)


# --- the three libraries ------------------------------------------------------------------------
@dataclass
class Model:
    """A flow of one library: its module (parameters) and a log_prob(x[, c]) -> [batch] callable."""

    library: str
    module: nn.Module
    log_prob: Callable[..., Tensor]

    def parameter_count(self) -> int:
        return sum(p.numel() for p in self.module.parameters())


def coupling_masks(d: int, layers: int) -> list[list[int]]:
    """The changed features of deepgen's couplings (``swap=i % 2``), as 0/1 masks (1 = changed).

    swap=False passes the first ⌈d/2⌉ features through; swap=True changes the first ⌊d/2⌋."""
    first = (d + 1) // 2
    masks = []
    for i in range(layers):
        if i % 2 == 0:
            masks.append([0] * first + [1] * (d - first))
        else:
            masks.append([1] * (d - first) + [0] * first)
    return masks


def build_deepgen(kind: str, d: int, context: int) -> Model:
    """deepgen: RealNVP and MAF as ``deepgen flow`` builds them (Flow(blocks) over N(0, I)); the
    spline and conditional flows are the presets."""
    if kind == "realnvp":
        blocks: list[nn.Module] = [
            AffineCoupling(d, HIDDEN, swap=bool(i % 2)) for i in range(LAYERS[kind])
        ]
        flow: Flow = Flow(blocks)
    elif kind == "maf":
        blocks = []
        for _ in range(LAYERS[kind]):
            blocks += [MaskedAffineAutoregressive(d, HIDDEN, layers=2), Reverse(d)]
        flow = Flow(blocks)
    elif kind == "nsf":
        flow = flows.NSF(d, 0, LAYERS[kind], (HIDDEN, HIDDEN), BINS, BOUND)
    elif kind == "autoregressive_nsf":
        flow = flows.AutoregressiveNSF(d, 0, LAYERS[kind], (HIDDEN, HIDDEN), BINS, BOUND)
    elif kind == "conditional_maf":
        flow = flows.MAF(d, context, LAYERS[kind], (HIDDEN, HIDDEN))
    else:
        raise ValueError(kind)
    return Model("deepgen", flow, flow.log_prob)


class _Conditioner(nn.Module):
    """nflows calls its coupling networks as net(x, context): a plain MLP that ignores context.

    ``hidden_features`` is what nflows' own networks expose: its spline couplings then divide the
    raw bin widths and heights by √hidden, as they do with those networks."""

    def __init__(self, n_in: int, n_out: int) -> None:
        super().__init__()
        self.net = mlp([n_in, HIDDEN, HIDDEN, n_out], "relu")
        self.hidden_features = HIDDEN

    def forward(self, x: Tensor, context: Tensor | None = None) -> Tensor:
        return self.net(x)


def reversed_between(layers: list[Any], reverse: Callable[[], Any]) -> list[Any]:
    """``layers`` with ``reverse()`` between consecutive ones, as deepgen's presets do."""
    out: list[Any] = []
    for i, layer in enumerate(layers):
        out += [layer] if i == len(layers) - 1 else [layer, reverse()]
    return out


def build_nflows(kind: str, d: int, context: int) -> Model:
    """nflows: Flow(CompositeTransform(...), StandardNormal([d]))."""
    import torch.nn.functional as F
    from nflows.distributions.normal import StandardNormal
    from nflows.flows.base import Flow as NFlow
    from nflows.transforms import (
        AffineCouplingTransform,
        CompositeTransform,
        MaskedAffineAutoregressiveTransform,
        MaskedPiecewiseRationalQuadraticAutoregressiveTransform,
        PiecewiseRationalQuadraticCouplingTransform,
        ReversePermutation,
    )

    n = LAYERS[kind]
    made = {"num_blocks": 1, "use_residual_blocks": False, "activation": F.relu}
    # num_blocks=1: the input layer + 1 block = two hidden layers, like deepgen's MADE
    transforms: list[Any] = []
    if kind == "realnvp":
        transforms = [
            AffineCouplingTransform(torch.tensor(m), _Conditioner) for m in coupling_masks(d, n)
        ]
    elif kind == "maf":
        for _ in range(n):
            transforms += [
                MaskedAffineAutoregressiveTransform(features=d, hidden_features=HIDDEN, **made),
                ReversePermutation(d),
            ]
    elif kind == "nsf":
        transforms = [
            PiecewiseRationalQuadraticCouplingTransform(
                torch.tensor(m), _Conditioner, num_bins=BINS, tails="linear", tail_bound=BOUND
            )
            for m in coupling_masks(d, n)
        ]
    elif kind == "autoregressive_nsf":
        spline = {"num_bins": BINS, "tails": "linear", "tail_bound": BOUND}
        layers = [
            MaskedPiecewiseRationalQuadraticAutoregressiveTransform(
                features=d, hidden_features=HIDDEN, **spline, **made
            )
            for _ in range(n)
        ]
        transforms = reversed_between(layers, lambda: ReversePermutation(d))
    elif kind == "conditional_maf":
        layers = [
            MaskedAffineAutoregressiveTransform(
                features=d, hidden_features=HIDDEN, context_features=context, **made
            )
            for _ in range(n)
        ]
        transforms = reversed_between(layers, lambda: ReversePermutation(d))
    else:
        raise ValueError(kind)
    flow = NFlow(CompositeTransform(transforms), StandardNormal([d]))

    def log_prob(x: Tensor, c: Tensor | None = None) -> Tensor:
        return flow.log_prob(x, context=c)

    return Model("nflows", flow, log_prob)


def zuko_coupling_nsf(d: int, layers: int) -> nn.Module:
    """Zuko's coupling NSF from its public parts: its RealNVP's coupling class with a spline
    (``MonotonicRQSTransform``: bound 5 by default, the slope floor of ``zuko.flows.NSF``) and
    deepgen's masks (Zuko's mask marks the features that pass through)."""
    from zuko.distributions import DiagNormal
    from zuko.flows import Flow as ZFlow
    from zuko.flows.coupling import GeneralCouplingTransform
    from zuko.lazy import UnconditionalDistribution
    from zuko.transforms import MonotonicRQSTransform

    spline = partial(MonotonicRQSTransform, bound=BOUND, slope=1e-3)
    transforms = [
        GeneralCouplingTransform(
            features=d,
            mask=torch.tensor(m) == 0,
            univariate=spline,
            shapes=[(BINS,), (BINS,), (BINS - 1,)],
            hidden_features=(HIDDEN, HIDDEN),
        )
        for m in coupling_masks(d, layers)
    ]
    base = UnconditionalDistribution(
        DiagNormal, loc=torch.zeros(d), scale=torch.ones(d), buffer=True
    )
    return ZFlow(transforms, base)


def build_zuko(kind: str, d: int, context: int) -> Model:
    """Zuko: its presets (and the coupling NSF above); log_prob is flow(c).log_prob(x)."""
    import zuko

    n, hidden = LAYERS[kind], (HIDDEN, HIDDEN)
    if kind == "realnvp":
        flow = zuko.flows.RealNVP(d, transforms=n, hidden_features=hidden)
    elif kind == "maf":
        flow = zuko.flows.MAF(d, transforms=n, hidden_features=hidden)
    elif kind == "nsf":
        flow = zuko_coupling_nsf(d, n)
    elif kind == "autoregressive_nsf":
        flow = zuko.flows.NSF(d, bins=BINS, transforms=n, hidden_features=hidden)
    elif kind == "conditional_maf":
        flow = zuko.flows.MAF(d, context, transforms=n, hidden_features=hidden)
    else:
        raise ValueError(kind)

    def log_prob(x: Tensor, c: Tensor | None = None) -> Tensor:
        return flow(c).log_prob(x)

    return Model("zuko", flow, log_prob)


BUILDERS: dict[str, Callable[[str, int, int], Model]] = {
    "deepgen": build_deepgen,
    "nflows": build_nflows,
    "zuko": build_zuko,
}


def peer_versions() -> dict[str, str | None]:
    """Installed versions of nflows and Zuko (None when one cannot be imported)."""
    from importlib.metadata import PackageNotFoundError, version

    out: dict[str, str | None] = {}
    for name in PEERS:
        try:
            __import__(name)
            out[name] = version(name)
        except (ImportError, PackageNotFoundError):
            out[name] = None
        except Exception:  # a broken install: treat as absent, do not crash the benchmark
            out[name] = None
    return out


def build(library: str, kind: str, dataset: str, seed: int) -> Model:
    torch.manual_seed(seed)
    d, context = DATASETS[dataset]
    return BUILDERS[library](kind, d, context)


def zuko_nsf_passes2_parameters(d: int) -> int:
    """Parameters of ``zuko.flows.NSF(passes=2)``, Zuko's masked form of a coupling spline flow
    (a MADE over all features), with the benchmark's layers, bins and widths."""
    import zuko

    flow = zuko.flows.NSF(
        d, bins=BINS, passes=2, transforms=LAYERS["nsf"], hidden_features=(HIDDEN, HIDDEN)
    )
    return sum(p.numel() for p in flow.parameters())


# --- timing -------------------------------------------------------------------------------------
def train_block(model: Model, opt: torch.optim.Optimizer, batches: list[Batch]) -> float:
    """Seconds per training step over ``batches``."""
    t0 = time.perf_counter()
    for batch in batches:
        opt.zero_grad(set_to_none=True)
        loss = -model.log_prob(*batch).mean()
        loss.backward()
        opt.step()
    return (time.perf_counter() - t0) / len(batches)


def logprob_block(model: Model, data: Batch, calls: int) -> float:
    """Points per second of log_prob without gradients."""
    with torch.no_grad():
        t0 = time.perf_counter()
        for _ in range(calls):
            model.log_prob(*data)
        return calls * len(data[0]) / (time.perf_counter() - t0)


def speed_case(
    dataset: str,
    kind: str,
    libraries: list[str],
    args: argparse.Namespace,
    log: Callable[[str], None],
) -> dict[str, Any]:
    """Interleaved timing of one (data set, architecture) across the libraries."""
    d, context = DATASETS[dataset]
    steps, batch = args.steps_per_block, args.batch
    pool = sample_data(dataset, (args.repeats + 1) * steps * batch, SEED + 7)
    blocks = [
        [rows(pool, (r * steps + i) * batch, (r * steps + i + 1) * batch) for i in range(steps)]
        for r in range(args.repeats + 1)
    ]
    big = sample_data(dataset, args.logprob_batch, SEED + 8)
    models = {lib: build(lib, kind, dataset, SEED) for lib in libraries}
    opts = {lib: torch.optim.Adam(m.module.parameters(), lr=LR) for lib, m in models.items()}
    # warm-up: one block of steps and one log_prob call each
    for lib in libraries:
        train_block(models[lib], opts[lib], blocks[0])
        logprob_block(models[lib], big, 1)
    step_s: dict[str, list[float]] = {lib: [] for lib in libraries}
    lp_pps: dict[str, list[float]] = {lib: [] for lib in libraries}
    for r in range(args.repeats):
        order = libraries[r % len(libraries) :] + libraries[: r % len(libraries)]
        for lib in order:
            step_s[lib].append(train_block(models[lib], opts[lib], blocks[r + 1]))
        for lib in order:
            lp_pps[lib].append(logprob_block(models[lib], big, args.logprob_calls))
    per_lib = {
        lib: {
            "parameters": models[lib].parameter_count(),
            "median_ms_per_train_step": 1e3 * statistics.median(step_s[lib]),
            "median_train_steps_per_second": 1 / statistics.median(step_s[lib]),
            "median_logprob_points_per_second": statistics.median(lp_pps[lib]),
            "repeats_ms_per_train_step": [1e3 * s for s in step_s[lib]],
            "repeats_logprob_points_per_second": lp_pps[lib],
        }
        for lib in libraries
    }
    result: dict[str, Any] = {
        "dataset": dataset,
        "features": d,
        "context_features": context,
        "flow": kind,
        "target": TARGETS[kind],
        "libraries": per_lib,
    }
    train_speed = {lib: [1 / s for s in step_s[lib]] for lib in libraries}
    result["train_step_ratios"] = ratios(train_speed)
    result["logprob_ratios"] = ratios(lp_pps)
    tr, lp = result["train_step_ratios"]["ratios"], result["logprob_ratios"]["ratios"]
    log(
        f"{dataset:6s} {kind:18s} "
        + "  ".join(f"{lib} {per_lib[lib]['median_ms_per_train_step']:.2f} ms" for lib in libraries)
        + f" | train vs faster peer {_fmt(tr.get('deepgen_vs_faster_peer'))}"
        + f", log_prob vs faster peer {_fmt(lp.get('deepgen_vs_faster_peer'))}"
    )
    return result


def _fmt(v: float | None) -> str:
    return "n/a" if v is None else f"{v:.3f}"


def ratios(speeds: dict[str, list[float]]) -> dict[str, Any]:
    """deepgen's median throughput over each peer's and over the faster peer's (> 1: deepgen
    faster), and the same from per-round ratios (median over rounds)."""
    med = {lib: statistics.median(v) for lib, v in speeds.items()}
    peers = [p for p in PEERS if p in speeds]
    out: dict[str, float | None] = {f"deepgen_vs_{p}": None for p in PEERS}
    paired: dict[str, float | None] = {f"deepgen_vs_{p}": None for p in PEERS}
    out["deepgen_vs_faster_peer"] = paired["deepgen_vs_faster_peer"] = None
    faster = None
    for p in peers:
        out[f"deepgen_vs_{p}"] = med["deepgen"] / med[p]
        paired[f"deepgen_vs_{p}"] = statistics.median(
            a / b for a, b in zip(speeds["deepgen"], speeds[p], strict=True)
        )
    if peers:
        faster = max(peers, key=lambda p: med[p])
        out["deepgen_vs_faster_peer"] = med["deepgen"] / med[faster]
        paired["deepgen_vs_faster_peer"] = statistics.median(
            a / max(speeds[p][i] for p in peers) for i, a in enumerate(speeds["deepgen"])
        )
    return {"ratios": out, "paired_ratio_medians": paired, "faster_peer": faster}


# --- quality ------------------------------------------------------------------------------------
def quality_case(
    dataset: str,
    kind: str,
    libraries: list[str],
    args: argparse.Namespace,
    log: Callable[[str], None],
) -> dict[str, Any]:
    """Train each library's flow on ``dataset`` with identical settings; test log-likelihood."""
    train = sample_data(dataset, args.quality_steps * args.batch, SEED + 100)
    test = sample_data(dataset, args.test_points, SEED + 200)
    out: dict[str, Any] = {}
    for lib in libraries:
        model = build(lib, kind, dataset, SEED)
        opt = torch.optim.Adam(model.module.parameters(), lr=LR)
        t0 = time.perf_counter()
        losses = []
        for i in range(args.quality_steps):
            batch = rows(train, i * args.batch, (i + 1) * args.batch)
            opt.zero_grad(set_to_none=True)
            loss = -model.log_prob(*batch).mean()
            loss.backward()
            opt.step()
            losses.append(loss.item())
        seconds = time.perf_counter() - t0
        with torch.no_grad():
            chunks = zip(*(t.split(10_000) for t in test), strict=True)
            lp = torch.cat([model.log_prob(*chunk) for chunk in chunks])
        finite = bool(torch.isfinite(lp).all())
        tail = losses[-max(1, len(losses) // 20) :]
        out[lib] = {
            "test_log_likelihood": lp.mean().item() if finite else None,
            "test_log_likelihood_stderr": (lp.std() / math.sqrt(len(lp))).item()
            if finite
            else None,
            "final_train_nll_mean_last_5pct": statistics.fmean(tail),
            "train_seconds": seconds,
            "parameters": model.parameter_count(),
        }
        log(
            f"quality {dataset:6s} {kind:15s} {lib:8s} test log-likelihood "
            f"{out[lib]['test_log_likelihood']}"
        )
    return out


def quality_conditional(
    libraries: list[str], args: argparse.Namespace, log: Callable[[str], None]
) -> dict[str, Any]:
    """The conditional MAFs on cgauss, next to the true conditional log-likelihood of the same
    test points (the best any model can reach on average)."""
    per_lib = quality_case("cgauss", "conditional_maf", libraries, args, log)
    x, c = sample_data("cgauss", args.test_points, SEED + 200)
    true_lp = cgauss_true_log_prob(x, c)
    truth = true_lp.mean().item()
    for entry in per_lib.values():
        ll = entry["test_log_likelihood"]
        entry["gap_to_true_nats"] = None if ll is None else truth - ll
    log(f"quality cgauss true conditional log-likelihood {truth:.4f}")
    return {
        "dataset": "cgauss",
        "flow": "conditional_maf",
        "true_test_log_likelihood": truth,
        "true_test_log_likelihood_stderr": (true_lp.std() / math.sqrt(len(true_lp))).item(),
        "libraries": per_lib,
    }


# --- bookkeeping ---------------------------------------------------------------------------------
def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description=(
            "RealNVP, MAF, NSF (coupling and autoregressive) and conditional MAF: deepgen vs "
            "nflows vs Zuko (speed and test likelihood)."
        )
    )
    p.add_argument("--out", default="benchmarks/results", help="folder for flows_vs_peers.json")
    p.add_argument("--repeats", type=int, default=None, help="timed rounds per case (15)")
    p.add_argument("--steps-per-block", type=int, default=None, help="train steps per block (20)")
    p.add_argument("--batch", type=int, default=256, help="training batch size (256)")
    p.add_argument("--logprob-batch", type=int, default=None, help="log_prob batch (10000)")
    p.add_argument("--logprob-calls", type=int, default=None, help="log_prob calls per block (3)")
    p.add_argument("--quality-steps", type=int, default=None, help="training steps (4000)")
    p.add_argument("--test-points", type=int, default=None, help="fresh test points (50000)")
    p.add_argument("--threads", type=int, default=1, help="torch.set_num_threads (1)")
    p.add_argument("--skip-peers", action="store_true", help="deepgen only (no nflows / Zuko)")
    p.add_argument("--skip-quality", action="store_true", help="no likelihood comparison")
    p.add_argument("--quick", action="store_true", help="tiny sizes, for a smoke test")
    args = p.parse_args(argv)
    quick = {
        "repeats": 2,
        "steps_per_block": 2,
        "logprob_batch": 500,
        "logprob_calls": 1,
        "quality_steps": 20,
        "test_points": 500,
    }
    full = {
        "repeats": 15,
        "steps_per_block": 20,
        "logprob_batch": 10_000,
        "logprob_calls": 3,
        "quality_steps": 4000,
        "test_points": 50_000,
    }
    for key, value in (quick if args.quick else full).items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    for key in (
        "repeats",
        "steps_per_block",
        "batch",
        "logprob_batch",
        "logprob_calls",
        "quality_steps",
        "test_points",
        "threads",
    ):
        if getattr(args, key) < 1:
            p.error(f"--{key.replace('_', '-')} must be >= 1")
    return args


def architectures() -> dict[str, str]:
    mlp_text = f"Linear-ReLU-Linear-ReLU-Linear, width {HIDDEN}"
    spline = f"rational-quadratic spline, {BINS} bins on [-{BOUND:g}, {BOUND:g}], identity tails"
    made = f"MADE layers (two masked hidden layers of {HIDDEN}, ReLU)"
    return {
        "realnvp": (
            f"{LAYERS['realnvp']} affine couplings, changed half alternating; conditioner "
            f"{mlp_text}"
        ),
        "maf": f"{LAYERS['maf']} {made}, feature order reversed between layers",
        "nsf": (
            f"{LAYERS['nsf']} spline couplings ({spline}), changed half alternating (the same "
            f"masks in every library); conditioner {mlp_text}"
        ),
        "autoregressive_nsf": (
            f"{LAYERS['autoregressive_nsf']} {made} conditioning a {spline}; feature order "
            "reversed between layers"
        ),
        "conditional_maf": (
            f"{LAYERS['conditional_maf']} {made} of x and the 2-D context c (affine); feature "
            "order reversed between layers"
        ),
    }


def peer_notes(versions: dict[str, str | None]) -> dict[str, Any]:
    """What differs between the libraries' versions of an architecture, and why."""
    notes: dict[str, Any] = {
        "zuko_coupling_nsf": (
            "Zuko has no coupling spline flow: zuko.flows.NSF is masked autoregressive (with "
            "passes=2 its MADE masks give a coupling pattern, but over a conditioner that reads "
            "all features, so it has more parameters and costs what an autoregressive layer "
            "does). The coupling NSF timed here is built from Zuko's public parts: "
            "zuko.flows.coupling.GeneralCouplingTransform (the class behind zuko.flows.RealNVP) "
            "with univariate=MonotonicRQSTransform(bound=5, slope=1e-3) and deepgen's masks."
        ),
        "nflows_conditional_maf": (
            "nflows' MADE adds the context through a layer of its own, "
            "ReLU(Linear(context, hidden)), to its first hidden layer, so it has one bias of "
            f"{HIDDEN} more per layer ({HIDDEN * LAYERS['conditional_maf']} in all) than deepgen's "
            "and Zuko's MADE, which take the context as extra inputs of the first masked "
            "layer; this cannot be changed from outside nflows."
        ),
        "splines": (
            "23 raw numbers per feature in every library (8 widths, 8 heights, 7 interior "
            "slopes; slope 1 at ±5). deepgen and nflows: bins at least 1e-3 wide and high, slopes "
            "min 1e-3 + softplus (deepgen shifts the raw slope so that 0 gives 1); nflows divides "
            "the raw widths and heights by sqrt(64) because the conditioner reports its width, "
            "as nflows' own networks do (its MADE does not, so its autoregressive spline does "
            "not). Zuko: widths and heights by a softmax of softly bounded raw numbers, slopes "
            "exp of a softly bounded raw number."
        ),
        "initialization": (
            "Each library's own: deepgen zero-initializes the last layer of every conditioner "
            "(each layer starts as the identity); nflows and Zuko use PyTorch's default "
            "Linear initialization."
        ),
    }
    if versions.get("zuko") is not None:
        notes["zuko_nsf_passes2_parameters"] = {
            f"d={d}": zuko_nsf_passes2_parameters(d)
            for d in sorted({DATASETS[ds][0] for ds in ("moons", "gauss8")})
        }
    return notes


def main(argv: list[str] | None = None) -> dict[str, Any]:
    args = parse_args(argv)
    t_start = time.perf_counter()
    load_before = load_average()

    def log(msg: str) -> None:
        print(msg, file=sys.stderr, flush=True)

    torch.set_num_threads(args.threads)
    versions = {name: None for name in PEERS} if args.skip_peers else peer_versions()
    libraries = ["deepgen"] + [p for p in PEERS if versions[p] is not None]
    status = {
        p: (
            "skipped (--skip-peers)"
            if args.skip_peers
            else "measured"
            if versions[p] is not None
            else f"skipped: not importable; install with {INSTALL_HINT}"
        )
        for p in PEERS
    }
    for p, s in status.items():
        if s != "measured":
            log(f"flows_vs_peers: {p} {s}")

    cases = [speed_case(ds, kind, libraries, args, log) for ds, kind in CASES]
    quality: dict[str, Any] = {}
    conditional: dict[str, Any] = {}
    if not args.skip_quality:
        quality = {
            kind: quality_case("moons", kind, libraries, args, log)
            for kind in ("realnvp", "maf", "nsf", "autoregressive_nsf")
        }
        conditional = quality_conditional(libraries, args, log)
    summary = {
        f"{c['dataset']}/{c['flow']}": {
            "train_step": c["train_step_ratios"]["ratios"],
            "logprob": c["logprob_ratios"]["ratios"],
        }
        for c in cases
    }
    met_by_case: dict[str, bool | None] = {}
    for c in cases:
        vs_faster = [
            c[key]["ratios"]["deepgen_vs_faster_peer"]
            for key in ("train_step_ratios", "logprob_ratios")
        ]
        met_by_case[f"{c['dataset']}/{c['flow']}"] = (
            None if None in vs_faster else all(v >= c["target"] for v in vs_faster)
        )
    measured = [v for v in met_by_case.values() if v is not None]
    result: dict[str, Any] = {
        "benchmark": "flows_vs_peers",
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "quick": args.quick,
        "ratios": summary,
        "ratio_definition": (
            "deepgen's median throughput (train steps/s or log_prob points/s) divided by the "
            "peer's; > 1 means deepgen is faster. deepgen_vs_faster_peer uses the faster of "
            "nflows and Zuko for that case"
        ),
        "targets": TARGETS,
        "target": "deepgen_vs_faster_peer >= targets[flow], for train_step and for logprob",
        "target_met": all(measured) if measured else None,
        "target_met_by_case": met_by_case,
        "cases": cases,
        "quality_moons": quality,
        "quality_conditional": conditional,
        "quality_notes": [
            "Same seed, same stream of fresh training batches, steps, batch size and lr for "
            "every library; test log-likelihood = mean log p(x) (log p(x | c) for cgauss) in "
            "nats per point on fresh samples (a different seed); higher is better.",
            "nflows' affine coupling scale is sigmoid(s + 2) + 1e-3 <= 1.001 (data -> noise), "
            "so its RealNVP log-density is at most log N(0; 0, I) + 8 * 1 * log(1.001) = "
            f"{-math.log(2 * math.pi) + 8 * math.log(1.001):.3f} nats on moons (d = 2, one "
            "changed feature per layer).",
            "quality_conditional.true_test_log_likelihood is the mean true log p(x | c) of the "
            "same test points; gap_to_true_nats = true - model (>= 0 up to sampling noise).",
        ],
        "setup": {
            "libraries": {"deepgen": "this checkout", **versions},
            "peer_status": status,
            "architectures": architectures(),
            "peer_notes": peer_notes(versions),
            "data": {
                "moons": "deepgen.data.toy.sample_toy('moons'), d = 2",
                "gauss8": "fixed mixture of 4 correlated 8-D Gaussians (gauss8_sampler)",
                "cgauss": (
                    "c ~ N(0, I_2), x | c ~ N(A c, diag exp(W c)^2), A = "
                    f"{CGAUSS_A.tolist()}, W = {CGAUSS_W.tolist()}"
                ),
            },
            "batch": args.batch,
            "optimizer": f"torch.optim.Adam(lr={LR})",
            "steps_per_block": args.steps_per_block,
            "repeats": args.repeats,
            "logprob_batch": args.logprob_batch,
            "logprob_calls_per_block": args.logprob_calls,
            "quality_steps": args.quality_steps,
            "test_points": args.test_points,
            "schedule": (
                "per case: a warm-up block per library, then `repeats` rounds; each round "
                "times one block of training steps per library, then one block of log_prob "
                "calls per library, the library order rotated each round; fresh batches per "
                "block, the same for every library; medians over rounds"
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
    out = Path(args.out) / RESULT_NAME
    write_json(out, result)
    log(f"wrote {out}")
    return result


if __name__ == "__main__":
    main()
