"""--tensorboard: event files with every logged scalar and the run's figures; a resume purges
what a killed run wrote past its checkpoint."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from deepgen.cli.main import main

pytest.importorskip("tensorboard", reason="the tensorboard package comes from the test extra")
from tensorboard.backend.event_processing.event_accumulator import (
    EventAccumulator,
)


def _events(out: Path) -> EventAccumulator:
    acc = EventAccumulator(str(out / "tensorboard"), size_guidance={"scalars": 0, "images": 0})
    acc.Reload()
    return acc


@pytest.mark.parametrize("command", ["vae", "flow"])
def test_every_logged_number_and_figure_is_in_tensorboard(command: str, tmp_path: Path) -> None:
    out = tmp_path / command
    short = {
        "vae": ["--steps", "40", "--eval-k", "5"],
        "flow": ["--steps", "40", "--grid", "10", "--train-size", "500", "--test-size", "500"],
    }[command]
    argv = [command, *short, "--val-every", "10", "--out", str(out), "--quiet", "--tensorboard"]
    assert main(argv) == 0
    acc = _events(out)
    train = [json.loads(x) for x in (out / "train_log.jsonl").read_text().splitlines()]
    loss = acc.Scalars("train/loss")
    assert [e.step for e in loss] == [r["update"] for r in train]
    assert [e.value for e in loss] == pytest.approx([r["loss"] for r in train], rel=1e-6)
    val_key = next(k for k in acc.Tags()["scalars"] if k.startswith("val/"))
    assert [e.step for e in acc.Scalars(val_key)] == [10, 20, 30, 40]
    figures = acc.Tags()["images"]
    assert "figures/samples" in figures and len(figures) >= 2


def test_a_resume_purges_events_past_the_checkpoint(tmp_path: Path) -> None:
    """Run to 20, go on to 30, then resume again from the update-20 checkpoint (as after a
    kill between 20 and 30): TensorBoard keeps one event per step, like the JSON-lines log."""
    out = tmp_path / "run"
    base = ["vae", "--out", str(out), "--quiet", "--tensorboard", "--eval-k", "5"]
    assert main([*base, "--steps", "20", "--val-every", "10"]) == 0
    saved = (out / "checkpoint.pt").read_bytes()
    assert main([*base, "--steps", "30", "--val-every", "10", "--resume"]) == 0
    (out / "checkpoint.pt").write_bytes(saved)
    assert main([*base, "--steps", "30", "--val-every", "10", "--resume"]) == 0
    steps = [e.step for e in _events(out).Scalars("train/loss")]
    assert steps == list(range(1, 31))
