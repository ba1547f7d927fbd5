"""The 14×14 binarized MNIST: pooling rule, the bundled file, and its bit-for-bit rebuild."""

from __future__ import annotations

import hashlib
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from deepgen.data.idx import load_mnist
from deepgen.data.mnist import (
    build_mnist14,
    bundle_bytes,
    bundled_path,
    load_mnist14,
    pool_binarize,
    read_bundle,
    write_bundle,
)
from deepgen.errors import DataError


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def slow_pool_binarize(images: np.ndarray) -> np.ndarray:
    """Pixel by pixel, in floats: the mean of each 2×2 block compared with 128."""
    n, h, w = images.shape
    out = np.zeros((n, h // 2, w // 2), dtype=np.uint8)
    for k in range(n):
        for i in range(h // 2):
            for j in range(w // 2):
                block = images[k, 2 * i : 2 * i + 2, 2 * j : 2 * j + 2]
                out[k, i, j] = float(block.astype(np.float64).mean()) > 128.0
    return out.reshape(n, (h // 2) * (w // 2))


@settings(max_examples=50, deadline=None)
@given(
    arrays(
        np.uint8,
        st.tuples(st.integers(0, 3), st.just(28), st.just(28)),
        elements=st.integers(0, 255) | st.sampled_from([127, 128, 129]),
    )
)
def test_pool_binarize_matches_the_slow_reference(images: np.ndarray) -> None:
    out = pool_binarize(images)
    assert out.shape == (images.shape[0], 196) and out.dtype == np.uint8
    np.testing.assert_array_equal(out, slow_pool_binarize(images))


@pytest.mark.parametrize(
    ("block", "bit"),
    [
        ([128, 128, 128, 128], 0),  # mean exactly 128: not greater
        ([129, 128, 128, 128], 1),  # mean 128.25
        ([255, 255, 2, 0], 0),  # sum 512
        ([255, 255, 3, 0], 1),  # sum 513
        ([255, 255, 255, 255], 1),
        ([0, 0, 0, 0], 0),
    ],
)
def test_threshold_is_strict(block: list[int], bit: int) -> None:
    images = np.zeros((1, 28, 28), dtype=np.uint8)
    images[0, 4:6, 6:8] = np.array(block, dtype=np.uint8).reshape(2, 2)
    out = pool_binarize(images).reshape(14, 14)
    assert out[2, 3] == bit
    assert out.sum() == bit


def test_pool_binarize_rejects_bad_input() -> None:
    with pytest.raises(DataError, match="uint8"):
        pool_binarize(np.zeros((1, 28, 28), dtype=np.float32))
    with pytest.raises(DataError, match="even"):
        pool_binarize(np.zeros((1, 27, 28), dtype=np.uint8))


def test_bundled_file_is_small_and_valid() -> None:
    path = bundled_path()
    assert path.is_file()
    assert path.stat().st_size < 300_000
    arrays = read_bundle()
    assert sorted(arrays) == sorted(
        [f"{s}_{k}" for s in ("train", "val", "test") for k in ("bits", "labels", "index")]
        + ["source_md5"]
    )
    assert "f68b3c2dcbeaaa9fbdd348bbdeb94873" in " ".join(arrays["source_md5"].tolist())


def test_load_mnist14_splits() -> None:
    splits = load_mnist14()
    sizes = {"train": 10000, "val": 1000, "test": 1000}
    for split, (x, labels) in splits.items():
        assert x.shape == (sizes[split], 196) and x.dtype == torch.float32
        assert labels.shape == (sizes[split],) and labels.dtype == torch.int64
        assert set(x.unique().tolist()) == {0.0, 1.0}
        counts = torch.bincount(labels, minlength=10)
        assert counts.tolist() == [sizes[split] // 10] * 10
        assert 0.05 < x.mean().item() < 0.3
    assert load_mnist14(bundled_path())["val"][0].equal(splits["val"][0])


def test_bundle_keeps_file_order_and_val_test_are_disjoint() -> None:
    arrays = read_bundle()
    for split in ("train", "val", "test"):
        index = arrays[f"{split}_index"].astype(np.int64)
        assert (np.diff(index) > 0).all()  # file order, not grouped by digit
    val, test = arrays["val_index"], arrays["test_index"]
    assert not set(val.tolist()) & set(test.tolist())
    for digit in range(10):
        # val holds the first 100 of each digit, test the next 100
        assert val[arrays["val_labels"] == digit].max() < test[arrays["test_labels"] == digit].min()


@pytest.fixture(scope="module")
def built(mnist_dir: Path) -> dict[str, np.ndarray]:
    return build_mnist14(mnist_dir)


def test_build_reproduces_the_bundled_file_bit_for_bit(
    built: dict[str, np.ndarray], tmp_path: Path
) -> None:
    out = write_bundle(built, tmp_path / "mnist14.npz")
    if sha256(out) != sha256(bundled_path()):
        # say which member differs, to tell a data change from a zlib difference
        with zipfile.ZipFile(out) as new, zipfile.ZipFile(bundled_path()) as old:
            for name in old.namelist():
                assert new.read(name) == old.read(name), name
        pytest.fail("same arrays, different compressed bytes (another zlib?)")
    assert only_one_file(tmp_path)


def only_one_file(directory: Path) -> bool:
    return [p.name for p in directory.iterdir()] == ["mnist14.npz"]


def test_build_is_deterministic(built: dict[str, np.ndarray]) -> None:
    shuffled = dict(reversed(list(built.items())))
    assert bundle_bytes(built) == bundle_bytes(shuffled)
    copy = {k: v.copy() for k, v in built.items()}
    assert bundle_bytes(copy) == bundle_bytes(built)


def test_build_selection(built: dict[str, np.ndarray], mnist_dir: Path) -> None:
    train_images, train_labels = load_mnist(mnist_dir, "train")
    test_images, test_labels = load_mnist(mnist_dir, "test")
    first = np.sort(np.concatenate([np.flatnonzero(train_labels == d)[:1000] for d in range(10)]))
    np.testing.assert_array_equal(built["train_index"], first)
    np.testing.assert_array_equal(built["train_labels"], train_labels[first])
    train_bits = np.unpackbits(built["train_bits"], axis=1, count=196)
    np.testing.assert_array_equal(train_bits, pool_binarize(train_images[first]))
    np.testing.assert_array_equal(train_bits[:20], slow_pool_binarize(train_images[first[:20]]))
    for split, start in (("val", 0), ("test", 100)):
        index = np.sort(
            np.concatenate(
                [np.flatnonzero(test_labels == d)[start : start + 100] for d in range(10)]
            )
        )
        np.testing.assert_array_equal(built[f"{split}_index"], index)
        np.testing.assert_array_equal(
            np.unpackbits(built[f"{split}_bits"], axis=1, count=196),
            pool_binarize(test_images[index]),
        )


def test_write_bundle_round_trip(tmp_path: Path) -> None:
    arrays = {"b": np.arange(6, dtype=np.uint8).reshape(2, 3), "a": np.array(["x y"])}
    path = write_bundle(arrays, tmp_path / "sub" / "x.npz")
    with np.load(path) as npz:
        assert npz.files == ["a", "b"]
        np.testing.assert_array_equal(npz["b"], arrays["b"])
    with zipfile.ZipFile(path) as archive:
        for info in archive.infolist():
            assert info.date_time == (1980, 1, 1, 0, 0, 0)
            assert info.compress_type == zipfile.ZIP_DEFLATED
    first = sha256(path)
    write_bundle(arrays, path)  # overwrite in place
    assert sha256(path) == first
    assert [p.name for p in path.parent.iterdir()] == ["x.npz"]


def test_bad_bundles_give_data_errors(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="missing"):
        load_mnist14(tmp_path / "absent.npz")
    junk = tmp_path / "junk.npz"
    junk.write_bytes(b"not a zip file at all")
    with pytest.raises(DataError, match=r"not a valid \.npz") as exc:
        load_mnist14(junk)
    assert str(junk) in str(exc.value)
    good = bundled_path().read_bytes()
    cut = tmp_path / "cut.npz"
    cut.write_bytes(good[: len(good) // 2])
    with pytest.raises(DataError, match=r"cut\.npz"):
        load_mnist14(cut)
    other = write_bundle({"x": np.zeros(3)}, tmp_path / "other.npz")
    with pytest.raises(DataError, match="no array 'train_bits'"):
        load_mnist14(other)
    arrays = read_bundle()
    arrays["val_bits"] = arrays["val_bits"][:, :10]
    wrong = write_bundle(arrays, tmp_path / "wrong.npz")
    with pytest.raises(DataError, match=r"val_bits must be uint8 \[N, 25\]"):
        load_mnist14(wrong)
