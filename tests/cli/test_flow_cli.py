"""``deepgen flow`` end to end: files, metrics, density normalization, resume, errors."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
import torch

from deepgen.cli.main import main
from deepgen.data.toy import sample_toy

FAST = ["--quiet", "--train-size", "2000", "--test-size", "2000", "--grid", "300"]


def _metrics(out: Path) -> dict:
    return json.loads((out / "metrics.json").read_text())


def test_moons_run_writes_everything_and_beats_a_gaussian(tmp_path: Path) -> None:
    out = tmp_path / "moons"
    args = ["flow", "--data", "moons", "--flow", "realnvp", "--steps", "400", "--layers", "4"]
    assert main([*args, "--hidden", "32", "--out", str(out), *FAST]) == 0
    for name in ("density.png", "samples.png", "loss.png", "report.html", "checkpoint.pt"):
        assert (out / name).is_file(), name
    m = _metrics(out)
    assert m["density_integral"] == pytest.approx(1.0, abs=0.01)
    assert m["samples_finite"] is True
    # a Gaussian fitted to the data is the best a linear flow can do; the coupling flow must
    # beat it clearly on fresh points
    x = sample_toy("moons", 20_000, torch.Generator().manual_seed(7)).double()
    gauss = torch.distributions.MultivariateNormal(x.mean(0), torch.cov(x.T))
    assert m["test_log_likelihood"] > gauss.log_prob(x).mean().item() + 0.5


def test_resumed_run_ends_with_the_same_numbers(tmp_path: Path) -> None:
    """ActNorm's initialization, the optimizer and the RNG all come back from the checkpoint."""
    base = ["flow", "--flow", "maf", "--layers", "2", "--hidden", "8", *FAST, "--grid", "50"]
    straight, split = tmp_path / "straight", tmp_path / "split"
    sched = ["--checkpoint-every", "15", "--val-every", "10"]
    assert main([*base, *sched, "--steps", "30", "--out", str(straight)]) == 0
    assert main([*base, *sched, "--steps", "15", "--out", str(split)]) == 0
    assert main([*base, "--steps", "30", "--out", str(split), "--resume"]) == 0
    a, b = _metrics(straight), _metrics(split)
    for key in ("test_log_likelihood", "density_integral"):
        assert a[key] == b[key], key


def test_binary_images_are_dequantized_and_bounded(tmp_path: Path) -> None:
    out = tmp_path / "mnist"
    args = ["flow", "--data", "mnist14", "--steps", "3", "--layers", "2", "--hidden", "16"]
    assert main([*args, "--batch-size", "50", "--eval-k", "2", "--quiet", "--out", str(out)]) == 0
    m = _metrics(out)
    # −log P(x) ≥ 0 for a discrete distribution, so its upper bounds are too; the K-draw
    # importance-weighted bound is at least as tight as Jensen's (log-mean-exp ≥ mean of logs)
    assert m["test_nll"] >= m["test_nll_iw"] >= 0
    assert m["test_images"] == 1000
    assert (out / "samples.png").is_file()


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--flow", "glow"], "invalid choice"),
        (["--steps", "0"], "must be"),
        (["--lr", "nan"], "finite"),
        (["--batch-size", "5000", "--train-size", "100"], "exceeds"),
        (["--resume"], "no run to resume"),
        (["--data", "mnist14", "--train-size", "100"], "--train-size is for 2-D data"),
        (["--data", "mnist14", "--grid", "50"], "--grid is for 2-D data, not mnist14"),
    ],
)
def test_bad_flags_are_one_line_errors(
    flags: list[str], message: str, tmp_path: Path, one_line_error: Callable[[], str]
) -> None:
    try:
        code = main(["flow", "--out", str(tmp_path / "x"), "--quiet", *flags])
    except SystemExit as exc:  # argparse rejects bad flag values itself
        code = exc.code
    assert code == 2
    assert message in one_line_error()
