"""Smoke test of benchmarks/frechet_sample_size.py on a tiny 14×14 DCGAN run."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import pytest

from deepgen.cli.main import main
from deepgen.errors import ConfigError


def test_the_distance_at_each_size(
    load_benchmark: Callable[[str], ModuleType], tmp_path: Path
) -> None:
    run = tmp_path / "gan"
    argv = ["gan", "--data", "mnist14", "--arch", "dcgan", "--width", "4", "--steps", "4"]
    argv += ["--eval-samples", "50", "--classifier-epochs", "1", "--quiet", "--out", str(run)]
    assert main(argv) == 0
    bench = load_benchmark("frechet_sample_size")
    ckpt = str(run / "checkpoint.pt")
    bench.main(["--checkpoint", ckpt, "--sizes", "100,1000", "--out", str(tmp_path)])
    result = json.loads((tmp_path / "frechet_sample_size.json").read_text())
    small, large = result["rows"]
    assert (small["n"], large["n"], result["updates"]) == (100, 1000, 4)
    # real images against real images: what is left is the bias, far larger at 100 images
    assert small["real"] > 2 * large["real"]
    assert large["generated"] > large["real"]  # 4 updates are far from the data
    for row in result["rows"]:
        assert row["ratio"] == pytest.approx(row["generated"] / row["real"])
    with pytest.raises(ConfigError, match="more than the 1000 validation images"):
        bench.main(["--checkpoint", ckpt, "--sizes", "1001", "--out", str(tmp_path)])
