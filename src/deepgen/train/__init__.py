"""Training: the generic loop (progress, logging, NaN guard, resume) and atomic checkpoints."""

from deepgen.train.checkpoint import load_checkpoint, save_checkpoint
from deepgen.train.loop import (
    EpochSampler,
    Trainer,
    TrainerConfig,
    TrainResult,
    resolve_device,
    train_run,
)

__all__ = [
    "EpochSampler",
    "TrainResult",
    "Trainer",
    "TrainerConfig",
    "load_checkpoint",
    "resolve_device",
    "save_checkpoint",
    "train_run",
]
