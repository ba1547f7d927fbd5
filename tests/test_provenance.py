"""Benchmark provenance: load averages and the commit of the code that was measured."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from deepgen.provenance import git_state, load_average


def test_load_average_is_three_non_negative_numbers_where_the_os_has_one() -> None:
    load = load_average()
    assert load is None or (len(load) == 3 and all(v >= 0 for v in load))


def test_git_state_names_the_checked_out_commit_and_notices_edits(tmp_path: Path) -> None:
    if shutil.which("git") is None:
        pytest.skip("git is not installed")
    assert git_state(tmp_path) is None  # not a repository
    repo = tmp_path / "r"
    (repo / "src").mkdir(parents=True)
    (repo / "src" / "a.py").write_text("x = 1\n")

    def git(*args: str) -> None:
        subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True)

    git("init", "-q")
    git("add", ".")
    git("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "init")
    state = git_state(repo)
    assert state is not None and re.fullmatch(r"[0-9a-f]{40}", str(state["commit"]))
    assert state["src_modified"] is False
    (repo / "src" / "a.py").write_text("x = 2\n")
    assert git_state(repo)["src_modified"] is True  # type: ignore[index]
    (repo / "README").write_text("outside src\n")
    assert git_state(repo, paths=("README",))["src_modified"] is True  # type: ignore[index]
