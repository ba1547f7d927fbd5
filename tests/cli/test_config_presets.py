"""The run settings in configs/: each file is a valid config of its command, says what its
paper says, and one of them runs."""

from __future__ import annotations

import json
from pathlib import Path

from deepgen.autoregressive.experiment import PixelCNNRunConfig
from deepgen.cli.common import read_config_file
from deepgen.cli.main import main
from deepgen.vae.experiment import VAERunConfig

CONFIGS = Path(__file__).resolve().parents[2] / "configs"
COMMAND = {"burda": VAERunConfig, "pixelcnn": PixelCNNRunConfig, "gated": PixelCNNRunConfig}


def _config(path: Path) -> VAERunConfig | PixelCNNRunConfig:
    cls = COMMAND[path.stem.split("-")[0].rstrip("12")]
    return cls.from_settings(read_config_file(path))  # type: ignore[attr-defined]


def test_every_preset_is_a_valid_config_of_its_command() -> None:
    files = sorted(CONFIGS.glob("*.toml"))
    assert len(files) == 6
    for path in files:
        cfg = _config(path)
        assert cfg.data == "binarized-mnist", path.name
        assert "model" in read_config_file(path), path.name  # the model's own table


def test_the_presets_are_the_papers_models() -> None:
    iwae2 = _config(CONFIGS / "burda2-iwae.toml")
    assert isinstance(iwae2, VAERunConfig)
    m = iwae2.model
    assert (m.hidden, m.depth, m.z_dim, m.z2_dim, m.hidden2) == (200, 2, 100, 50, 100)
    assert (m.objective, m.samples, iwae2.schedule, iwae2.batch_size) == ("iwae", 50, "burda", 20)
    assert iwae2.steps == 3280 * 50_000 // 20  # the whole schedule
    plain, gated = (
        _config(CONFIGS / "pixelcnn-paper.toml"),
        _config(CONFIGS / "gated-pixelcnn.toml"),
    )
    assert isinstance(plain, PixelCNNRunConfig) and isinstance(gated, PixelCNNRunConfig)
    # 7×7 type A, then 15 type-B 3×3 layers, 32 maps; minibatches of 16 (the paper's MNIST)
    assert plain.model.kernels == [7] + [3] * 15 and plain.model.channels == 32
    assert plain.batch_size == 16 and not plain.model.gated
    assert gated.model.gated and gated.model.kernels == plain.model.kernels


def test_the_pixelcnn_preset_runs(tmp_path: Path, shared_dir: Path) -> None:
    out = tmp_path / "paper"
    data = str(shared_dir / "data" / "binarized_mnist")
    argv = ["pixelcnn", "--config", str(CONFIGS / "pixelcnn-paper.toml"), "--data-dir", data]
    argv += ["--steps", "2", "--val-every", "2", "--val-images", "8", "--test-images", "8"]
    argv += ["--eval-images", "8", "--samples", "2", "--quiet", "--out", str(out)]
    assert main(argv) == 0
    config = json.loads((out / "config.json").read_text())
    assert config["model"]["layers"] == 16 and config["model"]["height"] == 28
    assert json.loads((out / "metrics.json").read_text())["test_images"] == 8
