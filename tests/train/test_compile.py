"""--compile: torch.compile of the training loss for vae and pixelcnn, with exact resume;
refused in one line where it is not built (flow, gan)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from deepgen.cli.main import main

PIXELCNN = ["pixelcnn", "--samples", "2", "--test-images", "10", "--val-every", "2", "--quiet"]


def _log(out: Path) -> list[dict]:
    return [json.loads(x) for x in (out / "train_log.jsonl").read_text().splitlines()]


def test_compiled_pixelcnn_matches_eager_to_rounding_and_resumes_exactly(tmp_path: Path) -> None:
    eager, comp, half = tmp_path / "eager", tmp_path / "compiled", tmp_path / "half"
    assert main([*PIXELCNN, "--steps", "4", "--out", str(eager)]) == 0
    assert main([*PIXELCNN, "--steps", "4", "--out", str(comp), "--compile"]) == 0
    assert json.loads((comp / "config.json").read_text())["compile"] is True
    a, b = _log(eager), _log(comp)
    assert [r["loss"] for r in b] == pytest.approx([r["loss"] for r in a], rel=1e-5)
    argv = [*PIXELCNN, "--out", str(half), "--compile", "--checkpoint-every", "2"]
    assert main([*argv, "--steps", "2"]) == 0
    assert main([*argv, "--steps", "4", "--resume"]) == 0
    assert _log(half) == b


@pytest.mark.parametrize("command", ["flow", "gan"])
def test_compile_is_refused_where_it_is_not_built(
    command: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main([command, "--out", str(tmp_path / "r"), "--compile", "--quiet"]) == 2
    err = capsys.readouterr().err.strip()
    assert "--compile is not built for" in err and len(err.splitlines()) == 1


def test_a_compiled_vae_trains_like_the_eager_one(tmp_path: Path) -> None:
    vae = ["vae", "--steps", "20", "--eval-k", "5", "--quiet"]
    assert main([*vae, "--out", str(tmp_path / "eager")]) == 0
    assert main([*vae, "--out", str(tmp_path / "compiled"), "--compile"]) == 0
    a, b = _log(tmp_path / "eager"), _log(tmp_path / "compiled")
    assert [r["objective"] for r in b] == pytest.approx([r["objective"] for r in a], rel=1e-4)
