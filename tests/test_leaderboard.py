"""``deepgen leaderboard`` on a tiny budget: one row per family, with its kind, the published
figure where one exists, the same test images for all, and the files."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from deepgen.cli.main import main
from deepgen.errors import ConfigError
from deepgen.leaderboard import LeaderboardConfig, markdown_table


def test_tiny_leaderboard_on_binarized_mnist(
    shared_dir: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("deepgen.leaderboard.GAN_SAMPLES", 5000)  # seen to reach the GAN row
    out = tmp_path / "board"
    data = str(shared_dir / "data" / "binarized_mnist")
    args = ["leaderboard", "--data", "binarized-mnist", "--data-dir", data, "--epochs", "0.004"]
    args += ["--test-images", "12", "--eval-k", "40", "--classifier-epochs", "1"]
    assert main([*args, "--out", str(out), "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)["rows"]
    by = {r["family"]: r for r in rows}
    assert list(by) == ["vae", "iwae", "pixelcnn", "flow", "gan"]
    assert {f: r["kind"] for f, r in by.items()} == {
        "vae": "estimate",
        "iwae": "estimate",
        "pixelcnn": "exact",
        "flow": "upper bound",
        "gan": "sample metrics",
    }
    assert (by["vae"]["published"], by["iwae"]["published"]) == (86.76, 84.78)
    assert by["pixelcnn"]["published"] == 81.30 and by["flow"]["published"] is None
    gan = by.pop("gan")  # no likelihood: its sample metrics against real held-out images
    assert gan["test_nll"] is None and gan["published"] is None
    assert gan["sample_metrics"]["fid_ema"] > gan["sample_metrics"]["fid_real_val"] > 0
    assert gan["sample_metrics"]["real_val_images"] == 5000  # as many as generated images
    assert "Burda" in by["vae"]["reference"] and "van den Oord" in by["pixelcnn"]["reference"]
    for r in by.values():
        assert r["test_images"] == 12
        # 784 binary pixels: a barely trained model is far worse than a coin per pixel's
        # 543 nats only if broken, and no model scores below 0 nats
        assert 0 < r["test_nll"] < 800, r
        assert r["stderr"] > 0
    # the epoch budget: 0.004 of 50,000 images in batches of 20 (vae, iwae) and 64 (pixelcnn)
    assert by["vae"]["updates"] == by["iwae"]["updates"] == 10
    assert by["pixelcnn"]["updates"] == 4  # ceil(0.004 · 781)
    assert by["flow"]["updates"] == 7 and gan["updates"] == 4  # batches of 32 and 64
    for name in ("leaderboard.json", "leaderboard.md", "report.html", "learning_curves.png"):
        assert (out / name).is_file(), name
    for family in [*by, "gan"]:
        assert (out / family / "checkpoint.pt").is_file()
    # each family ran with the leaderboard's settings for it
    config = {f: json.loads((out / f / "config.json").read_text()) for f in [*by, "gan"]}
    model = {f: c["model"] for f, c in config.items()}
    assert (model["gan"]["width"], config["gan"]["arch"]) == (32, "dcgan")
    assert config["gan"]["eval_samples"] == 5000  # the leaderboard's, not the default
    assert (model["iwae"]["objective"], model["iwae"]["samples"]) == ("iwae", 50)
    assert (model["vae"]["depth"], config["vae"]["schedule"]) == (2, "burda")
    assert (model["flow"]["flow"], model["flow"]["dequantization"]) == (
        "multiscale",
        "variational",
    )
    # the same checkpoints scored without training give the same rows
    loaded = tmp_path / "loaded"
    given = [f"{f}={out / f / 'checkpoint.pt'}" for f in ("iwae", "pixelcnn", "flow", "gan")]
    again = ["leaderboard", "--data", "binarized-mnist", "--data-dir", data, "--test-images", "12"]
    again += ["--eval-k", "40", "--classifier-epochs", "1", "--families", "iwae,pixelcnn,flow,gan"]
    again += [x for g in given for x in ("--checkpoint", g)]  # no budget: nothing is trained
    assert main([*again, "--out", str(loaded), "--json"]) == 0
    rows2 = {r["family"]: r for r in json.loads(capsys.readouterr().out)["rows"]}
    for family in ("iwae", "pixelcnn", "flow"):
        assert rows2[family]["test_nll"] == pytest.approx(by[family]["test_nll"], rel=1e-6)
        assert rows2[family]["updates"] == by[family]["updates"]
        assert rows2[family]["model"].startswith("checkpoint ")
    assert rows2["gan"]["sample_metrics"]["fid_ema"] == pytest.approx(
        gan["sample_metrics"]["fid_ema"], rel=1e-6
    )
    table = (out / "leaderboard.md").read_text()
    assert "| vae |" in table and "86.76" in table and "upper bound" in table
    assert "GAN (EMA generator, 5,000 samples): classifier Fréchet distance" in table


def test_budget_and_families_are_checked(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(ConfigError, match="exactly one budget"):
        LeaderboardConfig(minutes=1.0, epochs=1.0)
    with pytest.raises(ConfigError, match="give a budget for flow, gan"):
        LeaderboardConfig(families=("vae", "flow", "gan"), checkpoints=(("vae", "x.pt"),))
    with pytest.raises(ConfigError, match="gan is not in --families"):
        LeaderboardConfig(families=("vae",), epochs=1.0, checkpoints=(("gan", "x.pt"),))
    with pytest.raises(ConfigError, match="unknown families gan2"):
        LeaderboardConfig(families=("vae", "gan2"), epochs=1.0)
    with pytest.raises(ConfigError, match="names a family twice"):
        LeaderboardConfig(families=("vae", "vae"), epochs=1.0)
    with pytest.raises(SystemExit) as stop:
        main(["leaderboard", "--out", str(tmp_path), "--minutes", "0"])
    assert stop.value.code == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "must be a finite number > 0" in err


def test_markdown_table_marks_missing_figures() -> None:
    row = {
        "family": "flow",
        "model": "m",
        "test_nll": 100.0,
        "stderr": 1.5,
        "kind": "upper bound",
        "published": None,
        "reference": None,
        "minutes": 2.0,
        "updates": 1200,
        "test_images": 10,
    }
    line = markdown_table([row]).splitlines()[2]
    assert line == "| flow | m | 100.00 | 1.50 | upper bound | — | — | 2.0 | 1,200 | 10 |"


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--families", "pixelcnn,gan", "--eval-k", "50"], "--eval-k is for vae and iwae"),
        (["--families", "vae", "--classifier-epochs", "2"], "--classifier-epochs is for gan"),
    ],
)
def test_scoring_flags_of_families_not_listed_are_refused(
    tmp_path: Path, argv: list[str], message: str, capsys: pytest.CaptureFixture
) -> None:
    code = main(["leaderboard", "--epochs", "1", *argv, "--out", str(tmp_path / "o")])
    err = capsys.readouterr().err.strip()
    assert code == 2 and message in err and len(err.splitlines()) == 1
    assert not (tmp_path / "o").exists()  # refused before anything was written


TINY = ["leaderboard", "--data", "mnist14", "--families", "vae,pixelcnn,gan", "--epochs", "0.03"]
TINY += ["--test-images", "10", "--eval-k", "20", "--classifier-epochs", "1", "--json"]


def test_a_stopped_leaderboard_resumes_to_the_uninterrupted_rows(
    tmp_path: Path, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Stopped while training the PixelCNN (after its first checkpoint), then resumed: the
    VAE keeps its row, the PixelCNN resumes its run, the GAN trains, and every row equals
    the uninterrupted leaderboard's."""
    import deepgen.autoregressive.experiment as pixelcnn_experiment

    whole, stopped = tmp_path / "whole", tmp_path / "stopped"
    assert main([*TINY, "--out", str(whole)]) == 0
    rows = {r["family"]: r for r in json.loads(capsys.readouterr().out)["rows"]}
    real = pixelcnn_experiment.run_pixelcnn

    def stop_part_way(cfg, out, **kw):  # type: ignore[no-untyped-def]
        real(dataclasses.replace(cfg, steps=2), out, **kw)  # checkpointed at update 2, …
        (Path(out) / "metrics.json").unlink()  # … stopped before its evaluation
        raise KeyboardInterrupt

    monkeypatch.setattr(pixelcnn_experiment, "run_pixelcnn", stop_part_way)
    assert main([*TINY, "--out", str(stopped)]) == 130
    partial = json.loads((stopped / "partial.json").read_text())
    assert [r["family"] for r in partial["rows"]] == ["vae"]
    assert (stopped / "pixelcnn" / "checkpoint.pt").is_file()
    assert not (stopped / "pixelcnn" / "metrics.json").exists()
    monkeypatch.setattr(pixelcnn_experiment, "run_pixelcnn", real)
    assert main([*TINY, "--out", str(stopped)]) == 2  # not without --resume
    assert "holds a stopped leaderboard; pass --resume" in capsys.readouterr().err
    assert main([*TINY, "--out", str(stopped), "--resume", "--eval-k", "30"]) == 2
    assert "these settings differ: eval_k (was 20)" in capsys.readouterr().err
    assert main([*TINY, "--out", str(stopped), "--resume"]) == 0
    again = {r["family"]: r for r in json.loads(capsys.readouterr().out)["rows"]}
    assert list(again) == list(rows)
    gan = again.pop("gan")["sample_metrics"]
    assert gan == pytest.approx(rows.pop("gan")["sample_metrics"], rel=1e-9)
    for family, row in rows.items():
        assert again[family]["test_nll"] == pytest.approx(row["test_nll"], rel=1e-9), family
        assert again[family]["updates"] == row["updates"]
    resumed_log = (stopped / "pixelcnn" / "train_log.jsonl").read_text()
    assert resumed_log == (whole / "pixelcnn" / "train_log.jsonl").read_text()
    assert main([*TINY, "--out", str(stopped), "--resume"]) == 2  # finished: nothing to resume
    assert "already holds a finished leaderboard" in capsys.readouterr().err


