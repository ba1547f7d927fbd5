"""One strict JSON writer: no NaN or Infinity ever reaches a file or stdout."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from deepgen.cli.common import print_json
from deepgen.fileio import dumps, write_json


def _strict_load(text: str) -> object:
    def refuse(name: str) -> None:
        raise ValueError(f"non-standard JSON constant {name}")

    return json.loads(text, parse_constant=refuse)


def test_non_finite_numbers_become_their_names_everywhere(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    obj = {"a": math.nan, "b": [1.0, math.inf, {"c": -math.inf}], "d": (2.5, math.nan), "e": 3}
    expected = {"a": "nan", "b": [1.0, "inf", {"c": "-inf"}], "d": [2.5, "nan"], "e": 3}
    assert _strict_load(dumps(obj)) == expected
    write_json(tmp_path / "m.json", obj)
    assert _strict_load((tmp_path / "m.json").read_text()) == expected
    print_json(obj)
    assert _strict_load(capsys.readouterr().out) == expected


def test_a_resume_with_nothing_left_writes_strict_metrics(tmp_path: Path) -> None:
    from deepgen.cli.main import main

    out = tmp_path / "run"
    argv = ["vae", "--out", str(out), "--updates", "20", "--eval-k", "5", "--quiet"]
    assert main(argv) == 0
    assert main([*argv, "--resume"]) == 0  # nothing left to do: no updates per second
    metrics = _strict_load((out / "metrics.json").read_text())
    assert isinstance(metrics, dict) and metrics["updates_per_second"] == "nan"
