"""load_dataset and its three data sets; the binarized MNIST (.amat) reader."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pytest
import torch

from deepgen.data import DATASETS, BinaryImageData, load_dataset
from deepgen.data.binarized import load_binarized_mnist, read_amat
from deepgen.errors import ConfigError, DataError


def amat_text(rows: np.ndarray) -> bytes:
    return b"".join(b" ".join(b"%d" % v for v in row) + b"\n" for row in rows)


def test_mnist14() -> None:
    data = load_dataset("mnist14", data_dir="/ignored")
    assert data.name == "mnist14" and data.image_shape == (14, 14) and not data.dynamic
    assert data.sizes() == {"train": 10000, "val": 1000, "test": 1000}
    for x in (data.train, data.val, data.test):
        assert x.dtype == torch.float32 and x.shape[1] == 196
        assert ((x == 0) | (x == 1)).all()
    assert data.train_labels is not None and data.train_labels.dtype == torch.int64
    index = torch.tensor([3, 1, 4])
    assert data.train_batch(index).equal(data.train[index])
    assert load_dataset().train.equal(data.train)


def test_unknown_name_and_missing_data_dir() -> None:
    with pytest.raises(ConfigError) as exc:
        load_dataset("cifar10")
    for name in DATASETS:
        assert name in str(exc.value)
    for name in ("mnist28", "binarized-mnist"):
        with pytest.raises(ConfigError, match="--data-dir"):
            load_dataset(name)


def test_missing_files_are_data_errors(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="missing"):
        load_dataset("mnist28", tmp_path)
    with pytest.raises(DataError, match=r"binarized_mnist_train\.amat\.gz"):
        load_dataset("binarized-mnist", tmp_path)
    with pytest.raises(DataError, match="missing"):
        load_dataset("binarized-mnist", tmp_path / "nowhere")


def test_dynamic_train_batch() -> None:
    grey = torch.full((4, 4), 0.5)
    data = BinaryImageData("toy", (2, 2), grey, grey.round(), grey.round(), None, None, None, True)
    index = torch.tensor([0, 2, 3])
    a = data.train_batch(index, torch.Generator().manual_seed(1))
    b = data.train_batch(index, torch.Generator().manual_seed(1))
    assert a.equal(b) and a.shape == (3, 4)
    assert ((a == 0) | (a == 1)).all()
    with pytest.raises(DataError, match=r"val must be \[N, 4\]"):
        BinaryImageData("toy", (2, 2), grey, grey[:, :3], grey, None, None, None)


def test_mnist28(mnist_dir: Path) -> None:
    data = load_dataset("mnist28", mnist_dir)
    assert data.dynamic and data.image_shape == (28, 28)
    assert data.sizes() == {"train": 60000, "val": 1000, "test": 9000}
    assert data.train.dtype == torch.float32
    assert data.train.min().item() == 0.0 and data.train.max().item() == 1.0
    assert ((data.train > 0) & (data.train < 1)).any()  # grey levels
    for x in (data.val, data.test):
        assert ((x == 0) | (x == 1)).all()
    assert data.val_labels is not None and data.test_labels is not None
    assert len(data.val_labels) == 1000 and len(data.test_labels) == 9000
    again = load_dataset("mnist28", mnist_dir)  # the held-out binarization is fixed
    assert again.val.equal(data.val) and again.test.equal(data.test)
    batch = data.train_batch(torch.arange(10), torch.Generator().manual_seed(0))
    assert ((batch == 0) | (batch == 1)).all()


def test_binarized_mnist(binarized_dir: Path) -> None:
    data = load_dataset("binarized-mnist", binarized_dir)
    assert data.sizes() == {"train": 50000, "val": 10000, "test": 10000}
    assert data.image_shape == (28, 28) and not data.dynamic
    assert data.train_labels is None and data.test_labels is None
    for x in (data.train, data.val, data.test):
        assert x.dtype == torch.float32 and x.shape[1] == 784
        assert ((x == 0) | (x == 1)).all()
        assert 0.1 < x.mean().item() < 0.2


def test_read_amat_small(tmp_path: Path) -> None:
    rows = (np.arange(3 * 784).reshape(3, 784) % 3 == 0).astype(np.uint8)
    path = tmp_path / "small.amat.gz"
    path.write_bytes(gzip.compress(amat_text(rows)))
    np.testing.assert_array_equal(read_amat(path), rows)
    plain = tmp_path / "small.amat"
    plain.write_bytes(amat_text(rows)[:-1])  # no final newline: accepted
    np.testing.assert_array_equal(read_amat(plain), rows)


@pytest.mark.parametrize(
    ("edit", "pattern"),
    [
        (lambda t: t.replace(b"1", b"2", 1), "line 1 is not 784 values"),
        (lambda t: t[:1568] + t[1568:].replace(b" ", b"\t", 1), "line 2 is not 784 values"),
        (lambda t: t[:-10], "not a whole number of 1568-byte lines"),
        (lambda t: t + b"0 1\n", "not a whole number"),
    ],
)
def test_read_amat_rejects_bad_text(tmp_path: Path, edit, pattern: str) -> None:
    rows = np.ones((2, 784), dtype=np.uint8)
    path = tmp_path / "bad.amat.gz"
    path.write_bytes(gzip.compress(edit(amat_text(rows))))
    with pytest.raises(DataError, match=pattern) as exc:
        read_amat(path)
    assert "bad.amat.gz" in str(exc.value) and "\n" not in str(exc.value)


def test_read_amat_known_file_checks(tmp_path: Path) -> None:
    rows = np.zeros((5, 784), dtype=np.uint8)
    path = tmp_path / "binarized_mnist_test.amat.gz"
    path.write_bytes(gzip.compress(amat_text(rows)))
    with pytest.raises(DataError, match="md5 mismatch") as exc:
        read_amat(path)
    assert path.name in str(exc.value)
    with pytest.raises(DataError, match="5 rows, expected 10000"):
        read_amat(path, check_md5=False)
    cut = tmp_path / "binarized_mnist_valid.amat.gz"
    cut.write_bytes(path.read_bytes()[:-30])
    with pytest.raises(DataError, match="truncated"):
        read_amat(cut)


def test_load_binarized_mnist_test_split(binarized_dir: Path, mnist_dir: Path) -> None:
    from deepgen.data.idx import load_mnist

    test = read_amat(binarized_dir / "binarized_mnist_test.amat.gz")
    assert test.shape == (10000, 784)
    # README: the test rows are the MNIST test set sorted by label; 1 pixels lie on ink
    images, labels = load_mnist(mnist_dir, "test")
    order = np.argsort(labels, kind="stable")
    ink = images[order].reshape(10000, 784) > 0
    assert not (test.astype(bool) & ~ink).any()
    assert set(load_binarized_mnist(binarized_dir)) == {"train", "valid", "test"}
