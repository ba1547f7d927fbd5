"""Burda et al.'s schedule: 3^i epochs at 10^(−i/7) of the base rate, i = 0..7."""

from __future__ import annotations

import itertools

import pytest

from deepgen.train.schedules import (
    BURDA_EPOCHS,
    burda_lr,
    burda_stage,
    learning_rate,
)


def test_stages_last_three_to_the_i_epochs() -> None:
    stages = [burda_stage(e) for e in range(BURDA_EPOCHS)]
    assert BURDA_EPOCHS == 3280
    for i in range(8):
        assert stages.count(i) == 3**i
    assert stages == sorted(stages)  # contiguous, in order
    assert burda_stage(BURDA_EPOCHS + 100) == 7  # the last rate continues


def test_rates_fall_by_ten_to_the_minus_one_seventh_per_stage() -> None:
    firsts = [sum(3**j for j in range(i)) for i in range(8)]  # first epoch of each stage
    rates = [burda_lr(e, 1e-3) for e in firsts]
    assert rates[0] == pytest.approx(1e-3)
    assert rates[7] == pytest.approx(1e-4)  # 10^(−7/7)
    for a, b in itertools.pairwise(rates):
        assert b / a == pytest.approx(10 ** (-1 / 7))


def test_updates_map_to_epochs() -> None:
    # 2,500 updates per epoch (50,000 images, minibatches of 20): update 2,501 starts epoch 1
    assert learning_rate("burda", 1e-3, 2500, 2500) == pytest.approx(1e-3)
    assert learning_rate("burda", 1e-3, 2501, 2500) == pytest.approx(1e-3 * 10 ** (-1 / 7))
    assert learning_rate("constant", 0.5, 10**7, 2500) == 0.5
    with pytest.raises(ValueError, match="unknown schedule"):
        learning_rate("cosine", 1e-3, 1, 10)
    with pytest.raises(ValueError, match="epoch must be >= 0"):
        burda_stage(-1)
