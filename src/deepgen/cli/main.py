"""Entry point of the ``deepgen`` command: dispatches to one module per sub-command.

Each module in :mod:`deepgen.cli` listed in ``COMMANDS`` exposes ``register(subparsers)``, which
adds its parser and sets ``func`` (a callable taking the parsed namespace and returning an exit
code). Errors meant for a person (:class:`deepgen.errors.DeepgenError`, missing files) are printed
as one line on stderr and the exit code is 2; no traceback.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Sequence

from deepgen import __version__
from deepgen.errors import DeepgenError

COMMANDS = (
    "vae",
    "data",
    "check",
    "flow",
    "receptive_field",
    "pixelcnn",
    "game",
    "vi",
    "gan",
    "sample",
    "leaderboard",
)


class OneLineParser(argparse.ArgumentParser):
    """An ArgumentParser whose errors are one line (``prog: error: message``), exit code 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


def build_parser() -> argparse.ArgumentParser:
    """The full ``deepgen`` parser with every sub-command registered."""
    parser = OneLineParser(
        prog="deepgen",
        description="Deep generative models and variational inference, checked numerically.",
    )
    parser.add_argument("--version", action="version", version=f"deepgen {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in COMMANDS:
        importlib.import_module(f"deepgen.cli.{name}").register(sub)
    return parser


def _who() -> str:
    """``deepgen``, or ``deepgen (rank R)`` on the processes > 0 of a torchrun run (whose
    errors repeat rank 0's)."""
    rank = os.environ.get("RANK", "0")
    return "deepgen" if rank == "0" else f"deepgen (rank {rank})"


def _error(message: str) -> None:
    # one write, so that the lines of a torchrun run's processes do not interleave
    sys.stderr.write(f"{_who()}: error: {message}\n")
    sys.stderr.flush()


def main(argv: Sequence[str] | None = None) -> int:
    """Parse ``argv``, run the command, and turn expected failures into one-line errors."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except DeepgenError as exc:
        _error(str(exc))
        return 2
    except (FileNotFoundError, PermissionError, IsADirectoryError) as exc:
        _error(f"{exc.strerror}: {exc.filename}")
        return 2
    except KeyboardInterrupt:
        print("deepgen: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
