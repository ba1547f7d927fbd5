"""Mean-field families Q1 and Q2: closed forms of SPEC §6, CAVI monotone, gradient agrees."""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from deepgen.errors import ConfigError
from deepgen.vi.discrete import (
    CallableEnergy,
    PairwiseEnergy,
    TableEnergy,
    configurations,
    enumerate_exact,
    free_energy,
    ising_grid,
    log_partition,
)
from deepgen.vi.examples import seed_closed_form, seed_model
from deepgen.vi.meanfield import (
    cavi,
    mean_field,
    optimize_q2,
    parse_clamp,
    product_free_energy,
)


def random_pairwise(n: int, seed: int, scale: float = 1.0) -> PairwiseEnergy:
    g = torch.Generator().manual_seed(seed)
    j = torch.triu(scale * torch.randn(n, n, generator=g, dtype=torch.float64), 1)
    return PairwiseEnergy(j + j.T, scale * torch.randn(n, generator=g, dtype=torch.float64))


def product_table(q: torch.Tensor) -> torch.Tensor:
    """Π_i q_i(w_i) for every configuration, in enumeration order."""
    w = configurations(len(q))
    return torch.where(w == 1, q, 1 - q).prod(-1)


@pytest.mark.parametrize("method", ["cavi", "gradient"])
@pytest.mark.parametrize("n", range(2, 17))
def test_seed_example_matches_its_closed_forms(n: int, method: str) -> None:
    model = seed_model(n)
    log_z = enumerate_exact(model).log_z
    for family, clamp in (("Q2", None), ("Q1", {0: 0})):
        expect = seed_closed_form(n, family)
        res = mean_field(model, family, method, clamp=clamp, init="random", seed=n)
        assert res.q.tolist() == pytest.approx(expect["q_star"], abs=1e-6)
        assert res.free_energy == pytest.approx(expect["free_energy"], abs=1e-9)
        assert res.kl(log_z) == pytest.approx(expect["kl"], abs=1e-9)
        assert expect["log_z"] == pytest.approx(log_z, abs=1e-12)
    # the clamped optimum is no accident: the KL tends to log 2 from below as N grows
    assert 0 < seed_closed_form(n, "Q1")["kl"] < math.log(2)


def test_cavi_finds_the_clamp_itself_and_gradient_cannot() -> None:
    model = seed_model(8)
    res = cavi(model, init="random", seed=1)
    zeros = [i for i, v in enumerate(res.q.tolist()) if v == 0.0]
    assert len(zeros) == 1  # exactly one factor is switched off ...
    others = [v for i, v in enumerate(res.q.tolist()) if i not in zeros]
    assert others == pytest.approx([0.5] * 7, abs=1e-12)  # ... the rest are uniform
    assert res.free_energy == pytest.approx(7 * math.log(2))
    grad = mean_field(model, "Q1", "gradient")
    assert grad.free_energy == -math.inf and not grad.converged
    assert grad.kl(enumerate_exact(model).log_z) == math.inf


@given(n=st.integers(2, 7), seed=st.integers(0, 10_000), beta=st.floats(0.1, 3.0))
def test_cavi_never_decreases_the_free_energy(n: int, seed: int, beta: float) -> None:
    model = random_pairwise(n, seed, scale=1.5)
    res = cavi(model, beta, init="random", seed=seed, max_iter=30, trace_updates=True)
    steps = torch.tensor(res.trace).diff()
    assert bool((steps >= -1e-12).all()), steps.min()
    assert res.free_energy <= log_partition(model, beta).item() + 1e-12


@given(n=st.integers(2, 6), seed=st.integers(0, 10_000))
def test_cavi_on_a_table_energy_is_monotone_and_stationary(n: int, seed: int) -> None:
    g = torch.Generator().manual_seed(seed)
    model = TableEnergy(torch.randn(2**n, generator=g, dtype=torch.float64))
    res = cavi(model, 0.8, init="random", seed=seed, trace_updates=True)
    assert bool((torch.tensor(res.trace).diff() >= -1e-12).all())
    assert res.converged
    # stationary: ∂F/∂θ = 0 at the fixed point (θ the logits)
    theta = torch.logit(res.q).requires_grad_(True)
    (grad,) = torch.autograd.grad(product_free_energy(model, torch.sigmoid(theta), 0.8), theta)
    assert grad.abs().max().item() < 1e-8


