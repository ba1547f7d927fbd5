"""Fixtures for the data tests: the shared raw data files and a local HTTP server."""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable, Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SHARED = REPO / ".." / "shared" / "data"


@pytest.fixture(scope="session")
def mnist_dir() -> Path:
    """The original MNIST gz files (``<repo>/../shared/data/mnist``), or skip."""
    path = (SHARED / "mnist").resolve()
    if not (path / "train-images-idx3-ubyte.gz").is_file():
        pytest.skip(
            "needs ../shared/data/mnist (the original MNIST files); absent in a fresh clone"
        )
    return path


@pytest.fixture(scope="session")
def binarized_dir() -> Path:
    """The binarized MNIST .amat.gz files (``<repo>/../shared/data/binarized_mnist``), or skip."""
    path = (SHARED / "binarized_mnist").resolve()
    if not (path / "binarized_mnist_train.amat.gz").is_file():
        pytest.skip("needs ../shared/data/binarized_mnist (the .amat.gz files); absent here")
    return path


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        self.server.requests.append(self.path)  # type: ignore[attr-defined]
        super().do_GET()


@pytest.fixture
def http_server() -> Iterator[Callable[[Path], tuple[str, list[str]]]]:
    """Start local HTTP servers: ``serve(directory) -> (base URL, list of requested paths)``."""
    servers: list[ThreadingHTTPServer] = []

    def serve(directory: Path) -> tuple[str, list[str]]:
        handler = functools.partial(_QuietHandler, directory=str(directory))
        server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        server.daemon_threads = True
        server.requests = []  # type: ignore[attr-defined]
        threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}).start()
        servers.append(server)
        host, port = server.server_address[:2]
        return f"http://{host}:{port}/", server.requests  # type: ignore[attr-defined]

    yield serve
    for server in servers:
        server.shutdown()
        server.server_close()


@pytest.fixture(autouse=True)
def _no_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    """Keep any proxy settings of the environment away from the local test servers."""
    for name in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("no_proxy", "*")
    monkeypatch.delenv("DEEPGEN_MNIST_MIRRORS", raising=False)
