"""Mean-field variational inference on {0,1}^N: maximise F(q) over product distributions.

Families (q is always given as the vector of P(w_i = 1)):

* **Q1**: q(w) = Π_i q_i(w_i), one Bernoulli factor per variable;
* **Q2**: q(w) = Π_i q(w_i), one factor shared by every variable.

F(q) = −β E_q[Φ] + Σ_i H(q_i) ≤ log Z(β), and KL(q ‖ p) = log Z(β) − F(q).

Optimizers: coordinate ascent (CAVI: q_i ← σ(β(E_{q_{−i}}[Φ | w_i=0] − E_{q_{−i}}[Φ | w_i=1])),
the exact maximiser of F in q_i with the others fixed, so F never decreases) and gradient
ascent on the logits with a backtracking line search. Factors can be clamped (w_i = 0 or 1
surely). Energies of +∞ are handled exactly: a CAVI update whose one value meets only p = 0
configurations sets the factor to the other value; in Q2, whose interior puts mass everywhere,
the two point masses q = 0 and q = 1 are compared with the interior optimum.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Literal

import torch
from torch import Tensor

from deepgen.errors import ConfigError
from deepgen.vi.discrete import EnergyModel

Family = Literal["Q1", "Q2"]
Method = Literal["cavi", "gradient"]
FAMILIES = ("Q1", "Q2")
METHODS = ("cavi", "gradient")


@dataclass(frozen=True)
class MeanFieldResult:
    """The optimum found: q* (P(w_i = 1) per variable), F(q*), and how it was reached."""

    family: str
    method: str
    beta: float
    q: Tensor  # [N] float64
    free_energy: float  # F(q*) ≤ log Z(β); −inf when q* puts mass on p = 0
    iterations: int  # sweeps (CAVI) or accepted steps (gradient)
    converged: bool
    trace: list[float] = field(default_factory=list)  # F after each sweep / step
    clamp: dict[int, int] = field(default_factory=dict)  # 0-based index → value
    face: str = "interior"  # Q2: "interior", "all zeros" or "all ones"

    def kl(self, log_z: float) -> float:
        """KL(q* ‖ p) = log Z(β) − F(q*) (+∞ when F(q*) = −∞)."""
        return math.inf if self.free_energy == -math.inf else log_z - self.free_energy


def bernoulli_entropy(q: Tensor) -> Tensor:
    """H(q_i) = −q log q − (1−q) log(1−q) per entry, with 0 log 0 = 0 (differentiable inside)."""
    out = torch.zeros_like(q)
    for p in (q, 1 - q):
        safe = torch.where(p > 0, p, torch.ones_like(p))
        out = out - torch.where(p > 0, p * torch.log(safe), torch.zeros_like(p))
    return out


def product_free_energy(model: EnergyModel, q: Tensor, beta: float = 1.0) -> Tensor:
    """F(q) = −β E_q[Φ] + Σ_i H(q_i) for q = Π_i Bernoulli(q_i); −∞ if q meets Φ = +∞."""
    q = q.to(torch.float64)
    if q.shape != (model.n,):
        raise ConfigError(f"q must have one entry per variable ({model.n}), got {list(q.shape)}")
    energy, forbidden = model.product_energy(q)
    f = -beta * energy + bernoulli_entropy(q).sum()
    if float(forbidden.detach()) > 0:
        return torch.full_like(f, -math.inf)
    return f


def parse_clamp(items: Iterable[str], n: int) -> dict[int, int]:
    """``["w1=0", "w3=1"]`` → {0: 0, 2: 1}; a clear error for a missing variable or bad value."""
    out: dict[int, int] = {}
    for item in items:
        name, sep, value = item.partition("=")
        name = name.strip()
        if not sep or not name.startswith("w") or not name[1:].isdigit():
            raise ConfigError(f"--clamp {item!r}: expected wI=0 or wI=1, e.g. w1=0")
        i = int(name[1:])
        if not 1 <= i <= n:
            raise ConfigError(
                f"--clamp {item}: there is no variable {name}; the model has w1 … w{n}"
            )
        if value.strip() not in ("0", "1"):
            raise ConfigError(f"--clamp {item}: a variable can be clamped to 0 or 1 only")
        if i - 1 in out:
            raise ConfigError(f"--clamp: {name} is clamped twice")
        out[i - 1] = int(value)
    return out


def _check_clamp(clamp: dict[int, int], n: int) -> dict[int, int]:
    for i, v in clamp.items():
        if not 0 <= i < n:
            raise ConfigError(f"clamp names variable index {i}; the model has indices 0 … {n - 1}")
        if v not in (0, 1):
            raise ConfigError(f"a variable can be clamped to 0 or 1 only, got {v} for index {i}")
    return dict(clamp)


def initial_q(
    n: int, init: str | Tensor = "random", seed: int = 0, clamp: dict[int, int] | None = None
) -> Tensor:
    """Starting point: ``uniform`` (all ½), ``random`` (uniform on [0.1, 0.9], seeded) or given."""
    if isinstance(init, Tensor):
        q = init.to(torch.float64).clone()
        if q.shape != (n,) or bool(((q < 0) | (q > 1)).any()):
            raise ConfigError(f"an initial q must be [{n}] probabilities")
    elif init == "uniform":
        q = torch.full((n,), 0.5, dtype=torch.float64)
    elif init == "random":
        g = torch.Generator().manual_seed(seed)
        q = 0.1 + 0.8 * torch.rand(n, generator=g, dtype=torch.float64)
    else:
        raise ConfigError(f"unknown init {init!r}; choose uniform or random")
    for i, v in (clamp or {}).items():
        q[i] = float(v)
    return q


# --- Q1 ----------------------------------------------------------------------------------------
def cavi(
    model: EnergyModel,
    beta: float = 1.0,
    clamp: dict[int, int] | None = None,
    init: str | Tensor = "random",
    seed: int = 0,
    max_iter: int = 1000,
    tol: float = 1e-12,
    trace_updates: bool = False,
) -> MeanFieldResult:
    """Coordinate ascent on Q1: sweep i = 1…N, q_i ← σ(β(e_i0 − e_i1)) with
    e_ib = E_{q_{−i}}[Φ | w_i = b]; a factor whose value b meets p = 0 mass gets q_i(b) = 0.

    Stops when a sweep moves no q_i by more than ``tol``. ``trace`` holds F after every sweep
    (after every single update with ``trace_updates``).
    """
    clamp = _check_clamp(clamp or {}, model.n)
    q = initial_q(model.n, init, seed, clamp).to(model.device)
    free = [i for i in range(model.n) if i not in clamp]
    trace = [product_free_energy(model, q, beta).item()]
    converged, sweeps = False, 0
    while sweeps < max_iter:
        sweeps += 1
        before = q.clone()
        for i in free:
            e0, e1 = model.conditional_energies(q, i)
            inf0, inf1 = bool(torch.isinf(e0)), bool(torch.isinf(e1))
            if inf0 and inf1:
                continue  # both values meet p = 0 mass: F = −∞ whatever q_i is
            if inf1:
                q[i] = 0.0
            elif inf0:
                q[i] = 1.0
            else:
                q[i] = torch.sigmoid(beta * (e0 - e1))
            if trace_updates:
                trace.append(product_free_energy(model, q, beta).item())
        if not trace_updates:
            trace.append(product_free_energy(model, q, beta).item())
        if float((q - before).abs().max()) <= tol:
            converged = True
            break
    return MeanFieldResult("Q1", "cavi", beta, q.cpu(), trace[-1], sweeps, converged, trace, clamp)


def _ascend(
    objective, theta: Tensor, max_iter: int, tol: float, step: float
) -> tuple[Tensor, list[float], int, bool]:
    """Gradient ascent on an unconstrained θ with a backtracking line search: a step s is taken
    when it gains at least half the linear prediction, F(θ + s g) ≥ F(θ) + ½ s |g|², which
    keeps s below 1/curvature (no overshooting); s doubles after every accepted step."""

    def value_and_grad(t: Tensor) -> tuple[float, Tensor]:
        t = t.detach().requires_grad_(True)
        f = objective(t)
        if not torch.isfinite(f):
            return f.item(), torch.zeros_like(t)
        (g,) = torch.autograd.grad(f, t)
        return f.item(), g

    f, g = value_and_grad(theta)
    trace = [f]
    if not math.isfinite(f):
        return theta, trace, 0, False
    if theta.numel() == 0:  # nothing free: every factor is clamped
        return theta, trace, 0, True
    for it in range(1, max_iter + 1):
        if float(g.abs().max()) <= tol:
            return theta, trace, it - 1, True
        gg = float((g * g).sum())
        for _ in range(60):
            cand = theta + step * g
            f_new, g_new = value_and_grad(cand)
            if math.isfinite(f_new) and f_new >= f + 0.5 * step * gg:
                break
            step *= 0.5
        else:
            return theta, trace, it - 1, True  # no ascent possible: stationary up to rounding
        gain = f_new - f
        theta, f, g = cand.detach(), f_new, g_new
        step *= 2.0
        trace.append(f)
        if gain <= 4 * torch.finfo(torch.float64).eps * max(1.0, abs(f)):
            return theta, trace, it, True  # F no longer moves in float64: stationary
    return theta, trace, max_iter, float(g.abs().max()) <= tol


def _logit(q: Tensor) -> Tensor:
    q = q.clamp(1e-12, 1 - 1e-12)
    return torch.log(q) - torch.log1p(-q)


def gradient_q1(
    model: EnergyModel,
    beta: float = 1.0,
    clamp: dict[int, int] | None = None,
    init: str | Tensor = "random",
    seed: int = 0,
    max_iter: int = 5000,
    tol: float = 1e-7,
    step: float = 1.0,
) -> MeanFieldResult:
    """Gradient ascent on the logits θ_i of the free factors (q_i = σ(θ_i)); clamped factors are
    exact 0 or 1. F is −∞ on the whole open face when it meets p = 0: clamp by hand then."""
    clamp = _check_clamp(clamp or {}, model.n)
    q0 = initial_q(model.n, init, seed, clamp).to(model.device)
    free = torch.tensor([i for i in range(model.n) if i not in clamp], dtype=torch.int64)

    def build(theta: Tensor) -> Tensor:
        q = q0.clone()
        return q.index_put((free.to(q.device),), torch.sigmoid(theta))

    def objective(theta: Tensor) -> Tensor:
        return product_free_energy(model, build(theta), beta)

    theta, trace, its, ok = _ascend(objective, _logit(q0[free.to(q0.device)]), max_iter, tol, step)
    q = build(theta).detach()
    f = product_free_energy(model, q, beta).item()
    return MeanFieldResult("Q1", "gradient", beta, q.cpu(), f, its, ok, trace, clamp)


# --- Q2 ----------------------------------------------------------------------------------------
def _q2_interior(
    model: EnergyModel, beta: float, method: str, q_init: float, max_iter: int, tol: float
) -> tuple[float, float, list[float], int, bool]:
    n = model.n

    def objective(theta: Tensor) -> Tensor:
        return product_free_energy(model, torch.sigmoid(theta).expand(n), beta)

    theta = _logit(torch.tensor([q_init], dtype=torch.float64, device=model.device))
    if method == "gradient":
        theta, trace, its, ok = _ascend(objective, theta, max_iter, tol, 1.0)
        return torch.sigmoid(theta).item(), trace[-1], trace, its, ok
    # Fixed point of the stationarity condition ∂F/∂q = 0: q = σ(−β E'(q) / N), where
    # E(q) = E_{q^⊗N}[Φ]; a step that would lower F is halved in logit space (F never falls).
    f = objective(theta).item()
    trace = [f]
    for it in range(1, max_iter + 1):
        t = theta.detach().requires_grad_(True)
        energy = model.product_energy(torch.sigmoid(t).expand(n))[0]
        (de_dq,) = torch.autograd.grad(energy, t)
        q = torch.sigmoid(theta)
        de_dq = de_dq / (q * (1 - q))  # dE/dθ = dE/dq · q(1−q)
        target = torch.clamp(-beta * de_dq / n, -700.0, 700.0)
        delta = target - theta
        for _ in range(60):
            f_new = objective(theta + delta).item()
            if f_new >= f:
                break
            delta = delta / 2
        else:
            return torch.sigmoid(theta).item(), f, trace, it - 1, True
        theta = theta + delta
        f = f_new
        trace.append(f)
        if float(delta.abs().max()) <= tol:
            return torch.sigmoid(theta).item(), f, trace, it, True
    return torch.sigmoid(theta).item(), f, trace, max_iter, False


def optimize_q2(
    model: EnergyModel,
    beta: float = 1.0,
    method: str = "cavi",
    init: str | Tensor = "random",
    seed: int = 0,
    max_iter: int = 1000,
    tol: float = 1e-10,
) -> MeanFieldResult:
    """Best shared factor: the interior optimum (fixed point or gradient on the logit) compared
    with the point masses q = 0 (all zeros) and q = 1 (all ones), the two boundary faces."""
    if method not in METHODS:
        raise ConfigError(f"unknown method {method!r}; choose {', '.join(METHODS)}")
    n = model.n
    q_init = float(initial_q(1, init if not isinstance(init, Tensor) else init[:1], seed)[0])
    candidates: list[tuple[float, float, str, list[float], int, bool]] = []
    for value, face in ((0.0, "all zeros"), (1.0, "all ones")):
        f = product_free_energy(
            model, torch.full((n,), value, dtype=torch.float64, device=model.device), beta
        ).item()
        candidates.append((f, value, face, [f], 0, True))
    if not model.has_forbidden:  # the interior puts mass on every configuration
        q, f, trace, its, ok = _q2_interior(model, beta, method, q_init, max_iter, tol)
        candidates.append((f, q, "interior", trace, its, ok))
    f, q, face, trace, its, ok = max(candidates, key=lambda c: c[0])
    return MeanFieldResult(
        "Q2",
        method,
        beta,
        torch.full((n,), q, dtype=torch.float64),
        f,
        its,
        ok,
        trace,
        {},
        face,
    )


def mean_field(
    model: EnergyModel,
    family: str = "Q1",
    method: str = "cavi",
    beta: float = 1.0,
    clamp: dict[int, int] | None = None,
    init: str | Tensor = "random",
    seed: int = 0,
    max_iter: int | None = None,
    tol: float | None = None,
) -> MeanFieldResult:
    """max_{q ∈ family} F(q), i.e. min_{q ∈ family} KL(q ‖ p), by ``method``."""
    if family not in FAMILIES:
        raise ConfigError(f"unknown family {family!r}; choose Q1 or Q2")
    if method not in METHODS:
        raise ConfigError(f"unknown method {method!r}; choose {', '.join(METHODS)}")
    if not math.isfinite(beta):
        raise ConfigError(f"beta must be finite, got {beta}")
    if beta <= 0 and model.has_forbidden:
        raise ConfigError(f"beta must be > 0 when some energies are +inf, got {beta}")
    extra = {k: v for k, v in (("max_iter", max_iter), ("tol", tol)) if v is not None}
    if family == "Q2":
        if clamp:
            raise ConfigError(
                "clamps apply to Q1 (a factor per variable); Q2 has one shared factor"
            )
        return optimize_q2(model, beta, method, init, seed, **extra)
    if method == "cavi":
        return cavi(model, beta, clamp, init, seed, **extra)
    return gradient_q1(model, beta, clamp, init, seed, **extra)
