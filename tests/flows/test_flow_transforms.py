"""Every transform: inverse and log|det J| against torch.autograd in float64, over random sizes
and parameters (hypothesis); composition; densities of affine maps against closed forms."""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import assume, given
from hypothesis import strategies as st
from torch import nn
from torch.distributions import Independent, MultivariateNormal, Normal

from deepgen.errors import DataError, ShapeError
from deepgen.flows import (
    MADE,
    AdditiveCoupling,
    AffineCoupling,
    Compose,
    DeepSigmoidal,
    ElementwiseAffine,
    FlowDistribution,
    InverseTransform,
    LowerTriangularLinear,
    LULinear,
    MaskedAffineAutoregressive,
    Planar,
    Radial,
    Reverse,
    ScaledAffineCoupling,
    Transform,
    check_bijection,
)
from deepgen.flows.bounded import Logit
from deepgen.flows.elementwise import soft_clamp
from deepgen.flows.permutation import Permutation
from deepgen.flows.registry import initialized_actnorm, randomize_parameters
from deepgen.flows.residual import ResidualBlock
from deepgen.flows.sigmoidal import SigmoidalCoupling

DT = torch.float64


def randomize(t: nn.Module, seed: int, scale: float = 0.5) -> nn.Module:
    randomize_parameters(t, torch.Generator().manual_seed(seed), scale)
    return t


