"""Smoke test of benchmarks/gan_saturation_floor.py on 1,000 images and a one-epoch classifier."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import pytest
import torch

from deepgen.errors import ConfigError
from deepgen.gan.metrics import saturated_fraction


@pytest.fixture
def bench(load_benchmark: Callable[[str], ModuleType]) -> ModuleType:
    return load_benchmark("gan_saturation_floor")


def test_binarizations_are_what_they_say(bench: ModuleType) -> None:
    grey = torch.rand(400, 784) ** 3  # mostly dark, like a digit's background
    ways = bench.binarizations(grey, seed=0)
    assert list(ways) == [
        "bernoulli",
        "clamp 5",
        "clamp 7",
        *(f"threshold {t}" for t in (0.3, 0.5, 0.7)),
    ]
    for name, (_, x) in ways.items():
        assert set(x.unique().tolist()) <= {0.0, 1.0}, name
    assert torch.equal(ways["bernoulli"][0], grey)
    assert abs(ways["bernoulli"][1].mean().item() - grey.mean().item()) < 0.01  # 313,600 draws
    assert torch.equal(ways["threshold 0.5"][1], (grey > 0.5).float())
    for c in (5.0, 7.0):
        p = ways[f"clamp {c:g}"][0]
        inside = (p > torch.sigmoid(torch.tensor(-c))) & (p < torch.sigmoid(torch.tensor(c)))
        assert bool(inside.all())
    assert saturated_fraction(ways["clamp 5"][0]) < saturated_fraction(grey)


def test_every_row_is_scored_and_saved(bench: ModuleType, shared_dir: Path, tmp_path: Path) -> None:
    """The plumbing, on 1,000 images and a one-epoch classifier. The ordering the results file
    shows (8 epochs, 10,000 images: thresholded digits 9.31 against Bernoulli draws 2.57) is
    not asserted: it needs the trained classifier (one epoch, 1,000 images: 3.82 against
    3.96)."""
    from deepgen.data.idx import load_mnist

    argv = ["--data-dir", str(shared_dir / "data"), "--classifier", str(tmp_path / "c.pt")]
    result = bench.main([*argv, "--classifier-epochs", "1", "--n", "1000", "--out", str(tmp_path)])
    saved = json.loads((tmp_path / "gan_saturation_floor.json").read_text())
    assert saved["rows"] == result["rows"] and saved["n"] == 1000
    rows = result["rows"]
    assert list(rows) == ["real", *bench.binarizations(torch.zeros(1, 1), 0)]
    assert all(0 < row["fid"] < 1e4 for row in rows.values())
    images, _ = load_mnist(shared_dir / "data" / "mnist", "train")
    grey = torch.from_numpy(images[50_000:51_000].reshape(1000, -1)).float() / 255
    assert rows["bernoulli"]["saturated"] == pytest.approx(saturated_fraction(grey))
    assert rows["threshold 0.5"]["saturated"] == rows["real"]["saturated"] == 1.0
    with pytest.raises(ConfigError, match="--n must be in"):
        bench.main([*argv, "--classifier-epochs", "1", "--n", "0", "--out", str(tmp_path)])
