"""--config FILE for every training command: a run's own config.json reproduces its numbers, a
TOML file sets what it names, flags win over the file, and bad files get one line."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
import torch

from deepgen.cli.main import main

SHORT = {
    "vae": ["--steps", "30", "--eval-k", "5", "--val-every", "10"],
    "flow": ["--steps", "30", "--grid", "10", "--train-size", "500", "--test-size", "500"],
    "pixelcnn": ["--steps", "4", "--samples", "4", "--test-images", "20", "--val-every", "2"],
    "gan": ["--steps", "6", "--data", "ring8", "--eval-samples", "200", "--val-every", "3"],
}
TIMING = ("seconds", "per_second", "torch", "device", "threads")


def _numbers(out: Path) -> dict:
    metrics = json.loads((out / "metrics.json").read_text())
    return {k: v for k, v in metrics.items() if not any(t in k for t in TIMING)}


@pytest.mark.parametrize("command", sorted(SHORT))
def test_a_runs_config_json_reproduces_its_numbers(command: str, tmp_path: Path) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    assert main([command, *SHORT[command], "--seed", "3", "--out", str(a), "--quiet"]) == 0
    assert main([command, "--config", str(a / "config.json"), "--out", str(b), "--quiet"]) == 0
    assert json.loads((b / "config.json").read_text()) == json.loads(
        (a / "config.json").read_text()
    )
    assert _numbers(b) == _numbers(a)
    train_a = (a / "train_log.jsonl").read_text()
    assert (b / "train_log.jsonl").read_text() == train_a  # every update, bit for bit


def test_a_toml_file_sets_what_it_names_and_flags_win(tmp_path: Path) -> None:
    toml = tmp_path / "run.toml"
    toml.write_text(
        'steps = 12\nbatch_size = 50\n[model]\nhidden = 32\nz_dim = 5\nobjective = "iwae"\n'
        "samples = 3\n"
    )
    out = tmp_path / "r"
    argv = ["vae", "--config", str(toml), "--eval-k", "5", "--quiet", "--z-dim", "6"]
    assert main([*argv, "--steps", "7", "--out", str(out)]) == 0
    config = json.loads((out / "config.json").read_text())
    assert config["steps"] == 7  # the flag
    model = config["model"]
    assert (config["batch_size"], model["hidden"], model["objective"], model["samples"]) == (
        50,
        32,
        "iwae",
        3,
    )
    assert model["z_dim"] == 6  # the flag wins over the file's [model] table too
    assert json.loads((out / "metrics.json").read_text())["updates"] == 7
    state = torch.load(out / "checkpoint.pt", weights_only=False)
    assert state["task"]["model"]["decoder.0.weight"].shape == (32, 6)  # the model is built so


# The model's own config class, nested as "model" in every command's config.json.
MODEL_KEYS = {
    "vae": {"x_dim", "hidden", "z_dim", "posterior", "prior", "objective", "samples"},
    "flow": {"flow", "layers", "hidden", "scales", "coupling", "dequantization"},
    "pixelcnn": {"height", "width", "channels", "layers", "kernel", "gated", "convention"},
    "gan": {"x_dim", "z_dim", "hidden", "layers", "d_hidden", "d_layers", "spectral_norm"},
}


@pytest.mark.parametrize("command", sorted(SHORT))
def test_the_models_config_is_nested_in_the_runs(command: str, tmp_path: Path) -> None:
    out = tmp_path / "r"
    assert main([command, *SHORT[command], "--out", str(out), "--quiet"]) == 0
    config = json.loads((out / "config.json").read_text())
    assert MODEL_KEYS[command] <= set(config["model"])
    assert not MODEL_KEYS[command] & set(config) - {"model"}  # declared once: in the model


def test_a_flat_config_json_of_older_runs_gives_the_same_run(tmp_path: Path) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    argv = ["--steps", "20", "--eval-k", "5", "--val-every", "10", "--hidden", "16", "--quiet"]
    assert main(["vae", *argv, "--out", str(a)]) == 0
    nested = json.loads((a / "config.json").read_text())
    flat = {k: v for k, v in nested.items() if k != "model"}
    flat.update({k: v for k, v in nested["model"].items() if k != "x_dim"})
    old = tmp_path / "old.json"
    old.write_text(json.dumps(flat))
    assert main(["vae", "--config", str(old), "--out", str(b), "--quiet"]) == 0
    assert json.loads((b / "config.json").read_text()) == nested
    assert (b / "train_log.jsonl").read_text() == (a / "train_log.jsonl").read_text()


def test_a_run_written_before_the_nesting_resumes(tmp_path: Path) -> None:
    """A run whose config.json and checkpoint hold the settings flat (as before the model's
    config was nested) and whose checkpoint predates two model settings (arch and channels,
    added since) resumes, and ends with the uninterrupted run's numbers."""
    whole, part = tmp_path / "whole", tmp_path / "part"
    argv = ["vae", "--eval-k", "5", "--val-every", "10", "--checkpoint-every", "10", "--quiet"]
    assert main([*argv, "--steps", "40", "--out", str(whole)]) == 0
    assert main([*argv, "--steps", "20", "--out", str(part)]) == 0
    nested = json.loads((part / "config.json").read_text())
    flat = {k: v for k, v in nested.items() if k != "model"} | nested["model"]
    (part / "config.json").write_text(json.dumps(flat))
    state = torch.load(part / "checkpoint.pt", weights_only=False)
    run = state["meta"]["run"]
    state["meta"]["run"] = {k: v for k, v in run.items() if k != "model"} | run["model"]
    for name in ("arch", "channels"):
        del state["meta"]["model"][name]
    torch.save(state, part / "checkpoint.pt")
    assert main([*argv, "--steps", "40", "--resume", "--out", str(part)]) == 0
    assert _numbers(part) == _numbers(whole)
    assert json.loads((part / "config.json").read_text())["model"] == nested["model"]


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["vae", "--data", "mnist14"], "model x_dim 784 does not fit the data 'mnist14' (196)"),
        (["vae", "--hidden", "8"], "hidden is given twice"),
        (["gan", "--data", "mnist14", "--arch", "dcgan", "--hidden", "8"], "hidden: not a"),
        (["gan", "--data", "ring8", "--width", "8"], "width: not a setting"),
    ],
)
def test_model_settings_that_do_not_fit_get_one_line(
    tmp_path: Path, argv: list[str], message: str, one_line_error: Callable[[], str]
) -> None:
    toml = tmp_path / "c.toml"
    toml.write_text("hidden = 9\n[model]\nx_dim = 784\n" if argv[0] == "vae" else "")
    if "--hidden" in argv and argv[0] == "vae":
        toml.write_text("hidden = 9\n[model]\nhidden = 10\n")
    code = main([*argv, "--config", str(toml), "--out", str(tmp_path / "o"), "--quiet"])
    assert code == 2 and message in one_line_error()


