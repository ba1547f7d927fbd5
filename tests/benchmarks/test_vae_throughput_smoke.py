"""Smoke test of benchmarks/vae_throughput.py: it runs and writes sane JSON (no speed targets)."""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import pytest
import torch

from deepgen.vae.model import VAE, VAEConfig


@pytest.fixture(scope="module")
def bench(load_benchmark: Callable[[str], ModuleType]) -> ModuleType:
    return load_benchmark("vae_throughput")


def test_quick_run_writes_ratios(bench: ModuleType, tmp_path: Path) -> None:
    bench.main(["--quick", "--skip-pythae", "--out", str(tmp_path)])
    result = json.loads((tmp_path / "vae_throughput.json").read_text())
    ratios, methods = result["ratios"], result["methods"]
    # every ratio is the ratio of the medians it names (not a number made up on the side)
    for key, (num, den) in {
        "deepgen_vs_plain": ("deepgen_s2", "plain_s2"),
        "deepgen_vs_plain_samples1": ("deepgen_s1", "plain_s1"),
        "iaf_posterior_cost": ("deepgen_s2", "deepgen_iaf_s2"),
    }.items():
        medians = [methods[m]["median_updates_per_second"] for m in (num, den)]
        assert all(math.isfinite(v) for v in medians), key
        assert ratios[key] == pytest.approx(medians[0] / medians[1]), key
    # pythae was skipped: its ratios are present but null.
    assert "deepgen_vs_pythae" in ratios and ratios["deepgen_vs_pythae"] is None
    assert result["setup"]["pythae"] is None
    for name in ("deepgen_s2", "plain_s2", "deepgen_s1", "plain_s1", "deepgen_iaf_s2"):
        entry = result["methods"][name]
        assert len(entry["repeats_updates_per_second"]) == result["setup"]["repeats"]
        assert entry["median_updates_per_second"] > 0
    assert result["setup"]["torch"] == torch.__version__
    assert result["setup"]["torch_threads"] >= 1
    assert not list(tmp_path.glob("*.tmp"))


@pytest.mark.parametrize("samples", [1, 2])
def test_plain_loss_is_deepgen_loss(bench: ModuleType, samples: int) -> None:
    """The plain loop optimises the same objective as deepgen's VAE.loss (same weights, noise)."""
    torch.manual_seed(0)
    model = VAE(VAEConfig(samples=samples))
    encoder, decoder = bench.plain_networks()
    encoder.load_state_dict(model.encoder.state_dict())
    decoder.load_state_dict(model.decoder.state_dict())
    x = torch.bernoulli(torch.full((7, 196), 0.3))
    torch.manual_seed(1)
    expected, _ = model.loss(x, validate=False)
    torch.manual_seed(1)
    got = bench.plain_loss(encoder, decoder, x, samples)
    torch.testing.assert_close(got, expected)


def test_pythae_loss_is_deepgen_loss(bench: ModuleType) -> None:
    """pythae's VAE with the benchmark's networks has deepgen's one-sample loss."""
    pytest.importorskip("pythae")
    torch.manual_seed(0)
    model = VAE(VAEConfig(samples=1))
    pythae_model = bench.build_pythae_vae()
    pythae_model.encoder.net.load_state_dict(model.encoder.state_dict())
    pythae_model.decoder.net.load_state_dict(model.decoder.state_dict())
    x = torch.bernoulli(torch.full((7, 196), 0.3))
    torch.manual_seed(1)
    expected, _ = model.loss(x, validate=False)
    torch.manual_seed(1)
    got = pythae_model({"data": x}).loss
    torch.testing.assert_close(got, expected, rtol=1e-4, atol=1e-4)