@given(n=st.integers(2, 6), seed=st.integers(0, 10_000))
def test_product_free_energy_equals_the_table_formula(n: int, seed: int) -> None:
    g = torch.Generator().manual_seed(seed)
    q = torch.rand(n, generator=g, dtype=torch.float64)
    pair = random_pairwise(n, seed)
    table = TableEnergy(pair.table())
    for model in (pair, table):  # closed form and tensor contraction
        direct = free_energy(model, product_table(q), 0.6)
        assert product_free_energy(model, q, 0.6).item() == pytest.approx(direct, abs=1e-10)
    # conditional expectations: E_{q_-i}[Φ | w_i = b] by brute force
    phi, w = table.table(), configurations(n)
    for i in range(n):
        rest = torch.where(w == 1, q, 1 - q)
        rest[:, i] = 1.0
        weight = rest.prod(-1)
        for b in (0, 1):
            mask = w[:, i] == b
            expected = (weight[mask] * phi[mask]).sum().item()
            assert pair.conditional_energies(q, i)[b].item() == pytest.approx(expected, abs=1e-10)
            assert table.conditional_energies(q, i)[b].item() == pytest.approx(expected, abs=1e-10)


@given(seed=st.integers(0, 10_000), family=st.sampled_from(["Q1", "Q2"]))
def test_cavi_and_gradient_agree_when_the_optimum_is_unique(seed: int, family: str) -> None:
    # weak couplings (|β J| small) make F strictly concave in the logits' neighbourhood: one optimum
    model = random_pairwise(5, seed, scale=0.3)
    a = mean_field(model, family, "cavi", beta=0.5, init="uniform")
    b = mean_field(model, family, "gradient", beta=0.5, init="random", seed=seed)
    assert a.converged and b.converged
    assert a.q.tolist() == pytest.approx(b.q.tolist(), abs=1e-5)
    assert a.free_energy == pytest.approx(b.free_energy, abs=1e-9)
    assert a.free_energy <= log_partition(model, 0.5).item()
    if family == "Q1":  # Q2 ⊂ Q1
        assert a.free_energy >= mean_field(model, "Q2", "cavi", beta=0.5).free_energy - 1e-9


def test_q2_fixed_point_never_decreases_and_matches_ising_mean_field() -> None:
    # a periodic-free grid is not translation invariant, but Q2 must still beat its start
    model = ising_grid(3, 1.0, 0.05)
    res = optimize_q2(model, 0.6, "cavi", init="uniform")
    assert bool((torch.tensor(res.trace).diff() >= -1e-12).all())
    assert res.face == "interior" and res.converged
    # stationarity of the shared factor: dF/dq = 0
    t = torch.logit(res.q[:1]).requires_grad_(True)
    (g,) = torch.autograd.grad(product_free_energy(model, torch.sigmoid(t).expand(9), 0.6), t)
    assert abs(g.item()) < 1e-7
    assert res.free_energy <= log_partition(model, 0.6).item()


def test_clamped_factors_stay_fixed_and_large_pairwise_models_need_no_enumeration() -> None:
    model = ising_grid(6, 0.5, 0.1)  # N = 36: beyond enumeration, the bound is still there
    for method in ("cavi", "gradient"):
        res = mean_field(model, "Q1", method, clamp={0: 1, 35: 0}, max_iter=200)
        assert res.q[0].item() == 1.0 and res.q[35].item() == 0.0
        assert math.isfinite(res.free_energy)
    with pytest.raises(ConfigError, match="N <= 24"):
        log_partition(model)


def test_bad_clamps_and_options_get_clear_errors() -> None:
    assert parse_clamp(["w1=0", "w3=1"], 3) == {0: 0, 2: 1}
    with pytest.raises(ConfigError, match="no variable w4; the model has w1 … w3"):
        parse_clamp(["w4=0"], 3)
    with pytest.raises(ConfigError, match="0 or 1"):
        parse_clamp(["w1=2"], 3)
    with pytest.raises(ConfigError, match="twice"):
        parse_clamp(["w1=0", "w1=1"], 3)
    with pytest.raises(ConfigError, match="wI=0"):
        parse_clamp(["x1=0"], 3)
    model = seed_model(3)
    with pytest.raises(ConfigError, match="Q2 has one shared factor"):
        mean_field(model, "Q2", clamp={0: 0})
    with pytest.raises(ConfigError, match="family"):
        mean_field(model, "Q3")
    with pytest.raises(ConfigError, match="index 5"):
        cavi(model, clamp={5: 0})
    with pytest.raises(ConfigError, match="N <= 24"):
        mean_field(CallableEnergy(25, lambda w: w.sum(-1)), "Q1")