BURDA_2 = {"z_dim": 100, "z2_dim": 50, "hidden2": 100}


@pytest.mark.parametrize(
    ("model", "figure"),
    [
        ({"z_dim": 50, "objective": "elbo", "samples": 1}, 86.76),
        ({"z_dim": 50, "objective": "iwae", "samples": 50}, 84.78),
        ({**BURDA_2, "objective": "elbo", "samples": 1}, 85.33),
        ({**BURDA_2, "objective": "iwae", "samples": 50}, 82.90),
        ({**BURDA_2, "objective": "iwae", "samples": 5}, None),  # not a column we hold
        ({"z_dim": 50, "objective": "elbo", "samples": 1, "hidden": 300}, None),
        ({"z_dim": 50, "objective": "elbo", "samples": 1, "posterior": "iaf"}, None),
        ({"z_dim": 32, "objective": "elbo", "samples": 1}, None),
    ],
)
def test_a_vae_row_carries_the_figure_of_the_model_it_holds(
    tmp_path: Path, model: dict, figure: float | None
) -> None:
    """The published figure of a VAE or IWAE row is that of Burda et al.'s model with the
    checkpoint's settings (one or two stochastic layers, ELBO with k = 1 or IWAE with k = 50),
    and none for a model they did not publish; read from the checkpoint, trained or loaded."""
    from dataclasses import asdict

    from deepgen.leaderboard import BURDA_COMMON, _row
    from deepgen.train import save_checkpoint
    from deepgen.vae.model import VAEConfig

    settings = {**asdict(VAEConfig()), **BURDA_COMMON, **model}
    path = tmp_path / "checkpoint.pt"
    save_checkpoint(path, {"meta": {"kind": "vae", "model": settings}})
    cfg = LeaderboardConfig(families=("vae",), epochs=1.0)
    result = {"test_nll": 90.0, "stderr": 1.0, "wall_seconds": 60.0, "updates": 5}
    row = _row("vae", cfg, {**result, "test_images": 10}, path, str(path))
    assert row["published"] == figure
    if figure is not None:
        layers = "2 stochastic layers" if "z2_dim" in model else "1 stochastic layer"
        assert layers in row["reference"] and f"k = {model['samples']}" in row["reference"]
    else:
        assert row["reference"] is None
