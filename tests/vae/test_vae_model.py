"""The VAE of SPEC §1: exact architecture, objective terms, IWAE bound, bad input."""

from __future__ import annotations

import itertools
import math

import pytest
import torch
from torch import nn

from deepgen.distributions import bernoulli_log_likelihood
from deepgen.errors import ConfigError, DataError, ShapeError
from deepgen.vae import VAE, VAEConfig


def _binary(n: int, seed: int = 0) -> torch.Tensor:
    return (torch.rand(n, 196, generator=torch.Generator().manual_seed(seed)) < 0.3).float()


def test_architecture_is_exactly_spec_section_1() -> None:
    model = VAE()
    enc = [m for m in model.encoder if not isinstance(m, nn.Tanh)]
    dec = [m for m in model.decoder if not isinstance(m, nn.Tanh)]
    assert [(m.in_features, m.out_features) for m in enc] == [(196, 128), (128, 16)]
    assert [(m.in_features, m.out_features) for m in dec] == [(8, 128), (128, 196)]
    assert isinstance(model.encoder[1], nn.Tanh) and isinstance(model.decoder[1], nn.Tanh)
    assert model.config.samples == 2 and model.config.objective == "elbo"


def test_elbo_terms_match_a_hand_computation_with_the_same_noise() -> None:
    torch.manual_seed(0)
    model = VAE().double()
    x = _binary(5).double()
    g1, g2 = torch.Generator().manual_seed(3), torch.Generator().manual_seed(3)
    terms = model.elbo_terms(x, samples=2, generator=g1)
    h = model.encoder(x)
    mu, log_var = h[:, :8], h[:, 8:]
    eps = torch.randn(2, 5, 8, generator=g2, dtype=torch.float64)
    z = mu + torch.exp(0.5 * log_var) * eps
    y = torch.sigmoid(model.decoder(z))
    rec = (x * torch.log(y) + (1 - x) * torch.log(1 - y)).sum(-1).mean(0)
    kl = -0.5 * (1 + log_var - mu**2 - log_var.exp()).sum(-1)
    torch.testing.assert_close(terms.rec, rec)
    torch.testing.assert_close(terms.kl, kl)
    torch.testing.assert_close(terms.elbo, rec - kl)


def test_log_weights_average_to_the_elbo() -> None:
    """E_q[log p(x,z) − log q(z|x)] = E_q[log p(x|z)] − KL (closed form), by Monte Carlo."""
    torch.manual_seed(1)
    model = VAE().double()
    x = _binary(3, 1).double()
    g = torch.Generator().manual_seed(0)
    lw = model.log_weights(x, 20_000, g)
    mc, se = lw.mean(0), lw.std(0) / math.sqrt(lw.shape[0])
    closed_form_kl = model.elbo_terms(x, samples=20_000, generator=g)
    assert torch.all((mc - closed_form_kl.elbo).abs() < 5 * math.sqrt(2) * se)


def test_iwae_bound_increases_with_k_on_the_vae() -> None:
    torch.manual_seed(2)
    model = VAE().double()
    x = _binary(4, 2).double()
    g = torch.Generator().manual_seed(0)
    means = []
    for k, reps in ((1, 4000), (10, 800), (100, 100)):
        lw = model.log_weights(x, k * reps, g).reshape(k, reps, -1)
        vals = torch.logsumexp(lw, 0) - math.log(k)  # reps independent L_K estimates
        means.append((vals.mean(0), vals.std(0) / math.sqrt(reps)))
    for (lo, se_lo), (hi, se_hi) in itertools.pairwise(means):
        assert torch.all(lo < hi + 4 * torch.sqrt(se_lo**2 + se_hi**2))


def test_iwae_objective_trains_and_reports_its_bound() -> None:
    torch.manual_seed(0)
    model = VAE(VAEConfig(objective="iwae", samples=5))
    x = _binary(16)
    loss, stats = model.loss(x)
    assert loss.shape == () and torch.isfinite(loss)
    assert set(stats) == {"objective", "rec", "kl"}
    assert stats["rec"] < 0 < stats["kl"]  # log p(x|z) of binary data, and a KL
    # same noise: the reported objective is L_K = log mean exp(log w) of exactly these weights
    g1, g2 = torch.Generator().manual_seed(9), torch.Generator().manual_seed(9)
    _, stats = model.loss(x, generator=g1)
    torch.testing.assert_close(stats["objective"], model.iwae(x, 5, g2).mean())
    loss.backward()
    assert all(p.grad is not None for p in model.parameters())


def test_reconstruct_and_sample_are_pixel_means() -> None:
    model = VAE()
    r = model.reconstruct(_binary(8))
    s = model.sample(10, torch.Generator().manual_seed(0))
    assert r.shape == (8, 196) and s.shape == (10, 196)
    assert ((r > 0) & (r < 1)).all() and ((s > 0) & (s < 1)).all()


def test_decoder_log_likelihood_uses_196_pixels() -> None:
    """The source writes the sum to 8; it is over all 196 pixels: with every logit 0 each pixel
    contributes log ½ whatever its value, and flipping any single pixel — the last included —
    changes the sum by exactly that pixel's logit."""
    model = VAE()
    with torch.no_grad():
        model.decoder[-1].weight.zero_()
        model.decoder[-1].bias.zero_()
    x = _binary(2)
    logits = model.decode(torch.zeros(2, 8))
    assert logits.shape == (2, 196)
    ll = bernoulli_log_likelihood(logits, x)
    torch.testing.assert_close(ll, torch.full((2,), 196 * math.log(0.5)))
    with torch.no_grad():
        model.decoder[-1].bias.copy_(torch.linspace(-2, 2, 196))
    logits = model.decode(torch.zeros(2, 8))
    base = bernoulli_log_likelihood(logits, x)
    for pixel in (0, 7, 8, 195):
        flipped = x.clone()
        flipped[:, pixel] = 1 - flipped[:, pixel]
        sign = 2 * flipped[:, pixel] - 1  # +1 when the pixel became 1: gains its logit
        expected = base + sign * logits[:, pixel]
        torch.testing.assert_close(bernoulli_log_likelihood(logits, flipped), expected)


def test_bad_inputs_get_clear_errors() -> None:
    model = VAE()
    with pytest.raises(ShapeError, match="196 features"):
        model.encode(torch.zeros(3, 784))
    with pytest.raises(ShapeError, match="8 features"):
        model.decode(torch.zeros(3, 7))
    with pytest.raises(DataError, match="non-binary"):
        model.loss(torch.full((2, 196), 0.5))
    with pytest.raises(ConfigError, match="objective"):
        VAEConfig(objective="wake-sleep")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="samples"):
        VAEConfig(samples=0)
