"""The amortization gap of a trained VAE (SPEC §2; Cremer, Li & Duvenaud 2018).

For each image x_i, with the decoder fixed:

* q_φ(z|x_i): the encoder's posterior (amortized inference, one forward pass) — a Gaussian, or
  a Gaussian followed by a conditional flow (IAF, planar) fed by an encoder context h(x_i);
* q_i*: the same family with its own local parameters (μ_i, log σ_i² and, for a flow, h_i),
  started at the encoder's output and optimised on the ELBO by Adam with reparameterized
  samples (per-datapoint inference; the flow's shared weights stay fixed);
* log p̂(x_i): importance-sampled with K samples (default 5,000) drawn in equal thirds from
  q_i*, q_φ and q_i* with its base standard deviation doubled, weighted against their equal
  mixture.
  This defensive proposal has bounded weights where the posterior is no wider than twice q_i*;
  the encoder's q_φ alone can sit two standard deviations off the posterior and then gives
  rare huge weights (an estimate 5 nats too high was seen once in four runs on one image).

  log p(x) − L[q_φ]  =  (log p(x) − L[q*])  +  (L[q*] − L[q_φ])
   inference gap        approximation gap      amortization gap

L[q*] and L[q_φ] are evaluated by the same estimator — E_q[log p(x|z)] with the same
``eval_samples`` standard-normal draws ε for both (common random numbers) minus the KL, in
closed form when registered for (q, p), else log q − log p on the same draws — so their
difference carries little Monte Carlo noise; its standard error is reported. The prior is the
model's own (N(0, I), a VampPrior or a flow).
"""

from __future__ import annotations

import contextlib
import math
import statistics
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor
from tqdm import tqdm

from deepgen.bounds import LogLikelihoodEstimate, importance_sampled_log_px
from deepgen.data import load_dataset
from deepgen.distributions import check_binary
from deepgen.errors import ConfigError
from deepgen.fileio import write_json
from deepgen.report import HtmlReport
from deepgen.train import resolve_device
from deepgen.train.lock import claim_out_dir
from deepgen.vae.composed import ComposedVAE, closed_form_kl, forked_rng, next_seed
from deepgen.vae.model import VAE

AnyVAE = VAE | ComposedVAE
Params = tuple[Tensor, ...]  # an encoder's local parameters for a batch: (μ, log σ², [h])

SPLITS = ("train", "val", "test")


@dataclass(frozen=True)
class GapConfig:
    """Settings of a gap measurement (``config`` in metrics.json)."""

    n: int = 100  # images: the first n of the split
    split: str = "test"
    k: int = 5000  # importance samples for log p̂(x)
    steps: int = 500  # Adam steps of the per-datapoint optimisation
    lr: float = 0.02  # initial Adam learning rate, decayed linearly to 0
    opt_samples: int = 50  # reparameterized samples per step (per image)
    eval_samples: int = 5000  # samples of the ELBO estimator for L[q*] and L[q_φ]
    seed: int = 0
    device: str = "auto"
    threads: int = 1

    def __post_init__(self) -> None:
        for name in ("n", "k", "steps", "opt_samples", "eval_samples", "threads"):
            if getattr(self, name) < 1:
                raise ConfigError(
                    f"--{name.replace('_', '-')} must be >= 1, got {getattr(self, name)}"
                )
        if not (math.isfinite(self.lr) and self.lr > 0):
            raise ConfigError(f"--lr must be a finite number > 0, got {self.lr}")
        if self.split not in SPLITS:
            raise ConfigError(f"unknown split {self.split!r}; choose train, val or test")


def _frozen(model: AnyVAE) -> list[bool]:
    flags = [p.requires_grad for p in model.parameters()]
    for p in model.parameters():
        p.requires_grad_(False)
    return flags


def _restore(model: AnyVAE, flags: list[bool]) -> None:
    for p, f in zip(model.parameters(), flags, strict=True):
        p.requires_grad_(f)


class _SavedBytes:
    """Counts the distinct storages autograd saves for backward (the graph's working memory)."""

    def __init__(self) -> None:
        self.storages: dict[int, int] = {}

    def pack(self, t: Tensor) -> Tensor:
        s = t.untyped_storage()
        self.storages[s.data_ptr()] = s.nbytes()
        return t

    @property
    def total(self) -> int:
        return sum(self.storages.values())


