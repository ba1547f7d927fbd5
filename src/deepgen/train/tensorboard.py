"""TensorBoard event files next to the JSON-lines logs (``--tensorboard``).

Scalars: every training row as ``train/<name>`` and every validation row as ``val/<name>``, at
its update; figures: the run's PNGs as images at the last update. A resumed run opens the
writer with ``purge_step`` at the checkpoint's update, so TensorBoard drops the events a killed
run wrote past it — the event files then agree with the truncated JSON-lines logs.
The ``tensorboard`` package comes from the optional extra of the same name.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from deepgen.errors import ConfigError

FOLDER = "tensorboard"


class TensorBoardLog:
    """A SummaryWriter in ``out_dir/tensorboard`` (``purge_step``: the update resumed from)."""

    def __init__(self, out_dir: str | Path, purge_step: int | None = None) -> None:
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError:
            raise ConfigError(
                "--tensorboard needs the tensorboard package: "
                "pip install -c constraints.txt -e '.[tensorboard]'"
            ) from None
        self.path = Path(out_dir) / FOLDER
        self.writer = SummaryWriter(str(self.path), purge_step=purge_step)

    def rows(self, rows: Iterable[Mapping[str, Any]], prefix: str) -> None:
        """Each row's numbers as scalars ``prefix/name`` at ``row["update"]``."""
        for row in rows:
            step = int(row["update"])
            for key, value in row.items():
                if key != "update" and isinstance(value, int | float):
                    self.writer.add_scalar(f"{prefix}/{key}", value, step)

    def figures(self, files: Mapping[str, str | Path], step: int) -> None:
        """PNG files as images (RGB) named by their keys."""
        from matplotlib.image import imread

        for name, path in files.items():
            image = imread(str(path))[..., :3]
            self.writer.add_image(f"figures/{name}", image, step, dataformats="HWC")

    def close(self) -> None:
        """Flush and close the event file."""
        self.writer.flush()
        self.writer.close()


def log_figures(out_dir: str | Path, files: Mapping[str, str | Path], step: int) -> None:
    """Append the run's figures to its TensorBoard log (when the run keeps one)."""
    log = TensorBoardLog(out_dir)
    try:
        log.figures(files, step)
    finally:
        log.close()
