"""An output folder is used by one run at a time.

:func:`claim_out_dir` checks that ``--out`` can be a run folder (not a file, creatable,
writable), that a fresh run does not overwrite an earlier one and that ``--resume`` has a
checkpoint to resume, and holds an exclusive ``flock`` on ``DIR/.lock`` while the block runs.
A second run into the same folder is refused with one line naming the process that holds it.
The kernel drops the lock when its process dies, however it dies, so a lock file left by a
killed run is simply taken over (its stale process id is overwritten).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TypeVar

from deepgen.errors import CheckpointError, ConfigError

T = TypeVar("T")
LOCK_NAME = ".lock"
CHECKPOINT = "checkpoint.pt"


def prepare_out_dir(out_dir: str | Path) -> Path:
    """Create ``out_dir`` if needed; a one-line ConfigError when it is a file, cannot be
    created, or cannot be written."""
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise ConfigError(f"--out {out} is a file, not a folder")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError):
        raise ConfigError(f"--out {out}: a part of the path is a file, not a folder") from None
    except OSError as exc:
        raise ConfigError(f"--out {out} cannot be created: {exc.strerror}") from None
    if not os.access(out, os.W_OK | os.X_OK):
        raise ConfigError(f"--out {out} is not writable")
    return out


def _holder(path: Path) -> str:
    try:
        text = path.read_text().split()
    except OSError:
        return "another process"
    return f"process {text[0]} on {text[1]}" if len(text) >= 2 else "another process"


@contextlib.contextmanager
def claim_out_dir(out_dir: str | Path, resume: bool | None = None) -> Iterator[Path]:
    """Hold the folder's lock for the block; with ``resume`` True (False) also require (refuse)
    an existing checkpoint; None skips that check (commands that only add files)."""
    out = prepare_out_dir(out_dir)
    lock_path = out / LOCK_NAME
    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise ConfigError(
                f"{out} is in use by {_holder(lock_path)}: wait for it to finish or use "
                "another --out"
            ) from None
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()} {socket.gethostname()} {time.time():.0f}\n".encode())
        os.fsync(fd)
        checkpoint = out / CHECKPOINT
        if resume is True and not checkpoint.is_file():
            raise CheckpointError(f"--resume: no checkpoint in {out} (expected {checkpoint})")
        if resume is False and checkpoint.is_file():
            raise ConfigError(
                f"{out} already holds a run; pass --resume to continue it or use another --out"
            )
        yield out
    finally:
        with contextlib.suppress(OSError):
            fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)