def test_resume_refuses_another_model(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "r"
    argv = ["vae", "--steps", "10", "--eval-k", "5", "--quiet", "--out", str(out)]
    assert main(argv) == 0
    assert main([*argv, "--resume", "--steps", "20", "--z-dim", "4"]) == 2
    assert "--z-dim 4 (the run has 8)" in capsys.readouterr().err


def test_an_old_config_json_with_updates_still_loads(tmp_path: Path) -> None:
    old = tmp_path / "config.json"
    old.write_text(json.dumps({"updates": 9, "eval_k": 5}))
    out = tmp_path / "r"
    assert main(["vae", "--config", str(old), "--out", str(out), "--quiet"]) == 0
    assert json.loads((out / "config.json").read_text())["steps"] == 9


@pytest.mark.parametrize(
    ("content", "name", "message"),
    [
        ("steps = 5\nwarp = 9\n", "a.toml", "unknown setting(s) warp"),
        ("steps = = 5\n", "b.toml", "neither valid TOML nor JSON"),
        ("[1, 2]", "c.json", "must hold a table"),
        (None, "missing.toml", "no such file"),
    ],
)
def test_bad_config_files_get_one_line(
    tmp_path: Path,
    content: str | None,
    name: str,
    message: str,
    one_line_error: Callable[[], str],
) -> None:
    path = tmp_path / name
    if content is not None:
        path.write_text(content)
    assert main(["vae", "--config", str(path), "--out", str(tmp_path / "o"), "--quiet"]) == 2
    assert message in one_line_error()


def test_an_old_flat_gan_config_with_settings_its_networks_ignored_loads() -> None:
    """Older GAN config.json files held hidden/layers/width at their defaults whatever the
    networks: read back they are dropped where the networks lack them; other values refused."""
    from deepgen.errors import ConfigError
    from deepgen.gan.experiment import GANRunConfig

    old = {"data": "mnist14", "arch": "dcgan", "width": 16, "hidden": 128, "layers": 3}
    assert GANRunConfig.from_saved(old).model.width == 16
    mlp = {"data": "ring8", "arch": "mlp", "width": 64, "hidden": 32}
    assert GANRunConfig.from_saved(mlp).model.hidden == 32
    with pytest.raises(ConfigError, match="hidden: not a setting"):
        GANRunConfig.from_saved({**old, "hidden": 256})
    # only files read back are forgiven: given now, a setting the networks lack is refused
    with pytest.raises(ConfigError, match="hidden, layers: not a setting"):
        GANRunConfig.from_settings(old)
    assert main(["gan", "--data", "mnist14", "--arch", "dcgan", "--hidden", "128"]) == 2


def test_resume_with_the_runs_own_config_json(tmp_path: Path) -> None:
    """config.json holds the image shape as a JSON list; the run holds a tuple: the same value."""
    part, whole = tmp_path / "part", tmp_path / "whole"
    argv = ["gan", "--data", "mnist14", "--arch", "dcgan", "--width", "4", "--val-every", "4"]
    argv += ["--eval-samples", "50", "--classifier-epochs", "1", "--quiet"]
    assert main([*argv, "--steps", "4", "--out", str(part)]) == 0
    assert json.loads((part / "config.json").read_text())["model"]["image_shape"] == [14, 14]
    again = ["gan", "--config", str(part / "config.json"), "--steps", "8", "--resume", "--quiet"]
    assert main([*again, "--out", str(part)]) == 0
    assert main([*argv, "--steps", "8", "--out", str(whole)]) == 0
    assert (part / "train_log.jsonl").read_text() == (whole / "train_log.jsonl").read_text()


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--arch", "mlp"], "--arch mlp (the run has dcgan)"),
        (["--data", "ring8"], "--data ring8 (the run has mnist14)"),
        (["--hidden", "128"], "--hidden 128 (not in the run's model)"),
    ],
)
def test_resume_names_the_changed_flag_even_where_the_settings_cannot_fit(
    flags: list[str], message: str, tmp_path: Path, one_line_error: Callable[[], str]
) -> None:
    out = tmp_path / "run"
    (out).mkdir()
    config = {"data": "mnist14", "arch": "dcgan", "steps": 4, "model": {"width": 4}}
    (out / "config.json").write_text(json.dumps(config))
    assert main(["gan", "--resume", *flags, "--quiet", "--out", str(out)]) == 2
    err = one_line_error()
    assert "--resume continues the run as configured" in err and message in err, err