def elbo_sample(
    model: AnyVAE, x: Tensor, params: Params, samples: int
) -> tuple[Tensor, Tensor | None, Tensor]:
    """log p(x|z) [S, batch] at z ~ q(params), the closed-form KL(q ‖ p) [batch] (None when
    none is registered for the pair), and log q(z) − log p(z) [S, batch] (for the Monte Carlo
    KL). Reparameterized: gradients reach ``params``."""
    q = model.posterior(*params)
    z, log_q = q.rsample_and_log_prob((samples,))
    prior = model.prior_distribution()
    return model.log_likelihood(x, z), closed_form_kl(q, prior), log_q - prior.log_prob(z)


@dataclass
class LocalFit:
    """Per-datapoint posteriors q_i* (their local parameters) and how they were found."""

    params: Params
    elbo_trace: list[float]  # mean (over images) ELBO estimate at each step
    seconds: float
    saved_bytes_per_step: int  # bytes autograd keeps for one backward pass


def optimize_local(
    model: AnyVAE,
    x: Tensor,
    params: Params,
    steps: int,
    lr: float,
    samples: int,
    generator: torch.Generator,
    progress: bool = False,
) -> LocalFit:
    """Maximise Σ_i ELBO(x_i; q(params_i)) over the local parameters (μ_i, log σ_i² and, for a
    flow posterior, its context h_i) by Adam, lr decayed linearly to 0; the decoder, the prior
    and the flow's own weights are held fixed.

    Each step estimates the ELBO with ``samples`` fresh reparameterized draws (seeded from
    ``generator``), with the closed-form KL when one is registered for (q, p).
    """
    flags = _frozen(model)
    try:
        local = [p.detach().clone().requires_grad_(True) for p in params]
        opt = torch.optim.Adam(local, lr=lr)
        sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 1.0 - s / steps)
        trace: list[float] = []
        counter = _SavedBytes()
        t0 = time.perf_counter()
        bar = tqdm(
            range(steps),
            desc="per-datapoint q*",
            disable=not (progress and sys.stderr.isatty()),
            dynamic_ncols=True,
        )
        for step in bar:
            hooks = (
                torch.autograd.graph.saved_tensors_hooks(counter.pack, lambda t: t)
                if step == 0
                else contextlib.nullcontext()
            )
            with hooks, forked_rng(next_seed(generator), x.device):
                log_px_z, kl, kl_mc = elbo_sample(model, x, tuple(local), samples)
                kl = kl_mc.mean(0) if kl is None else kl
                elbo = log_px_z.mean(0) - kl
                loss = -elbo.sum()
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            trace.append(elbo.detach().mean().item())
        seconds = time.perf_counter() - t0
    finally:
        _restore(model, flags)
    return LocalFit(tuple(p.detach() for p in local), trace, seconds, counter.total)


@torch.no_grad()
def elbo_common_noise(
    model: AnyVAE,
    x: Tensor,
    params: list[Params],
    samples: int,
    generator: torch.Generator,
    chunk: int = 500,
) -> tuple[list[Tensor], list[Tensor], Tensor]:
    """ELBO estimates for several posteriors per image, all from the SAME base draws ε.

    L[q] ≈ (1/S) Σ_s [log p(x | z_s) − KL term], z_s the sample of q from ε_s; the KL term is
    the closed form when registered, else log q(z_s) − log p(z_s). Returns, per posterior, the
    estimate [batch] and its Monte Carlo standard error, and the standard error of the
    difference between the first two (smaller than either: the noise is shared).
    """
    sums = [torch.zeros(len(x), dtype=torch.float64, device=x.device) for _ in params]
    squares = [torch.zeros_like(s) for s in sums]
    closed: list[Tensor | None] = [None] * len(params)
    diff_sum = torch.zeros_like(sums[0])
    diff_sq = torch.zeros_like(sums[0])
    done = 0
    while done < samples:
        m = min(chunk, samples - done)
        seed = next_seed(generator)
        values = []
        for j, p in enumerate(params):
            with forked_rng(seed, x.device):
                log_px_z, kl, kl_mc = elbo_sample(model, x, p, m)
            closed[j] = None if kl is None else kl.to(torch.float64)
            values.append((log_px_z if kl is not None else log_px_z - kl_mc).to(torch.float64))
        for v, s, q in zip(values, sums, squares, strict=True):
            s += v.sum(0)
            q += v.pow(2).sum(0)
        if len(values) > 1:
            d = values[0] - values[1]
            diff_sum += d.sum(0)
            diff_sq += d.pow(2).sum(0)
        done += m

    def mean_se(s: Tensor, q: Tensor) -> tuple[Tensor, Tensor]:
        mean = s / samples
        var = (q / samples - mean.pow(2)).clamp(min=0) * samples / max(samples - 1, 1)
        return mean, (var / samples).sqrt()

    estimates, errors = [], []
    for kl, s, q in zip(closed, sums, squares, strict=True):
        mean, se = mean_se(s, q)
        estimates.append(mean if kl is None else mean - kl)
        errors.append(se)
    return estimates, errors, mean_se(diff_sum, diff_sq)[1]


