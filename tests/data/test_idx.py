"""Reading and checking MNIST IDX files: every problem is a one-line DataError naming the file."""

from __future__ import annotations

import gzip
import shutil
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from deepgen.data.idx import MNIST_FILES, load_mnist, read_idx, verify_mnist
from deepgen.errors import ConfigError, DataError

LABELS = "t10k-labels-idx1-ubyte.gz"


def idx_bytes(array: np.ndarray, magic: bytes | None = None) -> bytes:
    """An uncompressed IDX file holding ``array`` as unsigned bytes."""
    head = magic if magic is not None else bytes([0, 0, 0x08, array.ndim])
    dims = b"".join(int(d).to_bytes(4, "big") for d in array.shape)
    return head + dims + np.ascontiguousarray(array, dtype=np.uint8).tobytes()


def write_gz(path: Path, raw: bytes) -> Path:
    path.write_bytes(gzip.compress(raw, mtime=0))
    return path


def assert_one_line(exc: pytest.ExceptionInfo[DataError], name: str) -> str:
    message = str(exc.value)
    assert name in message
    assert "\n" not in message
    return message


def test_reads_gz_and_plain_idx(tmp_path: Path) -> None:
    images = np.arange(3 * 4 * 5, dtype=np.uint8).reshape(3, 4, 5)
    gz = write_gz(tmp_path / "small-images.gz", idx_bytes(images))
    plain = tmp_path / "small-images"
    plain.write_bytes(idx_bytes(images))
    for path in (gz, plain):
        out = read_idx(path)
        assert out.dtype == np.uint8
        np.testing.assert_array_equal(out, images)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="missing") as exc:
        read_idx(tmp_path / LABELS)
    message = assert_one_line(exc, LABELS)
    assert "deepgen data download" in message


def test_wrong_magic_number(tmp_path: Path) -> None:
    path = write_gz(tmp_path / "bad-magic.gz", idx_bytes(np.zeros(4), magic=b"\x12\x34\x08\x01"))
    with pytest.raises(DataError, match="magic") as exc:
        read_idx(path)
    assert_one_line(exc, "bad-magic.gz")


def test_magic_of_the_wrong_kind(tmp_path: Path) -> None:
    # an image file (magic 2051) under the name of a label file (magic 2049)
    path = write_gz(tmp_path / LABELS, idx_bytes(np.zeros((10000, 1, 1))))
    with pytest.raises(DataError, match="magic number 2051, expected 2049") as exc:
        read_idx(path)
    assert_one_line(exc, LABELS)


def test_wrong_dims(tmp_path: Path) -> None:
    path = write_gz(tmp_path / LABELS, idx_bytes(np.zeros(5)))
    with pytest.raises(DataError, match=r"shape \(5,\), expected \(10000,\)") as exc:
        read_idx(path)
    assert_one_line(exc, LABELS)


def test_truncated_gzip(tmp_path: Path) -> None:
    data = gzip.compress(idx_bytes(np.arange(4000) % 251), mtime=0)
    path = tmp_path / "cut.gz"
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(DataError, match="truncated") as exc:
        read_idx(path)
    assert_one_line(exc, "cut.gz")


def test_not_gzip_nor_idx(tmp_path: Path) -> None:
    path = tmp_path / "junk.gz"
    path.write_bytes(b"\x1f\x8bthis is not gzip at all")
    with pytest.raises(DataError) as exc:
        read_idx(path)
    assert_one_line(exc, "junk.gz")


def test_truncated_body(tmp_path: Path) -> None:
    raw = idx_bytes(np.zeros((10, 28, 28)))
    path = write_gz(tmp_path / "short-images.gz", raw[:-100])
    with pytest.raises(DataError, match="truncated") as exc:
        read_idx(path)
    message = assert_one_line(exc, "short-images.gz")
    assert "7840" in message  # what the header promised


