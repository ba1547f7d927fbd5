"""Smoke test of benchmarks/precision_compile.py (fp32 and bf16 only: compiling takes a minute)."""

from __future__ import annotations

import importlib.util
import json
import statistics
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "precision_compile.py"


def test_quick_run_reports_medians_and_their_ratios(tmp_path: Path) -> None:
    spec = importlib.util.spec_from_file_location("precision_compile_bench", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    module.main(["--quick", "--variants", "bf16", "--out", str(tmp_path)])
    result = json.loads((tmp_path / "precision_compile.json").read_text())
    for case in ("vae", "pixelcnn"):
        entry = result["cases"][case]
        assert set(entry["median_ms_per_update"]) == {"fp32", "bf16"}
        for variant, repeats in entry["repeats_ms_per_update"].items():
            assert len(repeats) == result["setup"]["rounds"]
            assert entry["median_ms_per_update"][variant] == pytest.approx(
                statistics.median(repeats)
            )
        med = entry["median_ms_per_update"]
        assert entry["speedup_vs_fp32"]["bf16"] == pytest.approx(med["fp32"] / med["bf16"])
