"""``deepgen data``: download, verify and inspect data; rebuild the bundled mnist14 file.

Sub-commands:

- ``deepgen data download --data-dir DIR [--mirror URL ...]``: fetch the four MNIST files;
- ``deepgen data verify --data-dir DIR``: check them (one line per file; exit 1 if any is bad);
- ``deepgen data build-mnist14 --data-dir DIR --out FILE``: rebuild the 14×14 bundle and print
  its sha256 (equal to the bundled file's when built from the original MNIST files);
- ``deepgen data info [--data NAME] [--data-dir DIR]``: number of images in each split.
"""

from __future__ import annotations

import argparse
import hashlib
from pathlib import Path

from deepgen.cli.common import positive_float

__all__ = ["register"]


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def cmd_download(args: argparse.Namespace) -> int:
    """Download the MNIST files into ``--data-dir``."""
    from deepgen.data.idx import download_mnist

    paths = download_mnist(
        args.data_dir, mirrors=args.mirror or None, timeout=args.timeout, progress=print
    )
    print(f"{len(paths)} files in {args.data_dir}")
    return 0


def cmd_verify(args: argparse.Namespace) -> int:
    """Check the four MNIST files in ``--data-dir``; exit code 1 when one is bad."""
    from deepgen.data.idx import verify_mnist

    results = verify_mnist(args.data_dir)
    for name, ok, message in results:
        print(message if not ok else f"{name}: {message}")
    bad = sum(not ok for _, ok, _ in results)
    if bad:
        print(f"{bad} of {len(results)} files failed; run `deepgen data download --data-dir DIR`")
        return 1
    return 0


def cmd_build_mnist14(args: argparse.Namespace) -> int:
    """Rebuild the 14×14 binarized MNIST bundle from the MNIST files; print its sha256."""
    from deepgen.data.mnist import build_mnist14, bundled_path, write_bundle

    path = write_bundle(build_mnist14(args.data_dir), args.out)
    digest = _sha256(path)
    print(f"{digest}  {path}")
    bundled = bundled_path()
    if bundled.is_file() and bundled.resolve() != path.resolve():
        same = "identical to" if _sha256(bundled) == digest else "DIFFERENT from"
        print(f"{same} the bundled {bundled}")
    return 0


def cmd_info(args: argparse.Namespace) -> int:
    """Print the number of images in each split of a data set."""
    from deepgen.data.datasets import load_dataset

    data = load_dataset(args.data, args.data_dir)
    h, w = data.image_shape
    kind = "grey levels, binarized per batch" if data.dynamic else "binary"
    print(f"{data.name}: {h}x{w} images, train {kind}")
    for split, size in data.sizes().items():
        print(f"  {split}: {size}")
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``data`` command and its sub-commands to the ``deepgen`` parser."""
    from deepgen.data.datasets import DATASETS

    parser = subparsers.add_parser(
        "data",
        help="download, verify and inspect data sets",
        description="Download, verify and inspect data; rebuild the bundled mnist14 file.",
    )
    actions = parser.add_subparsers(dest="data_command", metavar="ACTION", required=True)

    download = actions.add_parser("download", help="download the four MNIST files")
    download.add_argument("--data-dir", required=True, type=Path, help="where to put them")
    download.add_argument(
        "--mirror",
        action="append",
        metavar="URL",
        help="base URL of a mirror (repeatable, tried in order; default: "
        "$DEEPGEN_MNIST_MIRRORS or the built-in list)",
    )
    download.add_argument(
        "--timeout", type=positive_float, default=30.0, help="seconds per network wait"
    )
    download.set_defaults(func=cmd_download)

    verify = actions.add_parser("verify", help="check the MNIST files (magic, shape, md5)")
    verify.add_argument("--data-dir", required=True, type=Path, help="directory of the files")
    verify.set_defaults(func=cmd_verify)

    build = actions.add_parser("build-mnist14", help="rebuild the 14x14 binarized MNIST bundle")
    build.add_argument("--data-dir", required=True, type=Path, help="directory of MNIST files")
    build.add_argument("--out", required=True, type=Path, help="the .npz file to write")
    build.set_defaults(func=cmd_build_mnist14)

    info = actions.add_parser("info", help="number of images in each split of a data set")
    info.add_argument("--data", default="mnist14", choices=DATASETS, help="data set")
    info.add_argument("--data-dir", type=Path, help="directory of the raw files (not mnist14)")
    info.set_defaults(func=cmd_info)
