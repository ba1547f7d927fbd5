"""Downloading MNIST, against local HTTP servers on 127.0.0.1 only (never the internet)."""

from __future__ import annotations

import shutil
import socket
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from deepgen.data.idx import (
    DEFAULT_MIRRORS,
    MNIST_FILES,
    download_mnist,
    mnist_mirrors,
    read_idx,
)
from deepgen.errors import ConfigError, DataError

LABELS = "t10k-labels-idx1-ubyte.gz"
Serve = Callable[[Path], tuple[str, list[str]]]


@pytest.fixture
def closed_port_url() -> str:
    """A URL on 127.0.0.1 where nothing listens (connection refused)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/"


@pytest.fixture
def stalled_url() -> Iterator[str]:
    """A URL whose server accepts the connection but never answers."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(8)
        yield f"http://127.0.0.1:{sock.getsockname()[1]}/"


def only_final_files(directory: Path) -> list[str]:
    """All entries of ``directory`` (temp files included), sorted."""
    return sorted(p.name for p in directory.iterdir())


def test_download_all_four(tmp_path: Path, mnist_dir: Path, http_server: Serve) -> None:
    url, requests = http_server(mnist_dir)
    out = tmp_path / "new" / "mnist"
    lines: list[str] = []
    paths = download_mnist(out, mirrors=[url], timeout=10, progress=lines.append)
    assert [p.name for p in paths] == [spec.name for spec in MNIST_FILES]
    assert only_final_files(out) == sorted(spec.name for spec in MNIST_FILES)
    for spec in MNIST_FILES:
        assert (out / spec.name).read_bytes() == (mnist_dir / spec.name).read_bytes()
        assert read_idx(out / spec.name).shape == spec.dims
    assert len(requests) == 4 and len(lines) == 4


def test_truncated_download_leaves_nothing(
    tmp_path: Path, mnist_dir: Path, http_server: Serve
) -> None:
    bad = tmp_path / "bad"
    bad.mkdir()
    data = (mnist_dir / LABELS).read_bytes()
    (bad / LABELS).write_bytes(data[:1000])
    url, _ = http_server(bad)
    out = tmp_path / "out"
    with pytest.raises(DataError) as exc:
        download_mnist(out, mirrors=[url], files=[LABELS], timeout=5)
    message = str(exc.value)
    assert LABELS in message and url in message and "1000 bytes" in message
    assert "\n" not in message
    assert only_final_files(out) == []


def test_corrupt_download_leaves_nothing(
    tmp_path: Path, mnist_dir: Path, http_server: Serve
) -> None:
    bad = tmp_path / "bad"
    bad.mkdir()
    data = bytearray((mnist_dir / LABELS).read_bytes())
    data[2000] ^= 0xFF  # same size, one byte flipped
    (bad / LABELS).write_bytes(bytes(data))
    url, _ = http_server(bad)
    out = tmp_path / "out"
    with pytest.raises(DataError, match="md5 mismatch") as exc:
        download_mnist(out, mirrors=[url], files=[LABELS], timeout=5)
    assert LABELS in str(exc.value)
    assert only_final_files(out) == []


def test_oversized_download_is_cut_off(tmp_path: Path, mnist_dir: Path, http_server: Serve) -> None:
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / LABELS).write_bytes((mnist_dir / LABELS).read_bytes() * 3)
    url, _ = http_server(bad)
    with pytest.raises(DataError, match="more than the expected"):
        download_mnist(tmp_path / "out", mirrors=[url], files=[LABELS], timeout=5)
    assert only_final_files(tmp_path / "out") == []


def test_falls_back_from_dead_mirrors(
    tmp_path: Path, mnist_dir: Path, http_server: Serve, closed_port_url: str
) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    url_404, requests_404 = http_server(empty)
    good, requests_good = http_server(mnist_dir)
    out = tmp_path / "out"
    files = [LABELS, "train-labels-idx1-ubyte.gz"]
    paths = download_mnist(out, mirrors=[closed_port_url, url_404, good], files=files, timeout=5)
    assert [p.name for p in paths] == files
    assert requests_404 == [f"/{name}" for name in files]
    assert requests_good == [f"/{name}" for name in files]
    assert only_final_files(out) == sorted(files)
    assert read_idx(out / LABELS).shape == (10000,)


