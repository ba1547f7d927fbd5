"""Smoke test of benchmarks/precision_compile.py: every case, the variants it is timed in, and
medians and ratios that are what they say (fp32 and bf16 only: compiling takes minutes)."""

from __future__ import annotations

import json
import statistics
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import pytest


def test_quick_run_reports_medians_and_their_ratios(
    tmp_path: Path, load_benchmark: Callable[[str], ModuleType]
) -> None:
    module = load_benchmark("precision_compile")
    module.main(["--quick", "--variants", "bf16", "--out", str(tmp_path)])
    result = json.loads((tmp_path / "precision_compile.json").read_text())
    assert set(result["cases"]) == set(module.CASES)
    for case, entry in result["cases"].items():
        # bf16 is refused for the flows and GANs on a CPU, so only the VAE and PixelCNN time it
        expected = {"fp32", "bf16"} if case in ("vae", "pixelcnn") else {"fp32"}
        assert set(entry["median_ms_per_update"]) == expected, case
        for variant, repeats in entry["repeats_ms_per_update"].items():
            assert len(repeats) == result["setup"]["rounds"]
            assert entry["median_ms_per_update"][variant] == pytest.approx(
                statistics.median(repeats)
            )
        med = entry["median_ms_per_update"]
        for variant in expected:
            assert entry["speedup_vs_fp32"][variant] == pytest.approx(med["fp32"] / med[variant])
