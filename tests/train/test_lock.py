"""An output folder is used by one run at a time; a killed run's lock is taken over; --out that
cannot be a folder gets one line."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from deepgen.cli.main import main
from deepgen.errors import CheckpointError, ConfigError
from deepgen.train.lock import LOCK_NAME, claim_out_dir

HOLD = """
import sys, time
from deepgen.train.lock import claim_out_dir
with claim_out_dir(sys.argv[1]):
    print("held", flush=True)
    time.sleep(60)
"""


def _holder(out: Path) -> subprocess.Popen:
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(out)], stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None and proc.stdout.readline().strip() == "held"
    return proc


def test_a_second_claim_is_refused_naming_the_holder(tmp_path: Path) -> None:
    proc = _holder(tmp_path)
    try:
        with (
            pytest.raises(ConfigError, match=rf"in use by process {proc.pid} on") as info,
            claim_out_dir(tmp_path),
        ):
            pass
        assert "\n" not in str(info.value)
    finally:
        proc.kill()
        proc.wait()


def test_the_lock_of_a_killed_run_is_taken_over(tmp_path: Path) -> None:
    proc = _holder(tmp_path)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert str(proc.pid) in (tmp_path / LOCK_NAME).read_text()  # the stale file is still there
    with claim_out_dir(tmp_path):
        assert (tmp_path / LOCK_NAME).read_text().split()[0] == str(os.getpid())


def test_claims_in_one_process_exclude_each_other_and_release(tmp_path: Path) -> None:
    with (
        claim_out_dir(tmp_path),
        pytest.raises(ConfigError, match="in use"),
        claim_out_dir(tmp_path),
    ):
        pass
    with claim_out_dir(tmp_path):  # released at the end of the block
        pass


def test_fresh_and_resume_checks(tmp_path: Path) -> None:
    with pytest.raises(CheckpointError, match="no checkpoint"), claim_out_dir(tmp_path, True):
        pass
    (tmp_path / "checkpoint.pt").write_bytes(b"x")
    with pytest.raises(ConfigError, match="already holds a run"), claim_out_dir(tmp_path, False):
        pass


@pytest.mark.parametrize("where", ["file", "under_file"])
def test_out_that_cannot_be_a_folder_gets_one_line(
    tmp_path: Path, where: str, capsys: pytest.CaptureFixture[str]
) -> None:
    target = tmp_path / "f"
    target.write_text("not a folder")
    out = target if where == "file" else target / "run"
    assert main(["vae", "--out", str(out), "--updates", "5", "--quiet"]) == 2
    err = capsys.readouterr().err.strip()
    assert "is a file, not a folder" in err and len(err.splitlines()) == 1
    assert target.read_text() == "not a folder"


def test_a_second_run_into_a_busy_folder_is_refused_and_the_first_stays_intact(
    tmp_path: Path,
) -> None:
    out = tmp_path / "run"
    argv = [sys.executable, "-m", "deepgen.cli.main", "vae", "--out", str(out), "--quiet"]
    first = subprocess.Popen([*argv, "--updates", "2500", "--eval-k", "5"])
    try:
        deadline = time.monotonic() + 60
        while not (out / "config.json").is_file():  # the first run holds the folder by now
            assert time.monotonic() < deadline and first.poll() is None
            time.sleep(0.05)
        second = subprocess.run(
            [*argv, "--updates", "100"], capture_output=True, text=True, timeout=120
        )
        assert second.returncode == 2
        assert f"in use by process {first.pid}" in second.stderr
        assert "Traceback" not in second.stderr
    finally:
        assert first.wait(timeout=300) == 0
    rows = [json.loads(x) for x in (out / "train_log.jsonl").read_text().splitlines()]
    assert [r["update"] for r in rows] == list(range(1, 2501))
    assert json.loads((out / "metrics.json").read_text())["updates"] == 2500
