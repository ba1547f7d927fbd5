"""``deepgen receptive-field`` and ``deepgen pixelcnn`` end to end, in process."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
import torch

from deepgen.autoregressive.experiment import load_pixelcnn, nll_on
from deepgen.autoregressive.receptive_field import autograd_field
from deepgen.cli.main import main
from deepgen.data import load_dataset, spread

TINY = [
    "--channels", "4", "--layers", "2", "--first-kernel", "3", "--batch-size", "16",
    "--samples", "4", "--val-images", "20", "--val-every", "2", "--test-images", "40",
    "--checkpoint-every", "2", "--quiet", "--device", "cpu",
]  # fmt: skip


def _labels(field: frozenset[tuple[int, int]]) -> list[str]:
    return [f"{r}{c}" for r, c in sorted(field)]


# --- receptive-field ---------------------------------------------------------------------------
def test_issue_example_json(capsys: pytest.CaptureFixture[str]) -> None:
    args = ["--masks", "A,B", "--size", "5", "--pixel", "3,4", "--convention", "seed"]
    assert main(["receptive-field", *args, "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    want = _labels(autograd_field(5, 5, (3, 4), ["A", "B"], 3, "seed"))
    assert {k: out[k] for k in ("pixel", "masks", "convention", "size", "field")} == {
        "pixel": [3, 4],
        "masks": ["A", "B"],
        "convention": "seed",
        "size": 5,
        "field": want,
    }
    assert out["includes_self"] is False and out["autograd_agrees"] is True
    assert out["field"] == sorted(out["field"])


@pytest.mark.parametrize("masks", ["A,A", "A,B", "B,A", "B,B"])
def test_spec_four_answers_from_the_command(
    masks: str, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    base = ["receptive-field", "--masks", masks, "--size", "5", "--pixel", "3,4"]
    assert main([*base, "--json", "--out", str(tmp_path)]) == 0
    out = json.loads(capsys.readouterr().out)
    truth = autograd_field(5, 5, (3, 4), masks.split(","), 3, "seed", seed=7)
    assert out["field"] == _labels(truth)
    assert out["includes_self"] == ((3, 4) in truth)
    assert json.loads((tmp_path / "metrics.json").read_text()) == out
    # the text grid marks exactly the field
    assert main(base) == 0
    text = capsys.readouterr().out
    marked = sorted(
        tok.strip("[]{}") for tok in text.split() if tok[:1] in "[{" and tok[-1:] in "]}"
    )
    assert [m for m in marked if m.isdigit()] == _labels(truth)
    assert ("{34}" in text) == out["includes_self"] and ("(34)" in text) != out["includes_self"]


def test_gated_and_kernel_options(capsys: pytest.CaptureFixture[str]) -> None:
    args = ["receptive-field", "--masks", "A,B,B", "--size", "7", "--pixel", "4,4"]
    assert main([*args, "--kernel", "5", "--convention", "pixelcnn", "--gated", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["gated"] is True and out["kernel"] == 5 and out["blind_spot"] == []
    truth = autograd_field(7, 7, (4, 4), ["A", "B", "B"], 5, "pixelcnn", gated=True)
    assert out["field"] == _labels(truth) and out["autograd_agrees"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--pixel", "6,1"], "outside the 5×5 image"),
        (["--pixel", "3"], "ROW,COLUMN"),
        (["--masks", "A,C"], "unknown mask type 'C'"),
        (["--kernel", "4"], "odd"),
        (["--size", "0"], "must be >= 1"),
    ],
)
def test_receptive_field_bad_arguments(
    args: list[str], message: str, one_line_error: Callable[[], str]
) -> None:
    with pytest.raises(SystemExit) as exc:
        code = main(["receptive-field", *args])
        raise SystemExit(code)
    assert exc.value.code == 2
    assert message in one_line_error()


# --- pixelcnn ----------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("pixelcnn") / "run"
    assert main(["pixelcnn", "--out", str(out), "--steps", "4", *TINY]) == 0
    return out


def test_run_writes_every_file_and_an_exact_nll(run_dir: Path) -> None:
    names = {p.name for p in run_dir.iterdir()}
    assert names >= {
        "samples.png", "nll.png", "report.html", "metrics.json", "config.json",
        "checkpoint.pt", "train_log.jsonl", "val_log.jsonl",
    }  # fmt: skip
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["updates"] == 4 and metrics["test_images"] == 40
    assert metrics["reference_nll"] == pytest.approx(31.82)
    # the reported test NLL is the checkpoint's exact −log p(x) on those 40 test images,
    # spread evenly over the test split
    model, run = load_pixelcnn(run_dir / "checkpoint.pt", torch.device("cpu"))
    assert run["model"]["channels"] == 4
    test = load_dataset("mnist14").test
    test = test[spread(len(test), 40)]
    assert metrics["test_nll"] == pytest.approx(nll_on(model, test)["nll"], rel=1e-6)
    assert metrics["test_bits_per_dim"] == pytest.approx(
        metrics["test_nll"] / (196 * torch.log(torch.tensor(2.0)).item()), rel=1e-6
    )
    html = (run_dir / "report.html").read_text()
    assert html.count("data:image/png;base64,") == 3


def test_resume_ends_where_an_uninterrupted_run_ends(run_dir: Path, tmp_path: Path) -> None:
    assert main(["pixelcnn", "--out", str(run_dir), "--steps", "6", "--resume", "--quiet"]) == 0
    resumed = json.loads((run_dir / "metrics.json").read_text())
    straight = tmp_path / "straight"
    assert main(["pixelcnn", "--out", str(straight), "--steps", "6", *TINY]) == 0
    fresh = json.loads((straight / "metrics.json").read_text())
    assert resumed["updates"] == fresh["updates"] == 6
    assert resumed["test_nll"] == fresh["test_nll"]


def test_pixelcnn_errors(run_dir: Path, tmp_path: Path, one_line_error: Callable[[], str]) -> None:
    assert main(["pixelcnn", "--out", str(run_dir), "--steps", "4", *TINY]) == 2
    assert "already holds a run" in one_line_error()
    assert main(["pixelcnn", "--out", str(tmp_path / "x"), "--resume", "--quiet"]) == 2
    assert "no run to resume" in one_line_error()
    assert main(["pixelcnn", "--out", str(run_dir), "--resume", "--channels", "8"]) == 2
    assert "--channels 8 (the run has 4)" in one_line_error()
    assert main(["pixelcnn", "--out", str(tmp_path / "k"), "--kernel", "4", "--quiet"]) == 2
    assert "odd" in one_line_error()
    with pytest.raises(SystemExit) as exc:
        main(["pixelcnn", "--steps", "0"])
    assert exc.value.code == 2
    assert "must be >= 1" in one_line_error()


def test_gated_seed_convention_run(tmp_path: Path) -> None:
    out = tmp_path / "gated"
    args = ["pixelcnn", "--out", str(out), "--steps", "2", "--gated", "--convention", "seed"]
    assert main([*args, *TINY, "--sampler", "crop"]) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    config = json.loads((out / "config.json").read_text())
    assert metrics["model"] == "GatedPixelCNN" and metrics["sampler"] == "crop"
    assert config["model"]["gated"] is True and config["model"]["convention"] == "seed"
    model, _ = load_pixelcnn(out / "checkpoint.pt", torch.device("cpu"))
    assert model.config.gated and model.config.convention == "seed"
