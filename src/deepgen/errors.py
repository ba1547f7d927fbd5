"""Errors that carry a one-line message meant for a person.

The CLI prints ``deepgen: error: <message>`` for any :class:`DeepgenError` and exits non-zero
without a traceback; library users can catch the specific subclasses.
"""


class DeepgenError(Exception):
    """Base class: the message is one line that names the problem."""


class DataError(DeepgenError, ValueError):
    """Missing, truncated or corrupt data file, or data of the wrong kind (e.g. non-binary)."""


class ShapeError(DeepgenError, ValueError):
    """A tensor has the wrong shape for the operation."""


class ConfigError(DeepgenError, ValueError):
    """A bad option value (flag or config entry)."""


class CheckpointError(DeepgenError):
    """A checkpoint is missing, unreadable, or does not match the run."""


class TrainingError(DeepgenError, RuntimeError):
    """Training cannot go on, e.g. a NaN or infinite loss."""


class InversionError(TrainingError, ArithmeticError):
    """A numerical inverse could not be computed (no bracket, or no convergence)."""
