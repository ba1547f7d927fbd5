"""Binarized MNIST 14×14: the pooling rule, the reproducible builder and the bundled file.

The bundle ``deepgen/data/bundled/mnist14.npz`` holds, for the splits ``train`` (the first
1,000 images of each digit in the MNIST training file: 10,000), ``val`` (the first 100 of each
digit in the MNIST test file: 1,000) and ``test`` (the next 100 of each digit there: 1,000),
all kept in file order:

- ``<split>_bits``: ``uint8 [N, 25]``, ``np.packbits`` of the 196 pixels (row-major, padded);
- ``<split>_labels``: ``uint8 [N]``, the digits;
- ``<split>_index``: ``uint16 [N]``, the position of each image in its MNIST file;
- ``source_md5``: the names and md5 sums of the four MNIST files it was built from.

A pixel is 1 when the mean of its 2×2 block of 28×28 grey levels is greater than 128.
Rebuild with ``deepgen data build-mnist14 --data-dir DIR --out FILE``: the result is the same
file byte for byte (fixed zip metadata, sorted members).
"""

from __future__ import annotations

import io
import zipfile
from importlib import resources
from pathlib import Path

import numpy as np
import torch

from deepgen.data.idx import MNIST_FILES, load_mnist
from deepgen.errors import DataError
from deepgen.fileio import atomic_write_bytes

__all__ = [
    "MNIST14_SIZES",
    "SPLITS",
    "build_mnist14",
    "bundled_path",
    "load_mnist14",
    "pool_binarize",
    "read_bundle",
    "write_bundle",
]

SPLITS = ("train", "val", "test")
# split -> (source MNIST split, first per-digit rank, images per digit)
_SELECTION = {"train": ("train", 0, 1000), "val": ("test", 0, 100), "test": ("test", 100, 100)}
MNIST14_SIZES = {split: 10 * count for split, (_, _, count) in _SELECTION.items()}
PIXELS = 196
_PACKED = (PIXELS + 7) // 8
_ZIP_DATE = (1980, 1, 1, 0, 0, 0)
_ZIP_MODE = 0o100644 << 16  # regular file, rw-r--r--


