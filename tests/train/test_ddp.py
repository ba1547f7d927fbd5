"""Data parallelism through torchrun: 2 gloo processes on the CPU give the numbers of one
process with the same global batch and seed (to 1e-4 relative), write one set of files,
resume exactly, and refuse a global batch that does not split."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

DEEPGEN = str(Path(sys.executable).with_name("deepgen"))
RTOL = 1e-4


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("RANK", "WORLD_SIZE", "LOCAL_RANK")}
    return {**env, "OMP_NUM_THREADS": "1"}


def _run(args: list[str], processes: int = 1) -> subprocess.CompletedProcess[str]:
    if processes == 1:
        cmd = [DEEPGEN, *args]
    else:
        cmd = [
            sys.executable,
            "-m",
            "torch.distributed.run",
            "--standalone",
            "--nproc_per_node",
            str(processes),
            DEEPGEN,
            *args,
        ]
    return subprocess.run(cmd, capture_output=True, text=True, env=_env(), timeout=300)


def _ok(args: list[str], processes: int = 1) -> None:
    done = _run(args, processes)
    assert done.returncode == 0, done.stderr[-3000:]


def _rows(out: Path, name: str) -> list[dict[str, float]]:
    return [json.loads(line) for line in (out / name).read_text().splitlines()]


def _metrics(out: Path) -> dict:
    return json.loads((out / "metrics.json").read_text())


def _assert_same_numbers(one: Path, two: Path, keys: list[str]) -> None:
    """Every logged training and validation value, and the final metrics named, agree."""
    for log in ("train_log.jsonl", "val_log.jsonl"):
        a, b = _rows(one, log), _rows(two, log)
        assert [r["update"] for r in a] == [r["update"] for r in b], log
        for ra, rb in zip(a, b, strict=True):
            for k, v in ra.items():
                assert rb[k] == pytest.approx(v, rel=RTOL, abs=1e-6), (log, ra["update"], k)
    ma, mb = _metrics(one), _metrics(two)
    for k in keys:
        assert mb[k] == pytest.approx(ma[k], rel=RTOL), k
    assert (ma["world_size"], mb["world_size"]) == (1, 2)


def _one_and_two(args: list[str], tmp: Path, keys: list[str]) -> None:
    """The command in one process and in two: the same numbers."""
    _ok([*args, "--out", str(tmp / "one")])
    _ok([*args, "--out", str(tmp / "two")], processes=2)
    _assert_same_numbers(tmp / "one", tmp / "two", keys)


VAE = [
    "vae",
    "--batch-size",
    "50",
    "--val-every",
    "40",
    "--checkpoint-every",
    "40",
    "--eval-k",
    "20",
    "--val-images",
    "50",
    "--quiet",
]
VAE_KEYS = ["train_elbo", "val_elbo", "val_kl", "val_loglik_iwae"]


@pytest.fixture(scope="module")
def vae_one(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("ddp") / "one"
    _ok([*VAE, "--steps", "120", "--out", str(out)])
    return out


def test_two_processes_equal_one_and_only_rank0_writes(vae_one: Path, tmp_path: Path) -> None:
    two = tmp_path / "two"
    _ok([*VAE, "--steps", "120", "--out", str(two)], processes=2)
    _assert_same_numbers(vae_one, two, VAE_KEYS)
    # one process wrote the logs: one row per update, not two interleaved copies
    assert [r["update"] for r in _rows(two, "train_log.jsonl")] == list(range(1, 121))


def test_two_process_resume_equals_one_uninterrupted_run(vae_one: Path, tmp_path: Path) -> None:
    two = tmp_path / "two"
    _ok([*VAE, "--steps", "40", "--out", str(two)], processes=2)
    _ok([*VAE, "--steps", "80", "--out", str(two), "--resume"])  # one process in the middle
    _ok([*VAE, "--steps", "120", "--out", str(two), "--resume"], processes=2)
    _assert_same_numbers(vae_one, two, VAE_KEYS)


def test_flow_posterior_and_iwae_under_two_processes(tmp_path: Path) -> None:
    """The IAF posterior draws its noise through a FlowDistribution, IWAE weighs K of them.

    Twenty updates: this configuration's trajectories separate fast from float32 rounding
    alone. Half-batch gradients averaged differ from the whole-batch gradient by rounding
    (tests/test_shard.py checks that, to 1e-6 of the largest gradient), but Adam divides each
    element by its own scale, and elements that are sums of cancelling terms carry up to 1e-2
    relative rounding error: the KL statistic, a difference of two large terms, drifts past
    1e-4 relative after ~30 updates (5e-4 after 40, measured), the seed VAE stays within 1e-7
    over 120."""
    args = [*VAE, "--steps", "20", "--posterior", "iaf", "--objective", "iwae", "--samples", "3"]
    _one_and_two(args, tmp_path, VAE_KEYS)


def test_pixelcnn_under_two_processes(tmp_path: Path) -> None:
    args = ["pixelcnn", "--steps", "20", "--layers", "2", "--channels", "8", "--batch-size", "32"]
    args += ["--val-every", "10", "--val-images", "50", "--samples", "2", "--test-images", "50"]
    args += ["--quiet"]
    _one_and_two(args, tmp_path, ["test_nll", "val_nll"])


def test_image_flow_under_two_processes(tmp_path: Path) -> None:
    """Dequantization noise for the global batch, and ActNorm started on the whole batch."""
    args = ["flow", "--data", "mnist14", "--flow", "realnvp", "--layers", "2", "--hidden", "16"]
    args += ["--steps", "20", "--batch-size", "32", "--val-every", "10", "--eval-k", "2"]
    args += ["--quiet"]
    _one_and_two(args, tmp_path, ["test_nll", "val_nll"])


def test_wgan_gp_under_two_processes(tmp_path: Path) -> None:
    """Noise z and the gradient penalty's interpolation points for the global batch."""
    args = ["gan", "--data", "ring8", "--loss", "wgan-gp", "--steps", "20", "--hidden", "16"]
    args += ["--batch-size", "32", "--val-every", "10", "--eval-samples", "200", "--quiet"]
    _one_and_two(args, tmp_path, ["modes_covered", "mode_kl"])


