"""VAEs composed of parts (SPEC §7): posteriors and priors are Distributions whose densities are
right, the objectives reach the right limits through the model, DReG changes only the encoder's
gradient, and options that the chosen parts cannot use are refused."""

from __future__ import annotations

import pytest
import torch
from torch.autograd.functional import jacobian

from deepgen.distributions import DiagonalNormal, kl_standard_normal
from deepgen.errors import ConfigError
from deepgen.flows.registry import randomize_parameters
from deepgen.vae import (
    VAE,
    ComposedVAE,
    FlowEncoder,
    FlowPrior,
    GaussianEncoder,
    VAEConfig,
    VampPrior,
    build_vae,
    seeded_from,
)

DT = torch.float64
SMALL = {"x_dim": 6, "hidden": 16, "z_dim": 2}


def _x(n: int = 5, seed: int = 0) -> torch.Tensor:
    return torch.rand(n, 6, generator=torch.Generator().manual_seed(seed)).round()


def _randomized(module: torch.nn.Module, seed: int, scale: float = 0.5) -> torch.nn.Module:
    randomize_parameters(module, torch.Generator().manual_seed(seed), scale)
    return module


@pytest.mark.parametrize("flow", ["iaf", "planar"])
def test_a_flow_posterior_log_q_is_the_change_of_variables(flow: str) -> None:
    """log q(z) = log N(z₀; μ, σ²) − log|det ∂z/∂z₀|, the Jacobian from autograd (float64)."""
    torch.manual_seed(0)
    enc = _randomized(FlowEncoder(6, 16, 3, flow, layers=3, context=4, flow_hidden=(8, 8)), 1)
    x = _x(4).double()
    loc, log_var, h = enc.local_params(x)
    q = enc(x)
    z, log_q = q.rsample_and_log_prob((2,))
    z0, _ = enc.transform(z.reshape(-1, 3), h.repeat(2, 1))  # z → z₀ (data → noise)
    z0 = z0.view(2, 4, 3)
    base = DiagonalNormal(loc, log_var).log_prob(z0)
    for s in range(2):
        for i in range(4):
            hi = h[i : i + 1]
            jac = jacobian(
                lambda v, hi=hi: enc.transform.inverse(v.unsqueeze(0), hi)[0].squeeze(0), z0[s, i]
            )
            expected = base[s, i] - torch.linalg.slogdet(jac)[1]
            torch.testing.assert_close(log_q[s, i], expected, atol=1e-9, rtol=1e-9)
    # and the posterior's own log_prob (the slow direction for IAF) agrees
    torch.testing.assert_close(q.log_prob(z), log_q, atol=1e-8, rtol=1e-8)


def _grid_mass(log_prob, box: float = 12.0, n: int = 481) -> float:
    g = torch.linspace(-box, box, n, dtype=DT)
    xx, yy = torch.meshgrid(g, g, indexing="ij")
    pts = torch.stack([xx.flatten(), yy.flatten()], -1)
    with torch.no_grad():
        return torch.exp(log_prob(pts)).sum().item() * (g[1] - g[0]).item() ** 2


def test_vamp_prior_and_flow_prior_integrate_to_one() -> None:
    torch.manual_seed(0)
    enc = _randomized(GaussianEncoder(6, 16, 2), 2, scale=0.3).double()
    vamp = VampPrior(enc, components=7).double()
    assert _grid_mass(lambda z: vamp().log_prob(z)) == pytest.approx(1.0, abs=0.01)
    flow = _randomized(FlowPrior(2, layers=2, hidden=(8, 8)), 3, scale=0.3)
    assert _grid_mass(lambda z: flow().log_prob(z)) == pytest.approx(1.0, abs=0.01)


