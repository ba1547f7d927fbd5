"""``deepgen sample`` from a checkpoint of every model kind: the grid or scatter, the tensor,
determinism from the seed, and one-line errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from deepgen.cli.main import main

RUNS = {
    "vae": ["vae", "--steps", "30", "--eval-k", "5"],
    "vae-iaf": ["vae", "--steps", "30", "--eval-k", "5", "--posterior", "iaf", "--prior", "flow"],
    "flow": ["flow", "--steps", "30", "--grid", "10", "--train-size", "500", "--test-size", "500"],
    "flow-images": [
        "flow",
        "--data",
        "mnist14",
        "--flow",
        "maf",
        "--layers",
        "1",
        "--steps",
        "5",
        "--eval-k",
        "1",
    ],
    "pixelcnn": ["pixelcnn", "--steps", "4", "--samples", "4", "--test-images", "20"],
    "gan": ["gan", "--steps", "6", "--data", "ring8", "--eval-samples", "200"],
}
EXPECTED = {  # kind, features, binary
    "vae": ("vae", 196, False),
    "vae-iaf": ("vae", 196, False),
    "flow": ("flow", 2, False),
    "flow-images": ("flow", 196, True),
    "pixelcnn": ("pixelcnn", 196, True),
    "gan": ("gan", 2, False),
}


@pytest.mark.parametrize("name", sorted(RUNS))
def test_sample_from_every_kind_of_checkpoint(name: str, tmp_path: Path) -> None:
    run = tmp_path / "run"
    assert main([*RUNS[name], "--out", str(run), "--quiet"]) == 0
    ckpt = str(run / "checkpoint.pt")
    a, b = tmp_path / "a", tmp_path / "b"
    assert main(["sample", "--checkpoint", ckpt, "--n", "12", "--out", str(a), "--seed", "4"]) == 0
    kind, features, binary = EXPECTED[name]
    info = json.loads((a / "samples.json").read_text())
    assert info["kind"] == kind and info["shape"] == [12, features]
    x = torch.load(a / "samples.pt")
    assert x.shape == (12, features) and bool(torch.isfinite(x).all())
    if binary:
        assert set(x.unique().tolist()) <= {0.0, 1.0}
    if features > 2:
        assert info["image_shape"] == [14, 14] and ((x >= 0) & (x <= 1)).all()
    assert (a / "samples.png").stat().st_size > 1000
    assert main(["sample", "--checkpoint", ckpt, "--n", "12", "--out", str(b), "--seed", "4"]) == 0
    assert torch.equal(torch.load(b / "samples.pt"), x)  # same seed, same samples


def test_sample_errors_are_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"not a checkpoint")
    out = ["--out", str(tmp_path / "o")]
    assert main(["sample", "--checkpoint", str(bad), *out]) == 2
    assert main(["sample", "--checkpoint", str(tmp_path / "missing.pt"), *out]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 2 and "corrupt" in err[0] and "not found" in err[1]
