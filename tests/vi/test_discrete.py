"""Exact enumeration on {0,1}^N against brute force; F(q) ≤ log Z; the KL identity; E_p[Φ]."""

from __future__ import annotations

import itertools
import math

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from deepgen.errors import ConfigError, DataError, ShapeError
from deepgen.vi.discrete import (
    MAX_ENUMERATION_N,
    CallableEnergy,
    PairwiseEnergy,
    TableEnergy,
    configurations,
    enumerate_exact,
    free_energy,
    ising_grid,
    kl_divergence,
    log_partition,
    log_probabilities,
    mean_energy_autograd,
)
from deepgen.vi.examples import log_two_pow_minus_one, seed_model


def random_pairwise(n: int, seed: int, scale: float = 1.0) -> PairwiseEnergy:
    g = torch.Generator().manual_seed(seed)
    a = scale * torch.randn(n, n, generator=g, dtype=torch.float64)
    j = torch.triu(a, 1)
    return PairwiseEnergy(j + j.T, scale * torch.randn(n, generator=g, dtype=torch.float64), 0.3)


def brute_force(energy, n: int, beta: float) -> tuple[float, list[float], float]:
    """log Z, marginals and E_p[Φ] by a plain Python loop over itertools.product."""
    weights, configs, energies = [], [], []
    for w in itertools.product((0, 1), repeat=n):
        phi = float(energy(w))
        configs.append(w)
        energies.append(phi)
        weights.append(0.0 if math.isinf(phi) else math.exp(-beta * phi))
    z = sum(weights)
    marg = [sum(wt * c[i] for wt, c in zip(weights, configs, strict=True)) / z for i in range(n)]
    mean = sum(wt * e for wt, e in zip(weights, energies, strict=True) if wt > 0) / z
    return math.log(z), marg, mean


def test_configurations_follow_itertools_product_order() -> None:
    for n in (1, 3, 5):
        expected = torch.tensor(list(itertools.product((0, 1), repeat=n)), dtype=torch.float64)
        assert torch.equal(configurations(n), expected)
        assert torch.equal(configurations(n, 1, 2**n - 1), expected[1 : 2**n - 1])


@given(n=st.integers(1, 7), seed=st.integers(0, 10_000), beta=st.floats(0.1, 2.0))
def test_pairwise_enumeration_matches_brute_force(n: int, seed: int, beta: float) -> None:
    model = random_pairwise(n, seed)
    J, h = model.coupling.tolist(), model.field.tolist()

    def phi(w: tuple[int, ...]) -> float:
        pair = sum(J[i][j] * w[i] * w[j] for i in range(n) for j in range(i + 1, n))
        return -pair - sum(h[i] * w[i] for i in range(n)) + 0.3

    log_z, marg, mean = brute_force(phi, n, beta)
    # small chunks: the chunked sums must agree with one pass
    ex = enumerate_exact(model, beta, chunk=3)
    assert ex.log_z == pytest.approx(log_z, abs=1e-10)
    assert ex.marginals.tolist() == pytest.approx(marg, abs=1e-10)
    assert ex.mean_energy == pytest.approx(mean, abs=1e-9)


def test_table_and_callable_with_forbidden_configurations_match_brute_force() -> None:
    g = torch.Generator().manual_seed(3)
    n = 5
    table = torch.randn(2**n, generator=g, dtype=torch.float64)
    table[[0, 7, 19]] = math.inf
    values = table.tolist()
    log_z, marg, mean = brute_force(lambda w: values[int("".join(map(str, w)), 2)], n, beta=0.7)
    ex = enumerate_exact(TableEnergy(table), 0.7, chunk=5)
    assert ex.log_z == pytest.approx(log_z, abs=1e-12)
    assert ex.marginals.tolist() == pytest.approx(marg, abs=1e-12)
    assert ex.mean_energy == pytest.approx(mean, abs=1e-12)
    # the same energy as a callable; and a [2]*N shaped table is read in the same order
    fn = CallableEnergy(n, lambda w: table[(w * 2 ** torch.arange(n - 1, -1, -1)).sum(-1).long()])
    assert enumerate_exact(fn, 0.7).log_z == pytest.approx(log_z, abs=1e-12)
    assert enumerate_exact(TableEnergy(table.reshape([2] * n)), 0.7).log_z == pytest.approx(log_z)


