"""Smoke test of benchmarks/ddp_scaling.py: real 1- and 2-process runs, their paired ratios."""

from __future__ import annotations

import importlib.util
import json
import statistics
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "ddp_scaling.py"


def test_quick_run_pairs_one_and_two_processes(tmp_path: Path) -> None:
    spec = importlib.util.spec_from_file_location("ddp_scaling_bench", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    module.main(["--quick", "--cases", "vae", "--out", str(tmp_path)])
    entry = json.loads((tmp_path / "ddp_scaling.json").read_text())["cases"]["vae"]
    one, two = entry["updates_per_second_1"], entry["updates_per_second_2"]
    assert len(one) == len(two) == 2
    ratios = [b / a for a, b in zip(one, two, strict=True)]
    assert entry["pair_ratios"] == pytest.approx(ratios)
    assert entry["speedup_2_vs_1"] == pytest.approx(statistics.median(ratios))
    assert entry["median_updates_per_second_1"] == pytest.approx(statistics.median(one))
