"""Training: the generic loop (progress, logging, NaN guard, resume), atomic checkpoints, and
the one runner every training command goes through (:mod:`deepgen.train.runner`)."""

from deepgen.train.checkpoint import load_checkpoint, save_checkpoint
from deepgen.train.loop import (
    EpochSampler,
    Trainer,
    TrainerConfig,
    TrainResult,
    resolve_device,
)

__all__ = [
    "EpochSampler",
    "TrainResult",
    "Trainer",
    "TrainerConfig",
    "load_checkpoint",
    "resolve_device",
    "save_checkpoint",
]
