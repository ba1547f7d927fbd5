"""--compile: torch.compile of the training loss (vae, pixelcnn), of the flow's log-density
(flow) and of the two networks' forward passes (gan): each trains like the eager run, to
rounding, and resumes exactly."""

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


FLOW = ["flow", "--val-every", "3", "--quiet"]
POINTS = ["--data", "moons", "--train-size", "500", "--test-size", "500", "--grid", "10"]
IMAGES = ["--data", "mnist14", "--hidden", "16", "--layers", "2", "--test-images", "20"]
GAN = ["gan", "--data", "ring8", "--r1", "1", "--eval-samples", "200", "--val-every", "3"]


@pytest.mark.parametrize(
    ("argv", "key"),
    [
        ([*FLOW, *POINTS], "loss"),
        ([*FLOW, *IMAGES, "--val-images", "20", "--eval-images", "20"], "nll"),
        ([*GAN, "--quiet"], "d_loss"),
    ],
    ids=["flow-2d", "flow-images", "gan-r1"],
)
def test_compiled_flow_and_gan_match_eager_and_resume_exactly(
    argv: list[str], key: str, tmp_path: Path
) -> None:
    eager, comp, half = tmp_path / "eager", tmp_path / "compiled", tmp_path / "half"
    assert main([*argv, "--steps", "6", "--out", str(eager)]) == 0
    assert main([*argv, "--steps", "6", "--out", str(comp), "--compile"]) == 0
    assert json.loads((comp / "config.json").read_text())["compile"] is True
    a, b = _log(eager), _log(comp)
    assert len(b) == 6 and [r[key] for r in b] == pytest.approx([r[key] for r in a], rel=1e-4)
    resumable = [*argv, "--out", str(half), "--compile", "--checkpoint-every", "3"]
    assert main([*resumable, "--steps", "3"]) == 0
    assert main([*resumable, "--steps", "6", "--resume"]) == 0
    assert _log(half) == b


def test_a_compiled_vae_trains_like_the_eager_one(tmp_path: Path) -> None:
    vae = ["vae", "--steps", "20", "--eval-k", "5", "--quiet"]
    assert main([*vae, "--out", str(tmp_path / "eager")]) == 0
    assert main([*vae, "--out", str(tmp_path / "compiled"), "--compile"]) == 0
    a, b = _log(tmp_path / "eager"), _log(tmp_path / "compiled")
    assert [r["objective"] for r in b] == pytest.approx([r["objective"] for r in a], rel=1e-4)