def test_vamp_prior_is_the_mean_of_the_encoder_at_its_pseudo_inputs() -> None:
    torch.manual_seed(0)
    enc = _randomized(GaussianEncoder(6, 16, 2), 4).double()
    vamp = VampPrior(enc, components=5).double()
    z = torch.randn(9, 2, dtype=DT)
    q = enc(vamp.pseudo_inputs)
    expected = torch.logsumexp(q.log_prob(z[:, None]), -1) - torch.log(torch.tensor(5.0, dtype=DT))
    torch.testing.assert_close(vamp().log_prob(z), expected)


def test_the_gaussian_normal_model_uses_the_closed_form_kl() -> None:
    torch.manual_seed(0)
    vae = ComposedVAE.from_config(VAEConfig(**SMALL, beta=2.0))  # not the seed: a β-ELBO
    x = _x()
    terms = vae.elbo_terms(x, samples=3, generator=torch.Generator().manual_seed(0))
    loc, log_var = vae.local_params(x)
    torch.testing.assert_close(terms.kl, kl_standard_normal(loc, log_var))
    # a flow posterior has none: the Monte Carlo KL, which converges to the same kind of number
    iaf = ComposedVAE.from_config(VAEConfig(**SMALL, posterior="iaf"))
    kl = iaf.elbo_terms(x, samples=4000, generator=torch.Generator().manual_seed(0)).kl
    loc, log_var, _ = iaf.local_params(x)
    # the IAF starts as the identity: its KL is the Gaussian's, within Monte Carlo error
    assert (kl - kl_standard_normal(loc, log_var)).abs().max() < 0.1


def test_objectives_through_the_model_reach_their_limits() -> None:
    torch.manual_seed(0)
    x = _x().double()  # the randomized models are float64
    base = {**SMALL, "posterior": "iaf", "samples": 8}
    values = {}
    for name, extra in {
        "iwae": {"objective": "iwae"},
        "miwae1": {"objective": "miwae", "groups": 1},
        "miwae8": {"objective": "miwae", "groups": 8},
        "elbo": {"objective": "elbo"},
        "ciwae0": {"objective": "ciwae", "beta": 0.0},
        "ciwae1": {"objective": "ciwae", "beta": 1.0},
        "piwae": {"objective": "piwae", "groups": 2},
    }.items():
        torch.manual_seed(1)
        vae = ComposedVAE.from_config(VAEConfig(**base, **extra))
        _randomized(vae, 5, scale=0.3)
        _, stats = vae.loss(x, generator=torch.Generator().manual_seed(2), validate=False)
        values[name] = stats["objective"].item()
    assert values["miwae1"] == pytest.approx(values["iwae"], abs=1e-5)
    assert values["ciwae0"] == pytest.approx(values["iwae"], abs=1e-5)
    assert values["piwae"] == pytest.approx(values["iwae"], abs=1e-5)  # PIWAE reports IWAE
    assert values["ciwae1"] == pytest.approx(values["miwae8"], abs=1e-5)  # both the 8-sample ELBO
    # the ELBO objective uses the Monte Carlo KL of the same draws here: same number again
    assert values["elbo"] == pytest.approx(values["miwae8"], abs=1e-4)
    assert values["elbo"] < values["iwae"]


