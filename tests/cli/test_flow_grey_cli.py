"""Flows on grey MNIST (256 levels, bits per dimension): the data set and the command."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch

from deepgen.cli.main import main
from deepgen.data import load_dataset


def test_grey_mnist_splits_and_levels(shared_dir: Path) -> None:
    data = load_dataset("mnist-grey", shared_dir / "data" / "mnist")
    assert data.levels == 256 and data.sizes() == {"train": 50_000, "val": 10_000, "test": 10_000}
    for x in (data.train, data.val, data.test):
        assert torch.equal(x, x.round()) and x.min() == 0 and x.max() == 255
    assert data.train_labels is not None and len(data.val_labels) == 10_000


@pytest.mark.parametrize("dequantization", ["uniform", "variational"])
def test_grey_flow_reports_bits_per_dimension(
    shared_dir: Path, tmp_path: Path, dequantization: str
) -> None:
    out = tmp_path / "grey"
    args = ["flow", "--data", "mnist-grey", "--data-dir", str(shared_dir / "data" / "mnist")]
    args += ["--flow", "multiscale", "--hidden", "8", "--layers", "1", "--steps", "12"]
    args += ["--batch-size", "16", "--val-every", "6", "--val-images", "50", "--eval-k", "2"]
    args += ["--test-images", "50", "--eval-images", "50", "--dequantization", dequantization]
    assert main([*args, "--out", str(out), "--quiet"]) == 0
    m = json.loads((out / "metrics.json").read_text())
    assert m["test_bits_per_dim"] == pytest.approx(m["test_nll"] / (784 * math.log(2)))
    assert 0 < m["test_nll_iw"] <= m["test_nll"]
    rows = [json.loads(line) for line in (out / "train_log.jsonl").read_text().splitlines()]
    # nll = −log p(y) + D log 256: the offset is the grey one, and the flow learns
    assert rows[0]["nll"] - rows[0]["loss"] == pytest.approx(784 * math.log(256), rel=1e-6)
    assert rows[-1]["nll"] < rows[0]["nll"]
    config = json.loads((out / "config.json").read_text())
    assert config["data"] == "mnist-grey"
