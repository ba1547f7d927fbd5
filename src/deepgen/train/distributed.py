"""Data-parallel training started by ``torchrun``: the process group, and gradient averaging.

``torchrun --nproc_per_node N deepgen CMD ...`` starts N copies of the command with
``RANK``/``WORLD_SIZE``/``LOCAL_RANK``/``MASTER_ADDR``/``MASTER_PORT`` in their environment;
:meth:`Distributed.start` joins them into one process group (gloo on CPU, NCCL on CUDA, one GPU
per process). Every process holds the whole model and the same random state; each update, each
computes the loss of its slice of the global batch (:mod:`deepgen.shard`), and before every
optimizer step the gradients are averaged over the processes, so every process takes the same
step: the mean over the global batch, as one process would.

Gradients are averaged in one flat buffer after the backward pass: what
``DistributedDataParallel`` does for models under its 25 MB bucket (all of deepgen's), without
requiring the training loss to be the module's ``forward``.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist
from torch import Tensor
from torch.optim.optimizer import register_optimizer_step_pre_hook

from deepgen.errors import ConfigError
from deepgen.shard import sharded


def _env_int(name: str) -> int:
    try:
        return int(os.environ[name])
    except ValueError:
        value = os.environ[name]
        raise ConfigError(f"environment variable {name}={value!r} is not a whole number") from None


@dataclass(frozen=True)
class Distributed:
    """This process's place in a data-parallel run (rank 0 of 1 when not started by torchrun).

    >>> d = Distributed()
    >>> d.is_main, d.world_size
    (True, 1)
    """

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    backend: str | None = None  # "gloo" or "nccl" once a process group is joined

    @property
    def is_main(self) -> bool:
        """Whether this process writes files (rank 0)."""
        return self.rank == 0

    @property
    def active(self) -> bool:
        """Whether there is a process group (started by torchrun)."""
        return self.backend is not None

    @classmethod
    @contextlib.contextmanager
    def start(cls, device: torch.device) -> Iterator[Distributed]:
        """Join the torchrun process group for the block (gloo on CPU, NCCL on CUDA); a plain
        single-process :class:`Distributed` when the environment names no ``WORLD_SIZE``."""
        if "WORLD_SIZE" not in os.environ:
            yield cls()
            return
        rank, world, local = (_env_int(k) for k in ("RANK", "WORLD_SIZE", "LOCAL_RANK"))
        backend = "nccl" if device.type == "cuda" else "gloo"
        if device.type == "cuda":
            torch.cuda.set_device(local)
        joined = not dist.is_initialized()
        if joined:
            dist.init_process_group(backend, rank=rank, world_size=world)
        try:
            yield cls(rank, world, local, backend)
            # leave together: a gloo peer torn down while another is still exiting aborted once
            # ("terminate called without an active exception", a clean-clone make test)
            dist.barrier()
        finally:
            if joined:
                dist.destroy_process_group()

    def device(self, device: torch.device) -> torch.device:
        """The device of this process: ``cuda:LOCAL_RANK`` on CUDA, else ``device``."""
        if device.type == "cuda" and self.active:
            return torch.device("cuda", self.local_rank)
        return device

    def check_batch(self, batch_size: int) -> None:
        """A one-line error unless the global batch splits evenly over the processes."""
        if batch_size % self.world_size:
            raise ConfigError(
                f"--batch-size {batch_size} (the global batch) does not split evenly over "
                f"{self.world_size} processes"
            )

    def broadcast(self, obj: Any) -> Any:
        """Rank 0's ``obj``, on every process."""
        if not self.active:
            return obj
        box = [obj]
        dist.broadcast_object_list(box, src=0)
        return box[0]

    def barrier(self) -> None:
        """Wait until every process has arrived here."""
        if self.active:
            dist.barrier()

    def mean(self, x: Tensor) -> Tensor:
        """The mean of ``x`` over the processes (in place; ``x`` on one process)."""
        if self.active and self.world_size > 1:
            dist.all_reduce(x)
            x /= self.world_size
        return x

    def average_gradients(self, params: list[Tensor]) -> None:
        """Replace each gradient by its mean over the processes (one flat all-reduce)."""
        grads = [p.grad for p in params if p.grad is not None]
        if not grads or not self.active or self.world_size == 1:
            return
        flat = self.mean(torch.cat([g.reshape(-1) for g in grads]))
        offset = 0
        for g in grads:
            g.copy_(flat[offset : offset + g.numel()].view_as(g))
            offset += g.numel()

    @contextlib.contextmanager
    def data_parallel(self) -> Iterator[None]:
        """Within the block, every optimizer step averages its gradients over the processes
        first, and each process computes its slice of the global batch."""
        if not self.active or self.world_size == 1:
            yield
            return

        def hook(optimizer: torch.optim.Optimizer, args: Any, kwargs: Any) -> None:
            self.average_gradients([p for g in optimizer.param_groups for p in g["params"]])

        handle = register_optimizer_step_pre_hook(hook)
        try:
            with sharded(self.rank, self.world_size):
                yield
        finally:
            handle.remove()
