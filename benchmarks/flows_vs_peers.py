"""RealNVP and MAF in deepgen against nflows and Zuko: training-step time, log_prob throughput,
and the test log-likelihood each library reaches on two moons with the same settings.

The same architectures are built in each library (hidden width 64, two hidden ReLU layers per
conditioner, Adam lr 1e-3):

* RealNVP: 8 affine coupling layers whose changed half alternates (deepgen ``AffineCoupling`` with
  ``swap=i % 2``; nflows ``AffineCouplingTransform`` with the same masks and an MLP conditioner;
  Zuko ``flows.RealNVP(transforms=8, hidden_features=(64, 64))``, whose alternating masks are
  checkered: the same sizes, so the same cost).
* MAF: 5 MADE layers, the feature order reversed between layers (deepgen ``MAF`` + ``Reverse``;
  nflows ``MaskedAffineAutoregressiveTransform(num_blocks=1, use_residual_blocks=False)`` +
  ``ReversePermutation``; Zuko ``flows.MAF(transforms=5, hidden_features=(64, 64))``, which
  alternates the order instead).

The parameter counts agree across the libraries (recorded in the JSON). The libraries differ in how
they keep the affine scale finite, a choice each makes for its users: deepgen soft-clamps the log
scale to 5·tanh(s/5), Zuko to s/(1 + |s|/6.9), nflows' coupling uses the scale sigmoid(s + 2) +
0.001 (at most 1.001: it can only contract data towards the noise, so its log-density can never
exceed the base's maximum, −(d/2)·log 2π = −1.84 nats for d = 2) and its MAF softplus(s) + 0.001.

Data: two moons (``deepgen.data.toy.sample_toy("moons")``, d = 2) and an 8-D mixture of four
correlated Gaussians with fixed random means and covariances (``gauss8``).

Speed (one CPU thread by default): a training step is ``zero_grad``, ``-log_prob(x).mean()`` on a
batch of 256, ``backward`` and an Adam step; throughput is ``log_prob`` of 10,000 points under
``torch.no_grad``. Every library gets the same batches. After a warm-up, each round times one block
of steps (and one block of log_prob calls) per library, the library order rotated every round;
medians over rounds are reported, with ratios of throughputs (> 1 means deepgen is faster) against
nflows, Zuko and the faster of the two, and the median of per-round ratios as a check.

Quality: each library's RealNVP (and MAF) is trained on moons from the same seed with the same
stream of fresh training batches, steps, batch size and learning rate, then scored by the mean test
log-likelihood (nats per point) on 50,000 fresh samples.

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
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from deepgen.data.toy import sample_toy
from deepgen.fileio import write_json
from deepgen.flows import AffineCoupling, Flow, MaskedAffineAutoregressive, Reverse
from deepgen.nn import mlp
from deepgen.provenance import git_state, load_average

RESULT_NAME = "flows_vs_peers.json"
HIDDEN = 64
LAYERS = {"realnvp": 8, "maf": 5}
LR = 1e-3
SEED = 0
LIBRARIES = ("deepgen", "nflows", "zuko")
PEERS = ("nflows", "zuko")
DATASETS = {"moons": 2, "gauss8": 8}
INSTALL_HINT = "pip install -c constraints.txt -e '.[bench]'"
TARGET = 1.0  # deepgen's throughput / the faster peer's


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


def sample_data(name: str, n: int, seed: int) -> Tensor:
    """n float32 points of the named data set, reproducible from ``seed``."""
    g = torch.Generator().manual_seed(seed)
    if name == "moons":
        return sample_toy("moons", n, g)
    if name == "gauss8":
        return gauss8_sampler()(n, g).float()
    raise ValueError(f"unknown data set {name!r}")


# --- the three libraries ------------------------------------------------------------------------
@dataclass
class Model:
    """A flow of one library: its module (parameters) and a log_prob(x) -> [batch] callable."""

    library: str
    module: nn.Module
    log_prob: Callable[[Tensor], Tensor]

    def parameter_count(self) -> int:
        return sum(p.numel() for p in self.module.parameters())


def coupling_masks(d: int, layers: int) -> list[list[int]]:
    """The changed features of deepgen's AffineCoupling(d, swap=i % 2), as 0/1 masks (1 = changed).

    swap=False passes the first ⌈d/2⌉ features through; swap=True changes the first ⌊d/2⌋."""
    first = (d + 1) // 2
    masks = []
    for i in range(layers):
        if i % 2 == 0:
            masks.append([0] * first + [1] * (d - first))
        else:
            masks.append([1] * (d - first) + [0] * first)
    return masks


def build_deepgen(kind: str, d: int) -> Model:
    """deepgen: Flow(blocks) over N(0, I); blocks as ``deepgen flow`` builds them."""
    if kind == "realnvp":
        blocks: list[nn.Module] = [
            AffineCoupling(d, HIDDEN, swap=bool(i % 2)) for i in range(LAYERS[kind])
        ]
    else:
        blocks = []
        for _ in range(LAYERS[kind]):
            blocks += [MaskedAffineAutoregressive(d, HIDDEN, layers=2), Reverse(d)]
    flow = Flow(blocks)
    return Model("deepgen", flow, flow.log_prob)


class _Conditioner(nn.Module):
    """nflows calls its coupling networks as net(x, context): a plain MLP that ignores context."""

    def __init__(self, n_in: int, n_out: int) -> None:
        super().__init__()
        self.net = mlp([n_in, HIDDEN, HIDDEN, n_out], "relu")

    def forward(self, x: Tensor, context: Tensor | None = None) -> Tensor:
        return self.net(x)


def build_nflows(kind: str, d: int) -> Model:
    """nflows: Flow(CompositeTransform(...), StandardNormal([d]))."""
    import torch.nn.functional as F
    from nflows.distributions.normal import StandardNormal
    from nflows.flows.base import Flow as NFlow
    from nflows.transforms import (
        AffineCouplingTransform,
        CompositeTransform,
        MaskedAffineAutoregressiveTransform,
        ReversePermutation,
    )

    if kind == "realnvp":
        transforms = [
            AffineCouplingTransform(torch.tensor(m), _Conditioner)
            for m in coupling_masks(d, LAYERS[kind])
        ]
    else:
        transforms = []
        for _ in range(LAYERS[kind]):
            transforms += [
                MaskedAffineAutoregressiveTransform(
                    features=d,
                    hidden_features=HIDDEN,
                    num_blocks=1,  # input layer + 1 block = two hidden layers, like deepgen's
                    use_residual_blocks=False,
                    activation=F.relu,
                ),
                ReversePermutation(d),
            ]
    flow = NFlow(CompositeTransform(transforms), StandardNormal([d]))
    return Model("nflows", flow, flow.log_prob)


def build_zuko(kind: str, d: int) -> Model:
    """Zuko: flows.RealNVP / flows.MAF; log_prob is flow().log_prob (the lazy flow is built)."""
    import zuko

    cls = zuko.flows.RealNVP if kind == "realnvp" else zuko.flows.MAF
    flow = cls(d, transforms=LAYERS[kind], hidden_features=(HIDDEN, HIDDEN))

    def log_prob(x: Tensor) -> Tensor:
        return flow().log_prob(x)

    return Model("zuko", flow, log_prob)


BUILDERS: dict[str, Callable[[str, int], Model]] = {
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


def build(library: str, kind: str, d: int, seed: int) -> Model:
    torch.manual_seed(seed)
    return BUILDERS[library](kind, d)


# --- timing -------------------------------------------------------------------------------------
def train_block(model: Model, opt: torch.optim.Optimizer, batches: list[Tensor]) -> float:
    """Seconds per training step over ``batches``."""
    t0 = time.perf_counter()
    for x in batches:
        opt.zero_grad(set_to_none=True)
        loss = -model.log_prob(x).mean()
        loss.backward()
        opt.step()
    return (time.perf_counter() - t0) / len(batches)


def logprob_block(model: Model, x: Tensor, calls: int) -> float:
    """Points per second of log_prob without gradients."""
    with torch.no_grad():
        t0 = time.perf_counter()
        for _ in range(calls):
            model.log_prob(x)
        return calls * len(x) / (time.perf_counter() - t0)


def speed_case(
    dataset: str,
    kind: str,
    libraries: list[str],
    args: argparse.Namespace,
    log: Callable[[str], None],
) -> dict[str, Any]:
    """Interleaved timing of one (data set, architecture) across the libraries."""
    d = DATASETS[dataset]
    steps = args.steps_per_block
    pool = sample_data(dataset, (args.repeats + 1) * steps * args.batch, SEED + 7)
    blocks = [
        list(pool[(r * steps + i) * args.batch :][: args.batch] for i in range(steps))
        for r in range(args.repeats + 1)
    ]
    big = sample_data(dataset, args.logprob_batch, SEED + 8)
    models = {lib: build(lib, kind, d, SEED) for lib in libraries}
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
    result: dict[str, Any] = {"dataset": dataset, "features": d, "flow": kind, "libraries": per_lib}
    train_speed = {lib: [1 / s for s in step_s[lib]] for lib in libraries}
    result["train_step_ratios"] = ratios(train_speed)
    result["logprob_ratios"] = ratios(lp_pps)
    tr, lp = result["train_step_ratios"]["ratios"], result["logprob_ratios"]["ratios"]
    log(
        f"{dataset:6s} {kind:7s} "
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
    kind: str, libraries: list[str], args: argparse.Namespace, log: Callable[[str], None]
) -> dict[str, Any]:
    """Train each library's flow on moons with identical settings; test log-likelihood."""
    d = DATASETS["moons"]
    train = sample_data("moons", args.quality_steps * args.batch, SEED + 100)
    test = sample_data("moons", args.test_points, SEED + 200)
    out: dict[str, Any] = {}
    for lib in libraries:
        model = build(lib, kind, d, SEED)
        opt = torch.optim.Adam(model.module.parameters(), lr=LR)
        t0 = time.perf_counter()
        losses = []
        for i in range(args.quality_steps):
            x = train[i * args.batch : (i + 1) * args.batch]
            opt.zero_grad(set_to_none=True)
            loss = -model.log_prob(x).mean()
            loss.backward()
            opt.step()
            losses.append(loss.item())
        seconds = time.perf_counter() - t0
        with torch.no_grad():
            lp = torch.cat([model.log_prob(c) for c in test.split(10_000)])
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
        log(f"quality {kind:7s} {lib:8s} test log-likelihood {out[lib]['test_log_likelihood']}")
    return out


