"""--precision bf16: updates under torch.autocast where it pays (measured), refused where it
does not, with an effect on the numbers and exact resume."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from deepgen.cli.main import main

PIXELCNN = ["pixelcnn", "--samples", "2", "--test-images", "10", "--val-every", "2", "--quiet"]


def _log(out: Path) -> list[dict]:
    return [json.loads(x) for x in (out / "train_log.jsonl").read_text().splitlines()]


def test_bf16_pixelcnn_trains_differs_from_fp32_and_resumes_exactly(tmp_path: Path) -> None:
    fp32, bf16, half = tmp_path / "fp32", tmp_path / "bf16", tmp_path / "half"
    assert main([*PIXELCNN, "--steps", "4", "--out", str(fp32)]) == 0
    assert main([*PIXELCNN, "--steps", "4", "--out", str(bf16), "--precision", "bf16"]) == 0
    assert json.loads((bf16 / "config.json").read_text())["precision"] == "bf16"
    a, b = _log(fp32), _log(bf16)
    assert a[0]["loss"] != b[0]["loss"]  # autocast ran: bf16 rounding changes the loss
    assert b[0]["loss"] == pytest.approx(a[0]["loss"], rel=0.02)  # ... but only by rounding
    argv = [*PIXELCNN, "--out", str(half), "--precision", "bf16", "--checkpoint-every", "2"]
    assert main([*argv, "--steps", "2"]) == 0
    assert main([*argv, "--steps", "4", "--resume"]) == 0
    assert _log(half) == b  # the resumed bf16 run ends with the uninterrupted one's numbers


@pytest.mark.parametrize("command", ["vae", "flow"])
def test_bf16_is_refused_on_a_cpu_where_it_was_not_measured_to_pay(
    command: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = [command, "--out", str(tmp_path / "r"), "--precision", "bf16", "--device", "cpu"]
    assert main([*argv, "--quiet"]) == 2
    err = capsys.readouterr().err.strip()
    assert "is refused on a CPU" in err and len(err.splitlines()) == 1
    assert not (tmp_path / "r" / "checkpoint.pt").exists()
    assert not (tmp_path / "r" / "config.json").exists()