BUILDERS = {
    "ElementwiseAffine": lambda d: ElementwiseAffine(d),
    "LowerTriangularLinear": lambda d: LowerTriangularLinear(d),
    "LULinear": lambda d: LULinear(d, seed=d),
    "AffineCoupling": lambda d: AffineCoupling(d, hidden=16),
    "AffineCoupling(swap)": lambda d: AffineCoupling(d, hidden=16, swap=True),
    "AdditiveCoupling": lambda d: AdditiveCoupling(d, hidden=16, swap=True),
    "ScaledAffineCoupling": lambda d: ScaledAffineCoupling(2 * (d // 2), hidden=16),
    "Reverse": lambda d: Reverse(d),
    "Compose": lambda d: Compose(
        [AffineCoupling(d, 16), Reverse(d), LULinear(d), AffineCoupling(d, 16, swap=True)]
    ),
    "Inverse(LowerTriangularLinear)": lambda d: InverseTransform(LowerTriangularLinear(d)),
    "Radial": lambda d: Radial(d),
    "MaskedAffineAutoregressive": lambda d: MaskedAffineAutoregressive(d, hidden=16),
    "MAF+Reverse+MAF": lambda d: Compose(
        [MaskedAffineAutoregressive(d, 16), Reverse(d), MaskedAffineAutoregressive(d, 16)]
    ),
    "Permutation": lambda d: Permutation(d, seed=d),
    "ActNorm": initialized_actnorm,
    "Inverse(Logit)": lambda d: InverseTransform(Logit(d, alpha=0.0)),
    "ActNorm+Permutation+AffineCoupling": lambda d: Compose(
        [initialized_actnorm(d), Permutation(d, seed=1), AffineCoupling(d, 8)]
    ),
}
# numerical inverses (bisection) are checked to 1e-6, analytic ones to 1e-8
NUMERICAL = {
    "Planar": lambda d: Planar(d),
    "DeepSigmoidal": lambda d: DeepSigmoidal(d, components=3),
    "SigmoidalCoupling": lambda d: SigmoidalCoupling(d + 1, hidden=8, components=3),
    "ResidualBlock": lambda d: ResidualBlock(d, hidden=8, logdet="exact"),
    "ResidualBlock(3 layers, c=0.99)": lambda d: ResidualBlock(
        d, hidden=8, layers=3, lipschitz=0.99, logdet="exact"
    ),
}


@pytest.mark.parametrize("name", sorted(BUILDERS))
@given(d=st.integers(2, 6), batch=st.integers(1, 4), seed=st.integers(0, 10_000))
def test_inverse_and_logdet_match_autograd(name: str, d: int, batch: int, seed: int) -> None:
    t = randomize(BUILDERS[name](d), seed)
    x = torch.randn(batch, t.features, generator=torch.Generator().manual_seed(seed), dtype=DT)
    report = check_bijection(t, 2 * x, atol=1e-8, name=name)
    assert report.ok, report.message


@pytest.mark.parametrize("name", sorted(NUMERICAL))
@given(d=st.integers(1, 5), batch=st.integers(1, 4), seed=st.integers(0, 10_000))
def test_numerical_inverses_match_autograd(name: str, d: int, batch: int, seed: int) -> None:
    # the coupling's network output is the sigmoids' slope: at scale 1 it reaches softplus(−20)
    # ≈ 1e-9, where the inverse is ill-conditioned (|Δx| ≈ |Δy|/g′), not wrong
    t = randomize(NUMERICAL[name](d), seed, scale=0.5 if name == "SigmoidalCoupling" else 1.0)
    x = torch.randn(batch, t.features, generator=torch.Generator().manual_seed(seed), dtype=DT)
    if isinstance(t, SigmoidalCoupling):
        # even at scale 0.5 a slope can reach g′ ≈ 1e-12 (log g′ = −28 was drawn), where a
        # rounding error of y moves x by ~1e-3: keep points where an ulp of y is < 1e-6 in x
        with torch.no_grad():
            a, b = t._split(3 * x)
            _, log_slope = t.map.forward(b, t._params(a, None))
        assume(bool((log_slope > -20).all()))
    report = check_bijection(t, 3 * x, atol=1e-6, name=name)
    assert report.ok, report.message


def test_radial_is_invertible_at_beta_equal_minus_alpha() -> None:
    t = randomize(Radial(3), 4)
    with torch.no_grad():
        t.beta_raw.fill_(-1e4)  # softplus underflows to exactly 0: β = −α
    alpha, beta = t.alpha_beta()
    assert beta.item() == -alpha.item()
    x = torch.randn(6, 3, dtype=DT, generator=torch.Generator().manual_seed(0))
    report = check_bijection(t, x, atol=1e-8)
    assert report.ok, report.message
    # the centre maps to itself and is recovered exactly
    y, _ = t(t.z0.detach().unsqueeze(0))
    back, _ = t.inverse(y)
    torch.testing.assert_close(back, t.z0.detach().unsqueeze(0))


@given(seed=st.integers(0, 10_000))
def test_deep_sigmoidal_is_strictly_increasing(seed: int) -> None:
    t = randomize(DeepSigmoidal(1, components=4), seed, scale=2.0)
    z = torch.linspace(-30, 30, 2001, dtype=DT).unsqueeze(-1)
    with torch.no_grad():
        y, log_grad = t(z)
    assert torch.all(torch.diff(y.squeeze(-1)) > 0)
    assert torch.isfinite(log_grad).all()


def test_scaled_affine_coupling_formulae_and_not_volume_preserving() -> None:
    t = randomize(ScaledAffineCoupling(4, hidden=8), 1)
    x = torch.randn(3, 4, dtype=DT)
    y, ld = t(x)
    x1, x2 = x[:, :2], x[:, 2:]
    g = 5.0 * torch.tanh(t.G(x2) / 5.0)
    torch.testing.assert_close(y[:, :2], torch.exp(g) * x1 + t.F(x2))
    torch.testing.assert_close(y[:, 2:], torch.exp(t.s) * x2)
    torch.testing.assert_close(ld, g.sum(-1) + t.s.sum())
    assert ld.abs().min() > 1e-3  # log|det J| ≠ 0: not volume preserving
    with pytest.raises(ValueError, match="even"):
        ScaledAffineCoupling(5)


def test_check_bijection_flags_a_non_injective_map() -> None:
    """g(z) = a·ReLU(bz + c) is flat where bz + c < 0: the check must fail there, clearly."""

    class ReluMap(Transform):
        def __init__(self) -> None:
            super().__init__()
            self.features = 2

        def forward(self, x: torch.Tensor, context: torch.Tensor | None = None):
            return 1.5 * torch.relu(2.0 * x - 0.5), x.new_zeros(x.shape[0])

        def inverse(self, y: torch.Tensor, context: torch.Tensor | None = None):
            return (y / 1.5 + 0.5) / 2.0, y.new_zeros(y.shape[0])

    report = check_bijection(ReluMap(), torch.tensor([[-1.0, 2.0], [0.0, -3.0]], dtype=DT))
    assert not report.ok
    assert "singular" in report.message and "round trip" in report.message


def _standard(d: int) -> Independent:
    return Independent(Normal(torch.zeros(d, dtype=DT), torch.ones(d, dtype=DT)), 1)


@pytest.mark.parametrize("kind", ["diagonal", "triangular", "dense"])
def test_affine_maps_of_a_standard_normal_have_the_closed_form_gaussian_density(kind: str) -> None:
    """SPEC §2: x = μ + σ∘z → N(μ, diag σ²); x = μ + S z → N(μ, S Sᵀ) (triangular or dense)."""
    d = 5
    t = randomize(
        {"diagonal": ElementwiseAffine, "triangular": LowerTriangularLinear}.get(kind, LULinear)(d),
        3,
    )
    flow = FlowDistribution(
        _standard(d), InverseTransform(t)
    )  # data → noise is the inverse of z ↦ x
    x = torch.randn(7, d, dtype=DT)
    if kind == "diagonal":
        ref = MultivariateNormal(t.shift, torch.diag(torch.exp(2 * t.log_scale)))
    else:
        s = t.matrix()
        ref = MultivariateNormal(t.bias, s @ s.T)
    torch.testing.assert_close(flow.log_prob(x), ref.log_prob(x))


def test_flow_density_integrates_to_one_and_samples_have_their_log_prob() -> None:
    torch.manual_seed(0)
    t = randomize(
        Compose([AffineCoupling(2, 16), LULinear(2), AffineCoupling(2, 16, swap=True)]), 5, 0.3
    )
    flow = FlowDistribution(_standard(2), t)
    grid = torch.linspace(-12, 12, 601, dtype=DT)
    xx, yy = torch.meshgrid(grid, grid, indexing="ij")
    pts = torch.stack([xx.flatten(), yy.flatten()], -1)
    with torch.no_grad():
        mass = torch.exp(flow.log_prob(pts)).sum().item() * (grid[1] - grid[0]).item() ** 2
    assert mass == pytest.approx(1.0, abs=0.01)
    with torch.no_grad():
        x, lp = flow.sample_and_log_prob((50,))
        torch.testing.assert_close(lp, flow.log_prob(x))


def test_flow_rejects_bad_input_with_clear_errors() -> None:
    flow = FlowDistribution(_standard(3), randomize(AffineCoupling(3, 8), 0))
    with pytest.raises(ShapeError, match=r"\[\.\.\., 3\]"):
        flow.log_prob(torch.zeros(2, 4, dtype=DT))
    with pytest.raises(DataError, match="NaN"):
        flow.log_prob(torch.tensor([[0.0, math.nan, 1.0]], dtype=DT))
    with pytest.raises(ShapeError, match="disagree"):
        Compose([Reverse(2), Reverse(3)])


@given(d=st.integers(2, 7), seed=st.integers(0, 10_000))
def test_made_is_autoregressive_by_jacobian(d: int, seed: int) -> None:
    """Every output parameter of feature i depends only on x_<i: ∂out_i/∂x_j = 0 for j ≥ i."""
    made = randomize(MADE(d, hidden=3 * d, layers=2, params=2), seed, scale=1.0)
    x = torch.randn(d, dtype=DT, generator=torch.Generator().manual_seed(seed))
    jac = torch.autograd.functional.jacobian(lambda v: made(v.unsqueeze(0))[0], x)  # [d, 2, d]
    jac = jac.transpose(0, 1)  # [params, output feature, input feature]
    upper = torch.triu(torch.ones(d, d, dtype=torch.bool))
    assert (jac[:, upper] == 0).all()
    # and every allowed dependence exists: the product of the masks connects output i to
    # input j exactly when j < i (ReLUs may switch a path off at one x, the masks do not)
    masks = [m.mask for m in made.modules() if hasattr(m, "mask")]
    paths = masks[0]
    for m in masks[1:]:
        paths = m @ paths
    paths = paths.view(d, 2, d).transpose(0, 1)
    assert torch.equal(paths > 0, (~upper).expand(2, d, d))


def test_maf_log_prob_uses_one_pass_and_sampling_d_passes() -> None:
    d = 5
    maf = randomize(MaskedAffineAutoregressive(d, hidden=16), 3)
    calls = {"n": 0}
    hook = maf.made.register_forward_hook(lambda *a: calls.__setitem__("n", calls["n"] + 1))
    maf(torch.randn(4, d, dtype=DT))
    assert calls["n"] == 1
    calls["n"] = 0
    maf.inverse(torch.randn(4, d, dtype=DT))
    assert calls["n"] == d  # exactly D passes: each feature's log-det from its own pass
    hook.remove()


@given(bound=st.floats(0.1, 20.0), seed=st.integers(0, 10_000))
def test_soft_clamp_is_c_tanh_s_over_c(bound: float, seed: int) -> None:
    s = 30 * torch.randn(1000, dtype=DT, generator=torch.Generator().manual_seed(seed))
    torch.testing.assert_close(soft_clamp(s, bound), bound * torch.tanh(s / bound))
    assert soft_clamp(s, bound).abs().max() <= bound
