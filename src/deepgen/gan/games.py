"""Two-player games whose training dynamics can be computed exactly.

A game has a discriminator d (it maximises V) and a generator g (it minimises V). Every method
below moves z = [d, g] along the *game field*

    v(z) = (∂V/∂d, −∂V/∂g)            (d ascends, g descends),

so on the bilinear game V = dᵀ M g the field is linear, v(z) = J z with J = [[0, M], [−Mᵀ, 0]],
and each method is a linear map s_{k+1} = A s_k of its state s (the iterate, plus the previous
iterate for the two-step methods). On a non-linear game (the Dirac-GAN) A is the linearisation
at the equilibrium, built from J = ∂v/∂z there, and the verdict is local.

For each method this module gives A (:func:`update_matrix`, from J), one step of the actual rule
(:func:`step`, from gradients only), and :func:`analyse`: eigenvalues, spectral radius,
stationary points, a simulated trajectory, a verdict from the spectrum and a cross-check of that
verdict against a long simulation of the rule.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from deepgen.errors import ConfigError

METHODS = (
    "simultaneous",
    "alternating",
    "extragradient",
    "optimistic",
    "momentum",
    "alternating-momentum",
    "consensus",
)
TWO_STEP = ("optimistic", "momentum", "alternating-momentum")
VERDICTS = ("converges", "cycles", "diverges")

SPECTRAL_TOL = 1e-9  # |λ| within this of 1 counts as on the unit circle
CLUSTER_TOL = 1e-6  # eigenvalues this close are treated as one repeated eigenvalue
MAX_CHECK_STEPS = 20_000


# --- games -----------------------------------------------------------------------------------
class Game:
    """A two-player game: ``field(d, g)`` = (∂V/∂d, −∂V/∂g) and its Jacobian in z = [d, g]."""

    name = "game"
    dim_d = 1
    dim_g = 1

    @property
    def dim(self) -> int:
        """Size of z = [d, g]."""
        return self.dim_d + self.dim_g

    def field(self, d: np.ndarray, g: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The game field: (∂V/∂d, −∂V/∂g) at (d, g)."""
        raise NotImplementedError

    def field_jacobian(self, z: np.ndarray) -> np.ndarray:
        """∂v/∂z at z = [d, g], an [n, n] matrix."""
        raise NotImplementedError

    def equilibrium(self) -> np.ndarray:
        """A point where the field vanishes (the Nash equilibrium the methods aim for)."""
        return np.zeros(self.dim)

    def jacobian(self) -> np.ndarray:
        """J = ∂v/∂z at the equilibrium; its eigenvalues are the continuous-time spectrum."""
        return self.field_jacobian(self.equilibrium())

    def describe(self) -> str:
        """One line naming the game."""
        return self.name


