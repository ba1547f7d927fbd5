"""Where a measurement was taken: the machine's load and the version of the code that ran.

Benchmarks record both next to their timings, because on a shared machine a ratio means little
without the load it was measured under, and nothing without the commit it measured.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path


def load_average() -> list[float] | None:
    """The 1, 5 and 15 minute load averages (other work on a shared machine), where known."""
    try:
        return [round(v, 2) for v in os.getloadavg()]
    except (AttributeError, OSError):
        return None


def git_state(repo: str | Path, paths: tuple[str, ...] = ("src",)) -> dict[str, object] | None:
    """The commit checked out in ``repo`` and whether ``paths`` differ from it; None outside git."""

    def git(*args: str) -> str:
        return subprocess.run(
            ["git", *args], cwd=repo, capture_output=True, text=True, check=True
        ).stdout.strip()

    try:
        head = git("rev-parse", "HEAD")
        dirty = git("status", "--porcelain", "--", *paths)
    except (OSError, subprocess.CalledProcessError):
        return None
    return {"commit": head, "src_modified": bool(dirty)}