def _grads(vae: ComposedVAE, x: torch.Tensor, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    vae.zero_grad()
    loss, _ = vae.loss(x, generator=torch.Generator().manual_seed(seed), validate=False)
    loss.backward()
    enc = torch.cat([p.grad.flatten() for p in vae.encoder.parameters()])
    dec = torch.cat([p.grad.flatten() for p in vae.decoder.parameters()])
    return enc, dec


def test_dreg_changes_only_the_encoder_gradient_keeps_its_mean_and_lowers_its_variance() -> None:
    """Same draws: the decoder's gradient is IWAE's in both; over many draws the encoder's DReG
    gradient has the same mean (within 4 standard errors) and a smaller total variance."""
    torch.manual_seed(0)
    cfg = {**SMALL, "objective": "iwae", "samples": 64}
    plain = ComposedVAE.from_config(VAEConfig(**cfg)).double()
    _randomized(plain, 6, scale=0.3)
    dreg = ComposedVAE.from_config(VAEConfig(**cfg, estimator="dreg")).double()
    dreg.load_state_dict(plain.state_dict())
    x = _x(1).double()
    enc_p, enc_d = [], []
    for r in range(300):
        ep, dp = _grads(plain, x, r)
        ed, dd = _grads(dreg, x, r)
        torch.testing.assert_close(dd, dp, atol=1e-10, rtol=1e-10)
        enc_p.append(ep)
        enc_d.append(ed)
    ep, ed = torch.stack(enc_p), torch.stack(enc_d)
    diff = ed - ep
    z = diff.mean(0) / (diff.std(0) / len(diff) ** 0.5).clamp_min(1e-300)
    active = diff.std(0) > 0
    assert z[active].abs().max() < 4.5, z[active].abs().max()
    ratio = (ed.var(0).sum() / ep.var(0).sum()).item()
    assert ratio < 0.5, ratio


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"flows": 3}, "--flows needs a flow posterior"),
        ({"groups": 2}, "--groups goes with"),
        ({"objective": "iwae", "beta": 0.5}, "--beta goes with"),
        ({"objective": "miwae"}, "needs --groups"),
        ({"objective": "miwae", "samples": 6, "groups": 4}, "divide"),
        ({"objective": "ciwae"}, "needs --beta"),
        ({"objective": "ciwae", "beta": 1.5}, "needs --beta"),
        ({"estimator": "dreg"}, "use --objective iwae"),
        ({"estimator": "dreg", "objective": "iwae", "posterior": "iaf"}, "gaussian"),
        ({"pseudo_inputs": 10}, "--prior vamp"),
        ({"prior_flows": 2, "prior": "vamp"}, "--prior flow"),
        ({"posterior": "realnvp"}, "unknown posterior"),
    ],
)
def test_options_the_parts_cannot_use_are_refused(options: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message) as info:
        VAEConfig(**options)
    assert "\n" not in str(info.value)


def test_build_vae_keeps_the_seed_fast_path_and_composes_the_rest() -> None:
    assert type(build_vae(VAEConfig())) is VAE
    assert type(build_vae(VAEConfig(objective="iwae", samples=5))) is VAE
    for cfg in (
        VAEConfig(posterior="iaf"),
        VAEConfig(prior="vamp"),
        VAEConfig(beta=4.0),
        VAEConfig(objective="iwae", estimator="dreg"),
    ):
        assert type(build_vae(cfg)) is ComposedVAE
    with pytest.raises(ConfigError, match="build_vae"):
        VAE(VAEConfig(posterior="iaf"))


def test_seeded_from_makes_the_composed_model_reproducible() -> None:
    torch.manual_seed(0)
    vae = ComposedVAE.from_config(VAEConfig(**SMALL, posterior="planar", prior="flow"))
    x = _x()
    a = vae.log_weights(x, 7, torch.Generator().manual_seed(3))
    b = vae.log_weights(x, 7, torch.Generator().manual_seed(3))
    assert torch.equal(a, b)
    before = torch.random.get_rng_state()
    with seeded_from(torch.Generator().manual_seed(1)):
        torch.randn(3)
    assert torch.equal(torch.random.get_rng_state(), before)  # the global RNG is restored


def test_a_composed_vae_round_trips_through_its_state_dict() -> None:
    torch.manual_seed(0)
    cfg = VAEConfig(**SMALL, posterior="iaf", prior="vamp", pseudo_inputs=4)
    a = ComposedVAE.from_config(cfg)
    _randomized(a, 8, scale=0.3)
    a = a.float()
    b = ComposedVAE.from_config(cfg)
    assert "prior.pseudo_inputs" in a.state_dict()
    b.load_state_dict(a.state_dict())
    x = _x()
    g = torch.Generator
    assert torch.equal(
        a.log_weights(x, 5, g().manual_seed(0)), b.log_weights(x, 5, g().manual_seed(0))
    )
