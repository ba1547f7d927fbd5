"""The generic training loop shared by every model.

A *task* owns the model(s) and optimizer(s) and knows how to take one update and how to
validate; the :class:`Trainer` owns everything around it: the schedule, a progress bar,
per-update metrics (JSON lines), validation every N updates, atomic checkpoints, ``resume``,
the random-number state, and the guard that stops on a NaN or infinite loss.

Determinism: all randomness of a step comes from torch's global generator (seeded once), whose
state is saved in every checkpoint, and data order comes from :class:`EpochSampler`, a pure
function of (seed, update). So a run resumed from any checkpoint ends with the same numbers as
an uninterrupted run with the same seed.
"""

from __future__ import annotations

import contextlib
import json
import math
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import torch
from torch import Tensor
from tqdm import tqdm

from deepgen.errors import CheckpointError, ConfigError, TrainingError
from deepgen.fileio import atomic_write_bytes
from deepgen.train.checkpoint import load_checkpoint, save_checkpoint
from deepgen.train.distributed import Distributed
from deepgen.train.tensorboard import TensorBoardLog

PRECISIONS = ("fp32", "bf16")


UNFILLED = ("kind", "run")  # meta keys every checkpoint has written: never taken as missing


def meta_differences(saved: dict[str, Any], now: dict[str, Any], limit: int = 3) -> str:
    """The settings two checkpoint metas disagree on, nested ones dotted, as one short line:
    ``run.lr: 0.002 in the checkpoint, 0.001 now``.

    >>> meta_differences({"run": {"lr": 0.002, "seed": 0}}, {"run": {"lr": 0.001, "seed": 0}})
    'run.lr: 0.002 in the checkpoint, 0.001 now'
    """

    def flat(d: dict[str, Any], prefix: str = "") -> dict[str, Any]:
        out: dict[str, Any] = {}
        for k, v in d.items():
            if isinstance(v, dict):
                out.update(flat(v, f"{prefix}{k}."))
            else:
                out[f"{prefix}{k}"] = v
        return out

    a, b = flat(saved), flat(now)
    keys = [k for k in sorted(set(a) | set(b)) if a.get(k, ...) != b.get(k, ...)]
    missing = "(not recorded)"
    parts = [f"{k}: {a.get(k, missing)} in the checkpoint, {b.get(k, missing)} now" for k in keys]
    more = f"; and {len(parts) - limit} more" if len(parts) > limit else ""
    return "; ".join(parts[:limit]) + more


def resolve_device(name: str) -> torch.device:
    """``auto`` → CUDA when available, else CPU; ``cpu``; ``cuda`` (an error if absent)."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cpu":
        return torch.device("cpu")
    if name == "cuda":
        if not torch.cuda.is_available():
            raise ConfigError("--device cuda was asked for but no CUDA device is available")
        return torch.device("cuda")
    raise ConfigError(f"unknown device {name!r}; choose auto, cpu or cuda")


class EpochSampler:
    """Minibatch indices as a pure function of the update number.

    Update u (1-based) takes batch ``(u − 1) mod B`` of epoch ``(u − 1) // B`` where B = n //
    batch_size; each epoch is a fresh permutation drawn from a generator seeded by (seed, epoch).
    """

    def __init__(self, n: int, batch_size: int, seed: int, device: torch.device | None = None):
        if batch_size < 1 or batch_size > n:
            raise ConfigError(
                f"batch size must be between 1 and {n} (the data size), got {batch_size}"
            )
        self.n, self.batch_size, self.seed = n, batch_size, seed
        self.batches_per_epoch = n // batch_size
        self.device = device
        self._epoch = -1
        self._perm: Tensor | None = None

    def indices(self, update: int) -> Tensor:
        """Indices of the minibatch used at ``update`` (1-based)."""
        epoch, pos = divmod(update - 1, self.batches_per_epoch)
        if epoch != self._epoch:
            g = torch.Generator().manual_seed(self.seed * 1_000_003 + epoch)
            perm = torch.randperm(self.n, generator=g)
            self._perm = perm.to(self.device) if self.device is not None else perm
            self._epoch = epoch
        assert self._perm is not None
        return self._perm[pos * self.batch_size : (pos + 1) * self.batch_size]


class TrainTask(Protocol):
    """What the trainer drives. ``step`` returns detached statistics including ``"loss"``."""

    def step(self, update: int) -> dict[str, Tensor]: ...

    def validate(self, update: int) -> dict[str, float]: ...

    def state_dict(self) -> dict[str, Any]: ...

    def load_state_dict(self, state: dict[str, Any]) -> None: ...


@dataclass(frozen=True)
class TrainerConfig:
    """Schedule of a run. ``log_every`` is how often buffered per-update stats are written."""

    updates: int
    val_every: int = 100
    checkpoint_every: int = 1000
    log_every: int = 100
    quiet: bool = False
    desc: str = "train"
    tensorboard: bool = False  # also write TensorBoard event files (out_dir/tensorboard)
    precision: str = "fp32"  # "bf16": each update under torch.autocast(bfloat16)
    device_type: str = "cpu"  # where autocast applies
    max_seconds: float | None = None  # stop after this much training time (this session's)

    def __post_init__(self) -> None:
        for name in ("updates", "val_every", "checkpoint_every", "log_every"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.precision not in PRECISIONS:
            raise ConfigError(f"unknown precision {self.precision!r}; choose fp32 or bf16")


@dataclass
class TrainResult:
    """Per-update training rows, validation rows, and timing of this process's share."""

    train: list[dict[str, float]] = field(default_factory=list)
    val: list[dict[str, float]] = field(default_factory=list)
    updates: int = 0
    wall_seconds: float = 0.0  # all sessions of the run together
    updates_per_second: float = 0.0  # of this session


