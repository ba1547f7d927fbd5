"""Smoke tests of the PixelCNN benchmarks: they run and write sane JSON (no speed targets)."""

from __future__ import annotations

import json
import math
import statistics
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import pytest
import torch

from deepgen.autoregressive.pixelcnn import PixelCNN, PixelCNNConfig

BENCH = Path(__file__).resolve().parents[2] / "benchmarks"


@pytest.fixture(scope="module")
def throughput(load_benchmark: Callable[[str], ModuleType]) -> ModuleType:
    return load_benchmark("pixelcnn_throughput")


def test_throughput_quick_run(throughput: ModuleType, tmp_path: Path) -> None:
    throughput.main(["--quick", "--out", str(tmp_path)])
    result = json.loads((tmp_path / "pixelcnn_throughput.json").read_text())
    methods = result["methods"]
    for name in ("deepgen", "plain"):
        rates = methods[name]["repeats_updates_per_second"]
        assert len(rates) == 2 and all(math.isfinite(r) and r > 0 for r in rates)
        assert methods[name]["median_updates_per_second"] == pytest.approx(statistics.median(rates))
    # the ratio is the ratio of the medians it names, not a number made up on the side
    expected = (
        methods["deepgen"]["median_updates_per_second"]
        / methods["plain"]["median_updates_per_second"]
    )
    assert result["ratios"]["deepgen_vs_plain"] == pytest.approx(expected)
    assert not list(tmp_path.glob("*.tmp"))


@pytest.mark.parametrize(("layers", "first"), [(2, 3), (6, 7)])
def test_plain_reference_is_the_same_network(
    throughput: ModuleType, layers: int, first: int
) -> None:
    """Same weights → same loss: the plain PixelCNN is deepgen's architecture, written apart."""
    torch.manual_seed(0)
    ours = PixelCNN(PixelCNNConfig(channels=8, layers=layers, first_kernel=first)).double()
    plain = throughput.PlainPixelCNN(8, layers, 3, first).double()
    plain.load_state_dict(ours.state_dict())
    x = torch.bernoulli(torch.full((5, 1, 14, 14), 0.3, dtype=torch.float64))
    assert torch.allclose(throughput.plain_loss(plain, x), ours.loss(x), rtol=1e-12, atol=0)


def test_sampling_quick_run(tmp_path: Path, load_benchmark: Callable[[str], ModuleType]) -> None:
    load_benchmark("pixelcnn_sampling").main(["--quick", "--out", str(tmp_path)])
    result = json.loads((tmp_path / "pixelcnn_sampling.json").read_text())
    for model in ("pixelcnn", "gated"):
        for fast in ("crop", "restricted"):
            naive = result["methods"][f"{model}_naive"]["median_seconds"]
            faster = result["methods"][f"{model}_{fast}"]["median_seconds"]
            assert result["ratios"][f"{model}_{fast}_speedup"] == pytest.approx(naive / faster)
            assert result["fraction_of_identical_images"][f"{model}_{fast}"] == 1.0
