"""2-D toy densities: shapes, determinism, support and mode structure."""

from __future__ import annotations

import pytest
import torch

from deepgen.data.toy import TOY_DATASETS, grid_modes, ring_modes, sample_toy
from deepgen.errors import ConfigError


@pytest.mark.parametrize("name", TOY_DATASETS)
def test_shapes_determinism_and_finiteness(name: str) -> None:
    a = sample_toy(name, 500, torch.Generator().manual_seed(1))
    b = sample_toy(name, 500, torch.Generator().manual_seed(1))
    c = sample_toy(name, 500, torch.Generator().manual_seed(2))
    assert a.shape == (500, 2) and a.dtype == torch.float32
    assert torch.equal(a, b) and not torch.equal(a, c)
    assert torch.isfinite(a).all() and a.abs().max() < 6


@pytest.mark.parametrize(
    ("name", "modes"), [("ring8", ring_modes(8, 2.0)), ("grid25", grid_modes())]
)
def test_mixtures_cover_every_mode_within_a_few_std(name: str, modes: torch.Tensor) -> None:
    x = sample_toy(name, 5000, torch.Generator().manual_seed(0))
    dist = torch.cdist(x, modes)
    nearest = dist.argmin(1)
    assert dist.min(1).values.max() < 5 * 0.02 * 2  # every point within 5σ·√2-ish of a mode
    counts = torch.bincount(nearest, minlength=len(modes)).float()
    assert (counts > 0.5 * len(x) / len(modes)).all()  # roughly balanced


def test_checkerboard_lies_on_the_black_squares() -> None:
    x = sample_toy("checkerboard", 4000, torch.Generator().manual_seed(0))
    col, row = torch.floor(x[:, 0]), torch.floor(x[:, 1])
    assert ((col - row) % 2 == 0).all()
    assert (x.abs() <= 2).all()


def test_rings_have_four_radii() -> None:
    r = sample_toy("rings", 4000, torch.Generator().manual_seed(0)).norm(dim=1)
    nearest = torch.round(r / 0.5) * 0.5
    assert set(nearest.unique().tolist()) == {0.5, 1.0, 1.5, 2.0}
    assert (r - nearest).abs().max() < 0.25


def test_bad_arguments() -> None:
    with pytest.raises(ConfigError, match="unknown toy"):
        sample_toy("spiral", 10)
    with pytest.raises(ConfigError, match=">= 1"):
        sample_toy("moons", 0)