def _read_jsonl(path: Path, last_update: int) -> list[dict[str, float]]:
    if not path.is_file():
        return []
    rows = []
    for line in path.read_text().splitlines():
        if line.strip():
            row = json.loads(line)
            if row["update"] <= last_update:
                rows.append(row)
    return rows


def _jsonl(rows: list[dict[str, float]]) -> str:
    return "".join(json.dumps(r) + "\n" for r in rows)


class Trainer:
    """Runs a :class:`TrainTask` for ``config.updates`` updates, writing into ``out_dir``.

    Files: ``checkpoint.pt`` (the last good one), ``train_log.jsonl`` (one line per update),
    ``val_log.jsonl`` (one line per validation).
    """

    CHECKPOINT = "checkpoint.pt"
    TRAIN_LOG = "train_log.jsonl"
    VAL_LOG = "val_log.jsonl"

    def __init__(
        self,
        task: TrainTask,
        config: TrainerConfig,
        out_dir: str | Path,
        meta: dict[str, Any] | None = None,
        on_checkpoint: Callable[[int], None] | None = None,
        dist: Distributed | None = None,
        read_meta: Callable[[dict[str, Any]], dict[str, Any]] | None = None,
    ) -> None:
        self.task, self.config, self.out_dir = task, config, Path(out_dir)
        self.meta = meta or {}
        self.read_meta = read_meta or (lambda m: m)  # a checkpoint's meta in today's form
        self.dist = dist or Distributed()
        self.on_checkpoint = on_checkpoint
        self.checkpoint_path = self.out_dir / self.CHECKPOINT

    # --- state -----------------------------------------------------------------------------
    def _state(self, update: int, wall: float) -> dict[str, Any]:
        rng: dict[str, Any] = {"torch": torch.get_rng_state()}
        if torch.cuda.is_available() and torch.cuda.is_initialized():
            rng["cuda"] = torch.cuda.get_rng_state_all()
        return {
            "update": update,
            "wall_seconds": wall,
            "task": self.task.state_dict(),
            "rng": rng,
            "meta": self.meta,
        }

    def _restore(self) -> tuple[int, float]:
        state = load_checkpoint(self.checkpoint_path)
        saved = self.read_meta(state.get("meta") or {})
        # a fact the meta records today but did not when the checkpoint was written (the
        # flow's ``levels``) is not a contradiction: what it is derived from is in ``run``
        saved = {**{k: v for k, v in self.meta.items() if k not in UNFILLED}, **saved}
        if saved != self.meta:
            raise CheckpointError(
                f"{self.checkpoint_path} was written by a run with another configuration "
                f"({meta_differences(saved, self.meta)}); use a new --out or the same settings"
            )
        self.task.load_state_dict(state["task"])
        torch.set_rng_state(state["rng"]["torch"])
        if "cuda" in state["rng"] and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(state["rng"]["cuda"])
        return int(state["update"]), float(state["wall_seconds"])

    # --- the loop --------------------------------------------------------------------------
    def run(self, resume: bool = False) -> TrainResult:
        """Train to ``config.updates``; with ``resume``, continue from ``checkpoint.pt``.

        Under torchrun every process runs this loop on its slice of each global batch (its
        optimizers average their gradients first) and every process resumes from the same
        checkpoint; the logged statistics are the means over the processes, and only rank 0
        writes files or shows a progress bar."""
        cfg, dist, main = self.config, self.dist, self.dist.is_main
        if main:
            self.out_dir.mkdir(parents=True, exist_ok=True)
        start, wall_before = 0, 0.0
        if resume:
            start, wall_before = self._restore()
            if start > cfg.updates:
                raise ConfigError(
                    f"the checkpoint is at update {start}, past --updates {cfg.updates}"
                )
        train_rows: list[dict[str, float]] = []
        val_rows: list[dict[str, float]] = []
        if main:
            train_rows = _read_jsonl(self.out_dir / self.TRAIN_LOG, start)
            val_rows = _read_jsonl(self.out_dir / self.VAL_LOG, start)
            atomic_write_bytes(self.out_dir / self.TRAIN_LOG, _jsonl(train_rows).encode())
            atomic_write_bytes(self.out_dir / self.VAL_LOG, _jsonl(val_rows).encode())
        last_good = start if resume else None
        board = (
            TensorBoardLog(self.out_dir, purge_step=start + 1) if cfg.tensorboard and main else None
        )

        show = main and not cfg.quiet and sys.stderr.isatty()
        bar = tqdm(
            total=cfg.updates, initial=start, desc=cfg.desc, disable=not show, dynamic_ncols=True
        )
        buffer: list[dict[str, Tensor]] = []
        t0 = time.perf_counter()

        def flush(upto: int) -> None:
            if not buffer:
                return
            keys = list(buffer[0])
            values = torch.stack([torch.stack([s[k] for s in buffer]) for k in keys]).detach()
            values = dist.mean(values.float()).to("cpu", torch.float64)
            first = upto - len(buffer) + 1
            finite = torch.isfinite(values[keys.index("loss")])
            if not bool(finite.all()):
                bad = first + int((~finite).nonzero()[0])
                kept = (
                    f"the last good checkpoint ({self.checkpoint_path}, update {last_good}) is kept"
                    if last_good is not None
                    else "no checkpoint had been written yet"
                )
                bar.close()
                value = values[keys.index("loss")][bad - first].item()
                raise TrainingError(f"loss is {value} at update {bad}; training stopped, {kept}")
            rows = [
                {"update": first + i, **dict(zip(keys, col, strict=True))}
                for i, col in enumerate(values.T.tolist())
            ]
            buffer.clear()
            if not main:
                return
            train_rows.extend(rows)
            with open(self.out_dir / self.TRAIN_LOG, "a") as f:
                f.write(_jsonl(rows))
            if board is not None:
                board.rows(rows, "train")
            bar.set_postfix(loss=f"{rows[-1]['loss']:.3f}", refresh=False)

        autocast = (
            (lambda: torch.autocast(cfg.device_type, dtype=torch.bfloat16))
            if cfg.precision == "bf16"
            else contextlib.nullcontext
        )
        last = cfg.updates
        for update in range(start + 1, cfg.updates + 1):
            with autocast(), dist.data_parallel():
                buffer.append(self.task.step(update))
            bar.update(1)
            if cfg.max_seconds is not None and update < last:
                # rank 0's clock decides, so that every process stops at the same update
                out_of_time = time.perf_counter() - t0 >= cfg.max_seconds
                if dist.broadcast(out_of_time):
                    last = update
            due_val = update % cfg.val_every == 0 or update == last
            due_ckpt = update % cfg.checkpoint_every == 0 or update == last
            if len(buffer) >= cfg.log_every or due_val or due_ckpt:
                flush(update)
            if due_val:
                # every process validates (they hold the same model); rank 0 writes
                row = {"update": update, **self.task.validate(update)}
            if due_val and main:
                val_rows.append(row)
                with open(self.out_dir / self.VAL_LOG, "a") as f:
                    f.write(_jsonl([row]))
                if board is not None:
                    board.rows([row], "val")
            if due_ckpt and main:
                wall = wall_before + time.perf_counter() - t0
                save_checkpoint(self.checkpoint_path, self._state(update, wall))
                last_good = update
                if self.on_checkpoint is not None:
                    self.on_checkpoint(update)
            if update == last:
                break
        bar.close()
        if board is not None:
            board.close()
        elapsed = time.perf_counter() - t0
        done = max(last - start, 0)
        return TrainResult(
            train=train_rows,
            val=val_rows,
            updates=max(last, start),
            wall_seconds=wall_before + elapsed,
            updates_per_second=done / elapsed if elapsed > 0 and done > 0 else math.nan,
        )
