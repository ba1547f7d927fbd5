"""Every training command takes the same schedule, thread, output and resume flags."""

from __future__ import annotations

import pytest

from deepgen.cli.main import build_parser


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
