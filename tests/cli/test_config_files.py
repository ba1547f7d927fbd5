"""--config FILE for every training command: a run's own config.json reproduces its numbers, a
TOML file sets what it names, flags win over the file, and bad files get one line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

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
    toml.write_text('steps = 12\nbatch_size = 50\nhidden = 32\nobjective = "iwae"\nsamples = 3\n')
    out = tmp_path / "r"
    argv = ["vae", "--config", str(toml), "--eval-k", "5", "--quiet"]
    assert main([*argv, "--steps", "7", "--out", str(out)]) == 0
    config = json.loads((out / "config.json").read_text())
    assert config["steps"] == 7  # the flag
    assert (config["batch_size"], config["hidden"], config["objective"], config["samples"]) == (
        50,
        32,
        "iwae",
        3,
    )
    assert json.loads((out / "metrics.json").read_text())["updates"] == 7


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
    capsys: pytest.CaptureFixture[str],
) -> None:
    path = tmp_path / name
    if content is not None:
        path.write_text(content)
    assert main(["vae", "--config", str(path), "--out", str(tmp_path / "o"), "--quiet"]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1
