"""``deepgen gan --arch dcgan`` end to end on 14×14 digits, sampling from its checkpoint, and
the refusals of the 28×28 path."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from deepgen.cli.common import run_config
from deepgen.cli.main import main
from deepgen.errors import ConfigError
from deepgen.gan.conv import ConvDiscriminator
from deepgen.gan.experiment import GANRunConfig, config_for


def test_dcgan_trains_scores_and_samples(tmp_path: Path) -> None:
    out = tmp_path / "gan"
    args = ["gan", "--data", "mnist14", "--arch", "dcgan", "--width", "8", "--steps", "12"]
    args += ["--val-every", "6", "--eval-samples", "200", "--classifier-epochs", "1", "--quiet"]
    assert main([*args, "--out", str(out)]) == 0
    m = json.loads((out / "metrics.json").read_text())
    assert m["updates"] == 12 and m["fid_ema"] > m["fid_real_val"] > 0
    assert m["real_val_images"] == m["eval_samples"] == 200  # the reference at the same size
    val = [json.loads(line) for line in (out / "val_log.jsonl").read_text().splitlines()]
    for row in [m, *val]:  # the share of saturated pixels, each validation and at the end
        assert 0 <= row["saturated"] <= 1 and 0 <= row["saturated_ema"] <= 1
    model = json.loads((out / "config.json").read_text())
    assert (model["arch"], model["model"]["width"]) == ("dcgan", 8)
    assert "DCGAN-style convolutional" in (out / "report.html").read_text()
    drawn = tmp_path / "drawn"
    ckpt = str(out / "checkpoint.pt")
    assert main(["sample", "--checkpoint", ckpt, "--n", "6", "--out", str(drawn)]) == 0
    x = torch.load(drawn / "samples.pt")
    assert x.shape == (6, 196) and bool(((x >= 0) & (x <= 1)).all())


def test_28x28_settings_and_refusals(tmp_path: Path) -> None:
    cfg = config_for("binarized-mnist", data_dir=str(tmp_path / "bm"))
    assert (cfg.arch, cfg.model.z_dim, cfg.batch_size) == ("dcgan", 64, 64)
    assert cfg.model.image_shape == (28, 28) and cfg.model.spectral_norm
    assert cfg.model.d_depth == 2  # the deeper discriminator on 28×28 binary digits
    assert config_for("mnist14", arch="dcgan").model.d_depth == 1
    with pytest.raises(ConfigError, match="--arch dcgan is for images"):
        config_for("ring8", arch="dcgan")
    with pytest.raises(ConfigError, match="unknown arch"):
        config_for("mnist14", arch="resnet")
    with pytest.raises(ConfigError, match="width: not a setting of this run's model"):
        config_for("ring8", width=16)
    with pytest.raises(ConfigError, match="are for binarized-mnist"):
        config_for("mnist14", classifier_dir="x")


def test_the_mlp_discriminator_takes_its_own_sizes() -> None:
    from deepgen.gan.models import Discriminator, Generator

    cfg = config_for("ring8", hidden=16, layers=2, d_hidden=24, d_layers=3).model
    widths = lambda net: [m.out_features for m in net.modules() if hasattr(m, "out_features")]  # noqa: E731
    assert widths(Generator(cfg)) == [16, 16, 2]
    assert widths(Discriminator(cfg)) == [24, 24, 24, 1]
    same = config_for("ring8", hidden=16, layers=2).model  # default: the generator's sizes
    assert (same.d_hidden, same.d_layers) == (16, 2)


def test_the_real_reference_is_scored_at_the_generators_sample_size() -> None:
    from deepgen.gan.classifier import DigitClassifier
    from deepgen.gan.experiment import ImageScorer, real_reference
    from deepgen.gan.metrics import frechet_distance

    g = torch.Generator().manual_seed(0)
    test, val = (torch.bernoulli(torch.full((n, 196), 0.2), generator=g) for n in (2000, 3000))
    torch.manual_seed(0)
    scorer = ImageScorer(DigitClassifier(14).eval(), test)
    ref = real_reference(scorer, val, 3000)
    fid = lambda x: frechet_distance(scorer.features(x), scorer.reference_features)  # noqa: E731
    assert ref["real_val_images"] == 3000
    assert ref["fid_real_val"] == pytest.approx(fid(val), rel=1e-9)
    assert ref["fid_real_val_1000"] == pytest.approx(fid(val[:1000]), rel=1e-9)
    # one distribution on both sides: what is left is the estimate's bias, larger at 1,000
    assert ref["fid_real_val_1000"] > 1.5 * ref["fid_real_val"]
    with pytest.raises(ConfigError, match="--eval-samples 3001 is more than the 3000 valid"):
        real_reference(scorer, val, 3001)


def test_more_samples_than_validation_images_are_refused_before_any_training(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "gan"
    argv = ["gan", "--data", "mnist14", "--arch", "dcgan", "--eval-samples", "1001"]
    assert main([*argv, "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert "--eval-samples 1001 is more than the 1000 validation images" in err, err
    assert len(err.splitlines()) == 1 and not (out / "classifier.pt").exists()


def test_minibatch_std_d_depth_and_no_spectral_norm_flags_reach_the_networks(
    tmp_path: Path,
) -> None:
    out = tmp_path / "gan"
    args = ["gan", "--data", "mnist14", "--arch", "dcgan", "--width", "4", "--steps", "3"]
    args += ["--batch-size", "8", "--minibatch-std", "--eval-samples", "100", "--d-depth", "2"]
    args += ["--classifier-epochs", "1", "--quiet", "--out", str(out)]
    assert main(args) == 0
    saved = json.loads((out / "config.json").read_text())["model"]
    assert saved["minibatch_std"] is True and saved["d_depth"] == 2
    disc = torch.load(out / "checkpoint.pt", weights_only=False)["task"]["disc"]
    # d_depth 2: a 3×3 convolution after each strided one (net.2 and net.6), the head at net.9
    assert disc["net.2.weight"].shape == (4, 4, 3, 3) and disc["net.6.weight"].shape == (8, 8, 3, 3)
    assert disc["net.9.weight"].shape == (1, (2 * 4 + 1) * 3 * 3)  # one more map in the head
    mlp = ["gan", "--data", "ring8", "--minibatch-std", "--out", str(tmp_path / "mlp")]
    assert main(mlp) == 2  # the mlp networks have no such option: refused
    on = config_for("binarized-mnist", data_dir="bm")
    off = run_config(
        GANRunConfig, _parse(["--data", "binarized-mnist", "--no-spectral-norm"]), config_for
    )
    assert on.model.spectral_norm and not off.model.spectral_norm
    disc_off = ConvDiscriminator(off.model)
    assert not any("parametrizations" in k for k in disc_off.state_dict())


def _parse(argv: list[str]):
    import argparse

    from deepgen.cli import gan as gan_cli

    parser = argparse.ArgumentParser()
    gan_cli.register(parser.add_subparsers())
    return parser.parse_args(["gan", *argv])
