"""Distributions p(w) = e^{−βΦ(w)} / Z(β) on w ∈ {0,1}^N, computed exactly by enumeration.

The energy Φ is given as a Python callable, a table of 2^N values, or a pairwise
(Ising-style) model. Φ may be +∞ on some configurations: p puts probability 0 there
(β > 0 is then required). Configurations are ordered as ``itertools.product((0, 1),
repeat=N)``: index k holds w_i = bit N−i of k, so w_1 is the most significant bit.

* log Z(β) = log Σ_w e^{−βΦ(w)}, the marginals P(w_i = 1) and E_p[Φ], by enumeration in
  chunks of configurations (memory O(chunk · N)), up to N = :data:`MAX_ENUMERATION_N`.
* F(q) = −β Σ_w q(w)Φ(w) − Σ_w q(w) log q(w)  (the free energy; F(q) ≤ log Z(β)),
* KL(q ‖ p) = β Σ q Φ + Σ q log q + log Z(β) = log Z(β) − F(q), +∞ when q puts mass on p = 0,
* E_p[Φ] = −∂ log Z / ∂β, by autograd through the enumeration (:func:`mean_energy_autograd`).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

import torch
from torch import Tensor

from deepgen.errors import ConfigError, DataError, ShapeError

MAX_ENUMERATION_N = 24  # 2^24 ≈ 16.8 million configurations
DEFAULT_CHUNK = 1 << 16  # configurations per chunk: 2^16 × N float64 ≈ 12 MiB at N = 24

EnergyFn = Callable[[Tensor], Tensor]


def check_enumerable(n: int, what: str = "exact enumeration") -> None:
    """Raise :class:`ConfigError` unless 1 ≤ n ≤ :data:`MAX_ENUMERATION_N`."""
    if n > MAX_ENUMERATION_N:
        raise ConfigError(
            f"{what} is limited to N <= {MAX_ENUMERATION_N} variables (2^{MAX_ENUMERATION_N} "
            f"configurations); this model has N = {n}: only the mean-field bound is available "
            "(for pairwise models)"
        )


def configurations(
    n: int, start: int = 0, stop: int | None = None, device: torch.device | str = "cpu"
) -> Tensor:
    """Configurations ``start … stop−1`` of {0,1}^n, ``itertools.product`` order: [k, n] float64."""
    stop = 1 << n if stop is None else stop
    k = torch.arange(start, stop, dtype=torch.int64, device=device)
    shifts = torch.arange(n - 1, -1, -1, dtype=torch.int64, device=device)
    return ((k[:, None] >> shifts) & 1).to(torch.float64)


def _check_energies(phi: Tensor, rows: int, what: str) -> Tensor:
    if phi.shape != (rows,):
        raise ShapeError(
            f"{what} must return one energy per configuration: expected shape "
            f"[{rows}], got {list(phi.shape)}"
        )
    phi = phi.to(torch.float64)
    if bool(torch.isnan(phi).any()) or bool((phi == -math.inf).any()):
        raise DataError(f"{what} gave NaN or −inf energies; energies must be finite or +inf")
    return phi


class EnergyModel:
    """Base class: an energy Φ on {0,1}^N (+∞ allowed, meaning p = 0 there)."""

    def __init__(self, n: int, device: torch.device | str = "cpu") -> None:
        if not isinstance(n, int) or n < 1:
            raise ConfigError(f"the number of variables N must be a whole number >= 1, got {n}")
        self.n = n
        self.device = torch.device(device)
        self._table: Tensor | None = None

    def energy(self, w: Tensor) -> Tensor:
        """Φ(w) for a batch of configurations w: [k, N] of 0/1 → [k] float64."""
        raise NotImplementedError

    def _energy_checked(self, w: Tensor) -> Tensor:
        return _check_energies(self.energy(w), w.shape[0], "the energy")

    def chunks(self, chunk: int = DEFAULT_CHUNK) -> Iterator[tuple[Tensor, Tensor]]:
        """(w, Φ(w)) over all 2^N configurations, ``chunk`` at a time (needs N ≤ 24)."""
        check_enumerable(self.n)
        total = 1 << self.n
        for start in range(0, total, chunk):
            w = configurations(self.n, start, min(start + chunk, total), self.device)
            yield w, self._energy_checked(w)

    def table(self) -> Tensor:
        """All 2^N energies in enumeration order, [2^N] float64 (computed once, chunk by chunk)."""
        if self._table is None:
            self._table = torch.cat([phi for _, phi in self.chunks()])
        return self._table

    @property
    def has_forbidden(self) -> bool:
        """Whether some configuration has Φ = +∞ (probability 0 under p)."""
        return bool(torch.isinf(self.table()).any())

    # --- product distributions q(w) = Π_i q_i(w_i), q given as P(w_i = 1) -----------------
    def product_energy(self, q: Tensor) -> tuple[Tensor, Tensor]:
        """(E_q[Φ on finite configurations], q-mass on Φ = +∞) for q = Π_i Bernoulli(q_i).

        E_q[Φ] = first + (∞ if second > 0 else 0). Differentiable in q (tensor contraction of
        the energy table with the factors, 2·2^N operations).
        """
        t = self.table()
        inf = torch.isinf(t)
        finite = torch.where(inf, torch.zeros_like(t), t)
        vecs = [torch.stack((1 - q[i], q[i])) for i in range(self.n)]
        return _contract(finite, vecs), _contract(inf.to(torch.float64), vecs)

    def conditional_energies(self, q: Tensor, i: int) -> tuple[Tensor, Tensor]:
        """(E_{q_{−i}}[Φ | w_i = 0], E_{q_{−i}}[Φ | w_i = 1]), each +∞ where the mass on
        Φ = +∞ configurations is positive. The CAVI update needs these two numbers."""
        t = self.table()
        inf = torch.isinf(t)
        finite = torch.where(inf, torch.zeros_like(t), t)
        vecs = [torch.stack((1 - q[j], q[j])) for j in range(self.n)]
        e = _contract(finite, vecs, skip=i)
        m = _contract(inf.to(torch.float64), vecs, skip=i)
        return tuple(  # type: ignore[return-value]
            torch.where(m[b] > 0, torch.full_like(e[b], math.inf), e[b]) for b in (0, 1)
        )


def _contract(table: Tensor, vecs: Sequence[Tensor], skip: int | None = None) -> Tensor:
    """Σ_w table(w) Π_{j≠skip} v_j(w_j): the table viewed as [2]*N, contracted axis by axis."""
    n = len(vecs)
    t = table.reshape([2] * n)
    for j in range(n - 1, -1, -1):  # last axis first: lower axis indices stay valid
        if j == skip:
            continue
        t = torch.tensordot(t, vecs[j], dims=([j], [0]))
    return t


class CallableEnergy(EnergyModel):
    """Φ given as a vectorized callable: ``fn(w)`` maps [k, N] float64 0/1 rows to [k] energies."""

    def __init__(self, n: int, fn: EnergyFn, device: torch.device | str = "cpu") -> None:
        super().__init__(n, device)
        if not callable(fn):
            raise ConfigError("the energy must be callable: fn(w [k, N]) -> [k]")
        self.fn = fn

    def energy(self, w: Tensor) -> Tensor:
        """Φ(w) = fn(w)."""
        return self.fn(w)


class TableEnergy(EnergyModel):
    """Φ given as a table of 2^N values in ``itertools.product`` order (or shaped [2]*N)."""

    def __init__(self, table: Tensor | Sequence[float], device: torch.device | str = "cpu"):
        t = torch.as_tensor(table, dtype=torch.float64).to(device).flatten()
        size = t.numel()
        n = size.bit_length() - 1
        if size < 2 or size != 1 << n:
            raise ShapeError(
                f"an energy table over {{0,1}}^N needs 2^N entries (2, 4, 8, …); got {size}"
            )
        check_enumerable(n, "an energy table")
        super().__init__(n, device)
        self._table = _check_energies(t, size, "the energy table")

    def energy(self, w: Tensor) -> Tensor:
        """Φ(w) = table[index(w)], index(w) = Σ_i w_i 2^{N−i}."""
        weights = 2 ** torch.arange(self.n - 1, -1, -1, device=w.device, dtype=torch.int64)
        assert self._table is not None
        return self._table[(w.to(torch.int64) * weights).sum(-1)]


class PairwiseEnergy(EnergyModel):
    """Φ(w) = −Σ_{i<j} J_ij w_i w_j − Σ_i h_i w_i + c on w ∈ {0,1}^N (J symmetric, zero diagonal).

    Its mean-field quantities have closed forms, so they work for any N (no enumeration):
    E_q[Φ] = −½ qᵀJq − hᵀq + c and E_{q_{−i}}[Φ | w_i=1] − E[Φ | w_i=0] = −(h_i + Σ_j J_ij q_j).
    """

    def __init__(
        self,
        coupling: Tensor,
        field: Tensor,
        constant: float = 0.0,
        device: torch.device | str = "cpu",
    ) -> None:
        J = torch.as_tensor(coupling, dtype=torch.float64).to(device)
        h = torch.as_tensor(field, dtype=torch.float64).to(device)
        if J.dim() != 2 or J.shape[0] != J.shape[1] or h.shape != (J.shape[0],):
            raise ShapeError(
                f"a pairwise model needs J of shape [N, N] and h of shape [N]; got "
                f"{list(J.shape)} and {list(h.shape)}"
            )
        if not (bool(torch.isfinite(J).all()) and bool(torch.isfinite(h).all())):
            raise DataError("the couplings and fields of a pairwise model must be finite")
        if not torch.allclose(J, J.T) or bool(J.diagonal().abs().max() > 0):
            raise DataError("the coupling matrix J must be symmetric with a zero diagonal")
        super().__init__(J.shape[0], device)
        self.coupling, self.field, self.constant = J, h, float(constant)

    @classmethod
    def ising(
        cls, coupling: Tensor, field: Tensor, device: torch.device | str = "cpu"
    ) -> PairwiseEnergy:
        """From spins s = 2w − 1: Φ(s) = −Σ_{i<j} K_ij s_i s_j − Σ_i H_i s_i, rewritten in w.

        s_i s_j = 4 w_i w_j − 2 w_i − 2 w_j + 1, so J = 4K, h = 2H − 2 Σ_j K_ij and
        c = −Σ_{i<j} K_ij + Σ_i H_i.
        """
        K = torch.as_tensor(coupling, dtype=torch.float64)
        H = torch.as_tensor(field, dtype=torch.float64)
        return cls(4 * K, 2 * H - 2 * K.sum(1), float(-K.sum() / 2 + H.sum()), device)

    def energy(self, w: Tensor) -> Tensor:
        """Φ(w) = −½ wᵀJw − hᵀw + c, row by row."""
        w = w.to(torch.float64)
        return -0.5 * ((w @ self.coupling) * w).sum(-1) - w @ self.field + self.constant

    @property
    def has_forbidden(self) -> bool:
        """Pairwise energies are finite everywhere."""
        return False

    def product_energy(self, q: Tensor) -> tuple[Tensor, Tensor]:
        """(−½ qᵀJq − hᵀq + c, 0): exact for product q because J has a zero diagonal."""
        e = -0.5 * q @ self.coupling @ q - self.field @ q + self.constant
        return e, torch.zeros((), dtype=torch.float64, device=q.device)

    def conditional_energies(self, q: Tensor, i: int) -> tuple[Tensor, Tensor]:
        """E_{q_{−i}}[Φ | w_i = b] for b = 0, 1, in O(N²)."""
        q0 = q.clone()
        q0[i] = 0.0
        e0 = self.product_energy(q0)[0]
        return e0, e0 - (self.field[i] + self.coupling[i] @ q0)


def ising_grid(
    size: int, coupling: float = 1.0, field: float = 0.0, device: torch.device | str = "cpu"
) -> PairwiseEnergy:
    """An L × L grid of spins with nearest-neighbour coupling K and field H (free boundary).

    Variable i = r·L + c; Φ(s) = −K Σ_{⟨ij⟩} s_i s_j − H Σ_i s_i with s = 2w − 1.
    """
    if size < 1:
        raise ConfigError(f"the grid size must be >= 1, got {size}")
    n = size * size
    K = torch.zeros(n, n, dtype=torch.float64)
    for r in range(size):
        for c in range(size):
            i = r * size + c
            if c + 1 < size:
                K[i, i + 1] = K[i + 1, i] = coupling
            if r + 1 < size:
                K[i, i + size] = K[i + size, i] = coupling
    return PairwiseEnergy.ising(K, torch.full((n,), float(field), dtype=torch.float64), device)


# --- exact quantities by enumeration ---------------------------------------------------------
def _log_weights(phi: Tensor, beta: Tensor | float) -> Tensor:
    """−βΦ with −∞ where Φ = +∞, safe for autograd (no 0·∞)."""
    inf = torch.isinf(phi)
    finite = torch.where(inf, torch.zeros_like(phi), phi)
    return torch.where(inf, torch.full_like(phi, -math.inf), -beta * finite)


def _check_beta(model: EnergyModel, beta: float) -> None:
    if not math.isfinite(beta):
        raise ConfigError(f"beta must be finite, got {beta}")
    if beta <= 0 and model.has_forbidden:
        raise ConfigError(f"beta must be > 0 when some energies are +inf (p = 0 there), got {beta}")


def log_partition(
    model: EnergyModel, beta: Tensor | float = 1.0, chunk: int = DEFAULT_CHUNK
) -> Tensor:
    """log Z(β) = log Σ_w e^{−βΦ(w)} by enumeration in chunks (differentiable in β)."""
    total: Tensor | None = None
    for _, phi in model.chunks(chunk):
        part = torch.logsumexp(_log_weights(phi, beta), 0)
        total = part if total is None else torch.logaddexp(total, part)
    assert total is not None
    if bool(torch.isinf(total)):
        raise DataError("every configuration has energy +inf: p is not a distribution (Z = 0)")
    return total


@dataclass(frozen=True)
class Enumeration:
    """Exact results for p = e^{−βΦ}/Z: log Z, the marginals P(w_i = 1) and E_p[Φ]."""

    n: int
    beta: float
    log_z: float
    marginals: Tensor  # [N] float64
    mean_energy: float  # E_p[Φ] = Σ_w p(w) Φ(w), the direct expectation


def enumerate_exact(
    model: EnergyModel, beta: float = 1.0, chunk: int = DEFAULT_CHUNK
) -> Enumeration:
    """log Z(β), marginals and E_p[Φ] in one pass over all configurations, ``chunk`` at a time."""
    _check_beta(model, beta)
    log_z = log_partition(model, beta, chunk)
    marg = torch.zeros(model.n, dtype=torch.float64, device=model.device)
    mean_e = torch.zeros((), dtype=torch.float64, device=model.device)
    for w, phi in model.chunks(chunk):
        p = torch.exp(_log_weights(phi, beta) - log_z)
        marg += p @ w
        mean_e += (p * torch.where(torch.isinf(phi), torch.zeros_like(phi), phi)).sum()
    return Enumeration(model.n, beta, log_z.item(), marg, mean_e.item())


def mean_energy_autograd(model: EnergyModel, beta: float = 1.0) -> float:
    """E_p[Φ] as −∂ log Z / ∂β, by autograd through the enumeration."""
    _check_beta(model, beta)
    b = torch.tensor(float(beta), dtype=torch.float64, device=model.device, requires_grad=True)
    (grad,) = torch.autograd.grad(log_partition(model, b), b)
    return -grad.item()


def log_probabilities(model: EnergyModel, beta: float = 1.0) -> Tensor:
    """log p(w) for all 2^N configurations in enumeration order (−∞ where Φ = +∞)."""
    _check_beta(model, beta)
    return _log_weights(model.table(), beta) - log_partition(model, beta)


def _check_q(model: EnergyModel, q: Tensor) -> Tensor:
    q = torch.as_tensor(q, dtype=torch.float64).to(model.device).flatten()
    if q.numel() != 1 << model.n:
        raise ShapeError(
            f"q must give one probability per configuration (2^{model.n} = "
            f"{1 << model.n}), got {q.numel()}"
        )
    if bool((q < 0).any()) or not math.isclose(q.sum().item(), 1.0, abs_tol=1e-9):
        raise DataError("q must be non-negative and sum to 1")
    return q


def _entropy_terms(q: Tensor) -> Tensor:
    """Σ q log q with 0 log 0 = 0."""
    return torch.where(q > 0, q * torch.log(torch.where(q > 0, q, torch.ones_like(q))), 0.0).sum()


def free_energy(model: EnergyModel, q: Tensor, beta: float = 1.0) -> float:
    """F(q) = −β Σ_w q(w)Φ(w) − Σ_w q(w) log q(w) for a distribution q over all 2^N
    configurations; −∞ when q puts mass where Φ = +∞. F(q) ≤ log Z(β)."""
    _check_beta(model, beta)
    q = _check_q(model, q)
    phi = model.table()
    inf = torch.isinf(phi)
    if bool((q[inf] > 0).any()):
        return -math.inf
    mean = (q * torch.where(inf, torch.zeros_like(phi), phi)).sum()
    return (-beta * mean - _entropy_terms(q)).item()


def kl_divergence(model: EnergyModel, q: Tensor, beta: float = 1.0) -> float:
    """KL(q ‖ p) = Σ_w q(w) log(q(w)/p(w)), computed directly; +∞ when q(w) > 0 = p(w)."""
    q = _check_q(model, q)
    log_p = log_probabilities(model, beta)
    if bool((q[torch.isinf(log_p)] > 0).any()):
        return math.inf
    pos = q > 0
    return (q[pos] * (torch.log(q[pos]) - log_p[pos])).sum().item()