class BilinearGame(Game):
    """V(d, g) = dᵀ M g; M = [[1]] gives the scalar game V = d·g of SPEC §5."""

    def __init__(self, payoff: np.ndarray | None = None) -> None:
        m = np.array([[1.0]]) if payoff is None else np.atleast_2d(np.asarray(payoff, float))
        if m.ndim != 2 or not np.all(np.isfinite(m)):
            raise ConfigError(f"the payoff matrix must be a finite 2-D matrix, got {m.tolist()}")
        self.payoff = m
        self.dim_d, self.dim_g = m.shape
        self.name = "bilinear V = d·g" if m.shape == (1, 1) and m[0, 0] == 1 else "bilinear dᵀMg"

    def value(self, d: np.ndarray, g: np.ndarray) -> float:
        """V(d, g) = dᵀ M g."""
        return float(d @ self.payoff @ g)

    def field(self, d: np.ndarray, g: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(∂V/∂d, −∂V/∂g) = (M g, −Mᵀ d)."""
        return self.payoff @ g, -(self.payoff.T @ d)

    def field_jacobian(self, z: np.ndarray) -> np.ndarray:
        """J = [[0, M], [−Mᵀ, 0]] (constant)."""
        m, (a, b) = self.payoff, self.payoff.shape
        return np.block([[np.zeros((a, a)), m], [-m.T, np.zeros((b, b))]])

    def describe(self) -> str:
        """One line naming the game."""
        return f"V(d, g) = dᵀ M g with M = {self.payoff.tolist()}"


def _sigmoid(t: float) -> float:
    return 1.0 / (1.0 + math.exp(-t)) if t >= 0 else math.exp(t) / (1.0 + math.exp(t))


DIRAC_VARIANTS = ("plain", "wgan", "r1")


class DiracGAN(Game):
    """The Dirac-GAN of Mescheder et al. (2018): data δ_0, generator δ_θ, critic D_ψ(x) = ψx.

    d = ψ, g = θ. ``plain``: V = log σ(D(0)) + log σ(−D(θ)) = log ½ + log σ(−ψθ);
    ``wgan``: V = D(0) − D(θ) = −ψθ; ``r1``: plain, and the discriminator also pays the R1
    penalty (γ/2)·|∂D/∂x|² = (γ/2)ψ² on the data. The equilibrium is (ψ, θ) = (0, 0).
    """

    def __init__(self, variant: str = "plain", r1: float = 1.0) -> None:
        if variant not in DIRAC_VARIANTS:
            raise ConfigError(
                f"unknown Dirac-GAN variant {variant!r}; choose from {', '.join(DIRAC_VARIANTS)}"
            )
        if variant == "r1" and not (math.isfinite(r1) and r1 > 0):
            raise ConfigError(f"the R1 weight gamma must be > 0, got {r1}")
        self.variant = variant
        self.r1 = r1 if variant == "r1" else 0.0
        self.name = f"Dirac-GAN ({variant})"

    def field(self, d: np.ndarray, g: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(∂V_D/∂ψ, −∂V/∂θ); plain: (−θσ(ψθ) − γψ, ψσ(ψθ)); wgan: (−θ, ψ)."""
        psi, theta = float(d[0]), float(g[0])
        if self.variant == "wgan":
            return np.array([-theta]), np.array([psi])
        s = _sigmoid(psi * theta)
        return np.array([-theta * s - self.r1 * psi]), np.array([psi * s])

    def field_jacobian(self, z: np.ndarray) -> np.ndarray:
        """∂v/∂z; at 0: plain [[0, −½], [½, 0]], wgan [[0, −1], [1, 0]], r1 [[−γ, −½], [½, 0]]."""
        psi, theta = float(z[0]), float(z[1])
        if self.variant == "wgan":
            return np.array([[0.0, -1.0], [1.0, 0.0]])
        s = _sigmoid(psi * theta)
        ds = s * (1 - s)
        return np.array(
            [
                [-(theta**2) * ds - self.r1, -s - psi * theta * ds],
                [s + psi * theta * ds, psi**2 * ds],
            ]
        )

    def describe(self) -> str:
        """One line naming the game."""
        extra = f", R1 γ = {self.r1:g}" if self.variant == "r1" else ""
        return f"{self.name}: p_data = δ_0, p_θ = δ_θ, D_ψ(x) = ψx{extra}"


# --- methods ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class MethodParams:
    """Step size α, heavy-ball momentum β (negative allowed, |β| < 1), consensus weight γ."""

    lr: float
    momentum: float = 0.0
    gamma: float = 0.0

    def __post_init__(self) -> None:
        if not (math.isfinite(self.lr) and self.lr > 0):
            raise ConfigError(f"--lr must be a finite number > 0, got {self.lr}")
        if not (math.isfinite(self.momentum) and abs(self.momentum) < 1):
            raise ConfigError(f"--momentum must be in (-1, 1), got {self.momentum}")
        if not (math.isfinite(self.gamma) and self.gamma >= 0):
            raise ConfigError(f"--gamma must be >= 0, got {self.gamma}")


def check_method(method: str) -> None:
    """Raise :class:`ConfigError` for an unknown method name."""
    if method not in METHODS:
        raise ConfigError(f"unknown method {method!r}; choose from {', '.join(METHODS)}")


def state_size(method: str, n: int) -> int:
    """Length of the stacked state: n, or 2n for methods that remember the previous iterate."""
    return 2 * n if method in TWO_STEP else n


def update_matrix(method: str, jac: np.ndarray, dim_d: int, p: MethodParams) -> np.ndarray:
    """The linear update A with s_{k+1} = A s_k, from the field's Jacobian J.

    simultaneous I + αJ; alternating (d first, then g with the new d); extragradient
    I + αJ + α²J²; optimistic [[I + 2αJ, −αJ], [I, 0]]; momentum [[(1+β)I + αJ, −βI], [I, 0]];
    alternating-momentum the alternating update with β(z_k − z_{k−1}) added per player;
    consensus I + αJ − αγJᵀJ. Two-step states are [z_k, z_{k−1}].
    """
    check_method(method)
    n = jac.shape[0]
    a, b, eye = p.lr, p.momentum, np.eye(n)
    if method == "simultaneous":
        return eye + a * jac
    if method == "extragradient":
        return eye + a * jac + a * a * jac @ jac
    if method == "consensus":
        return eye + a * jac - a * p.gamma * jac.T @ jac
    if method == "optimistic":
        return np.block([[eye + 2 * a * jac, -a * jac], [eye, np.zeros((n, n))]])
    if method == "momentum":
        return np.block([[(1 + b) * eye + a * jac, -b * eye], [eye, np.zeros((n, n))]])
    # alternating variants: rows of d use the old g; rows of g use the new d
    k = dim_d
    if method == "alternating":  # rows are linear forms in z: d' first, then g' from (d', g)
        d_rows = eye[:k] + a * jac[:k]
        g_rows = eye[k:] + a * (jac[k:, :k] @ d_rows + jac[k:, k:] @ eye[k:])
        return np.vstack([d_rows, g_rows])
    # alternating-momentum on s = [d, g, d_prev, g_prev]
    big = 2 * n
    sel = np.eye(big)
    d_cur, g_cur, d_prev, g_prev = sel[:k], sel[k:n], sel[n : n + k], sel[n + k :]
    z_cur = sel[:n]
    d_rows = (1 + b) * d_cur + a * jac[:k] @ z_cur - b * d_prev
    g_rows = (1 + b) * g_cur + a * (jac[k:, :k] @ d_rows + jac[k:, k:] @ g_cur) - b * g_prev
    return np.vstack([d_rows, g_rows, z_cur])


def _field_z(game: Game, z: np.ndarray) -> np.ndarray:
    vd, vg = game.field(z[: game.dim_d], z[game.dim_d :])
    return np.concatenate([vd, vg])


def step(method: str, game: Game, z: np.ndarray, z_prev: np.ndarray, p: MethodParams) -> np.ndarray:
    """One update of the rule itself, from gradients only (never the matrix): z_{k+1}."""
    a, k = p.lr, game.dim_d
    if method == "simultaneous":
        return z + a * _field_z(game, z)
    if method == "extragradient":
        look = z + a * _field_z(game, z)  # extrapolate, then step with the field there
        return z + a * _field_z(game, look)
    if method == "consensus":
        v = _field_z(game, z)  # both players also descend ½‖v‖², whose gradient is Jᵀv
        return z + a * (v - p.gamma * game.field_jacobian(z).T @ v)
    if method == "optimistic":
        return z + 2 * a * _field_z(game, z) - a * _field_z(game, z_prev)
    if method == "momentum":
        return z + a * _field_z(game, z) + p.momentum * (z - z_prev)
    b = p.momentum if method == "alternating-momentum" else 0.0
    d, g = z[:k], z[k:]
    vd, _ = game.field(d, g)
    d_new = d + a * vd + b * (d - z_prev[:k])
    _, vg = game.field(d_new, g)
    g_new = g + a * vg + b * (g - z_prev[k:])
    return np.concatenate([d_new, g_new])


def simulate(
    method: str,
    game: Game,
    start: np.ndarray,
    steps: int,
    p: MethodParams,
    escape: float = 1e100,
) -> np.ndarray:
    """Iterates z_0 … z_steps of the rule ([steps + 1, n]); z_{−1} = z_0 for two-step methods.

    Stops early (the rest filled with inf) once ‖z − z*‖ exceeds ``escape``.
    """
    check_method(method)
    z = np.asarray(start, float).copy()
    out = np.full((steps + 1, len(z)), np.inf)
    out[0] = z
    prev = z.copy()
    eq = game.equilibrium()
    with np.errstate(all="ignore"):
        for i in range(1, steps + 1):
            z, prev = step(method, game, z, prev, p), z
            if not np.all(np.isfinite(z)) or np.abs(z - eq).max() > escape:
                break
            out[i] = z
    return out


# --- spectra and verdicts --------------------------------------------------------------------
def _clusters(values: np.ndarray, tol: float) -> list[np.ndarray]:
    groups: list[list[complex]] = []
    for v in values:
        for grp in groups:
            if abs(grp[0] - v) <= tol:
                grp.append(v)
                break
        else:
            groups.append([v])
    return [np.array(grp) for grp in groups]


def _rank(a: np.ndarray, tol: float) -> int:
    s = np.linalg.svd(a, compute_uv=False)
    return int((s > tol * max(1.0, s[0] if s.size else 1.0)).sum())


def is_semisimple(matrix: np.ndarray, eigenvalues: np.ndarray) -> bool:
    """True when each (clustered) eigenvalue's geometric multiplicity equals its algebraic one."""
    n = matrix.shape[0]
    for grp in _clusters(eigenvalues, CLUSTER_TOL):
        if len(grp) > 1:
            lam = grp.mean()
            geometric = n - _rank(matrix - lam * np.eye(n), 1e-6)
            if geometric < len(grp):
                return False
    return True


def spectral_verdict(matrix: np.ndarray, tol: float = SPECTRAL_TOL) -> str:
    """converges / cycles / diverges for s_{k+1} = A s_k from a generic start.

    ρ > 1 + tol diverges; if every |λ| < 1 − tol it converges; the eigenvalues on the unit
    circle must be semisimple (else the iterates grow like a polynomial: diverges); if they
    are all λ = 1 the iterates converge to a stationary point, otherwise they cycle.
    """
    lam = np.linalg.eigvals(matrix)
    mod = np.abs(lam)
    if mod.max() > 1 + tol:
        return "diverges"
    unit = lam[mod >= 1 - tol]
    if unit.size == 0:
        return "converges"
    if not is_semisimple(matrix, lam[np.abs(mod - 1) <= CLUSTER_TOL]):
        return "diverges"
    return "converges" if np.all(np.abs(unit - 1) <= CLUSTER_TOL) else "cycles"


def stationary_basis(matrix: np.ndarray, n: int) -> np.ndarray:
    """Orthonormal basis (rows) of the fixed points {s : A s = s}, shown in z = [d, g]."""
    _, s, vt = np.linalg.svd(matrix - np.eye(matrix.shape[0]))
    null = vt[(s <= 1e-9 * max(1.0, s[0]))]
    if null.size == 0:
        return np.zeros((0, n))
    q, r = np.linalg.qr(null[:, :n].T)
    keep = np.abs(np.diag(r)) > 1e-9
    return q[:, keep].T


@dataclass
class CrossCheck:
    """The verdict read off a long simulation of the rule, and whether it agrees.

    With windows early = [K/8, K/4) and late = [7K/8, K): R_z is the ratio of the largest
    ‖z_k − z*‖ in late to that in early, R_Δ the same for steps ‖z_{k+1} − z_k‖. Diverges if
    R_z > 2 (or overflow), converges if R_Δ < ½, cycles otherwise. K is chosen from the
    spectrum so that these ratios are decisive; when that needs more than
    ``MAX_CHECK_STEPS`` the check is inconclusive (``agrees`` None). On a non-linear game the
    verdict is local: the start is tiny (``radius``) and leaving the ball of 10⁴·radius counts
    as diverging (far away the non-linear field takes over).
    """

    steps: int
    simulation_verdict: str | None
    ratio_state: float
    ratio_step: float
    agrees: bool | None


def _check_steps(matrix: np.ndarray, verdict: str) -> int | None:
    lam = np.linalg.eigvals(matrix)
    mod = np.abs(lam)
    need = 200.0
    off = mod[np.abs(mod - 1) > SPECTRAL_TOL]
    off = off[off > 0]
    if off.size:
        need = max(need, 6.0 / np.abs(np.log(off)).min())
    if verdict == "cycles":
        unit = lam[(np.abs(mod - 1) <= SPECTRAL_TOL) & (np.abs(lam - 1) > CLUSTER_TOL)]
        phi = np.mod(2 * np.abs(np.angle(unit)), 2 * math.pi)
        phi = np.minimum(phi, 2 * math.pi - phi)
        phi = phi[phi > 1e-9]
        if phi.size:
            need = max(need, 16 * 2 * math.pi / phi.min())
    if need > MAX_CHECK_STEPS:
        return None
    return int(math.ceil(need / 8) * 8)


def cross_check(
    method: str,
    game: Game,
    matrix: np.ndarray,
    verdict: str,
    p: MethodParams,
    seed: int = 0,
    radius: float | None = None,
) -> CrossCheck:
    """Simulate the rule from a random start at ``radius`` from the equilibrium; compare."""
    steps = _check_steps(matrix, verdict)
    if steps is None:
        return CrossCheck(0, None, math.nan, math.nan, None)
    rng = np.random.default_rng(seed)
    u = rng.standard_normal(game.dim)
    eq = game.equilibrium()
    linear = isinstance(game, BilinearGame)
    if radius is None:
        radius = 1.0 if linear else 1e-6
    escape = 1e100 if linear else 1e4 * radius
    traj = simulate(method, game, eq + radius * u / np.linalg.norm(u), steps, p, escape)
    with np.errstate(all="ignore"):
        dist = np.linalg.norm(traj - eq, axis=1)
        inc = np.linalg.norm(np.diff(traj, axis=0), axis=1)
    early, late = slice(steps // 8, steps // 4), slice(7 * steps // 8, steps)
    finite = bool(np.all(np.isfinite(dist)))
    r_state = float(dist[late].max() / dist[early].max()) if finite else math.inf
    e_inc = inc[early].max() if finite else math.inf
    r_step = float(inc[late].max() / e_inc) if finite and e_inc > 0 else 0.0
    if not finite or r_state > 2:
        sim = "diverges"
    elif r_step < 0.5:
        sim = "converges"
    else:
        sim = "cycles"
    return CrossCheck(steps, sim, r_state, r_step, sim == verdict)


@dataclass
class Analysis:
    """Everything :func:`analyse` finds out about one method on one game."""

    game: str
    method: str
    params: MethodParams
    matrix: np.ndarray
    eigenvalues: np.ndarray
    spectral_radius: float
    stationary_point: np.ndarray
    stationary_basis: np.ndarray
    verdict: str
    trajectory: np.ndarray
    final_norm: float
    check: CrossCheck
    jacobian: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)))

    def to_dict(self) -> dict:
        """Plain JSON-ready numbers; ``matrix`` acts on [d, g] (or on [d, g, d_prev, g_prev])."""
        eig = sorted(self.eigenvalues, key=lambda c: (-abs(c), c.real, c.imag))
        return {
            "game": self.game,
            "method": self.method,
            "lr": self.params.lr,
            "momentum": self.params.momentum,
            "gamma": self.params.gamma,
            "state": "[d, g, d_prev, g_prev]" if self.method in TWO_STEP else "[d, g]",
            "matrix": (self.matrix + 0.0).tolist(),  # + 0.0 turns −0.0 into 0.0
            "eigenvalues": [[float(c.real), float(c.imag)] for c in eig],
            "spectral_radius": self.spectral_radius,
            "stationary_point": self.stationary_point.tolist(),
            "stationary_basis": (self.stationary_basis + 0.0).tolist(),
            "verdict": self.verdict,
            "final_norm": self.final_norm,
            "steps": len(self.trajectory) - 1,
            "jacobian": self.jacobian.tolist(),
            "jacobian_eigenvalues": [
                [float(c.real), float(c.imag)] for c in np.linalg.eigvals(self.jacobian)
            ],
            "simulation_check": {
                "steps": self.check.steps,
                "verdict": self.check.simulation_verdict,
                "ratio_state": self.check.ratio_state,
                "ratio_step": self.check.ratio_step,
                "agrees": self.check.agrees,
            },
        }


