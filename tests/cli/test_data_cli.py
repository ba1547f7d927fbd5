"""``deepgen data ...`` through :func:`deepgen.cli.main.main` and as a subprocess."""

from __future__ import annotations

import functools
import hashlib
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from deepgen.cli.main import main
from deepgen.data.mnist import bundled_path

MNIST = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "mnist"


@pytest.fixture
def mnist_dir() -> Path:
    if not (MNIST / "train-images-idx3-ubyte.gz").is_file():
        pytest.skip(
            "needs ../shared/data/mnist (the original MNIST files); absent in a fresh clone"
        )
    return MNIST.resolve()


class _Quiet(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def mirror(mnist_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A local HTTP server on 127.0.0.1 serving the MNIST files."""
    for name in ("http_proxy", "HTTP_PROXY", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("no_proxy", "*")
    server = ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(_Quiet, directory=str(mnist_dir))
    )
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()
    server.server_close()


def one_error_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert "Traceback" not in err
    return lines[0]


def test_build_mnist14_equals_the_bundled_file(
    tmp_path: Path, mnist_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "mnist14.npz"
    assert main(["data", "build-mnist14", "--data-dir", str(mnist_dir), "--out", str(out)]) == 0
    digest = hashlib.sha256(bundled_path().read_bytes()).hexdigest()
    assert hashlib.sha256(out.read_bytes()).hexdigest() == digest
    stdout = capsys.readouterr().out
    assert stdout.startswith(f"{digest}  {out}")
    assert "identical to the bundled" in stdout


def test_missing_data_dir_flag(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["data", "verify"])
    assert exc.value.code == 2
    line = one_error_line(capsys.readouterr().err)
    assert "--data-dir" in line


def test_build_from_an_empty_dir_is_a_one_line_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(
        ["data", "build-mnist14", "--data-dir", str(tmp_path), "--out", str(tmp_path / "x.npz")]
    )
    assert code == 2
    line = one_error_line(capsys.readouterr().err)
    assert line.startswith("deepgen: error: ") and "missing" in line
    assert not (tmp_path / "x.npz").exists()


def test_verify(tmp_path: Path, mnist_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["data", "verify", "--data-dir", str(mnist_dir)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 4 and all(": ok (" in line for line in lines)
    assert main(["data", "verify", "--data-dir", str(tmp_path)]) == 1
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 5 and all("missing" in line for line in lines[:4])


def test_download(tmp_path: Path, mirror: str, capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["data", "download", "--data-dir", str(tmp_path), "--mirror", mirror]
    assert main([*argv, "--timeout", "10"]) == 0
    assert "4 files" in capsys.readouterr().out
    assert main(["data", "verify", "--data-dir", str(tmp_path)]) == 0


def test_download_from_a_dead_mirror(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{sock.getsockname()[1]}/"
    argv = ["data", "download", "--data-dir", str(tmp_path), "--mirror", dead, "--timeout", "5"]
    assert main(argv) == 2
    line = one_error_line(capsys.readouterr().err)
    assert dead in line and "train-images-idx3-ubyte.gz" in line
    assert list(tmp_path.iterdir()) == []


def test_info(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["data", "info"]) == 0
    out = capsys.readouterr().out
    assert "train: 10000" in out and "val: 1000" in out and "test: 1000" in out
    assert main(["data", "info", "--data", "mnist28"]) == 2
    assert "--data-dir" in one_error_line(capsys.readouterr().err)


def test_subprocess_error_has_no_traceback(tmp_path: Path) -> None:
    argv = ["data", "build-mnist14", "--data-dir", str(tmp_path / "no"), "--out", "x.npz"]
    result = subprocess.run(
        [sys.executable, "-m", "deepgen.cli.main", *argv],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
    )
    assert result.returncode == 2
    line = one_error_line(result.stderr)
    assert line.startswith("deepgen: error: ") and "deepgen data download" in line
