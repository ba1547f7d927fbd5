"""Two stochastic layers (Burda et al. 2016): importance-sampled log p(x) against the exact
marginal by quadrature, bound ordering, refusals, and the command end to end."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch

from deepgen.bounds import log_mean_exp
from deepgen.cli.main import main
from deepgen.distributions import DiagonalNormal
from deepgen.errors import ConfigError
from deepgen.vae.composed import build_vae
from deepgen.vae.hierarchical import HierarchicalVAE
from deepgen.vae.model import VAEConfig

# q(z1 | x) and p(z2) of the two-layer model: Burda et al.'s, and the composable parts
PARTS = {
    "gaussian-normal": {},
    "iaf-normal": {"posterior": "iaf", "flows": 2},
    "planar-flow": {"posterior": "planar", "flows": 2, "prior": "flow", "prior_flows": 2},
}


def _tiny(parts: str = "gaussian-normal") -> HierarchicalVAE:
    torch.manual_seed(3)
    c = VAEConfig(x_dim=4, hidden=6, z_dim=1, z2_dim=1, hidden2=5, depth=2, **PARTS[parts])
    model = build_vae(c)
    assert isinstance(model, HierarchicalVAE)
    if parts != "gaussian-normal":  # away from the initialisation, so the parts matter
        with torch.no_grad():
            for p in model.parameters():
                p.add_(0.1 * torch.randn_like(p))
    return model.double()


@torch.no_grad()
def _exact_log_px(model: HierarchicalVAE, x: torch.Tensor, n: int = 601) -> torch.Tensor:
    """log ∫∫ p(x | z1) p(z1 | z2) p(z2) dz1 dz2 by a Riemann sum on [−9, 9]²."""
    g = torch.linspace(-9, 9, n, dtype=torch.float64)
    step = (g[1] - g[0]).item()
    z1, z2 = torch.meshgrid(g, g, indexing="ij")
    z1, z2 = z1.reshape(-1, 1), z2.reshape(-1, 1)
    log_p1 = DiagonalNormal(*model.conditional.local_params(z2)).log_prob(z1)
    log_p2 = model.prior().log_prob(z2)  # N(0, 1), or the flow prior's density
    logits = model.decoder.logits(z1).unsqueeze(1)  # [n², 1, D]
    log_px = (x * logits - torch.nn.functional.softplus(logits)).sum(-1)  # [n², batch]
    return torch.logsumexp(log_px + (log_p1 + log_p2).unsqueeze(1), 0) + 2 * math.log(step)


@pytest.mark.parametrize("parts", sorted(PARTS))
def test_importance_sampling_recovers_the_exact_marginal(parts: str) -> None:
    """Unbiased importance weights need the right log q (a flow posterior's log-determinants)
    and log p(z2) (a flow prior's): a wrong one would miss the quadrature's log p(x)."""
    model = _tiny(parts)
    x = torch.tensor([[1.0, 0, 1, 1], [0, 0, 1, 0], [1, 1, 1, 1]], dtype=torch.float64)
    exact = _exact_log_px(model, x)
    torch.manual_seed(0)
    log_w = model.log_weights(x, 20_000)
    estimate = log_mean_exp(log_w, 0)
    # the standard error of the log of a mean of weights: sd(w) / (mean(w) sqrt(K))
    w = (log_w - log_w.max(0).values).exp()
    se = w.std(0) / (w.mean(0) * math.sqrt(log_w.shape[0]))
    assert torch.all((estimate - exact).abs() < 4 * se + 1e-3), (estimate, exact, se)


@pytest.mark.parametrize("parts", sorted(PARTS))
def test_the_bounds_are_ordered(parts: str) -> None:
    model = _tiny(parts)
    x = torch.tensor([[1.0, 0, 1, 1], [0, 1, 1, 0]], dtype=torch.float64)
    exact = _exact_log_px(model, x)
    torch.manual_seed(1)
    elbo = model.elbo_terms(x, samples=20_000).elbo
    torch.manual_seed(2)
    log_w = model.log_weights(x, 50 * 400).view(400, 50, -1)
    iwae50 = log_mean_exp(log_w, 1).mean(0)
    assert torch.all(elbo < iwae50) and torch.all(iwae50 < exact + 0.01)


def test_loss_sample_and_refusals() -> None:
    model = _tiny()
    x = torch.rand(5, 4, dtype=torch.float64).round()
    loss, stats = model.loss(x)
    loss.backward()
    assert all(p.grad is not None for p in model.parameters())
    assert set(stats) == {"objective", "rec", "kl"}
    images = model.sample(6, torch.Generator().manual_seed(0))
    assert images.shape == (6, 4) and bool(((images > 0) & (images < 1)).all())
    with pytest.raises(ConfigError, match="p\\(z1\\) has no closed form"):
        model.prior_distribution()
    with pytest.raises(ConfigError, match="no VampPrior, no DReG"):
        VAEConfig(z2_dim=4, prior="vamp")
    with pytest.raises(ConfigError, match="no VampPrior, no DReG"):
        VAEConfig(z2_dim=4, objective="iwae", samples=4, estimator="dreg")
    with pytest.raises(ConfigError, match="unknown activation 'gelu2'"):
        VAEConfig(activation="gelu2")
    with pytest.raises(ConfigError, match="give --z2-dim too"):
        VAEConfig(hidden2=10)
    with pytest.raises(ConfigError, match="piwae is not built"):
        VAEConfig(z2_dim=4, objective="piwae", samples=4, groups=2)


def test_command_with_two_layers_and_burda_schedule(tmp_path: Path) -> None:
    """mnist14 has 10,000 training images: 100 updates of 100 per epoch, so the rate is the
    base for updates 1–100, 10^(−1/7) of it for 101–400 and 10^(−2/7) from 401."""
    out = tmp_path / "run"
    args = ["vae", "--z2-dim", "4", "--hidden2", "32", "--depth", "2", "--schedule", "burda"]
    args += ["--steps", "450", "--lr", "2e-3", "--eval-k", "20", "--val-images", "50"]
    assert main([*args, "--val-every", "150", "--out", str(out), "--quiet"]) == 0
    rows = [json.loads(line) for line in (out / "train_log.jsonl").read_text().splitlines()]
    lr = {r["update"]: r["lr"] for r in rows}
    assert lr[100] == pytest.approx(2e-3) and lr[101] == pytest.approx(2e-3 * 10 ** (-1 / 7))
    assert lr[400] == pytest.approx(2e-3 * 10 ** (-1 / 7))
    assert lr[401] == pytest.approx(2e-3 * 10 ** (-2 / 7))
    m = json.loads((out / "metrics.json").read_text())
    # the 450 updates learn: the ELBO beats a model of independent pixel frequencies' bound
    assert m["val_elbo"] > -80 and m["val_loglik_iwae"] > m["val_elbo"]
    config = json.loads((out / "config.json").read_text())
    model = config["model"]
    assert (model["z2_dim"], model["depth"], config["schedule"]) == (4, 2, "burda")
    assert "p(z|z2)" in (out / "report.html").read_text()


def test_command_trains_two_layers_with_a_flow_posterior_and_a_flow_prior(tmp_path: Path) -> None:
    out = tmp_path / "run"
    args = ["vae", "--z2-dim", "3", "--hidden2", "16", "--posterior", "iaf", "--prior", "flow"]
    args += ["--steps", "30", "--eval-k", "10", "--val-every", "10", "--quiet"]
    assert main([*args, "--out", str(out)]) == 0
    keys = torch.load(out / "checkpoint.pt", weights_only=False)["task"]["model"].keys()
    assert any(k.startswith("encoder.transform.") for k in keys)  # the IAF layers on z1
    assert any(k.startswith("prior.flow.") for k in keys)  # the MAF prior on z2
    assert any(k.startswith("encoder2.") for k in keys) and any("conditional." in k for k in keys)
    m = json.loads((out / "metrics.json").read_text())
    assert m["val_loglik_iwae"] > m["val_elbo"]  # the estimate is above the bound it tightens
    assert "inverse autoregressive (IAF)" in (out / "report.html").read_text()