def test_truncated_header(tmp_path: Path) -> None:
    path = write_gz(tmp_path / "header.gz", bytes([0, 0, 8, 3, 0, 0]))
    with pytest.raises(DataError, match="header") as exc:
        read_idx(path)
    assert_one_line(exc, "header.gz")


def test_trailing_bytes(tmp_path: Path) -> None:
    path = write_gz(tmp_path / "long.gz", idx_bytes(np.zeros(8)) + b"xx")
    with pytest.raises(DataError, match="2 bytes after") as exc:
        read_idx(path)
    assert_one_line(exc, "long.gz")


def test_md5_mismatch_of_a_well_formed_file(tmp_path: Path) -> None:
    # right magic, right shape, wrong content: only the md5 can tell
    path = write_gz(tmp_path / LABELS, idx_bytes(np.zeros(10000)))
    with pytest.raises(DataError, match="md5 mismatch") as exc:
        read_idx(path)
    message = assert_one_line(exc, LABELS)
    assert "ec29112dd5afa0611ce80d1b7f02629c" in message
    assert read_idx(path, check_md5=False).shape == (10000,)


def test_md5_mismatch_of_an_unzipped_copy(tmp_path: Path) -> None:
    path = tmp_path / LABELS.removesuffix(".gz")
    path.write_bytes(idx_bytes(np.ones(10000)))
    with pytest.raises(DataError, match="md5 mismatch") as exc:
        read_idx(path)
    assert_one_line(exc, path.name)


def test_md5_mismatch_of_a_recompressed_real_file(tmp_path: Path, mnist_dir: Path) -> None:
    # same content, other gzip bytes: the md5 of the gz is what is checked
    raw = gzip.decompress((mnist_dir / LABELS).read_bytes())
    path = tmp_path / LABELS
    path.write_bytes(gzip.compress(raw, compresslevel=1, mtime=0))
    with pytest.raises(DataError, match="md5 mismatch"):
        read_idx(path)
    # the unzipped bytes are the original ones, so an unzipped copy passes
    plain = tmp_path / LABELS.removesuffix(".gz")
    plain.write_bytes(raw)
    assert read_idx(plain).shape == (10000,)


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=64))
def test_random_bytes_give_an_array_or_a_data_error(tmp_path_factory, data: bytes) -> None:
    path = tmp_path_factory.getbasetemp() / "fuzz.idx"
    path.write_bytes(data)
    try:
        out = read_idx(path)
    except DataError as exc:
        assert "fuzz.idx" in str(exc)
        assert "\n" not in str(exc)
    else:
        assert isinstance(out, np.ndarray)


def test_load_and_verify_the_real_files(mnist_dir: Path) -> None:
    images, labels = load_mnist(mnist_dir, "test")
    assert images.shape == (10000, 28, 28) and images.dtype == np.uint8
    assert labels.shape == (10000,) and labels.dtype == np.uint8
    assert np.bincount(labels).tolist()[:3] == [980, 1135, 1032]
    results = verify_mnist(mnist_dir)
    assert [name for name, _, _ in results] == [spec.name for spec in MNIST_FILES]
    assert all(ok for _, ok, _ in results), results


def test_verify_reports_each_bad_file(tmp_path: Path, mnist_dir: Path) -> None:
    shutil.copy(mnist_dir / LABELS, tmp_path / LABELS)
    results = {name: (ok, msg) for name, ok, msg in verify_mnist(tmp_path)}
    assert results[LABELS][0]
    bad = [(name, msg) for name, (ok, msg) in results.items() if not ok]
    assert len(bad) == 3
    for name, message in bad:
        assert name in message and "missing" in message


def test_load_mnist_errors(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="directory is missing") as exc:
        load_mnist(tmp_path / "nowhere", "train")
    assert "deepgen data download" in str(exc.value)
    with pytest.raises(DataError, match="missing"):
        load_mnist(tmp_path, "test")
    with pytest.raises(ConfigError, match="split"):
        load_mnist(tmp_path, "valid")