DCGAN_STD = ["gan", "--data", "mnist14", "--arch", "dcgan", "--width", "4", "--minibatch-std"]
DCGAN_STD += ["--steps", "6", "--val-every", "3", "--eval-samples", "100"]
DCGAN_STD += ["--classifier-epochs", "1", "--quiet"]


def test_minibatch_std_dcgan_under_two_processes(tmp_path: Path) -> None:
    """The minibatch standard deviation is taken over groups of 4 consecutive images, so with 8
    images per process the two processes see the groups of one, and give its numbers."""
    _one_and_two([*DCGAN_STD, "--batch-size", "16"], tmp_path, ["fid", "fid_ema"])


def test_boundary_seeking_dcgan_under_two_processes(tmp_path: Path) -> None:
    """The boundary-seeking loss draws M samples of each z for the global batch (split along
    the z, not the M), so two processes give the one-process numbers; with the minibatch
    standard deviation on, its groups of 4 stay within one m and one process."""
    args = [*DCGAN_STD, "--batch-size", "16", "--boundary-seeking", "3"]
    _one_and_two(args, tmp_path, ["fid", "fid_ema"])


def test_minibatch_std_groups_that_straddle_processes_are_refused(tmp_path: Path) -> None:
    done = _run([*DCGAN_STD, "--batch-size", "12", "--out", str(tmp_path)], 2)
    assert done.returncode != 0
    errors = [line for line in done.stderr.splitlines() if line.startswith("deepgen: error")]
    assert errors == [
        "deepgen: error: --minibatch-std takes groups of 4 images: the batch of 6 per process "
        "(12 over 2) is not a multiple of 4"
    ], done.stderr[-2000:]


def test_a_batch_that_does_not_split_is_one_line(tmp_path: Path) -> None:
    done = _run([*VAE, "--steps", "5", "--batch-size", "25", "--out", str(tmp_path)], 2)
    assert done.returncode != 0
    errors = [line for line in done.stderr.splitlines() if line.startswith("deepgen: error")]
    assert errors == [
        "deepgen: error: --batch-size 25 (the global batch) does not split evenly over 2 processes"
    ], done.stderr[-2000:]
    # no process of ours printed a traceback (torchrun itself reports the failed children
    # with its own ChildFailedError traceback, which deepgen cannot change)
    assert "]: Traceback" not in done.stderr and "src/deepgen/" not in done.stderr
