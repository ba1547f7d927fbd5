"""The one entry point the trainers use: :func:`load_dataset` gives a :class:`BinaryImageData`."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

from deepgen.errors import ConfigError, DataError

__all__ = [
    "DATASETS",
    "GREY_DATASETS",
    "IMAGE_SHAPES",
    "BinaryImageData",
    "load_dataset",
    "spread",
]

DATASETS = ("mnist14", "mnist28", "binarized-mnist")
GREY_DATASETS = ("mnist-grey",)  # integer grey levels 0..255, for the flows (bits per dimension)
# (height, width) of every image data set, known before loading (run configs size models by it)
IMAGE_SHAPES: dict[str, tuple[int, int]] = {
    "mnist14": (14, 14),
    "mnist28": (28, 28),
    "binarized-mnist": (28, 28),
    "mnist-grey": (28, 28),
}
MNIST_GREY_VAL = 10_000  # the last training images are the validation set of mnist-grey
MNIST28_VAL = 1000  # the first test images are the validation set of mnist28
MNIST28_SEED = 0


@dataclass
class BinaryImageData:
    """Binary images as flat float tensors, split into train / val / test.

    ``train`` is ``float32 [N, H*W]``: binary {0, 1}, or grey levels in [0, 1] when ``dynamic``
    (then every batch is binarized afresh by :meth:`train_batch`). ``val`` and ``test`` are
    always binary. Labels are ``int64 [N]`` or ``None`` when the data set has none.
    ``levels`` is 2 for all of these; a grey data set (``mnist-grey``, for flows) holds the
    integers 0 … levels − 1 (255 for bytes) in every split instead.
    """

    name: str
    image_shape: tuple[int, int]
    train: torch.Tensor
    val: torch.Tensor
    test: torch.Tensor
    train_labels: torch.Tensor | None
    val_labels: torch.Tensor | None
    test_labels: torch.Tensor | None
    dynamic: bool = False
    levels: int = 2

    def __post_init__(self) -> None:
        pixels = self.image_shape[0] * self.image_shape[1]
        for split in ("train", "val", "test"):
            x = getattr(self, split)
            if x.ndim != 2 or x.shape[1] != pixels:
                raise DataError(f"{self.name}: {split} must be [N, {pixels}], got {list(x.shape)}")
            labels = getattr(self, f"{split}_labels")
            if labels is not None and labels.shape != (x.shape[0],):
                raise DataError(
                    f"{self.name}: {split}_labels must be [{x.shape[0]}], got {list(labels.shape)}"
                )

    @property
    def num_pixels(self) -> int:
        """Pixels per image, ``H * W``."""
        return self.image_shape[0] * self.image_shape[1]

    def sizes(self) -> dict[str, int]:
        """Number of images in each split."""
        return {"train": len(self.train), "val": len(self.val), "test": len(self.test)}

    def train_batch(
        self, index: torch.Tensor, generator: torch.Generator | None = None
    ) -> torch.Tensor:
        """Training images ``index``: as stored, or Bernoulli samples of them when dynamic."""
        batch = self.train[index]
        if self.dynamic:
            return torch.bernoulli(batch, generator=generator)
        return batch


def spread(total: int, n: int | None) -> torch.Tensor:
    """Indices of ``n`` items spread evenly over ``total`` (all of them when ``n`` is None or
    not smaller): a subset of a test split that represents all of it. The first images of a
    split need not: on binarized MNIST the first 1,000 test images carry more ink than the rest
    and cost a VAE about 8 nats more than the average.

    >>> spread(10, 4).tolist()
    [0, 3, 6, 9]
    """
    if n is None or n >= total:
        return torch.arange(total)
    if n < 1:
        raise ConfigError(f"a subset needs at least 1 item, got {n}")
    return torch.linspace(0, total - 1, n).round().long()


def _mnist14() -> BinaryImageData:
    from deepgen.data.mnist import load_mnist14

    splits = load_mnist14()
    (train, train_y), (val, val_y), (test, test_y) = (splits[s] for s in ("train", "val", "test"))
    return BinaryImageData("mnist14", (14, 14), train, val, test, train_y, val_y, test_y)


def _mnist28(data_dir: Path) -> BinaryImageData:
    from deepgen.data.idx import load_mnist

    train_images, train_labels = load_mnist(data_dir, "train")
    test_images, test_labels = load_mnist(data_dir, "test")
    train = torch.from_numpy(train_images.reshape(len(train_images), -1)).float().div_(255.0)
    grey = torch.from_numpy(test_images.reshape(len(test_images), -1)).float().div_(255.0)
    generator = torch.Generator().manual_seed(MNIST28_SEED)
    held_out = torch.bernoulli(grey, generator=generator)
    labels = torch.from_numpy(test_labels.astype("int64"))
    return BinaryImageData(
        name="mnist28",
        image_shape=(28, 28),
        train=train,
        val=held_out[:MNIST28_VAL],
        test=held_out[MNIST28_VAL:],
        train_labels=torch.from_numpy(train_labels.astype("int64")),
        val_labels=labels[:MNIST28_VAL],
        test_labels=labels[MNIST28_VAL:],
        dynamic=True,
    )


def _mnist_grey(data_dir: Path) -> BinaryImageData:
    from deepgen.data.idx import load_mnist

    train_images, train_labels = load_mnist(data_dir, "train")
    test_images, test_labels = load_mnist(data_dir, "test")
    train = torch.from_numpy(train_images.reshape(len(train_images), -1)).float()
    test = torch.from_numpy(test_images.reshape(len(test_images), -1)).float()
    y = torch.from_numpy(train_labels.astype("int64"))
    cut = len(train) - MNIST_GREY_VAL
    return BinaryImageData(
        name="mnist-grey",
        image_shape=(28, 28),
        train=train[:cut],
        val=train[cut:],
        test=test,
        train_labels=y[:cut],
        val_labels=y[cut:],
        test_labels=torch.from_numpy(test_labels.astype("int64")),
        levels=256,
    )


def _binarized_mnist(data_dir: Path) -> BinaryImageData:
    from deepgen.data.binarized import load_binarized_mnist

    splits = {k: torch.from_numpy(v).float() for k, v in load_binarized_mnist(data_dir).items()}
    return BinaryImageData(
        "binarized-mnist",
        (28, 28),
        splits["train"],
        splits["valid"],
        splits["test"],
        None,
        None,
        None,
    )


def load_dataset(name: str = "mnist14", data_dir: str | Path | None = None) -> BinaryImageData:
    """Load one of :data:`DATASETS` as a :class:`BinaryImageData`.

    - ``"mnist14"``: the 14×14 binarized MNIST bundled with the package (``data_dir`` is
      ignored): train 10,000 (1,000 per digit from the MNIST training set), val 1,000 and
      test 1,000 (100 per digit each, from the MNIST test set), static binarization.
    - ``"mnist28"``: full 28×28 MNIST from the IDX files in ``data_dir``. ``train`` is all
      60,000 training images as grey levels / 255, binarized dynamically per batch; ``val`` is
      the first 1,000 test images and ``test`` the other 9,000, binarized once as Bernoulli
      samples of grey / 255 with ``torch.Generator().manual_seed(0)`` (over the whole test file,
      then split), so evaluation is deterministic.
    - ``"binarized-mnist"``: the fixed binarization of Larochelle & Murray (2011) from the
      three ``binarized_mnist_{train,valid,test}.amat.gz`` files in ``data_dir``: 50,000 /
      10,000 / 10,000 images, static, no labels.
    - ``"mnist-grey"``: MNIST 28×28 grey levels 0 … 255 (``levels`` 256) from the IDX files in
      ``data_dir``: the first 50,000 training images, the last 10,000 for validation, the
      10,000 test images; for flows, in bits per dimension.

    Raises :class:`ConfigError` for an unknown name or a missing ``data_dir``, and
    :class:`DataError` for missing or corrupt files.
    """
    if name not in DATASETS + GREY_DATASETS:
        known = ", ".join(DATASETS + GREY_DATASETS)
        raise ConfigError(f"unknown data set {name!r}; choose one of {known}")
    if name == "mnist14":
        return _mnist14()
    if data_dir is None:
        binarized = name == "binarized-mnist"
        what = "the binarized MNIST .amat.gz" if binarized else "the four MNIST .gz files"
        raise ConfigError(f"data set {name!r} needs --data-dir (a directory with {what})")
    data_dir = Path(data_dir)
    if name == "mnist28":
        return _mnist28(data_dir)
    if name == "mnist-grey":
        return _mnist_grey(data_dir)
    return _binarized_mnist(data_dir)
