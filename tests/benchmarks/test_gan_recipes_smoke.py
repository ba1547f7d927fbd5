"""Smoke test of benchmarks/gan_recipes.py: three recipes of a tiny 14×14 DCGAN."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import pytest
import torch

from deepgen.errors import ConfigError


def _generator(run: Path) -> dict[str, torch.Tensor]:
    return torch.load(run / "checkpoint.pt", weights_only=False)["task"]["gen"]


def test_recipes_train_differently_and_are_read_back(
    load_benchmark: Callable[[str], ModuleType], tmp_path: Path
) -> None:
    bench = load_benchmark("gan_recipes")
    argv = ["--data", "mnist14", "--width", "4", "--steps", "4", "--val-every", "2"]
    argv += ["--eval-samples", "50", "--classifier-epochs", "1", "--out", str(tmp_path / "r")]
    argv += ["--results", str(tmp_path), "--recipes", "default,st-logit,minibatch-std"]
    first = bench.main(argv)
    saved = json.loads((tmp_path / "gan_recipes.json").read_text())
    assert saved["recipes"].keys() == first["recipes"].keys()
    rows = saved["recipes"]
    for row in rows.values():
        assert [c["update"] for c in row["curve"]] == [2, 4] and row["updates"] == 4
        assert row["seconds_this_call"] > 0
    assert rows["st-logit"]["flags"] == ["--straight-through", "logit"]
    # same seed, same first draws: only the recipe's flag can make the generators differ (four
    # Adam steps move them too little to change the scores' binary samples)
    gen = {n: _generator(tmp_path / "r" / n) for n in rows}
    for name in ("st-logit", "minibatch-std"):
        assert any(not torch.equal(gen[name][k], v) for k, v in gen["default"].items()), name
    again = bench.main(argv)  # finished runs are read back, not trained again
    assert all(r["seconds_this_call"] == 0 for r in again["recipes"].values())
    assert again["recipes"]["default"]["curve"] == rows["default"]["curve"]
    longer = str(tmp_path / "r" / "default")  # stands for a longer run with the defaults
    read = bench.main(
        [*argv[:-1], "default,no-sn", "--steps", "2", "--no-train", "--baseline", longer]
    )
    assert read["recipes"]["default"]["curve"] == rows["default"]["curve"][:1]  # up to --steps
    assert read["recipes"]["no-sn"] == {
        "flags": ["--no-spectral-norm"],
        "finished": False,
        "curve": [],
    }
    assert not (tmp_path / "r" / "no-sn").exists()  # --no-train trained nothing
    with pytest.raises(ConfigError, match="unknown recipe 'x'"):
        bench.main([*argv[:-1], "x"])
