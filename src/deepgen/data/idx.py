"""The original MNIST files (IDX format, gzip): checked reading, verification and download.

IDX is a big-endian format: two zero bytes, a type code (``0x08`` = unsigned byte), the number
of dimensions, one 4-byte size per dimension, then the data. MNIST image files have magic 2051
(``0x00000803``: unsigned bytes, 3 dims ``N x 28 x 28``), label files magic 2049 (1 dim ``N``).

Every problem with a file raises :class:`deepgen.errors.DataError` with a one-line message that
names the file; the four MNIST files are also checked against their published md5 sums.
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import http.client
import math
import os
import tempfile
import urllib.error
import urllib.request
import zlib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from deepgen.errors import ConfigError, DataError

__all__ = [
    "DEFAULT_MIRRORS",
    "MIRRORS_ENV",
    "MNIST_FILES",
    "IdxSpec",
    "download_mnist",
    "load_mnist",
    "mnist_mirrors",
    "read_idx",
    "verify_mnist",
]


@dataclass(frozen=True)
class IdxSpec:
    """What one of the MNIST files must look like (from ``shared/data/README.md``)."""

    name: str  # file name of the gzip file
    split: str  # "train" or "test"
    kind: str  # "images" or "labels"
    gz_md5: str
    gz_bytes: int
    raw_md5: str
    raw_bytes: int
    magic: int
    dims: tuple[int, ...]

    @property
    def raw_name(self) -> str:
        """The name of the unzipped file."""
        return self.name.removesuffix(".gz")


MNIST_FILES: tuple[IdxSpec, ...] = (
    IdxSpec(
        "train-images-idx3-ubyte.gz",
        "train",
        "images",
        "f68b3c2dcbeaaa9fbdd348bbdeb94873",
        9912422,
        "6bbc9ace898e44ae57da46a324031adb",
        47040016,
        2051,
        (60000, 28, 28),
    ),
    IdxSpec(
        "train-labels-idx1-ubyte.gz",
        "train",
        "labels",
        "d53e105ee54ea40749a09fcbcd1e9432",
        28881,
        "a25bea736e30d166cdddb491f175f624",
        60008,
        2049,
        (60000,),
    ),
    IdxSpec(
        "t10k-images-idx3-ubyte.gz",
        "test",
        "images",
        "9fb629c4189551a2d022fa330f9573f3",
        1648877,
        "2646ac647ad5339dbf082846283269ea",
        7840016,
        2051,
        (10000, 28, 28),
    ),
    IdxSpec(
        "t10k-labels-idx1-ubyte.gz",
        "test",
        "labels",
        "ec29112dd5afa0611ce80d1b7f02629c",
        4542,
        "27ae3e4e09519cfbb04c329615203637",
        10008,
        2049,
        (10000,),
    ),
)

_BY_NAME: dict[str, IdxSpec] = {}
for _spec in MNIST_FILES:
    _BY_NAME[_spec.name] = _spec
    _BY_NAME[_spec.raw_name] = _spec

DEFAULT_MIRRORS: tuple[str, ...] = (
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
)
MIRRORS_ENV = "DEEPGEN_MNIST_MIRRORS"

# IDX type code -> numpy dtype (big-endian).
_IDX_DTYPES = {
    0x08: np.dtype(">u1"),
    0x09: np.dtype(">i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
_GZIP_MAGIC = b"\x1f\x8b"
_CHUNK = 1 << 16


def _md5(data: bytes) -> str:
    return hashlib.md5(data, usedforsecurity=False).hexdigest()


def _missing(path: Path) -> DataError:
    return DataError(
        f"{path}: file is missing; get the MNIST files with "
        f"`deepgen data download --data-dir {path.parent}` or point --data-dir at a directory "
        "that holds them"
    )


def _read_bytes(path: Path) -> bytes:
    if not path.exists():
        raise _missing(path)
    if not path.is_file():
        raise DataError(f"{path}: not a regular file")
    try:
        return path.read_bytes()
    except OSError as exc:
        raise DataError(f"{path}: cannot be read ({exc.strerror or exc})") from exc


def _gunzip(data: bytes, name: str) -> bytes:
    try:
        return gzip.decompress(data)
    except EOFError as exc:
        raise DataError(
            f"{name}: gzip stream is truncated (file cut short); delete it and download again"
        ) from exc
    except (OSError, zlib.error) as exc:
        raise DataError(
            f"{name}: not a valid gzip file ({exc}); delete it and download again"
        ) from exc


def _parse_idx(raw: bytes, name: str) -> np.ndarray:
    if len(raw) < 4:
        raise DataError(
            f"{name}: too short for an IDX header ({len(raw)} bytes); file is truncated"
        )
    magic = int.from_bytes(raw[:4], "big")
    zero, code, ndim = raw[0:2], raw[2], raw[3]
    if zero != b"\x00\x00" or code not in _IDX_DTYPES or ndim == 0:
        raise DataError(
            f"{name}: bad IDX magic number {magic} (0x{magic:08x}); expected e.g. 2051 for "
            "images or 2049 for labels: not an IDX file, or corrupt"
        )
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise DataError(f"{name}: IDX header is cut short ({len(raw)} of {header} bytes)")
    dims = tuple(int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    dtype = _IDX_DTYPES[code]
    want = math.prod(dims) * dtype.itemsize
    have = len(raw) - header
    if have < want:
        raise DataError(
            f"{name}: truncated: header says shape {dims} ({want} data bytes) but only {have} "
            "are present; delete it and download again"
        )
    if have > want:
        raise DataError(
            f"{name}: {have - want} bytes after the data of shape {dims}; file is corrupt"
        )
    array = np.frombuffer(raw, dtype=dtype, offset=header).reshape(dims)
    return array.astype(dtype.newbyteorder("="), copy=True)


def read_idx(
    path: str | Path, expected: IdxSpec | None = None, *, check_md5: bool = True
) -> np.ndarray:
    """Read an IDX file, gzip-compressed or plain, and check it thoroughly.

    Checks the magic number, the number of dimensions and that the data is exactly as long as
    the header says (a truncated file gives a :class:`DataError`, never a numpy error). When the
    file is one of the four MNIST files (by ``expected``, or else by its name) it must also have
    that file's magic number, shape and md5 sum (of the gz bytes, or of the plain bytes for an
    unzipped copy). Returns the array in native byte order (``uint8`` for MNIST).
    """
    path = Path(path)
    name = path.name
    data = _read_bytes(path)
    spec = expected if expected is not None else _BY_NAME.get(name)
    is_gz = data[:2] == _GZIP_MAGIC
    raw = _gunzip(data, name) if is_gz else data
    array = _parse_idx(raw, name)
    if spec is not None:
        magic = int.from_bytes(raw[:4], "big")
        if magic != spec.magic:
            raise DataError(
                f"{name}: magic number {magic}, expected {spec.magic} for MNIST {spec.kind}"
            )
        if array.shape != spec.dims:
            raise DataError(f"{name}: shape {array.shape}, expected {spec.dims} for {spec.name}")
        if check_md5:
            want, got = (spec.gz_md5, _md5(data)) if is_gz else (spec.raw_md5, _md5(raw))
            if got != want:
                raise DataError(
                    f"{name}: md5 mismatch (expected {want}, got {got}): file is corrupt or "
                    "truncated; delete it and download again"
                )
    return array


def _find(data_dir: Path, spec: IdxSpec) -> Path:
    """The gz file, or an unzipped copy when only that is present."""
    gz = data_dir / spec.name
    raw = data_dir / spec.raw_name
    if not gz.exists() and raw.exists():
        return raw
    return gz


def _check_dir(data_dir: Path) -> None:
    if not data_dir.exists():
        raise DataError(
            f"{data_dir}: MNIST directory is missing; create it with "
            f"`deepgen data download --data-dir {data_dir}` or pass the right --data-dir"
        )
    if not data_dir.is_dir():
        raise DataError(f"{data_dir}: not a directory (--data-dir must name a directory)")


def load_mnist(data_dir: str | Path, split: str) -> tuple[np.ndarray, np.ndarray]:
    """Images ``uint8 [N, 28, 28]`` and labels ``uint8 [N]`` of the MNIST ``split``.

    ``split`` is ``"train"`` (60,000 images) or ``"test"`` (10,000). Files are looked up in
    ``data_dir`` by their standard names (gzip, or unzipped without ``.gz``) and fully checked.
    """
    if split not in ("train", "test"):
        raise ConfigError(f"unknown MNIST split {split!r}; choose 'train' or 'test'")
    data_dir = Path(data_dir)
    _check_dir(data_dir)
    out: dict[str, np.ndarray] = {}
    for spec in MNIST_FILES:
        if spec.split == split:
            out[spec.kind] = read_idx(_find(data_dir, spec), spec)
    images, labels = out["images"], out["labels"]
    if labels.max(initial=0) > 9:
        raise DataError(f"{split} labels: value {int(labels.max())} is not a digit 0-9")
    return images, labels


def verify_mnist(data_dir: str | Path) -> list[tuple[str, bool, str]]:
    """Check the four MNIST files in ``data_dir``: one ``(file name, ok, message)`` per file."""
    data_dir = Path(data_dir)
    results: list[tuple[str, bool, str]] = []
    for spec in MNIST_FILES:
        path = _find(data_dir, spec)
        try:
            array = read_idx(path, spec)
        except DataError as exc:
            results.append((spec.name, False, str(exc)))
        else:
            shape = "x".join(str(d) for d in array.shape)
            md5 = spec.gz_md5 if path.name == spec.name else spec.raw_md5
            results.append((path.name, True, f"ok ({spec.kind} {shape}, md5 {md5})"))
    return results


def mnist_mirrors(mirrors: Iterable[str] | None = None) -> tuple[str, ...]:
    """The mirrors to use: ``mirrors`` if given, else ``$DEEPGEN_MNIST_MIRRORS`` (comma-separated),
    else :data:`DEFAULT_MIRRORS`."""
    if mirrors is None:
        env = os.environ.get(MIRRORS_ENV, "")
        mirrors = [m for m in (s.strip() for s in env.split(",")) if m] or DEFAULT_MIRRORS
    result = tuple(mirrors)
    if not result:
        raise ConfigError("no MNIST mirror given")
    return result


def _file_md5(path: Path) -> str | None:
    try:
        with path.open("rb") as f:
            return hashlib.file_digest(f, lambda: hashlib.md5(usedforsecurity=False)).hexdigest()
    except OSError:
        return None


def _fetch(url: str, spec: IdxSpec, data_dir: Path, timeout: float) -> Path:
    """Download ``url`` into a temp file in ``data_dir``; return it once its md5 is right.

    Raises OSError/URLError/DataError on failure; the temp file is removed in that case.
    """
    fd, tmp_name = tempfile.mkstemp(prefix=f".{spec.name}.", suffix=".part", dir=data_dir)
    tmp = Path(tmp_name)
    try:
        digest = hashlib.md5(usedforsecurity=False)
        size = 0
        limit = spec.gz_bytes
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=timeout) as resp:
            while True:
                chunk = resp.read(_CHUNK)
                if not chunk:
                    break
                size += len(chunk)
                if size > limit:
                    raise DataError(f"more than the expected {limit} bytes")
                digest.update(chunk)
                out.write(chunk)
        if size != spec.gz_bytes:
            raise DataError(f"got {size} bytes, expected {spec.gz_bytes}")
        got = digest.hexdigest()
        if got != spec.gz_md5:
            raise DataError(f"md5 mismatch (expected {spec.gz_md5}, got {got})")
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return tmp


def _describe(exc: BaseException) -> str:
    if isinstance(exc, urllib.error.HTTPError):
        return f"HTTP {exc.code}"
    if isinstance(exc, urllib.error.URLError):
        return str(exc.reason)
    if isinstance(exc, TimeoutError):
        return "timed out"
    return str(exc) or type(exc).__name__


def download_mnist(
    data_dir: str | Path,
    mirrors: Sequence[str] | None = None,
    files: Iterable[str] | None = None,
    timeout: float = 30.0,
    progress: Callable[[str], None] | None = None,
) -> list[Path]:
    """Download the MNIST gz files into ``data_dir`` (created if needed); return their paths.

    Each file is fetched from the first of ``mirrors`` that serves it with the right size and
    md5 (default: ``$DEEPGEN_MNIST_MIRRORS``, comma-separated, else :data:`DEFAULT_MIRRORS`;
    a file's URL is ``mirror + name``). Data goes to a temp file in ``data_dir`` that is renamed
    to the final name only after its md5 matched, so a partial or corrupt download is never
    left under the final name. Files already present with the right md5 are not fetched again.
    ``files`` restricts the download to some of the four names; ``timeout`` (seconds) bounds
    every network wait. Raises :class:`DataError` naming the file and the mirrors tried when
    every mirror fails. ``progress`` receives one line per file.
    """
    mirror_list = mnist_mirrors(mirrors)
    if files is None:
        specs = list(MNIST_FILES)
    else:
        specs = []
        for name in files:
            if name not in _BY_NAME:
                names = ", ".join(s.name for s in MNIST_FILES)
                raise ConfigError(f"unknown MNIST file {name!r}; choose from {names}")
            specs.append(_BY_NAME[name])
    data_dir = Path(data_dir)
    try:
        data_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DataError(f"{data_dir}: cannot create directory ({exc.strerror or exc})") from exc
    say = progress or (lambda _line: None)
    paths: list[Path] = []
    for spec in specs:
        final = data_dir / spec.name
        if final.is_file() and _file_md5(final) == spec.gz_md5:
            say(f"{spec.name}: already present, md5 ok")
            paths.append(final)
            continue
        failures: list[str] = []
        for mirror in mirror_list:
            url = mirror if mirror.endswith("/") else mirror + "/"
            url += spec.name
            try:
                tmp = _fetch(url, spec, data_dir, timeout)
            except (OSError, http.client.HTTPException, ValueError) as exc:
                failures.append(f"{url}: {_describe(exc)}")
                continue
            try:
                os.replace(tmp, final)
            except OSError:
                with contextlib.suppress(OSError):
                    tmp.unlink()
                raise
            say(f"{spec.name}: downloaded from {mirror}, md5 ok")
            paths.append(final)
            break
        else:
            raise DataError(
                f"{spec.name}: download failed from every mirror ({'; '.join(failures)}); "
                "check the network or pass --mirror URL"
            )
    return paths
