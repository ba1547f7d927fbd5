"""Data: checked MNIST readers, the bundled 14×14 binarized MNIST, and :func:`load_dataset`."""

from deepgen.data.datasets import (
    DATASETS,
    GREY_DATASETS,
    IMAGE_SHAPES,
    BinaryImageData,
    load_dataset,
    spread,
)
from deepgen.data.idx import download_mnist, load_mnist, read_idx, verify_mnist
from deepgen.data.mnist import build_mnist14, load_mnist14, pool_binarize

__all__ = [
    "DATASETS",
    "GREY_DATASETS",
    "IMAGE_SHAPES",
    "BinaryImageData",
    "build_mnist14",
    "download_mnist",
    "load_dataset",
    "load_mnist",
    "load_mnist14",
    "pool_binarize",
    "read_idx",
    "spread",
    "verify_mnist",
]