def test_a_gan_checkpoint_predating_two_settings_resumes(tmp_path: Path) -> None:
    """A DCGAN checkpoint written before the run setting straight_through and the model setting
    minibatch_std existed (its meta lacks both) resumes as their defaults, and ends with the
    uninterrupted run's log."""
    whole, part = tmp_path / "whole", tmp_path / "part"
    argv = ["gan", "--data", "mnist14", "--arch", "dcgan", "--width", "4", "--batch-size", "8"]
    argv += ["--val-every", "2", "--checkpoint-every", "2", "--eval-samples", "50", "--quiet"]
    argv += ["--classifier-epochs", "1"]
    assert main([*argv, "--steps", "4", "--out", str(whole)]) == 0
    assert main([*argv, "--steps", "2", "--out", str(part)]) == 0
    state = torch.load(part / "checkpoint.pt", weights_only=False)
    del state["meta"]["run"]["straight_through"]
    del state["meta"]["run"]["model"]["minibatch_std"]
    del state["meta"]["model"]["minibatch_std"]
    torch.save(state, part / "checkpoint.pt")
    assert main([*argv, "--steps", "4", "--resume", "--out", str(part)]) == 0
    logs = [(d / "train_log.jsonl").read_text() for d in (whole, part)]
    assert logs[0] == logs[1] and logs[0].count("\n") == 4
