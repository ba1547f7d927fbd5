"""CUDA paths: run only where a GPU is present (skipped with the reason elsewhere)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from deepgen.cli.main import main

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")

FAST = ["--updates", "300", "--eval-k", "20", "--quiet", "--checkpoint-every", "100"]


def test_cuda_run_trains_and_resumes_exactly(tmp_path: Path) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    assert main(["vae", "--device", "cuda", "--out", str(a), *FAST]) == 0
    ma = json.loads((a / "metrics.json").read_text())
    assert ma["device"].startswith("cuda")
    assert ma["val_elbo"] > -196 * 0.6931
    short = [x if x != "300" else "200" for x in FAST]
    assert main(["vae", "--device", "cuda", "--out", str(b), *short]) == 0
    assert main(["vae", "--device", "cuda", "--out", str(b), "--resume", *FAST]) == 0
    mb = json.loads((b / "metrics.json").read_text())
    for key in ("train_elbo", "val_elbo", "val_loglik_iwae"):
        assert ma[key] == mb[key], key


def test_cuda_checkpoint_evaluates_on_cpu(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "run"
    assert main(["vae", "--device", "cuda", "--out", str(out), *FAST]) == 0
    ck = str(out / "checkpoint.pt")
    assert main(["vae", "eval", "--checkpoint", ck, "--k", "20", "--device", "cpu", "--json"]) == 0
    cpu = json.loads(capsys.readouterr().out)
    assert main(["vae", "eval", "--checkpoint", ck, "--k", "20", "--device", "cuda", "--json"]) == 0
    gpu = json.loads(capsys.readouterr().out)
    # same weights, different random streams: the estimates agree to Monte Carlo error
    assert abs(cpu["log_px"] - gpu["log_px"]) < 1.0
