"""The Python examples in README.md and docs/api.md run as written."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def _blocks(path: Path) -> list[str]:
    return re.findall(r"```python\n(.*?)```", path.read_text(), flags=re.S)


@pytest.mark.parametrize("doc", ["README.md", "docs/api.md"])
def test_python_examples_run(doc: str) -> None:
    path = REPO / doc
    if not path.is_file():
        pytest.skip(f"{doc} is not written yet")
    blocks = _blocks(path)
    assert blocks, f"{doc} has no python example"
    namespace: dict = {}
    for block in blocks:  # blocks build on each other, as a reader runs them in order
        exec(compile(block, str(path), "exec"), namespace)
