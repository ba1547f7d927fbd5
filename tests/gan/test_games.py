"""The bilinear game V = d·g (and dᵀMg): update matrices, spectra, verdicts vs simulation."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import assume, given
from hypothesis import strategies as st

from deepgen.errors import ConfigError
from deepgen.gan.games import (
    METHODS,
    TWO_STEP,
    BilinearGame,
    MethodParams,
    analyse,
    simulate,
    spectral_verdict,
    update_matrix,
)

lrs = st.floats(0.02, 2.5)
momenta = st.floats(-0.9, 0.9)
gammas = st.floats(0.0, 3.0)


def _params(method: str, lr: float, beta: float = -0.3, gamma: float = 1.0) -> MethodParams:
    return MethodParams(
        lr,
        momentum=beta if "momentum" in method else 0.0,
        gamma=gamma if method == "consensus" else 0.0,
    )


def test_simultaneous_matrix_and_eigenvalues_are_the_closed_form() -> None:
    for lr in (0.01, 0.1, 0.5, 2.0):
        r = analyse("simultaneous", BilinearGame(), MethodParams(lr))
        np.testing.assert_allclose(r.matrix, [[1, lr], [-lr, 1]], rtol=0, atol=1e-15)
        eig = sorted(r.eigenvalues, key=lambda c: c.imag)
        np.testing.assert_allclose(eig, [1 - 1j * lr, 1 + 1j * lr], atol=1e-12)
        assert r.spectral_radius == pytest.approx(math.sqrt(1 + lr**2), rel=1e-12)
        assert r.verdict == "diverges"
        np.testing.assert_array_equal(r.stationary_point, [0.0, 0.0])
        assert r.stationary_basis.shape == (0, 2)  # the origin is the only stationary point


@given(lr=st.floats(0.001, 1.0), d0=st.floats(-3, 3), g0=st.floats(-3, 3))
def test_simultaneous_norm_grows_as_one_plus_lr_squared_to_the_k_over_2(
    lr: float, d0: float, g0: float
) -> None:
    assume(math.hypot(d0, g0) > 1e-3)
    steps = 100
    traj = simulate("simultaneous", BilinearGame(), np.array([d0, g0]), steps, MethodParams(lr))
    k = np.arange(steps + 1)
    expected = math.hypot(d0, g0) * (1 + lr * lr) ** (k / 2)
    np.testing.assert_allclose(np.linalg.norm(traj, axis=1), expected, rtol=1e-10)


def test_sign_convention_d_ascends_g_descends() -> None:
    # one simultaneous step from (d, g) = (1, 2): d + α·∂V/∂d = 1 + α·2, g − α·∂V/∂g = 2 − α·1
    z = simulate("simultaneous", BilinearGame(), np.array([1.0, 2.0]), 1, MethodParams(0.1))[1]
    np.testing.assert_allclose(z, [1.2, 1.9], atol=1e-15)


def test_field_is_autograd_gradient_of_v() -> None:
    m = np.array([[1.0, -2.0, 0.5], [0.3, 0.0, 1.5]])
    game = BilinearGame(m)
    rng = np.random.default_rng(0)
    d, g = rng.standard_normal(2), rng.standard_normal(3)
    dt = torch.tensor(d, requires_grad=True)
    gt = torch.tensor(g, requires_grad=True)
    value = dt @ torch.tensor(m) @ gt
    grad_d, grad_g = torch.autograd.grad(value, (dt, gt))
    vd, vg = game.field(d, g)
    np.testing.assert_allclose(vd, grad_d.numpy(), atol=1e-14)
    np.testing.assert_allclose(vg, -grad_g.numpy(), atol=1e-14)
    assert game.value(d, g) == pytest.approx(value.item())


@given(lr=st.floats(0.001, 3.0))
def test_alternating_matrix_has_determinant_one(lr: float) -> None:
    a = update_matrix("alternating", BilinearGame().jacobian(), 1, MethodParams(lr))
    np.testing.assert_allclose(a, [[1, lr], [-lr, 1 - lr * lr]], atol=1e-15)
    assert np.linalg.det(a) == pytest.approx(1.0, abs=1e-12)
    verdict = spectral_verdict(a)
    assert verdict == ("cycles" if lr < 2 - 1e-6 else "diverges")


@given(lr=st.floats(1e-3, 0.999))
def test_extragradient_spectral_radius_below_one_for_lr_in_0_1(lr: float) -> None:
    r = analyse("extragradient", BilinearGame(), MethodParams(lr), steps=10)
    np.testing.assert_allclose(r.matrix, [[1 - lr**2, lr], [-lr, 1 - lr**2]], atol=1e-15)
    assert r.spectral_radius == pytest.approx(math.sqrt(1 - lr**2 + lr**4), rel=1e-12)
    assert r.spectral_radius < 1
    assert r.verdict == "converges"


def test_extragradient_at_and_beyond_lr_one() -> None:
    game = BilinearGame()
    assert analyse("extragradient", game, MethodParams(1.0), steps=10).verdict == "cycles"
    assert analyse("extragradient", game, MethodParams(1.2), steps=10).verdict == "diverges"


def test_consensus_closed_form() -> None:
    lr, gamma = 0.3, 2.0
    r = analyse("consensus", BilinearGame(), MethodParams(lr, gamma=gamma), steps=10)
    np.testing.assert_allclose(r.matrix, [[1 - lr * gamma, lr], [-lr, 1 - lr * gamma]], atol=1e-15)
    assert r.spectral_radius == pytest.approx(math.hypot(1 - lr * gamma, lr), rel=1e-12)


@pytest.mark.parametrize("method", METHODS)
@given(lr=lrs, beta=momenta, gamma=gammas)
def test_simulated_rule_equals_matrix_powers(
    method: str, lr: float, beta: float, gamma: float
) -> None:
    """The trajectory comes from the gradient rule; the matrix must reproduce it exactly."""
    m = np.array([[1.0, 0.5], [-0.3, 2.0]])
    game = BilinearGame(m)
    p = _params(method, lr, beta, gamma)
    a = update_matrix(method, game.jacobian(), game.dim_d, p)
    z0 = np.array([0.3, -1.0, 0.7, 0.2])
    steps = 12
    traj = simulate(method, game, z0, steps, p)
    s = np.concatenate([z0, z0]) if method in TWO_STEP else z0
    for k in range(steps + 1):
        scale = max(1.0, float(np.abs(s).max()))
        np.testing.assert_allclose(traj[k], s[:4], atol=1e-9 * scale)
        s = a @ s


@pytest.mark.parametrize("method", METHODS)
@given(lr=lrs, beta=momenta, gamma=gammas)
def test_verdict_agrees_with_simulation(method: str, lr: float, beta: float, gamma: float) -> None:
    r = analyse(method, BilinearGame(), _params(method, lr, beta, gamma), steps=5)
    assume(r.check.agrees is not None)  # inconclusive only within ~3e-4 of |λ| = 1
    assert r.check.agrees, (r.verdict, r.spectral_radius, r.check)


def test_every_method_and_every_verdict_is_reached() -> None:
    seen = set()
    for method in METHODS:
        for lr in (0.05, 0.3, 1.0, 1.9, 2.5):
            r = analyse(method, BilinearGame(), _params(method, lr), steps=5)
            assert r.check.agrees in (True, None)
            seen.add(r.verdict)
    assert seen == {"converges", "cycles", "diverges"}


def test_negative_momentum_helps_only_with_alternating_updates() -> None:
    game = BilinearGame()
    alt = analyse("alternating-momentum", game, MethodParams(0.3, momentum=-0.3), steps=10)
    sim = analyse("momentum", game, MethodParams(0.3, momentum=-0.3), steps=10)
    assert alt.verdict == "converges" and alt.check.agrees
    assert sim.verdict == "diverges" and sim.check.agrees


def test_defective_unit_eigenvalue_is_divergence() -> None:
    jordan = np.array([[1.0, 1.0], [0.0, 1.0]])  # polynomial growth k
    assert spectral_verdict(jordan) == "diverges"
    assert spectral_verdict(np.eye(2)) == "converges"  # every point is stationary
    rotation = np.array([[0.0, -1.0], [1.0, 0.0]])
    assert spectral_verdict(rotation) == "cycles"


def test_degenerate_payoff_has_a_stationary_subspace() -> None:
    game = BilinearGame(np.array([[1.0, 0.0], [0.0, 0.0]]))  # d₂ and g₂ never move
    r = analyse("extragradient", game, MethodParams(0.2), np.array([1.0, 1.0, 1.0, 1.0]), 1000)
    assert r.stationary_basis.shape == (2, 4)
    assert r.verdict == "converges" and r.check.agrees
    np.testing.assert_allclose(r.trajectory[-1], [0, 1, 0, 1], atol=1e-6)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"lr": -0.1}, "--lr"),
        ({"lr": 0.0}, "--lr"),
        ({"lr": 0.1, "momentum": 1.0}, "--momentum"),
        ({"lr": 0.1, "gamma": -1.0}, "--gamma"),
    ],
)
def test_bad_parameters_are_config_errors(kwargs: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        MethodParams(**kwargs)


def test_unknown_method_and_bad_start() -> None:
    with pytest.raises(ConfigError, match="unknown method"):
        analyse("adam", BilinearGame(), MethodParams(0.1))
    with pytest.raises(ConfigError, match="--start needs 2"):
        analyse("simultaneous", BilinearGame(), MethodParams(0.1), np.array([1.0, 2.0, 3.0]))


def _rho(method: str, lr: float, beta: float = 0.0, gamma: float = 0.0) -> float:
    a = update_matrix(method, BilinearGame().jacobian(), 1, MethodParams(lr, beta, gamma))
    return float(np.abs(np.linalg.eigvals(a)).max())


@given(lr=st.floats(0.01, 1.99), d0=st.floats(-2, 2), g0=st.floats(-2, 2))
def test_alternating_conserves_d2_plus_lr_dg_plus_g2(lr: float, d0: float, g0: float) -> None:
    traj = simulate("alternating", BilinearGame(), np.array([d0, g0]), 200, MethodParams(lr))
    q = traj[:, 0] ** 2 + lr * traj[:, 0] * traj[:, 1] + traj[:, 1] ** 2
    np.testing.assert_allclose(q, q[0], rtol=1e-9, atol=1e-12)


def test_optimistic_converges_exactly_below_one_over_root_three() -> None:
    edge = 1 / math.sqrt(3)
    assert _rho("optimistic", edge) == pytest.approx(1.0, abs=1e-9)
    for lr in (0.01, 0.3, edge - 1e-3):
        assert _rho("optimistic", lr) < 1
    for lr in (edge + 1e-3, 1.0, 2.0):
        assert _rho("optimistic", lr) > 1


@given(lr=st.floats(0.01, 3.0), beta=st.floats(-0.95, 0.95))
def test_momentum_with_simultaneous_updates_never_converges(lr: float, beta: float) -> None:
    assert _rho("momentum", lr, beta) > 1


@given(lr=st.floats(0.01, 2.0), beta=st.floats(-0.95, 0.95))
def test_alternating_momentum_converges_iff_negative_and_lr_below_2_1_plus_beta(
    lr: float, beta: float
) -> None:
    assume(abs(beta) > 1e-3 and abs(lr - 2 * (1 + beta)) > 1e-3)
    converges = _rho("alternating-momentum", lr, beta) < 1
    assert converges == (beta < 0 and lr < 2 * (1 + beta))


@given(lr=st.floats(0.01, 3.0), gamma=st.floats(0.01, 3.0))
def test_consensus_converges_iff_lr_below_2gamma_over_1_plus_gamma2(
    lr: float, gamma: float
) -> None:
    edge = 2 * gamma / (1 + gamma**2)
    assume(abs(lr - edge) > 1e-6)
    assert (_rho("consensus", lr, gamma=gamma) < 1) == (lr < edge)
