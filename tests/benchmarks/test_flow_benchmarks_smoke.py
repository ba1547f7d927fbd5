"""Smoke tests of benchmarks/logdet_scaling.py and benchmarks/flows_vs_peers.py: tiny runs that
write sane JSON (no speed targets), plus the pieces whose correctness the numbers rest on: the
exponent fit and the equivalence of the architectures built in each library."""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest
import torch

from deepgen.flows import AffineCoupling, SplineCoupling

BENCH = Path(__file__).resolve().parents[2] / "benchmarks"
PEERS_REASON = (
    "nflows and zuko come from the optional `bench` extra "
    "(pip install -c constraints.txt -e '.[bench]'); not installed here"
)


@pytest.fixture(scope="module")
def logdet(load_benchmark: Callable[[str], ModuleType]) -> ModuleType:
    return load_benchmark("logdet_scaling")


@pytest.fixture(scope="module")
def peers(load_benchmark: Callable[[str], ModuleType]) -> ModuleType:
    return load_benchmark("flows_vs_peers")


# --- logdet_scaling ---------------------------------------------------------------------------
def test_logdet_quick_run_writes_exponents_and_plot(logdet: ModuleType, tmp_path: Path) -> None:
    result = logdet.main(["--quick", "--out", str(tmp_path)])
    saved = json.loads((tmp_path / "logdet_scaling.json").read_text())
    assert saved["exponents"] == result["exponents"]
    assert set(saved["exponents"]) == {"diagonal", "triangular", "triangular_param", "dense"}
    for name, entry in saved["methods"].items():
        assert all(math.isfinite(v) for v in (entry["fit"]["exponent"], saved["exponents"][name]))
        assert entry["k"][0] == 8 and all(t > 0 for t in entry["median_seconds"])
        assert entry["full_range"]["k_max"] == 64
        # the timed expression computes the log-determinant deepgen's forward returns
        assert entry["max_abs_error_vs_deepgen_forward"] < 1e-9
    assert saved["methods"]["triangular"]["max_abs_error_vs_slogdet"] < 1e-9
    assert saved["setup"]["torch_threads"] == 1
    assert (tmp_path / "logdet_scaling.png").stat().st_size > 0
    assert not list(tmp_path.glob("*.tmp"))


@pytest.mark.parametrize(("power", "crossover"), [(1.0, 64), (3.0, 512)])
def test_fit_recovers_the_exponent_above_the_overhead_floor(
    logdet: ModuleType, power: float, crossover: int
) -> None:
    """time = 10 µs overhead + c·K^p: the full-range fit is biased low by the overhead, the
    headline fit (above 4 × the floor) recovers p to within the overhead's leftover share."""
    ks = [2**i for i in range(3, 13)]
    c = 1e-5 / crossover**power  # compute equals the overhead at K = crossover
    times = [1e-5 + c * k**power for k in ks]
    fitted = logdet.fit_method(ks, times, max_k=4096)
    assert fitted["full_range"]["exponent"] < 0.8 * power
    assert fitted["fit"]["k_min"] >= crossover and not fitted["fit"]["overhead_dominated"]
    assert fitted["fit"]["exponent"] == pytest.approx(power, rel=0.15)
    exact = logdet.fit_exponent(ks, [c * k**power for k in ks])
    assert exact["exponent"] == pytest.approx(power, abs=1e-9)
    assert exact["rms_log_residual"] < 1e-9


def test_fit_flags_a_flat_curve_as_overhead_dominated(logdet: ModuleType) -> None:
    ks = [8, 16, 32, 64]
    fitted = logdet.fit_method(ks, [1e-5 * (1 + 1e-3 * k) for k in ks], max_k=64)
    assert fitted["fit"]["overhead_dominated"] and fitted["fit"]["points"] == 3
    assert np.isfinite(fitted["fit"]["exponent"])


# --- flows_vs_peers ---------------------------------------------------------------------------
CASES = {
    "moons/realnvp",
    "moons/maf",
    "gauss8/realnvp",
    "gauss8/maf",
    "moons/nsf",
    "gauss8/nsf",
    "moons/autoregressive_nsf",
    "gauss8/autoregressive_nsf",
    "cgauss/conditional_maf",
}


def _changed_features(layer, x: torch.Tensor) -> list[bool]:
    with torch.no_grad():
        y = layer(x)
    y = y[0] if isinstance(y, tuple) else y
    return (~torch.isclose(y, x)).any(0).tolist()


def _randomized(module: torch.nn.Module, seed: int) -> torch.nn.Module:
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():  # random weights, so every changed feature really changes
        for p in module.parameters():
            p.copy_(0.5 * torch.randn(p.shape, generator=g))
    return module


@pytest.mark.parametrize("coupling", [AffineCoupling, SplineCoupling])
def test_coupling_masks_are_the_features_deepgen_changes(peers: ModuleType, coupling: type) -> None:
    """The masks given to nflows (and to Zuko's spline couplings) change exactly the features
    deepgen's couplings change."""
    for d in (2, 5, 8):
        for i, mask in enumerate(peers.coupling_masks(d, 2)):
            t = _randomized(coupling(d, 8, swap=bool(i % 2)), d + i)
            x = torch.randn(4, d, generator=torch.Generator().manual_seed(d + i))
            assert _changed_features(t, x) == [bool(m) for m in mask], (d, i)


