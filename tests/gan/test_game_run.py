"""``run_game`` as a library call (SPEC §5) and ``deepgen game --out`` folder checks."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from deepgen.cli.main import main
from deepgen.gan import METHODS, GameConfig, run_game


def test_run_game_spec_answer_and_metrics(tmp_path: Path) -> None:
    cfg = GameConfig(method="simultaneous", lr=0.1, steps=200, start=(1.0, 1.0))
    r = run_game(cfg, out_dir=tmp_path / "run")
    assert r["verdict"] == "diverges"
    assert r["final_norm"] == pytest.approx(math.sqrt(2) * 1.01**100, rel=1e-10)
    assert round(r["final_norm"], 4) == 3.8252
    saved = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert saved["final_norm"] == pytest.approx(r["final_norm"], rel=1e-12)


def test_run_game_all_methods_without_writing() -> None:
    r = run_game(GameConfig(method="all", lr=0.2))
    assert [row["method"] for row in r["methods"]] == list(METHODS)
    assert isinstance(r["game"], str)


def test_out_naming_a_file_is_a_one_line_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = tmp_path / "metrics.txt"
    target.write_text("not a folder\n")
    assert main(["game", "--out", str(target)]) == 2
    err = capsys.readouterr().err.strip()
    assert "Traceback" not in err
    assert len(err.splitlines()) == 1, err
    assert "--out" in err and "file" in err
    assert target.read_text() == "not a folder\n"
