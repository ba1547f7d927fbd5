"""Every training command takes the same schedule, thread, output and resume flags."""

from __future__ import annotations

from pathlib import Path

import pytest

from deepgen.cli.main import build_parser, main


@pytest.mark.parametrize("command", ["vae", "flow", "pixelcnn", "gan"])
def test_training_commands_share_their_run_flags(command: str) -> None:
    parser = build_parser()
    schedule = ["--val-every", "7", "--checkpoint-every", "9", "--threads", "2"]
    run = ["--out", "somewhere", "--seed", "3", "--device", "cpu", "--resume", "--quiet"]
    args = parser.parse_args([command, *schedule, *run])
    assert (args.val_every, args.checkpoint_every, args.threads) == (7, 9, 2)
    assert (args.out, args.seed, args.device, args.resume, args.quiet) == (
        "somewhere",
        3,
        "cpu",
        True,
        True,
    )
    fresh = parser.parse_args([command])
    # None = "not given", so --resume can tell the flags a user changed
    assert fresh.val_every is None and fresh.checkpoint_every is None and fresh.threads is None
    with pytest.raises(SystemExit):
        parser.parse_args([command, "--val-every", "0"])


SHORT = {
    "vae": ["--updates", "4", "--eval-k", "3"],
    "flow": ["--steps", "4", "--grid", "10", "--train-size", "300", "--test-size", "300"],
    "pixelcnn": ["--steps", "2", "--samples", "4", "--test-images", "20"],
    "gan": ["--steps", "2", "--data", "ring8", "--eval-samples", "200"],
}


@pytest.mark.parametrize("command", sorted(SHORT))
def test_resume_refuses_a_new_validation_schedule_and_takes_a_longer_one(
    command: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """One rule for every command (train/runconfig.py): the schedule's length, device, threads
    and checkpoint period may change on --resume; what shapes the logs (--val-every) may not."""
    out = ["--out", str(tmp_path / command), "--quiet", "--val-every", "2"]
    assert main([command, *SHORT[command], *out]) == 0
    capsys.readouterr()
    assert main([command, *out[:-1], "3", "--resume"]) == 2
    err = capsys.readouterr().err
    assert "--val-every 3 (the run has 2)" in err and len(err.strip().splitlines()) == 1
    longer = "--updates" if command == "vae" else "--steps"
    assert main([command, *out, "--resume", longer, "6", "--checkpoint-every", "3"]) == 0
