"""``deepgen vi``: the two SPEC §6 answers as JSON, the Ising example, tables, one-line errors."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from deepgen.cli.main import main
from deepgen.vi.discrete import enumerate_exact, ising_grid
from deepgen.vi.examples import log_two_pow_minus_one

KEYS = {"n", "family", "q_star", "kl", "log_z", "free_energy"}


def run_json(argv: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> dict:
    assert main(["vi", *argv, "--json", "--out", str(tmp_path / "vi")]) == 0
    out = capsys.readouterr().out
    assert len(out.strip().splitlines()) == 1
    return json.loads(out)


def test_seed_q2_answer(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    r = run_json(["--example", "seed", "--n", "10", "--family", "Q2"], tmp_path, capsys)
    assert set(r) >= KEYS and r["n"] == 10 and r["family"] == "Q2"
    assert r["q_star"] == [0.0] * 10
    assert r["log_z"] == pytest.approx(math.log(2**10 - 1), abs=1e-12)
    assert r["kl"] == pytest.approx(math.log(2**10 - 1), abs=1e-12)
    assert r["free_energy"] == 0.0
    saved = json.loads((tmp_path / "vi" / "metrics.json").read_text())
    assert saved["q_star"] == r["q_star"] and saved["kl"] == r["kl"]
    assert (tmp_path / "vi" / "marginals.png").read_bytes()[:4] == b"\x89PNG"


@pytest.mark.parametrize("method", ["cavi", "gradient"])
def test_seed_q1_with_w1_clamped(
    method: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["--example", "seed", "--n", "10", "--family", "Q1", "--clamp", "w1=0"]
    r = run_json([*argv, "--method", method], tmp_path, capsys)
    assert r["q_star"] == pytest.approx([0.0] + [0.5] * 9, abs=1e-6)
    assert r["kl"] == pytest.approx(log_two_pow_minus_one(10) - 9 * math.log(2), abs=1e-9)
    assert r["free_energy"] == pytest.approx(9 * math.log(2), abs=1e-9)
    assert r["kl"] == pytest.approx(r["log_z"] - r["free_energy"], abs=1e-12)
    assert r["clamp"] == {"w1": 0} and r["method"] == method


def test_ising_example_against_enumeration(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["--example", "ising", "--size", "3", "--beta", "0.4", "--field", "0.1"]
    r = run_json(argv, tmp_path, capsys)
    ex = enumerate_exact(ising_grid(3, 1.0, 0.1), 0.4)
    assert r["n"] == 9 and r["log_z"] == pytest.approx(ex.log_z, abs=1e-12)
    assert r["p_marginals"] == pytest.approx(ex.marginals.tolist(), abs=1e-12)
    assert 0 < r["kl"] == pytest.approx(r["log_z"] - r["free_energy"])
    # beyond the enumeration limit: the bound alone, and no exact numbers
    big = run_json(["--example", "ising", "--size", "5", "--beta", "0.2"], tmp_path, capsys)
    assert big["n"] == 25 and big["log_z"] is None and big["kl"] is None
    assert math.isfinite(big["free_energy"]) and len(big["q_star"]) == 25


def test_unclamped_gradient_reports_infinite_kl_as_strict_json(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    r = run_json(["--example", "seed", "--n", "4", "--method", "gradient"], tmp_path, capsys)
    assert r["kl"] == "inf" and r["free_energy"] == "-inf" and r["converged"] is False


def test_energy_table_from_a_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    table = np.random.default_rng(0).normal(size=8)
    table[7] = np.inf
    np.save(tmp_path / "t.npy", table)
    (tmp_path / "t.txt").write_text("\n".join(str(v) for v in table))
    a = run_json(["--table", str(tmp_path / "t.npy")], tmp_path, capsys)
    b = run_json(["--table", str(tmp_path / "t.txt")], tmp_path, capsys)
    assert a["n"] == 3 and a["log_z"] == pytest.approx(b["log_z"])
    finite = table[np.isfinite(table)]
    assert a["log_z"] == pytest.approx(float(np.log(np.exp(-finite).sum())), abs=1e-12)


def test_human_readable_output(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["vi", "--example", "seed", "--n", "3", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "KL(q*‖p)" in out and "q* = 0.0000, 0.5000, 0.5000" in out


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        (["--example", "seed", "--n", "25"], "N <= 24"),
        (["--example", "seed", "--n", "4", "--clamp", "w5=0"], "no variable w5"),
        (["--example", "seed", "--n", "4", "--clamp", "w1=3"], "0 or 1"),
        (["--example", "seed", "--family", "Q2", "--clamp", "w1=0"], "Q2 has one shared"),
        (["--example", "seed", "--family", "Q3"], "--family"),
        (["--example", "seed", "--method", "newton"], "--method"),
        (["--example", "ising", "--beta", "nan"], "--beta"),
        (["--example", "seed", "--n", "0"], "--n"),
        (["--example", "seed", "--table", "x.npy"], "not allowed with"),
        (["--table", "/nonexistent/t.npy"], "No such file"),
        (["--example", "seed", "--beta", "0"], "beta must be > 0"),
    ],
)
def test_bad_input_is_one_line_exit_2(
    argv: list[str], needle: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as info:
        raise SystemExit(main(["vi", *argv, "--out", str(tmp_path / "o")]))
    assert info.value.code == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err
    assert needle in err


def test_table_of_the_wrong_size(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "bad.txt").write_text("0 1 2 3 4 5")
    assert main(["vi", "--table", str(tmp_path / "bad.txt"), "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "2^N entries" in err and "got 6" in err and len(err.strip().splitlines()) == 1
    (tmp_path / "words.txt").write_text("a b")
    assert main(["vi", "--table", str(tmp_path / "words.txt"), "--out", str(tmp_path)]) == 2
    assert "not a table of numbers" in capsys.readouterr().err