def pool_binarize(images: np.ndarray) -> np.ndarray:
    """2×2 mean-pool ``uint8 [N, H, W]`` grey levels and binarize: ``uint8 [N, H*W/4]``.

    A pooled pixel is 1 when the mean of its 2×2 block is strictly greater than 128, computed
    exactly in integers as ``sum of the 4 pixels > 512``. For MNIST, 28×28 → 196 pixels.
    """
    images = np.asarray(images)
    if images.dtype != np.uint8:
        raise DataError(f"pool_binarize: images must be uint8 grey levels, got {images.dtype}")
    if images.ndim != 3 or images.shape[1] % 2 or images.shape[2] % 2:
        raise DataError(
            f"pool_binarize: images must be [N, H, W] with even H, W, got {images.shape}"
        )
    n, h, w = images.shape
    blocks = images.reshape(n, h // 2, 2, w // 2, 2).astype(np.uint16)
    sums = blocks.sum(axis=(2, 4), dtype=np.uint16)
    return (sums > 512).astype(np.uint8).reshape(n, (h // 2) * (w // 2))


def _select(labels: np.ndarray, start: int, count: int) -> np.ndarray:
    """Indices of images ``start .. start+count-1`` of each digit, in file order."""
    picks = []
    for digit in range(10):
        where = np.flatnonzero(labels == digit)[start : start + count]
        if len(where) < count:
            raise DataError(f"MNIST has only {len(where) + start} images of digit {digit}")
        picks.append(where)
    return np.sort(np.concatenate(picks))


def build_mnist14(data_dir: str | Path) -> dict[str, np.ndarray]:
    """Build the arrays of the 14×14 binarized MNIST bundle from the MNIST IDX files.

    See the module docstring for the splits and the arrays. The files are fully checked
    (magic numbers, shapes, md5 sums) on the way.
    """
    sources = {split: load_mnist(data_dir, split) for split in ("train", "test")}
    arrays: dict[str, np.ndarray] = {}
    for split, (source, start, count) in _SELECTION.items():
        images, labels = sources[source]
        index = _select(labels, start, count)
        bits = pool_binarize(images[index])
        arrays[f"{split}_bits"] = np.packbits(bits, axis=1)
        arrays[f"{split}_labels"] = labels[index].astype(np.uint8)
        arrays[f"{split}_index"] = index.astype(np.uint16)
    arrays["source_md5"] = np.array([f"{spec.name} {spec.gz_md5}" for spec in MNIST_FILES])
    return arrays


def _npy_bytes(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.lib.format.write_array(buffer, np.ascontiguousarray(array), version=(1, 0))
    return buffer.getvalue()


def bundle_bytes(arrays: dict[str, np.ndarray]) -> bytes:
    """The ``.npz`` file of ``arrays`` as bytes, identical for identical arrays.

    Members are the ``.npy`` encodings in sorted name order, each with a fixed date
    (1980-01-01), fixed permissions and deflate compression at level 9.
    """
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name in sorted(arrays):
            info = zipfile.ZipInfo(f"{name}.npy", date_time=_ZIP_DATE)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.create_system = 3
            info.external_attr = _ZIP_MODE
            archive.writestr(info, _npy_bytes(arrays[name]), compresslevel=9)
    return buffer.getvalue()


def write_bundle(arrays: dict[str, np.ndarray], path: str | Path) -> Path:
    """Write ``arrays`` as a reproducible ``.npz`` at ``path``, atomically; return the path.

    Two calls with equal arrays give files with the same sha256 (see :func:`bundle_bytes`). The
    data goes to a temp file next to ``path`` that replaces it only once completely written.
    """
    return atomic_write_bytes(path, bundle_bytes(arrays))


def bundled_path() -> Path:
    """Path of the ``mnist14.npz`` bundled with the package."""
    return Path(str(resources.files("deepgen.data").joinpath("bundled", "mnist14.npz")))


def read_bundle(path: str | Path | None = None) -> dict[str, np.ndarray]:
    """The raw arrays of a mnist14 bundle (default: the bundled one), validated."""
    if path is None:
        resource = resources.files("deepgen.data").joinpath("bundled", "mnist14.npz")
        label = "bundled mnist14.npz"
        try:
            data = resource.read_bytes()
        except OSError as exc:
            raise DataError(
                f"{label}: missing from the installed package; rebuild it with "
                "`deepgen data build-mnist14 --data-dir DIR --out FILE`"
            ) from exc
    else:
        path = Path(path)
        label = str(path)
        if not path.is_file():
            raise DataError(f"{path}: mnist14 bundle is missing (not a file)")
        data = path.read_bytes()
    try:
        with np.load(io.BytesIO(data), allow_pickle=False) as npz:
            arrays = {name: npz[name] for name in npz.files}
    except (ValueError, OSError, EOFError, zipfile.BadZipFile, KeyError) as exc:
        raise DataError(f"{label}: not a valid .npz file ({exc}); corrupt or truncated") from exc
    _validate(arrays, label)
    return arrays


def _validate(arrays: dict[str, np.ndarray], label: str) -> None:
    for split in SPLITS:
        keys = (f"{split}_bits", f"{split}_labels")
        missing = [key for key in keys if key not in arrays]
        if missing:
            raise DataError(f"{label}: not a mnist14 bundle (no array {missing[0]!r})")
        bits, labels = (arrays[key] for key in keys)
        if bits.dtype != np.uint8 or bits.ndim != 2 or bits.shape[1] != _PACKED:
            raise DataError(
                f"{label}: {split}_bits must be uint8 [N, {_PACKED}], got {bits.dtype} "
                f"{list(bits.shape)}"
            )
        if labels.dtype != np.uint8 or labels.shape != (bits.shape[0],):
            raise DataError(
                f"{label}: {split}_labels must be uint8 [{bits.shape[0]}], got {labels.dtype} "
                f"{list(labels.shape)}"
            )
        if labels.size and labels.max() > 9:
            raise DataError(f"{label}: {split}_labels has a value above 9")


def load_mnist14(path: str | Path | None = None) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    """The 14×14 binarized MNIST splits: ``{"train"|"val"|"test": (x, labels)}``.

    ``x`` is ``float32 [N, 196]`` with values in {0, 1} (row-major pixels), ``labels`` is
    ``int64 [N]``. Reads the file bundled with the package unless ``path`` is given; a missing
    or corrupt file raises :class:`DataError` naming it.
    """
    arrays = read_bundle(path)
    out: dict[str, tuple[torch.Tensor, torch.Tensor]] = {}
    for split in SPLITS:
        bits = np.unpackbits(arrays[f"{split}_bits"], axis=1, count=PIXELS)
        x = torch.from_numpy(bits.astype(np.float32))
        labels = torch.from_numpy(arrays[f"{split}_labels"].astype(np.int64))
        out[split] = (x, labels)
    return out
