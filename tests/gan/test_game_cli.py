"""``deepgen game`` end to end: the SPEC §5 JSON answer, summaries, plot, errors."""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from pathlib import Path

import pytest

from deepgen.cli.main import main
from deepgen.gan.games import METHODS

KEYS = {
    "method",
    "lr",
    "matrix",
    "eigenvalues",
    "spectral_radius",
    "stationary_point",
    "verdict",
    "final_norm",
}


def _json(capsys: pytest.CaptureFixture[str], argv: list[str]) -> dict:
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert len(out.strip().splitlines()) == 1
    return json.loads(out)


def test_spec_answer_for_simultaneous_gda(capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["game", "--method", "simultaneous", "--lr", "0.1", "--steps", "200"]
    r = _json(capsys, [*argv, "--start", "1,1", "--json"])
    assert set(r) >= KEYS
    assert r["method"] == "simultaneous" and r["lr"] == 0.1
    assert r["matrix"] == [[1.0, 0.1], [-0.1, 1.0]]
    assert sorted(map(tuple, r["eigenvalues"])) == [(1.0, -0.1), (1.0, 0.1)]
    assert r["spectral_radius"] == pytest.approx(math.sqrt(1.01), rel=1e-12)
    assert r["stationary_point"] == [0.0, 0.0]
    assert r["verdict"] == "diverges"
    assert r["final_norm"] == pytest.approx(math.sqrt(2) * 1.01**100, rel=1e-10)
    assert r["simulation_check"]["agrees"] is True


def test_all_methods_agree_with_simulation(capsys: pytest.CaptureFixture[str]) -> None:
    r = _json(capsys, ["game", "--method", "all", "--lr", "0.2", "--json"])
    rows = {row["method"]: row for row in r["methods"]}
    assert set(rows) == set(METHODS)
    assert all(row["simulation_check"]["agrees"] for row in rows.values())
    assert rows["alternating"]["verdict"] == "cycles"
    assert rows["extragradient"]["verdict"] == "converges"
    assert len(rows["optimistic"]["matrix"]) == 4  # acts on [d, g, d_prev, g_prev]


def test_dirac_gan_variants(capsys: pytest.CaptureFixture[str]) -> None:
    plain = _json(capsys, ["game", "--game", "dirac", "--variant", "plain", "--json"])
    assert plain["jacobian"] == [[0.0, -0.5], [0.5, 0.0]]
    assert plain["verdict"] == "diverges"
    r1 = _json(capsys, ["game", "--game", "dirac", "--variant", "r1", "--r1", "1", "--json"])
    assert r1["jacobian"] == [[-1.0, -0.5], [0.5, 0.0]]
    assert r1["verdict"] == "converges" and r1["simulation_check"]["agrees"]
    assert all(re < 0 for re, _ in r1["jacobian_eigenvalues"])


def test_summary_plot_and_metrics_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    plot = tmp_path / "traj.png"
    out = tmp_path / "run"
    argv = ["game", "--method", "extragradient", "--plot", str(plot), "--out", str(out)]
    assert main(argv) == 0
    text = capsys.readouterr().out
    assert "converges" in text and "spectral radius" in text and "agrees" in text
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    saved = json.loads((out / "metrics.json").read_text())
    assert saved["method"] == "extragradient" and saved["verdict"] == "converges"


def test_general_payoff(capsys: pytest.CaptureFixture[str]) -> None:
    r = _json(
        capsys,
        ["game", "--payoff", "1,0;0,2", "--start", "1,1,1,1", "--method", "alternating", "--json"],
    )
    assert len(r["matrix"]) == 4 and r["verdict"] == "cycles"


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        (["--lr", "-0.1"], "--lr"),
        (["--lr", "nan"], "--lr"),
        (["--method", "adam"], "--method"),
        (["--momentum", "1.5"], "--momentum"),
        (["--gamma", "-1"], "--gamma"),
        (["--steps", "0"], "--steps"),
        (["--start", "1,x"], "--start"),
        (["--start", "1,2,3"], "--start needs 2"),
        (["--payoff", "1,2;3"], "--payoff"),
        (["--game", "dirac", "--payoff", "1"], "--payoff"),
        (["--variant", "r1"], "--variant and --r1 are for --game dirac"),
        (["--r1", "2"], "--variant and --r1 are for --game dirac"),
        (["--game", "dirac", "--variant", "wgan", "--r1", "2"], "not of wgan"),
    ],
)
def test_bad_flags_are_one_line_errors(
    argv: list[str], needle: str, one_line_error: Callable[[], str]
) -> None:
    with pytest.raises(SystemExit) as info:  # argparse exits; deepgen errors return 2
        raise SystemExit(main(["game", *argv]))
    assert info.value.code == 2
    err = one_line_error()
    assert needle in err
