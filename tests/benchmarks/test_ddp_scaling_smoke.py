"""Smoke test of benchmarks/ddp_scaling.py: real 1- and 2-process runs, their paired ratios."""

from __future__ import annotations

import json
import statistics
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import pytest


def test_quick_run_pairs_one_and_two_processes(
    tmp_path: Path, load_benchmark: Callable[[str], ModuleType]
) -> None:
    module = load_benchmark("ddp_scaling")
    module.main(["--quick", "--cases", "vae", "--out", str(tmp_path)])
    entry = json.loads((tmp_path / "ddp_scaling.json").read_text())["cases"]["vae"]
    one, two = entry["updates_per_second_1"], entry["updates_per_second_2"]
    assert len(one) == len(two) == 2
    ratios = [b / a for a, b in zip(one, two, strict=True)]
    assert entry["pair_ratios"] == pytest.approx(ratios)
    assert entry["speedup_2_vs_1"] == pytest.approx(statistics.median(ratios))
    assert entry["median_updates_per_second_1"] == pytest.approx(statistics.median(one))
