"""Which slice of a global batch this process computes, and noise that does not depend on it.

Data-parallel training (``torchrun``) splits each update's global batch of B examples evenly
over W processes. For the numbers to equal a one-process run, every random draw of the update
must be the same as there: each process draws the noise of the *whole* global batch from the
shared generator (all processes hold the same generator state) and keeps its own slice. Inside
:func:`sharded`, :func:`local` takes a process's slice of a global tensor and :func:`draw` makes
a draw of the global shape and returns the slice; outside it (one process, or evaluation) both
are the identity.

>>> import torch
>>> _ = torch.manual_seed(0); whole = torch.randn(2, 6, 3)
>>> with sharded(rank=1, world_size=2):
...     _ = torch.manual_seed(0)
...     mine = draw(lambda shape: torch.randn(shape), (2, 3, 3), dim=1)
>>> torch.equal(mine, whole[:, 3:])
True
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Sequence

import torch
from torch import Tensor

from deepgen.errors import ConfigError

_current: tuple[int, int] = (0, 1)  # (rank, world size) of the block being run


def current() -> tuple[int, int]:
    """(rank, world size) inside :func:`sharded`; (0, 1) outside it."""
    return _current


@contextlib.contextmanager
def sharded(rank: int, world_size: int) -> Iterator[None]:
    """Within the block, this process computes slice ``rank`` of ``world_size`` equal slices
    of every global batch."""
    global _current
    if not 0 <= rank < world_size:
        raise ConfigError(f"rank {rank} is outside a world of {world_size} processes")
    saved, _current = _current, (rank, world_size)
    try:
        yield
    finally:
        _current = saved


def local(x: Tensor, dim: int = 0) -> Tensor:
    """This process's slice of the global batch ``x`` along ``dim`` (``x`` itself outside
    :func:`sharded`). The global size must divide evenly."""
    rank, world = _current
    if world == 1:
        return x
    size = x.shape[dim]
    if size % world:
        raise ConfigError(f"a global batch of {size} does not split evenly over {world} processes")
    part = size // world
    return x.narrow(dim, rank * part, part)


def draw(sample: Callable[[torch.Size], Tensor], shape: Sequence[int], dim: int) -> Tensor:
    """``sample(shape)`` as this process's slice of the same draw for the global batch:
    ``shape`` is the local shape, and ``dim`` the batch dimension that the processes split.
    ``sample`` must draw its numbers in the order of the flattened output (``torch.randn``,
    ``torch.rand``, a distribution's ``rsample``), so that the slice is what a single process
    would get."""
    world = _current[1]
    shape = torch.Size(shape)
    if world == 1:
        return sample(shape)
    whole = list(shape)
    whole[dim] *= world
    return local(sample(torch.Size(whole)), dim)


def bernoulli(p: Tensor, dim: int = 0) -> Tensor:
    """``torch.bernoulli(p)`` for this process's slice ``p`` of the global batch (along
    ``dim``): the draw is made for the whole batch (other slices' probabilities set to ½; one
    uniform per element, in order) and this process's slice is returned."""
    rank, world = _current
    if world == 1:
        return torch.bernoulli(p)
    whole = list(p.shape)
    whole[dim] *= world
    full = p.new_full(whole, 0.5)
    full.narrow(dim, rank * p.shape[dim], p.shape[dim]).copy_(p)
    return local(torch.bernoulli(full), dim)