def test_all_mirrors_fail(tmp_path: Path, http_server: Serve, closed_port_url: str) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    url_404, _ = http_server(empty)
    with pytest.raises(DataError) as exc:
        download_mnist(tmp_path / "out", mirrors=[closed_port_url, url_404], files=[LABELS])
    message = str(exc.value)
    assert LABELS in message and closed_port_url in message and url_404 in message
    assert "HTTP 404" in message and "\n" not in message
    assert only_final_files(tmp_path / "out") == []


def test_stalled_mirror_times_out(tmp_path: Path, stalled_url: str) -> None:
    start = time.monotonic()
    with pytest.raises(DataError, match="timed out"):
        download_mnist(tmp_path, mirrors=[stalled_url], files=[LABELS], timeout=0.5)
    assert time.monotonic() - start < 10
    assert only_final_files(tmp_path) == []


def test_present_file_is_not_downloaded_again(
    tmp_path: Path, mnist_dir: Path, http_server: Serve
) -> None:
    url, requests = http_server(mnist_dir)
    shutil.copy(mnist_dir / LABELS, tmp_path / LABELS)
    lines: list[str] = []
    download_mnist(tmp_path, mirrors=[url], files=[LABELS], progress=lines.append)
    assert requests == []
    assert "already present" in lines[0]


def test_present_but_corrupt_file_is_replaced(
    tmp_path: Path, mnist_dir: Path, http_server: Serve
) -> None:
    url, requests = http_server(mnist_dir)
    (tmp_path / LABELS).write_bytes(b"garbage")
    download_mnist(tmp_path, mirrors=[url], files=[LABELS], timeout=5)
    assert requests == [f"/{LABELS}"]
    assert (tmp_path / LABELS).read_bytes() == (mnist_dir / LABELS).read_bytes()


def test_a_failed_download_keeps_the_old_file(
    tmp_path: Path, http_server: Serve, closed_port_url: str
) -> None:
    (tmp_path / LABELS).write_bytes(b"old")
    with pytest.raises(DataError):
        download_mnist(tmp_path, mirrors=[closed_port_url], files=[LABELS], timeout=5)
    assert (tmp_path / LABELS).read_bytes() == b"old"
    assert only_final_files(tmp_path) == [LABELS]


def test_mirrors_from_the_environment(
    tmp_path: Path, mnist_dir: Path, http_server: Serve, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert mnist_mirrors() == DEFAULT_MIRRORS
    url, requests = http_server(mnist_dir)
    monkeypatch.setenv("DEEPGEN_MNIST_MIRRORS", f" http://127.0.0.1:1/nothing ,{url.rstrip('/')}")
    assert mnist_mirrors() == ("http://127.0.0.1:1/nothing", url.rstrip("/"))
    assert mnist_mirrors(["x"]) == ("x",)
    download_mnist(tmp_path, files=[LABELS], timeout=5)
    assert requests == [f"/{LABELS}"]


def test_bad_arguments(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="unknown MNIST file"):
        download_mnist(tmp_path, mirrors=["http://127.0.0.1:1/"], files=["mnist.pkl.gz"])
    with pytest.raises(ConfigError, match="no MNIST mirror"):
        download_mnist(tmp_path, mirrors=[], files=[LABELS])


def test_download_with_a_fake_file_table(
    tmp_path: Path, http_server: Serve, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Success, fallback and a corrupt mirror without the real MNIST files (fresh clone)."""
    import gzip
    import hashlib

    from deepgen.data import idx

    data = gzip.compress(b"\x00\x00\x08\x01\x00\x00\x00\x03abc", mtime=0)
    spec = idx.IdxSpec(
        "fake-idx1-ubyte.gz",
        "test",
        "labels",
        hashlib.md5(data).hexdigest(),
        len(data),
        "",
        11,
        2049,
        (3,),
    )
    monkeypatch.setitem(idx._BY_NAME, spec.name, spec)
    good_dir, bad_dir = tmp_path / "good", tmp_path / "bad"
    good_dir.mkdir()
    bad_dir.mkdir()
    (good_dir / spec.name).write_bytes(data)
    (bad_dir / spec.name).write_bytes(data[:-1] + bytes([data[-1] ^ 1]))
    good, _ = http_server(good_dir)
    bad, _ = http_server(bad_dir)
    out = tmp_path / "out"
    with pytest.raises(DataError, match="md5 mismatch"):
        download_mnist(out, mirrors=[bad], files=[spec.name], timeout=5)
    assert only_final_files(out) == []
    download_mnist(out, mirrors=[bad, good], files=[spec.name], timeout=5)
    assert only_final_files(out) == [spec.name]
    assert read_idx(out / spec.name).tolist() == list(b"abc")
