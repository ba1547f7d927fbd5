"""Shared test settings: float64 checks are explicit; hypothesis profiles keep CI bounded."""

from __future__ import annotations

import importlib.util
import os
import sys
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import pytest
import torch
from hypothesis import HealthCheck, settings

settings.register_profile(
    "ci", max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.register_profile("dev", max_examples=50, deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

# Small models run fastest on one thread, and one thread does not collapse when another busy
# process shares the two cores (two spinning thread pools slow each other 30-100x).
torch.set_num_threads(1)

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"


@pytest.fixture
def one_line_error(capsys: pytest.CaptureFixture[str]) -> Callable[[], str]:
    """Reads what the CLI wrote to stderr since the last read and asserts it is one line with no
    traceback (the project's standard for bad input); returns the line."""

    def read() -> str:
        err = capsys.readouterr().err.strip()
        assert "Traceback" not in err
        assert len(err.splitlines()) == 1, err
        return err

    return read


@pytest.fixture
def shared_dir() -> Path:
    """../shared beside the checkout; tests that need it skip with the reason when absent."""
    if not SHARED.is_dir():
        pytest.skip("needs ../shared (the original data files) beside the checkout; absent here")
    return SHARED


def _load_benchmark(name: str) -> ModuleType:
    """benchmarks/NAME.py as a module (the benchmarks are scripts, not a package)."""
    key = f"{name}_bench"
    if key not in sys.modules:
        spec = importlib.util.spec_from_file_location(key, REPO / "benchmarks" / f"{name}.py")
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[key] = module
        spec.loader.exec_module(module)
    return sys.modules[key]


@pytest.fixture(scope="session")
def load_benchmark() -> Callable[[str], ModuleType]:
    """Loads a benchmark script by name, for the benchmarks' smoke tests."""
    return _load_benchmark