def test_seed_example_log_z_and_marginals() -> None:
    for n in (1, 2, 6, 12):
        ex = enumerate_exact(seed_model(n), beta=1.3)
        assert ex.log_z == pytest.approx(log_two_pow_minus_one(n), abs=1e-12)
        expected = (2 ** (n - 1) - 1) / (2**n - 1)
        assert ex.marginals.tolist() == pytest.approx([expected] * n, abs=1e-12)


def test_ising_grid_matches_the_spin_energy() -> None:
    size, k, h = 3, 0.8, -0.3
    model = ising_grid(size, k, h)
    w = configurations(size * size)
    s = (2 * w - 1).reshape(-1, size, size)
    spin = -k * ((s[:, :, 1:] * s[:, :, :-1]).sum((1, 2)) + (s[:, 1:] * s[:, :-1]).sum((1, 2)))
    spin = spin - h * s.sum((1, 2))
    assert torch.allclose(model.table(), spin, atol=1e-12)


@given(n=st.integers(2, 6), seed=st.integers(0, 10_000), beta=st.floats(0.2, 2.0))
def test_free_energy_bounded_by_log_z_with_equality_at_p(n: int, seed: int, beta: float) -> None:
    model = random_pairwise(n, seed)
    log_z = log_partition(model, beta).item()
    g = torch.Generator().manual_seed(seed)
    for _ in range(5):
        q = torch.rand(2**n, generator=g, dtype=torch.float64) ** 3
        q /= q.sum()
        f = free_energy(model, q, beta)
        assert f <= log_z + 1e-12
        # the KL identity of SPEC §6: KL = β Σ qΦ + Σ q log q + log Z = log Z − F
        kl = kl_divergence(model, q, beta)
        phi = model.table()
        direct = beta * (q * phi).sum() + (q * q.log()).sum() + log_z
        assert kl == pytest.approx(direct.item(), abs=1e-10)
        assert kl == pytest.approx(log_z - f, abs=1e-10)
        assert kl >= -1e-12
    p = log_probabilities(model, beta).exp()
    assert free_energy(model, p, beta) == pytest.approx(log_z, abs=1e-10)
    assert kl_divergence(model, p, beta) == pytest.approx(0.0, abs=1e-10)


def test_kl_is_infinite_exactly_when_q_meets_p_zero() -> None:
    model = seed_model(4)
    q = torch.full((16,), 1 / 16, dtype=torch.float64)
    assert kl_divergence(model, q) == math.inf
    assert free_energy(model, q) == -math.inf
    q = torch.zeros(16, dtype=torch.float64)
    q[:15] = 1 / 15  # uniform on the allowed configurations: q = p
    assert kl_divergence(model, q) == pytest.approx(0.0, abs=1e-12)
    assert free_energy(model, q) == pytest.approx(math.log(15))


@pytest.mark.parametrize("beta", [0.1, 0.7, 2.5])
def test_mean_energy_is_minus_dlogz_dbeta(beta: float) -> None:
    model = ising_grid(3, 1.0, 0.2)
    ex = enumerate_exact(model, beta)
    assert mean_energy_autograd(model, beta) == pytest.approx(ex.mean_energy, abs=1e-10)
    # and a central difference of log Z agrees too
    h = 1e-5
    fd = (log_partition(model, beta + h) - log_partition(model, beta - h)).item() / (2 * h)
    assert -fd == pytest.approx(ex.mean_energy, abs=1e-6)
    # with +inf energies the gradient stays finite (no 0 · inf)
    table = model.table().clone()
    table[5] = math.inf
    t = TableEnergy(table)
    assert mean_energy_autograd(t, beta) == pytest.approx(enumerate_exact(t, beta).mean_energy)


def test_bad_input_gets_a_clear_error() -> None:
    with pytest.raises(ShapeError, match="2\\^N entries"):
        TableEnergy(torch.zeros(12))
    with pytest.raises(DataError, match="NaN"):
        TableEnergy(torch.tensor([0.0, float("nan")]))
    with pytest.raises(ConfigError, match=f"N <= {MAX_ENUMERATION_N}"):
        log_partition(seed_model(MAX_ENUMERATION_N + 1))
    with pytest.raises(ShapeError, match="one energy per configuration"):
        enumerate_exact(CallableEnergy(3, lambda w: w))
    with pytest.raises(ConfigError, match="beta must be > 0"):
        enumerate_exact(seed_model(3), beta=0.0)
    with pytest.raises(DataError, match="symmetric"):
        PairwiseEnergy(torch.tensor([[0.0, 1.0], [2.0, 0.0]]), torch.zeros(2))
    with pytest.raises(DataError, match="sum to 1"):
        free_energy(seed_model(2), torch.ones(4))
