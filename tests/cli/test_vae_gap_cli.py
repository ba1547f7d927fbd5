"""``deepgen vae gap`` end to end on a briefly trained VAE: files, JSON, determinism, errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from deepgen.cli.main import main

GAP_FAST = [
    "--n",
    "6",
    "--k",
    "200",
    "--steps",
    "60",
    "--opt-samples",
    "10",
    "--eval-samples",
    "200",
    "--quiet",
]


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("vae") / "run"
    argv = ["vae", "--out", str(out), "--updates", "300", "--eval-k", "10", "--quiet"]
    assert main([*argv, "--checkpoint-every", "300", "--val-every", "300"]) == 0
    return out / "checkpoint.pt"


def test_gap_writes_metrics_plot_and_report(
    checkpoint: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "gap"
    argv = ["vae", "gap", "--checkpoint", str(checkpoint), "--out", str(out), *GAP_FAST]
    assert main([*argv, "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["images"] == 6
    assert summary["approximation_gap"] + summary["amortization_gap"] == pytest.approx(
        summary["inference_gap"]
    )
    m = json.loads((out / "metrics.json").read_text())
    assert m["config"]["k"] == 200 and m["config"]["steps"] == 60 and m["config"]["n"] == 6
    for key in (
        "log_px",
        "elbo_amortized",
        "elbo_optimal",
        "approximation_gap",
        "amortization_gap",
        "inference_gap",
    ):
        assert len(m["per_image"][key]) == 6
        assert m["mean"][key] == pytest.approx(sum(m["per_image"][key]) / 6)
    assert m["mean"]["elbo_optimal"] > m["mean"]["elbo_amortized"]
    assert {"amortized_seconds", "per_datapoint_seconds"} <= set(m["time"])
    assert m["memory"]["per_datapoint_parameter_bytes"] == 6 * 16 * 4
    assert (out / "gaps.png").read_bytes()[:4] == b"\x89PNG"
    assert "data:image/png;base64," in (out / "report.html").read_text()
    # same seed, same numbers
    again = tmp_path / "again"
    rerun = ["vae", "gap", "--checkpoint", str(checkpoint), "--out", str(again), *GAP_FAST]
    assert main(rerun) == 0
    assert json.loads((again / "metrics.json").read_text())["per_image"] == m["per_image"]


def test_gap_prints_a_summary(
    checkpoint: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["vae", "gap", "--checkpoint", str(checkpoint), "--out", str(tmp_path)]
    assert main([*argv, *[a for a in GAP_FAST if a != "--quiet"], "--n", "2"]) == 0
    out = capsys.readouterr().out
    assert "amortization gap" in out and "approximation gap" in out


@pytest.mark.parametrize(
    ("extra", "needle"),
    [
        (["--n", "0"], "--n"),
        (["--k", "-5"], "--k"),
        (["--lr", "abc"], "--lr"),
        (["--split", "all"], "--split"),
        (["--n", "100000"], "exceeds"),
    ],
)
def test_gap_bad_flags(
    checkpoint: Path,
    extra: list[str],
    needle: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    argv = ["vae", "gap", "--checkpoint", str(checkpoint), "--out", str(tmp_path), *extra]
    with pytest.raises(SystemExit) as info:
        raise SystemExit(main(argv))
    assert info.value.code == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err and needle in err


def test_gap_missing_or_foreign_checkpoint(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["vae", "gap", "--checkpoint", str(tmp_path / "none.pt")]) == 2
    assert "not found" in capsys.readouterr().err
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"not a checkpoint")
    assert main(["vae", "gap", "--checkpoint", str(bad), "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "corrupt" in err and len(err.strip().splitlines()) == 1
