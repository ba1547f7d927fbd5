"""Atomic checkpoints: write to a temporary file in the same folder, fsync, then rename.

A reader therefore sees either the previous complete checkpoint or the new complete one, never a
half-written file, whenever the writer is stopped.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import torch

from deepgen.errors import CheckpointError
from deepgen.fileio import atomic_write_bytes

FORMAT = "deepgen-checkpoint-1"


def save_checkpoint(path: str | Path, state: dict[str, Any]) -> None:
    """Save ``state`` (tensors, dicts, lists, numbers, strings) atomically with torch.save."""
    buffer = io.BytesIO()
    torch.save({"format": FORMAT, **state}, buffer)
    atomic_write_bytes(path, buffer.getvalue())


def load_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Load a checkpoint written by :func:`save_checkpoint`; a clear error if missing or corrupt."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint not found: {path}")
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as exc:  # torch raises many types for a damaged file
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise CheckpointError(f"checkpoint {path} is corrupt or unreadable: {reason}") from None
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise CheckpointError(f"{path} is not a deepgen checkpoint (format {FORMAT} expected)")
    return state
