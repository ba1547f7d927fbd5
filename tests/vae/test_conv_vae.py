"""The convolutional VAE (``--arch conv``): shapes, gradients, composition with the priors and
objectives, refusals, and the command on binarized MNIST 28×28."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from deepgen.cli.main import main
from deepgen.errors import ConfigError
from deepgen.vae import ComposedVAE, ConvBernoulliDecoder, ConvGaussianEncoder, VAEConfig
from deepgen.vae.composed import build_vae


@pytest.mark.parametrize("prior", ["normal", "vamp", "flow"])
def test_conv_parts_compose_with_every_prior(prior: str) -> None:
    torch.manual_seed(0)
    c = VAEConfig(x_dim=64, z_dim=3, arch="conv", channels=4, prior=prior, objective="iwae")
    vae = build_vae(c)
    assert isinstance(vae, ComposedVAE)
    assert isinstance(vae.encoder, ConvGaussianEncoder)
    assert isinstance(vae.decoder, ConvBernoulliDecoder)
    x = torch.rand(6, 64).round()
    loss, _ = vae.loss(x)
    loss.backward()
    grads = [p.grad for p in vae.parameters()]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)
    assert vae.encoder.net[1].weight.grad.abs().sum() > 0  # the convolutions learn
    assert vae.log_weights(x, 5).shape == (5, 6)
    assert vae.sample(4).shape == (4, 64) and vae.reconstruct(x).shape == (6, 64)


def test_the_decoder_sees_each_latent_separately() -> None:
    """Leading sample dimensions are flattened and restored, not mixed."""
    torch.manual_seed(0)
    dec = ConvBernoulliDecoder(z_dim=2, channels=4, x_dim=64)
    z = torch.randn(3, 5, 2)
    assert torch.allclose(dec.logits(z)[1, 4], dec.logits(z[1, 4][None])[0], atol=1e-6)


def test_refusals() -> None:
    with pytest.raises(ConfigError, match="side is divisible by 4"):
        VAEConfig(x_dim=196, arch="conv")
    with pytest.raises(ConfigError, match="Gaussian posterior and one stochastic layer"):
        VAEConfig(x_dim=784, arch="conv", posterior="iaf")
    with pytest.raises(ConfigError, match="unknown arch"):
        VAEConfig(arch="resnet")
    with pytest.raises(ConfigError, match="--channels sizes the convolutions"):
        VAEConfig(channels=8)
    with pytest.raises(ConfigError, match="--depth sizes the MLP networks"):
        VAEConfig(x_dim=784, arch="conv", depth=2)


def test_command_on_binarized_mnist(shared_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "conv"
    data = str(shared_dir / "data" / "binarized_mnist")
    args = ["vae", "--arch", "conv", "--channels", "8", "--z-dim", "16", "--data"]
    args += ["binarized-mnist", "--data-dir", data, "--steps", "60", "--batch-size", "50"]
    args += ["--val-every", "30", "--eval-k", "10", "--eval-images", "100", "--quiet"]
    assert main([*args, "--out", str(out)]) == 0
    m = json.loads((out / "metrics.json").read_text())
    rows = [json.loads(line) for line in (out / "train_log.jsonl").read_text().splitlines()]
    assert rows[-1]["loss"] < rows[0]["loss"] - 100  # 543 nats at the start; it learns
    assert m["val_loglik_iwae"] > m["val_elbo"] and m["val_images"] == 100
    assert "convolutional encoder" in (out / "report.html").read_text()
