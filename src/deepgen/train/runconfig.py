"""What a run's configuration shares: which of its fields ``--resume`` may change.

A resumed run continues the same experiment, so everything that shapes the numbers is fixed by
the checkpoint: the fields a resume may change are declared here once — how long to train,
where (device, threads), how often to checkpoint, whether to keep TensorBoard files — plus,
per command, the settings that only affect the evaluation after training
(:attr:`RunConfig.EVALUATION_ONLY`). The validation schedule is fixed: it decides which rows
the logs hold.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, ClassVar

RESUME_MAY_CHANGE = frozenset(
    {"steps", "updates", "minutes", "device", "threads", "checkpoint_every", "tensorboard"}
)


@dataclass(frozen=True)
class RunConfig:
    """Base of the frozen run-config dataclasses of the training commands: the settings every
    one of them has besides its own (``minutes``: stop training after this much wall-clock
    time, at the end of an update, even before ``steps``)."""

    minutes: float | None = None

    EVALUATION_ONLY: ClassVar[tuple[str, ...]] = ()
    ALIASES: ClassVar[dict[str, str]] = {}  # old setting name -> field (config files, resume)

    def identity(self) -> dict[str, Any]:
        """The fields a checkpoint fixes: all but the schedule and evaluation-only ones."""
        free = RESUME_MAY_CHANGE | set(self.EVALUATION_ONLY)
        return {k: v for k, v in asdict(self).items() if k not in free}  # type: ignore[call-overload]