def analyse(
    method: str,
    game: Game,
    p: MethodParams,
    start: np.ndarray | None = None,
    steps: int = 200,
    seed: int = 0,
    check_radius: float | None = None,
) -> Analysis:
    """Update matrix, spectrum, stationary points, a trajectory from ``start`` and a verdict
    from the spectrum, cross-checked against a simulation of the rule."""
    check_method(method)
    if steps < 1:
        raise ConfigError(f"--steps must be >= 1, got {steps}")
    n = game.dim
    z0 = np.ones(n) if start is None else np.asarray(start, float)
    if z0.shape != (n,) or not np.all(np.isfinite(z0)):
        raise ConfigError(f"--start needs {n} finite numbers (d then g), got {z0.tolist()}")
    jac = game.jacobian()
    a = update_matrix(method, jac, game.dim_d, p)
    lam = np.linalg.eigvals(a)
    verdict = spectral_verdict(a)
    basis = stationary_basis(a, n)
    traj = simulate(method, game, z0, steps, p)
    eq = game.equilibrium()
    with np.errstate(all="ignore"):
        final = float(np.linalg.norm(traj[-1] - eq))
    return Analysis(
        game=game.describe(),
        method=method,
        params=p,
        matrix=a,
        eigenvalues=lam,
        spectral_radius=float(np.abs(lam).max()),
        stationary_point=eq,
        stationary_basis=basis,
        verdict=verdict,
        trajectory=traj,
        final_norm=final,
        check=cross_check(method, game, a, verdict, p, seed, check_radius),
        jacobian=jac,
    )
