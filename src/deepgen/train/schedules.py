"""Learning-rate schedules as pure functions of the update number (so resume is exact).

Burda et al. (2016, §5): for i = 0, …, 7, train 3^i epochs at 10^(−i/7) · 1e-3 (Adam with
β = (0.9, 0.999), ε = 1e-4, minibatches of 20): 3,280 epochs in all. Here the base rate is
the run's ``--lr`` (1e-3 in the paper), and an epoch is ``batches_per_epoch`` updates.

>>> [burda_stage(e) for e in (0, 1, 3, 4, 12, 13, 3279)]
[0, 1, 1, 2, 2, 3, 7]
>>> round(burda_lr(1, 1e-3), 7)
0.0007197
"""

from __future__ import annotations

SCHEDULES = ("constant", "burda")
BURDA_STAGES = 8
BURDA_EPOCHS = sum(3**i for i in range(BURDA_STAGES))  # 3,280
BURDA_ADAM_EPS = 1e-4


def burda_stage(epoch: int) -> int:
    """The stage i of 0-based ``epoch``: epochs Σ_{j<i} 3^j … Σ_{j≤i} 3^j − 1 (the last stage
    continues past epoch 3,279)."""
    if epoch < 0:
        raise ValueError(f"epoch must be >= 0, got {epoch}")
    end = 0
    for i in range(BURDA_STAGES):
        end += 3**i
        if epoch < end:
            return i
    return BURDA_STAGES - 1


def burda_lr(epoch: int, base: float = 1e-3) -> float:
    """base · 10^(−i/7) in stage i of ``epoch``."""
    return base * 10 ** (-burda_stage(epoch) / 7)


def learning_rate(schedule: str, base: float, update: int, batches_per_epoch: int) -> float:
    """The rate of 1-based ``update`` under ``schedule`` (``constant``: always ``base``)."""
    if schedule == "constant":
        return base
    if schedule == "burda":
        return burda_lr((update - 1) // batches_per_epoch, base)
    raise ValueError(f"unknown schedule {schedule!r}; choose from {', '.join(SCHEDULES)}")
