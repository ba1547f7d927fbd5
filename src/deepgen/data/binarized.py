"""The fixed binarization of MNIST by Larochelle & Murray (2011): ``.amat`` text files.

Each line holds 784 values ``0`` or ``1`` separated by single spaces, then a newline: 1568
bytes per line. The files are read with numpy straight from the bytes (no text parsing), and
checked: line length, every value ``0``/``1``, the number of rows, and the md5 sum of the
known gz files.
"""

from __future__ import annotations

import gzip
import hashlib
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from deepgen.errors import DataError

__all__ = ["AMAT_FILES", "AmatSpec", "load_binarized_mnist", "read_amat"]

PIXELS = 784
LINE = 2 * PIXELS  # 784 digits, 783 spaces, one newline


@dataclass(frozen=True)
class AmatSpec:
    """One of the three binarized MNIST files (from ``shared/data/README.md``)."""

    name: str
    split: str  # "train", "valid" or "test"
    rows: int
    gz_md5: str
    raw_md5: str


AMAT_FILES: tuple[AmatSpec, ...] = (
    AmatSpec(
        "binarized_mnist_train.amat.gz",
        "train",
        50000,
        "55c6be0db63f47a228822edc21049d6f",
        "db28b1a6ae0fe70cbd3da91acf46e477",
    ),
    AmatSpec(
        "binarized_mnist_valid.amat.gz",
        "valid",
        10000,
        "bf325c5893052cb8b540dfeb3c0c6fbe",
        "bf37822a04e94123630de6a7dfd9c9ef",
    ),
    AmatSpec(
        "binarized_mnist_test.amat.gz",
        "test",
        10000,
        "f7f18e7c5d551792f6aab10d62a7ea74",
        "14e41ae11040adba6ab8cb291eda0dd8",
    ),
)
_BY_NAME = {spec.name: spec for spec in AMAT_FILES} | {
    spec.name.removesuffix(".gz"): spec for spec in AMAT_FILES
}


def _md5(data: bytes) -> str:
    return hashlib.md5(data, usedforsecurity=False).hexdigest()


def read_amat(
    path: str | Path, expected: AmatSpec | None = None, *, check_md5: bool = True
) -> np.ndarray:
    """Read a binarized MNIST ``.amat`` or ``.amat.gz`` file: ``uint8 [rows, 784]`` of 0/1.

    Raises :class:`DataError` naming the file when it is missing, not valid gzip, has a line
    that is not 784 single-space-separated ``0``/``1`` values, has the wrong number of rows, or
    (for the three known files, by ``expected`` or by name) the wrong md5 sum.
    """
    path = Path(path)
    name = path.name
    if not path.is_file():
        raise DataError(
            f"{path}: file is missing; put the binarized MNIST .amat.gz files in the "
            "directory given by --data-dir"
        )
    data = path.read_bytes()
    is_gz = data[:2] == b"\x1f\x8b"
    if is_gz:
        try:
            text = gzip.decompress(data)
        except EOFError as exc:
            raise DataError(f"{name}: gzip stream is truncated (file cut short)") from exc
        except (OSError, zlib.error) as exc:
            raise DataError(f"{name}: not a valid gzip file ({exc})") from exc
    else:
        text = data
    raw_md5 = _md5(text) if not is_gz and check_md5 else ""
    if len(text) % LINE == LINE - 1 and text[-1:] != b"\n":
        text += b"\n"  # tolerate a missing final newline
    if len(text) % LINE:
        raise DataError(
            f"{name}: {len(text)} bytes is not a whole number of {LINE}-byte lines "
            f"({PIXELS} values of 0/1 separated by spaces): truncated or not binarized MNIST"
        )
    lines = np.frombuffer(text, dtype=np.uint8).reshape(-1, LINE)
    digits = lines[:, 0::2]  # 784 digit columns
    gaps = lines[:, 1::2]  # 783 spaces, then the newline
    bad_digit = (digits != ord("0")) & (digits != ord("1"))
    bad_gap = np.zeros_like(gaps, dtype=bool)
    bad_gap[:, :-1] = gaps[:, :-1] != ord(" ")
    bad_gap[:, -1] = gaps[:, -1] != ord("\n")
    bad_rows = np.flatnonzero(bad_digit.any(axis=1) | bad_gap.any(axis=1))
    if bad_rows.size:
        row = int(bad_rows[0])
        raise DataError(
            f"{name}: line {row + 1} is not {PIXELS} values of 0 or 1 separated by single "
            f"spaces ({bad_rows.size} bad lines)"
        )
    spec = expected if expected is not None else _BY_NAME.get(name)
    if spec is not None and check_md5:
        want, got = (spec.gz_md5, _md5(data)) if is_gz else (spec.raw_md5, raw_md5)
        if want != got:
            raise DataError(
                f"{name}: md5 mismatch (expected {want}, got {got}): file is corrupt or truncated"
            )
    if spec is not None and lines.shape[0] != spec.rows:
        raise DataError(f"{name}: {lines.shape[0]} rows, expected {spec.rows}")
    return digits - np.uint8(ord("0"))


def load_binarized_mnist(data_dir: str | Path) -> dict[str, np.ndarray]:
    """The three splits ``{"train", "valid", "test"}`` of binarized MNIST from ``data_dir``.

    Looks for ``binarized_mnist_<split>.amat.gz`` (or the unzipped ``.amat``) in ``data_dir``;
    each is ``uint8 [rows, 784]`` with values 0/1 (50,000 / 10,000 / 10,000 rows).
    """
    data_dir = Path(data_dir)
    if not data_dir.is_dir():
        raise DataError(f"{data_dir}: binarized MNIST directory is missing (check --data-dir)")
    out: dict[str, np.ndarray] = {}
    for spec in AMAT_FILES:
        path = data_dir / spec.name
        raw = data_dir / spec.name.removesuffix(".gz")
        if not path.exists() and raw.exists():
            path = raw
        out[spec.split] = read_amat(path, spec)
    return out
