"""The trainer: resume equals uninterrupted, NaN guard, atomic checkpoints, data order."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from deepgen import fileio
from deepgen.data import load_dataset
from deepgen.errors import CheckpointError, ConfigError, TrainingError
from deepgen.train import EpochSampler, Trainer, TrainerConfig, load_checkpoint, save_checkpoint
from deepgen.train.loop import meta_differences, resolve_device
from deepgen.vae import VAE
from deepgen.vae.experiment import VAERunConfig, VAETask

CPU = torch.device("cpu")


class Crash(Exception):
    """Stands for the process being killed."""


def _task(seed: int = 0, batch_size: int = 50) -> VAETask:
    torch.manual_seed(seed)
    cfg = VAERunConfig(seed=seed, batch_size=batch_size)
    return VAETask(VAE(cfg.model), load_dataset("mnist14"), cfg, CPU)


def _trainer(task: VAETask, out: Path, updates: int, **kw: int) -> Trainer:
    cfg = TrainerConfig(updates=updates, val_every=50, checkpoint_every=60, quiet=True, **kw)
    return Trainer(task, cfg, out, meta={"test": 1})


def _params(task: VAETask) -> list[torch.Tensor]:
    return [p.detach().clone() for p in task.model.parameters()]


def test_resume_after_a_crash_ends_with_the_same_numbers(tmp_path: Path) -> None:
    straight = _task()
    res_a = _trainer(straight, tmp_path / "a", 250).run()

    crashing = _task()
    step = crashing.step

    def dying_step(update: int) -> dict[str, torch.Tensor]:
        if update == 151:  # between checkpoints (60, 120, 180, ...): work since 120 is lost
            raise Crash
        return step(update)

    crashing.step = dying_step  # type: ignore[method-assign]
    with pytest.raises(Crash):
        _trainer(crashing, tmp_path / "b", 250).run()
    assert load_checkpoint(tmp_path / "b" / "checkpoint.pt")["update"] == 120

    torch.manual_seed(12345)  # a new process: the global RNG state is whatever it is
    resumed = _task(seed=0)
    res_b = _trainer(resumed, tmp_path / "b", 250).run(resume=True)

    for p, q in zip(_params(straight), _params(resumed), strict=True):
        assert torch.equal(p, q)
    assert res_a.train == res_b.train
    assert res_a.val == res_b.val
    log_a = (tmp_path / "a" / "train_log.jsonl").read_text()
    log_b = (tmp_path / "b" / "train_log.jsonl").read_text()
    assert log_a == log_b and len(log_a.splitlines()) == 250


def test_resume_can_extend_a_finished_run(tmp_path: Path) -> None:
    straight = _task()
    _trainer(straight, tmp_path / "a", 200).run()
    first = _task()
    _trainer(first, tmp_path / "b", 120).run()
    second = _task()
    _trainer(second, tmp_path / "b", 200).run(resume=True)
    for p, q in zip(_params(straight), _params(second), strict=True):
        assert torch.equal(p, q)


def test_nan_loss_stops_naming_the_update_and_keeps_the_last_good_checkpoint(
    tmp_path: Path,
) -> None:
    task = _task()
    step = task.step

    def poisoned(update: int) -> dict[str, torch.Tensor]:
        if update == 97:
            with torch.no_grad():
                task.model.decoder[0].weight[0, 0] = float("nan")
        return step(update)

    task.step = poisoned  # type: ignore[method-assign]
    with pytest.raises(TrainingError, match=r"loss is nan at update 97") as info:
        _trainer(task, tmp_path, 200).run()
    assert "\n" not in str(info.value)
    assert "update 60" in str(info.value)
    state = load_checkpoint(tmp_path / "checkpoint.pt")
    assert state["update"] == 60
    assert all(torch.isfinite(v).all() for v in state["task"]["model"].values())
    rows = [json.loads(x) for x in (tmp_path / "train_log.jsonl").read_text().splitlines()]
    assert rows[-1]["update"] < 97


def test_infinite_loss_is_caught_too(tmp_path: Path) -> None:
    class InfTask:
        def __init__(self) -> None:
            self.w = torch.nn.Parameter(torch.zeros(1))

        def step(self, update: int) -> dict[str, torch.Tensor]:
            return {"loss": torch.tensor(float("inf") if update == 3 else 1.0)}

        def validate(self, update: int) -> dict[str, float]:
            return {}

        def state_dict(self) -> dict[str, torch.Tensor]:
            return {"w": self.w.detach()}

        def load_state_dict(self, state: dict[str, torch.Tensor]) -> None:
            pass

    with pytest.raises(TrainingError, match=r"loss is inf at update 3; .*no checkpoint"):
        Trainer(InfTask(), TrainerConfig(updates=10, quiet=True), tmp_path).run()


def test_checkpoint_write_is_atomic(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "ck.pt"
    save_checkpoint(path, {"update": 1, "x": torch.arange(3)})

    def broken_fsync(fd: int) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(fileio.os, "fsync", broken_fsync)
    with pytest.raises(OSError, match="disk full"):
        save_checkpoint(path, {"update": 2, "x": torch.arange(5)})
    assert load_checkpoint(path)["update"] == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ck.pt"]  # no temp file left behind


def test_corrupt_or_missing_checkpoint_gives_one_line_error(tmp_path: Path) -> None:
    with pytest.raises(CheckpointError, match="not found"):
        load_checkpoint(tmp_path / "nothing.pt")
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"not a checkpoint at all")
    with pytest.raises(CheckpointError, match="corrupt") as info:
        load_checkpoint(bad)
    assert "\n" not in str(info.value)
    good = tmp_path / "good.pt"
    save_checkpoint(good, {"update": 3})
    good.write_bytes(good.read_bytes()[:-40])  # truncated
    with pytest.raises(CheckpointError, match="corrupt"):
        load_checkpoint(good)


def test_resume_refuses_another_configuration(tmp_path: Path) -> None:
    _trainer(_task(), tmp_path, 60).run()
    other = Trainer(_task(), TrainerConfig(updates=100, quiet=True), tmp_path, meta={"test": 2})
    with pytest.raises(CheckpointError, match="another configuration") as info:
        other.run(resume=True)
    assert "(test: 1 in the checkpoint, 2 now)" in str(info.value)


def test_resume_accepts_a_checkpoint_that_predates_a_recorded_fact(tmp_path: Path) -> None:
    """A meta key added since the checkpoint was written (the flow's ``levels``) is filled,
    not taken for another configuration; a key the checkpoint does record must still agree."""
    _trainer(_task(), tmp_path, 60).run()
    newer = {"test": 1, "levels": 2}
    cfg = TrainerConfig(updates=70, val_every=50, checkpoint_every=60, quiet=True)
    assert Trainer(_task(), cfg, tmp_path, meta=newer).run(resume=True).updates == 70
    cfg = TrainerConfig(updates=80, val_every=50, checkpoint_every=60, quiet=True)
    clash = Trainer(_task(), cfg, tmp_path, meta={"test": 1, "levels": 256})
    with pytest.raises(CheckpointError, match="levels: 2 in the checkpoint, 256 now"):
        clash.run(resume=True)


def test_meta_differences_names_nested_settings_and_caps_the_list() -> None:
    saved = {"run": {"lr": 0.1, "seed": 0, "a": 1, "b": 1}, "kind": "vae"}
    now = {"run": {"lr": 0.2, "seed": 1, "a": 2, "b": 2}, "kind": "vae"}
    text = meta_differences(saved, now)
    assert text.startswith("run.a: 1 in the checkpoint, 2 now; run.b: 1 in the checkpoint")
    assert text.endswith("; and 1 more")
    assert meta_differences({"x": 1}, {}) == "x: 1 in the checkpoint, (not recorded) now"


def test_epoch_sampler_is_a_pure_function_of_the_update() -> None:
    s = EpochSampler(10, 3, seed=4)
    epoch0 = torch.cat([s.indices(u) for u in (1, 2, 3)])
    assert len(set(epoch0.tolist())) == 9  # drop-last: 3 batches of 3 out of 10, no repeats
    again = EpochSampler(10, 3, seed=4)
    assert torch.equal(again.indices(5), s.indices(5))  # random access == sequential
    assert torch.equal(EpochSampler(10, 3, seed=4).indices(2), epoch0[3:6])
    assert not torch.equal(s.indices(4), epoch0[:3]) or not torch.equal(s.indices(5), epoch0[3:6])
    with pytest.raises(ConfigError, match="batch size"):
        EpochSampler(10, 11, seed=0)


def test_device_resolution() -> None:
    assert resolve_device("cpu") == CPU
    assert resolve_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")
    if not torch.cuda.is_available():
        with pytest.raises(ConfigError, match="no CUDA device"):
            resolve_device("cuda")
    with pytest.raises(ConfigError, match="unknown device"):
        resolve_device("tpu")