def mixture_log_px(
    model: AnyVAE,
    x: Tensor,
    proposals: list[Params],
    k: int,
    generator: torch.Generator,
    chunk: int = 500,
) -> LogLikelihoodEstimate:
    """log p̂(x) = log (1/K) Σ_j p(x, z_j) / m(z_j) with the K draws split evenly between the
    posteriors given by their local parameters (stratified) and m = their equal mixture
    ("balance heuristic").

    Each chunk is an unbiased estimate of p(x) whatever the proposals, so the whole is too; a
    mixture is never much worse than its best member (w ≤ J · p(x, z)/q_j(z) for every j).
    """
    dists = [model.posterior(*p) for p in proposals]

    def log_weights(m: int) -> Tensor:
        parts = [m // len(dists) + (j < m % len(dists)) for j in range(len(dists))]
        used = [(q, c) for q, c in zip(dists, parts, strict=True) if c > 0]
        with forked_rng(next_seed(generator), x.device):
            z = torch.cat([q.sample((c,)) for q, c in used])  # [m, batch, Z]
        log_m = torch.logsumexp(torch.stack([math.log(c / m) + q.log_prob(z) for q, c in used]), 0)
        return model.log_joint(x, z) - log_m

    with torch.no_grad():
        return importance_sampled_log_px(log_weights, k, chunk)


def _param_bytes(tensors: list[Tensor]) -> int:
    return sum(t.numel() * t.element_size() for t in tensors)


def _cuda_peak(device: torch.device) -> int | None:
    return int(torch.cuda.max_memory_allocated(device)) if device.type == "cuda" else None


def _cuda_reset(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def measure_gap(model: AnyVAE, x: Tensor, cfg: GapConfig, progress: bool = False) -> dict[str, Any]:
    """Approximation and amortization gaps of ``model`` on the images ``x`` (see module doc).

    ``progress`` shows a bar over the optimisation steps (only on a terminal).
    """
    device = next(model.parameters()).device
    x = x.to(device)
    check_binary(x, "images for the gap")
    model.eval()

    # --- amortized inference: one encoder pass; time (median of repeats) and memory ---------
    _cuda_reset(device)
    activations = 0
    with torch.no_grad():
        h = x
        net = model.encoder if isinstance(model, VAE) else model.encoder.net
        for layer in net:
            h = layer(h)
            activations += h.numel() * h.element_size()
        amortized = model.local_params(x)
    amortized_peak = _cuda_peak(device)
    times = []
    with torch.no_grad():
        for _ in range(21):
            _sync(device)
            t0 = time.perf_counter()
            model.local_params(x)
            _sync(device)
            times.append(time.perf_counter() - t0)
    amortized_seconds = statistics.median(times)

    # --- per-datapoint inference, started at the encoder's output ----------------------------
    _cuda_reset(device)
    g_opt = torch.Generator(device=device).manual_seed(cfg.seed)
    fit = optimize_local(model, x, amortized, cfg.steps, cfg.lr, cfg.opt_samples, g_opt, progress)
    local_peak = _cuda_peak(device)

    # --- evaluation: same estimator, same noise, for both ------------------------------------
    g_eval = torch.Generator(device=device).manual_seed(cfg.seed + 1)
    (l_opt, l_amo), (se_opt, se_amo), se_diff = elbo_common_noise(
        model, x, [fit.params, amortized], cfg.eval_samples, g_eval
    )
    g_is = torch.Generator(device=device).manual_seed(cfg.seed + 2)
    # q* with its base Gaussian's standard deviation doubled (log σ² + log 4)
    wide = (fit.params[0], fit.params[1] + math.log(4.0), *fit.params[2:])
    est = mixture_log_px(model, x, [fit.params, amortized, wide], cfg.k, g_is)
    est_opt = mixture_log_px(model, x, [fit.params], cfg.k, g_is)
    est_enc = mixture_log_px(model, x, [amortized], cfg.k, g_is)
    lp = est.log_px
    approx, amort = lp - l_opt, l_opt - l_amo
    inference = lp - l_amo

    def row(t: Tensor) -> list[float]:
        return [float(v) for v in t.cpu()]

    def mean(t: Tensor) -> float:
        return float(t.mean())

    n = len(x)
    local_params = sum(p.numel() * p.element_size() for p in amortized)
    enc_params = [p for name, p in model.named_parameters() if name.startswith("encoder.")]
    below = l_opt < l_amo
    return {
        "images": n,
        "per_image": {
            "log_px": row(lp),
            "log_px_stderr": row(est.stderr),
            "log_px_optimal_proposal": row(est_opt.log_px),
            "log_px_encoder_proposal": row(est_enc.log_px),
            "elbo_amortized": row(l_amo),
            "elbo_optimal": row(l_opt),
            "elbo_amortized_stderr": row(se_amo),
            "elbo_optimal_stderr": row(se_opt),
            "approximation_gap": row(approx),
            "amortization_gap": row(amort),
            "amortization_gap_stderr": row(se_diff),
            "inference_gap": row(inference),
        },
        "mean": {
            "log_px": mean(lp),
            "log_px_optimal_proposal": mean(est_opt.log_px),
            "log_px_encoder_proposal": mean(est_enc.log_px),
            "elbo_amortized": mean(l_amo),
            "elbo_optimal": mean(l_opt),
            "approximation_gap": mean(approx),
            "amortization_gap": mean(amort),
            "inference_gap": mean(inference),
            "log_px_mc_stderr": mean(est.stderr),
        },
        "optimal_at_least_amortized": int((~below).sum()),
        "optimal_below_amortized": int(below.sum()),
        "optimal_below_amortized_beyond_2se": int((l_opt < l_amo - 2 * se_diff).sum()),
        "log_px_below_elbo_optimal": int((lp < l_opt).sum()),
        "time": {
            "amortized_seconds": amortized_seconds,
            "amortized_seconds_per_image": amortized_seconds / n,
            "per_datapoint_seconds": fit.seconds,
            "per_datapoint_seconds_per_image": fit.seconds / n,
            "per_datapoint_over_amortized": fit.seconds / max(amortized_seconds, 1e-12),
        },
        "memory": {
            "amortized_parameter_bytes": _param_bytes(enc_params),  # fixed, whatever n is
            "amortized_activation_bytes": activations,  # encoder outputs for the n images
            "amortized_cuda_peak_bytes": amortized_peak,
            "per_datapoint_parameter_bytes": local_params,  # grows with n (2·z (+ h) per image)
            "per_datapoint_optimizer_bytes": 2 * local_params,  # Adam's two moments
            "per_datapoint_autograd_bytes_per_step": fit.saved_bytes_per_step,
            "per_datapoint_cuda_peak_bytes": local_peak,
        },
        "elbo_trace": fit.elbo_trace,
    }


def plot_gaps(result: dict[str, Any], path: str | Path) -> Path:
    """Per-image approximation and amortization gaps (stacked, sorted), and L[q*] vs L[q_φ]."""
    from matplotlib.figure import Figure

    per = result["per_image"]
    approx = np.asarray(per["approximation_gap"])
    amort = np.asarray(per["amortization_gap"])
    order = np.argsort(approx + amort)
    fig = Figure(figsize=(11, 4))
    ax, ax2 = fig.subplots(1, 2, gridspec_kw={"width_ratios": [1.6, 1]})
    idx = np.arange(len(order))
    ax.bar(idx, approx[order], color="tab:blue", label="approximation gap  log p̂(x) − L[q*]")
    ax.bar(
        idx,
        amort[order],
        bottom=approx[order],
        color="tab:red",
        label="amortization gap  L[q*] − L[q_φ]",
    )
    ax.set_xlabel("image (sorted by the inference gap)")
    ax.set_ylabel("nats")
    ax.legend(loc="upper left", fontsize=8)
    ax.grid(alpha=0.3, axis="y")
    m = result["mean"]
    ax.set_title(
        f"mean gaps: approximation {m['approximation_gap']:.2f}, "
        f"amortization {m['amortization_gap']:.2f} nats"
    )
    a, o = np.asarray(per["elbo_amortized"]), np.asarray(per["elbo_optimal"])
    ax2.scatter(a, o, s=10, color="tab:purple")
    lo, hi = float(min(a.min(), o.min())), float(max(a.max(), o.max()))
    ax2.plot([lo, hi], [lo, hi], color="grey", linewidth=0.8, label="L[q*] = L[q_φ]")
    ax2.set_xlabel("L[q_φ]  (encoder)")
    ax2.set_ylabel("L[q*]  (per-datapoint)")
    ax2.legend(loc="upper left", fontsize=8)
    ax2.grid(alpha=0.3)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110, bbox_inches="tight")
    return path


def run_gap(
    checkpoint: str | Path,
    out_dir: str | Path,
    cfg: GapConfig,
    data_dir: str | None = None,
    progress: bool = False,
) -> dict[str, Any]:
    """Measure the gaps on the first ``cfg.n`` images of a split; write metrics.json, gaps.png
    and report.html into ``out_dir`` (held locked throughout). Returns the metrics."""
    with claim_out_dir(out_dir):
        return _run_gap(checkpoint, out_dir, cfg, data_dir, progress)


def _run_gap(
    checkpoint: str | Path,
    out_dir: str | Path,
    cfg: GapConfig,
    data_dir: str | None,
    progress: bool,
) -> dict[str, Any]:
    from deepgen.vae.experiment import load_vae  # experiment imports the training stack

    device = resolve_device(cfg.device)
    torch.set_num_threads(cfg.threads)
    model, run = load_vae(checkpoint, device)
    data = load_dataset(run["data"], data_dir or run.get("data_dir"))
    x_all = getattr(data, cfg.split)
    if cfg.split == "train":
        x_all = data.train_batch(torch.arange(len(x_all)), torch.Generator().manual_seed(cfg.seed))
    if cfg.n > len(x_all):
        raise ConfigError(f"--n {cfg.n} exceeds the {len(x_all)} images of the {cfg.split} split")
    t0 = time.perf_counter()
    result = measure_gap(model, x_all[: cfg.n], cfg, progress)
    metrics = {
        "checkpoint": str(checkpoint),
        "data": run["data"],
        "config": asdict(cfg),
        **result,
        "device": str(device),
        "threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "total_seconds": time.perf_counter() - t0,
    }
    out = Path(out_dir)
    plot = plot_gaps(metrics, out / "gaps.png")
    report = HtmlReport(f"Amortization gap: {cfg.n} {run['data']} {cfg.split} images")
    report.paragraph(
        f"log p̂(x) by importance sampling (K = {cfg.k}; proposal: the equal mixture of q*, q_φ "
        f"and q* widened 2x); L[q*] and L[q_φ] by the same {cfg.eval_samples}-sample estimator "
        "with shared noise. Inference gap = approximation gap + amortization gap (nats)."
    )
    report.table({**metrics["mean"], **metrics["time"]}, "means over images (nats), times (s)")
    report.image(plot, "Per-image gaps, and the per-datapoint ELBO against the encoder's")
    report.table(metrics["memory"], "memory (bytes)")
    report.table(asdict(cfg), "configuration")
    report.write(out / "report.html")
    write_json(out / "metrics.json", metrics)
    return metrics
