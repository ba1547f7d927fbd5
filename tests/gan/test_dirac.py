"""The Dirac-GAN (Mescheder et al. 2018): field and Jacobian vs autograd, spectra, verdicts."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import assume, given
from hypothesis import strategies as st
from torch.autograd.functional import jacobian

from deepgen.errors import ConfigError
from deepgen.gan.games import METHODS, DiracGAN, MethodParams, analyse


def _value_d(variant: str, gamma: float, psi: torch.Tensor, theta: torch.Tensor) -> torch.Tensor:
    """The discriminator's objective, written from the definition (D_ψ(x) = ψx, data at 0)."""
    if variant == "wgan":
        return psi * 0.0 - psi * theta  # D(0) − D(θ)
    v = torch.nn.functional.logsigmoid(psi * 0.0) + torch.nn.functional.logsigmoid(-psi * theta)
    return v - gamma / 2 * psi**2 if variant == "r1" else v  # R1: |∂D/∂x|² = ψ² on the data


def _torch_field(variant: str, gamma: float, z: torch.Tensor) -> torch.Tensor:
    psi, theta = z[0], z[1]
    (gd,) = torch.autograd.grad(_value_d(variant, gamma, psi, theta), psi, create_graph=True)
    # the generator's objective has no R1 term
    v_g = _value_d("plain" if variant == "r1" else variant, 0.0, psi, theta)
    (gg,) = torch.autograd.grad(v_g, theta, create_graph=True)
    return torch.stack([gd, -gg])


@pytest.mark.parametrize("variant", ["plain", "wgan", "r1"])
@given(psi=st.floats(-3, 3), theta=st.floats(-3, 3), gamma=st.floats(0.1, 5))
def test_field_and_jacobian_match_autograd(
    variant: str, psi: float, theta: float, gamma: float
) -> None:
    game = DiracGAN(variant, gamma)
    z = torch.tensor([psi, theta], dtype=torch.float64, requires_grad=True)
    expected = _torch_field(variant, gamma, z)
    vd, vg = game.field(np.array([psi]), np.array([theta]))
    np.testing.assert_allclose([vd[0], vg[0]], expected.detach().numpy(), atol=1e-12)
    jac = jacobian(lambda w: _torch_field(variant, gamma, w), z.detach())
    np.testing.assert_allclose(game.field_jacobian(np.array([psi, theta])), jac, atol=1e-12)


def test_jacobian_at_equilibrium_closed_forms() -> None:
    np.testing.assert_allclose(DiracGAN("plain").jacobian(), [[0, -0.5], [0.5, 0]])
    np.testing.assert_allclose(DiracGAN("wgan").jacobian(), [[0, -1], [1, 0]])
    np.testing.assert_allclose(DiracGAN("r1", 2.0).jacobian(), [[-2, -0.5], [0.5, 0]])
    # continuous-time spectra: ±i/2 (plain), ±i (wgan): purely imaginary, no damping;
    # R1: λ² + γλ + ¼ = 0, real parts −γ/2 < 0 for γ ≤ 1 and both negative otherwise
    for gamma in (0.3, 1.0, 3.0):
        lam = np.linalg.eigvals(DiracGAN("r1", gamma).jacobian())
        assert np.all(lam.real < 0)
        np.testing.assert_allclose(sorted(np.poly(lam).real), sorted([1, gamma, 0.25]))


@pytest.mark.parametrize("variant", ["plain", "wgan"])
def test_unregularised_simultaneous_diverges_alternating_cycles(variant: str) -> None:
    game = DiracGAN(variant)
    sim = analyse("simultaneous", game, MethodParams(0.1), steps=50)
    alt = analyse("alternating", game, MethodParams(0.1), steps=50)
    assert sim.verdict == "diverges" and sim.check.agrees
    assert alt.verdict == "cycles" and alt.check.agrees


def test_r1_makes_simultaneous_gradient_descent_converge() -> None:
    r = analyse("simultaneous", DiracGAN("r1", 1.0), MethodParams(0.1), np.array([1.0, 1.0]), 400)
    assert r.verdict == "converges" and r.check.agrees
    assert r.final_norm < 1e-3  # also from (1, 1), well outside the linear regime


@pytest.mark.parametrize("method", METHODS)
@given(
    lr=st.floats(0.02, 2.5),
    beta=st.floats(-0.9, 0.9),
    gamma=st.floats(0.0, 3.0),
    variant=st.sampled_from(["plain", "wgan", "r1"]),
    r1=st.floats(0.1, 3.0),
)
def test_local_verdict_agrees_with_simulation(
    method: str, lr: float, beta: float, gamma: float, variant: str, r1: float
) -> None:
    p = MethodParams(
        lr,
        momentum=beta if "momentum" in method else 0.0,
        gamma=gamma if method == "consensus" else 0.0,
    )
    r = analyse(method, DiracGAN(variant, r1), p, steps=5)
    assume(r.check.agrees is not None)
    assert r.check.agrees, (r.verdict, r.spectral_radius, r.check)


def test_bad_variant_and_gamma() -> None:
    with pytest.raises(ConfigError, match="variant"):
        DiracGAN("lsgan")
    with pytest.raises(ConfigError, match="gamma"):
        DiracGAN("r1", 0.0)
