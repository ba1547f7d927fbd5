"""Amortization gap: per-datapoint q* beats the encoder, the gaps add up, estimators are right."""

from __future__ import annotations

import math

import pytest
import torch

from deepgen.data import load_dataset
from deepgen.errors import ConfigError
from deepgen.vae.amortization import (
    GapConfig,
    elbo_common_noise,
    measure_gap,
    mixture_log_px,
    optimize_local,
)
from deepgen.vae.model import VAE

SMALL = GapConfig(n=8, k=400, steps=120, lr=0.02, opt_samples=20, eval_samples=400, seed=3)


@pytest.fixture(scope="module")
def trained() -> tuple[VAE, torch.Tensor]:
    """The SPEC §1 VAE after 300 Adam updates (about a second), and 8 held-out images."""
    torch.manual_seed(0)
    data = load_dataset("mnist14")
    model = VAE()
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    g = torch.Generator().manual_seed(0)
    for _ in range(300):
        x = data.train[torch.randint(len(data.train), (100,), generator=g)]
        loss, _ = model.loss(x, validate=False)
        opt.zero_grad()
        loss.backward()
        opt.step()
    model.eval()
    return model, data.test[:8]


@pytest.fixture(scope="module")
def gap(trained: tuple[VAE, torch.Tensor]) -> dict:
    model, x = trained
    return measure_gap(model, x, SMALL)


def test_gaps_add_up_to_the_inference_gap(gap: dict) -> None:
    per = gap["per_image"]
    for key in per:
        assert len(per[key]) == 8, key
    for lp, lo, la, ap, am, tot in zip(
        per["log_px"],
        per["elbo_optimal"],
        per["elbo_amortized"],
        per["approximation_gap"],
        per["amortization_gap"],
        per["inference_gap"],
        strict=True,
    ):
        assert ap == pytest.approx(lp - lo, abs=1e-9)
        assert am == pytest.approx(lo - la, abs=1e-9)
        assert ap + am == pytest.approx(tot, abs=1e-9)
        assert tot == pytest.approx(lp - la, abs=1e-9)
    m = gap["mean"]
    assert m["approximation_gap"] + m["amortization_gap"] == pytest.approx(m["inference_gap"])


def test_per_datapoint_posteriors_beat_the_encoder(gap: dict) -> None:
    per = gap["per_image"]
    lo = torch.tensor(per["elbo_optimal"])
    la = torch.tensor(per["elbo_amortized"])
    se = torch.tensor(per["amortization_gap_stderr"])
    # KL(q_φ ‖ p(z|x)) ≥ KL(q* ‖ p(z|x)), up to Monte Carlo error of the shared-noise estimate
    assert bool((lo >= la - 3 * se).all())
    assert gap["optimal_at_least_amortized"] + gap["optimal_below_amortized"] == 8
    assert gap["optimal_at_least_amortized"] >= 7
    assert gap["mean"]["amortization_gap"] > 0
    # log p(x) ≥ L[q*], up to the Monte Carlo errors of both estimates (3 standard errors)
    lp = torch.tensor(per["log_px"])
    mc = torch.tensor(per["log_px_stderr"]) + torch.tensor(per["elbo_optimal_stderr"])
    assert bool((lp > lo - 3 * mc).all())
    assert gap["mean"]["approximation_gap"] > 0


def test_time_and_memory_are_reported(gap: dict) -> None:
    t, mem = gap["time"], gap["memory"]
    assert t["per_datapoint_seconds"] > t["amortized_seconds"] > 0
    assert mem["per_datapoint_parameter_bytes"] == 2 * 8 * 8 * 4  # n · 2 · z floats
    assert mem["per_datapoint_optimizer_bytes"] == 2 * mem["per_datapoint_parameter_bytes"]
    # the graph holds at least the decoder's output logits for every sample and image
    assert mem["per_datapoint_autograd_bytes_per_step"] >= 20 * 8 * 196 * 4
    assert mem["amortized_parameter_bytes"] == (196 * 128 + 128 + 128 * 16 + 16) * 4
    assert len(gap["elbo_trace"]) == SMALL.steps


def test_same_seed_same_numbers(trained: tuple[VAE, torch.Tensor], gap: dict) -> None:
    model, x = trained
    again = measure_gap(model, x, SMALL)
    assert again["per_image"] == gap["per_image"]


def test_local_optimisation_raises_the_elbo(trained: tuple[VAE, torch.Tensor]) -> None:
    model, x = trained
    with torch.no_grad():
        params = model.local_params(x)
    fit = optimize_local(model, x, params, 80, 0.02, 20, torch.Generator().manual_seed(1))
    assert sum(fit.elbo_trace[-10:]) / 10 > fit.elbo_trace[0]
    assert all(p.requires_grad for p in model.parameters())  # the decoder is given back


def test_shared_noise_estimator(trained: tuple[VAE, torch.Tensor]) -> None:
    model, x = trained
    with torch.no_grad():
        loc, log_var = model.encode_params(x)
    g = torch.Generator().manual_seed(0)
    (a, b), (se_a, _), se_diff = elbo_common_noise(model, x, [(loc, log_var)] * 2, 300, g)
    assert torch.equal(a, b) and bool((se_diff == 0).all()) and bool((se_a > 0).all())
    # it estimates the same ELBO as the model's own estimator, within Monte Carlo error
    with torch.no_grad():
        terms = model.elbo_terms(x, 4000, torch.Generator().manual_seed(5), validate=False)
    assert bool(((a - terms.elbo.double()).abs() < 4 * se_a + 0.05).all())


def test_mixture_importance_sampling_is_exact_and_unbiased_when_z_is_ignored(
    trained: tuple[VAE, torch.Tensor],
) -> None:
    """A decoder that ignores z has p(x) = p(x|z) in closed form: the estimator must find it."""
    model, x = trained
    flat = VAE(model.config)
    flat.load_state_dict(model.state_dict())
    with torch.no_grad():
        flat.decoder[-1].weight.zero_()
        bias = flat.decoder[-1].bias
        exact = (x * bias - torch.nn.functional.softplus(bias)).sum(-1).double()
    zero = torch.zeros(len(x), 8)
    g = torch.Generator().manual_seed(0)
    prior = mixture_log_px(flat, x, [(zero, zero)], 50, g)  # proposal = prior: every weight = p(x)
    assert torch.allclose(prior.log_px, exact, atol=1e-4)
    shifted = (zero + 0.7, zero + math.log(0.5))
    est = mixture_log_px(flat, x, [(zero, zero + math.log(2.0)), shifted], 20000, g)
    assert bool(((est.log_px - exact).abs() < 4 * est.stderr + 1e-3).all())


def test_bad_config() -> None:
    with pytest.raises(ConfigError, match="--steps"):
        GapConfig(steps=0)
    with pytest.raises(ConfigError, match="--lr"):
        GapConfig(lr=float("nan"))
    with pytest.raises(ConfigError, match="split"):
        GapConfig(split="everything")
