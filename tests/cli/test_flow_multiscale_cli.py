"""``deepgen flow --flow multiscale --dequantization variational`` end to end: the bounds are
ordered, it learns, it resumes exactly (the dequantizer's state too), and misuse is refused."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from deepgen.cli.main import main

ARGS = ["flow", "--data", "mnist14", "--flow", "multiscale", "--scales", "1", "--hidden", "16"]
ARGS += ["--dequantization", "variational", "--batch-size", "32", "--val-every", "10"]
ARGS += ["--checkpoint-every", "10", "--eval-k", "4", "--val-images", "100"]
ARGS += ["--test-images", "100", "--eval-images", "100", "--quiet"]


def _rows(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / "train_log.jsonl").read_text().splitlines()]


def test_learns_bounds_ordered_and_resumes_exactly(tmp_path: Path) -> None:
    whole, parts = tmp_path / "whole", tmp_path / "parts"
    assert main([*ARGS, "--steps", "20", "--out", str(whole)]) == 0
    assert main([*ARGS, "--steps", "10", "--out", str(parts)]) == 0
    assert main([*ARGS, "--steps", "20", "--out", str(parts), "--resume"]) == 0
    assert _rows(whole) == _rows(parts)
    m = json.loads((whole / "metrics.json").read_text())
    assert m == {**m, "updates": 20, "test_images": 100}
    # the K-draw importance-weighted bound is tighter than the Jensen bound, both above 0
    assert 0 < m["test_nll_iw"] < m["test_nll"]
    assert m["test_bits_per_dim"] == pytest.approx(m["test_nll"] / (196 * math.log(2)))
    rows = _rows(whole)
    assert rows[-1]["nll"] < rows[0]["nll"] - 20  # 20 updates learn a lot from the start
    assert (whole / "samples.png").is_file()


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--data", "moons", "--flow", "multiscale"], "are for images"),
        (["--data", "mnist14", "--flow", "multiscale"], "cannot squeeze a 2×7×7 image"),
        (["--data", "moons", "--dequantization", "variational"], "are for images"),
        (["--data", "moons", "--test-images", "5"], "--test-images is for images"),
        (["--data", "mnist14", "--scales", "1"], "go with --flow multiscale"),
    ],
)
def test_misuse_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], extra: list[str], message: str
) -> None:
    assert main(["flow", *extra, "--steps", "2", "--out", str(tmp_path / "x"), "--quiet"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and message in err, err