# --- bookkeeping ---------------------------------------------------------------------------------


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description="RealNVP and MAF: deepgen vs nflows vs Zuko (speed and moons likelihood)."
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

    cases = [speed_case(ds, kind, libraries, args, log) for ds in DATASETS for kind in LAYERS]
    quality = (
        {}
        if args.skip_quality
        else {kind: quality_case(kind, libraries, args, log) for kind in LAYERS}
    )
    summary = {
        f"{c['dataset']}/{c['flow']}": {
            "train_step": c["train_step_ratios"]["ratios"],
            "logprob": c["logprob_ratios"]["ratios"],
        }
        for c in cases
    }
    vs_faster = [
        v[key]["deepgen_vs_faster_peer"]
        for v in summary.values()
        for key in ("train_step", "logprob")
        if v[key]["deepgen_vs_faster_peer"] is not None
    ]
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
        "target": f"deepgen_vs_faster_peer >= {TARGET}",
        "target_met": (None if not vs_faster else all(v >= TARGET for v in vs_faster)),
        "cases": cases,
        "quality_moons": quality,
        "quality_notes": [
            "Same seed, same stream of fresh training batches, steps, batch size and lr for "
            "every library; test log-likelihood = mean log p(x) in nats per point on fresh "
            "samples (a different seed); higher is better.",
            "nflows' affine coupling scale is sigmoid(s + 2) + 1e-3 <= 1.001 (data -> noise), "
            "so its RealNVP log-density is at most log N(0; 0, I) + 8 * 1 * log(1.001) = "
            f"{-math.log(2 * math.pi) + 8 * math.log(1.001):.3f} nats on moons (d = 2, one "
            "changed feature per layer).",
            "Initializations are each library's own: deepgen zero-initializes the last layer "
            "of every conditioner (each block starts as the identity); the nflows conditioner "
            "here and Zuko use PyTorch's default Linear initialization.",
        ],
        "setup": {
            "libraries": {"deepgen": "this checkout", **versions},
            "peer_status": status,
            "architectures": {
                "realnvp": (
                    f"{LAYERS['realnvp']} affine couplings, changed half alternating; "
                    f"conditioner Linear-ReLU-Linear-ReLU-Linear, width {HIDDEN}"
                ),
                "maf": (
                    f"{LAYERS['maf']} MADE layers (two masked hidden layers of {HIDDEN}, ReLU), "
                    "feature order reversed between layers"
                ),
            },
            "data": {
                "moons": "deepgen.data.toy.sample_toy('moons'), d = 2",
                "gauss8": "fixed mixture of 4 correlated 8-D Gaussians (gauss8_sampler)",
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