def test_peer_spline_couplings_change_the_same_features(peers: ModuleType) -> None:
    pytest.importorskip("nflows", reason=PEERS_REASON)
    pytest.importorskip("zuko", reason=PEERS_REASON)
    for dataset in ("moons", "gauss8"):
        d = peers.DATASETS[dataset][0]
        masks = [[bool(m) for m in mask] for mask in peers.coupling_masks(d, peers.LAYERS["nsf"])]
        x = 1.5 * torch.randn(16, d, generator=torch.Generator().manual_seed(d))  # inside ±5
        nflows_layers = peers.build("nflows", "nsf", dataset, 0).module._transform._transforms
        zuko_layers = peers.build("zuko", "nsf", dataset, 0).module.transform.transforms
        assert [_changed_features(t, x) for t in nflows_layers] == masks
        assert [_changed_features(t(None), x) for t in zuko_layers] == masks


def test_cgauss_true_log_likelihood_has_its_closed_form_mean(peers: ModuleType) -> None:
    """E log p(x | c) = −log 2π − E[1ᵀW c] − 1 = −log 2π − 1 for c ~ N(0, I)."""
    x, c = peers.sample_data("cgauss", 200_000, 5)
    lp = peers.cgauss_true_log_prob(x, c)
    assert lp.mean().item() == pytest.approx(-math.log(2 * math.pi) - 1, abs=0.02)


def _check_speed_entry(entry: dict, repeats: int) -> None:
    assert entry["parameters"] > 0
    assert (
        math.isfinite(entry["median_ms_per_train_step"]) and entry["median_ms_per_train_step"] > 0
    )
    assert math.isfinite(entry["median_logprob_points_per_second"])
    assert entry["median_logprob_points_per_second"] > 0
    assert len(entry["repeats_ms_per_train_step"]) == repeats


def test_flows_quick_run_deepgen_only(peers: ModuleType, tmp_path: Path) -> None:
    peers.main(["--quick", "--skip-peers", "--out", str(tmp_path)])
    result = json.loads((tmp_path / "flows_vs_peers.json").read_text())
    assert set(result["ratios"]) == CASES
    assert len(result["cases"]) == len(CASES)
    for case in result["cases"]:
        assert list(case["libraries"]) == ["deepgen"]
        _check_speed_entry(case["libraries"]["deepgen"], result["setup"]["repeats"])
        assert case["train_step_ratios"]["ratios"]["deepgen_vs_faster_peer"] is None
        assert case["target"] == result["targets"][case["flow"]]
    assert result["target_met"] is None
    assert set(result["target_met_by_case"].values()) == {None}
    for kind in ("realnvp", "maf", "nsf", "autoregressive_nsf"):
        assert math.isfinite(result["quality_moons"][kind]["deepgen"]["test_log_likelihood"])
    conditional = result["quality_conditional"]
    assert math.isfinite(conditional["true_test_log_likelihood"])
    assert math.isfinite(conditional["libraries"]["deepgen"]["gap_to_true_nats"])
    assert result["setup"]["peer_status"]["nflows"].startswith("skipped")
    assert not list(tmp_path.glob("*.tmp"))


def test_flows_quick_run_against_nflows_and_zuko(peers: ModuleType, tmp_path: Path) -> None:
    pytest.importorskip("nflows", reason=PEERS_REASON)
    pytest.importorskip("zuko", reason=PEERS_REASON)
    peers.main(["--quick", "--out", str(tmp_path)])
    result = json.loads((tmp_path / "flows_vs_peers.json").read_text())
    assert {f"{c['dataset']}/{c['flow']}" for c in result["cases"]} == CASES
    for case in result["cases"]:
        libs = case["libraries"]
        assert list(libs) == ["deepgen", "nflows", "zuko"]
        for entry in libs.values():
            _check_speed_entry(entry, result["setup"]["repeats"])
        # the same architecture: the same number of parameters in every library, except that
        # nflows' MADE gives the context a layer of its own (one bias of width 64 per layer)
        counts = {lib: entry["parameters"] for lib, entry in libs.items()}
        extra = 64 * 5 if case["flow"] == "conditional_maf" else 0
        assert counts["nflows"] == counts["deepgen"] + extra, case["flow"]
        assert counts["zuko"] == counts["deepgen"], case["flow"]
        for key in ("train_step_ratios", "logprob_ratios"):
            ratios = case[key]["ratios"]
            for name in ("deepgen_vs_nflows", "deepgen_vs_zuko", "deepgen_vs_faster_peer"):
                assert math.isfinite(ratios[name]) and ratios[name] > 0
            assert ratios["deepgen_vs_faster_peer"] == pytest.approx(
                min(ratios["deepgen_vs_nflows"], ratios["deepgen_vs_zuko"])
            )
    assert set(result["target_met_by_case"]) == CASES
    assert result["target_met"] == all(result["target_met_by_case"].values())
    quality = result["quality_moons"]["realnvp"]
    bound = -math.log(2 * math.pi) + 8 * math.log(1.001)
    assert quality["nflows"]["test_log_likelihood"] <= bound  # nflows' capped coupling scale
    assert all(math.isfinite(quality[lib]["test_log_likelihood"]) for lib in quality)
    conditional = result["quality_conditional"]
    assert set(conditional["libraries"]) == {"deepgen", "nflows", "zuko"}
    for entry in conditional["libraries"].values():
        assert entry["gap_to_true_nats"] == pytest.approx(
            conditional["true_test_log_likelihood"] - entry["test_log_likelihood"]
        )
    notes = result["setup"]["peer_notes"]
    assert "no coupling spline flow" in notes["zuko_coupling_nsf"]
    # Zuko's own coupling pattern (NSF with passes=2) is a MADE: more parameters than a coupling
    nsf = {
        c["dataset"]: c["libraries"]["zuko"]["parameters"]
        for c in result["cases"]
        if c["flow"] == "nsf"
    }
    for dataset, n in nsf.items():
        assert notes["zuko_nsf_passes2_parameters"][f"d={peers.DATASETS[dataset][0]}"] > n
