"""A small MNIST 14×14 digit classifier trained by deepgen: the feature extractor of the
offline image metrics (no downloaded weights).

A small CNN (conv 3×3·16 → max-pool → conv 3×3·32 → max-pool → 64 → 10, ReLU), cross-entropy,
Adam; trained on the mnist14 training split with a fixed seed, so every run scores with the same
network. Features are the 64 units of the last hidden layer (after ReLU). (An MLP of the same
size overfits these 10,000 images: about 88% test accuracy against the CNN's 91%.)
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from deepgen.data import BinaryImageData
from deepgen.errors import CheckpointError
from deepgen.train import EpochSampler, load_checkpoint, save_checkpoint

CLASSIFIER_SEED = 0


class DigitClassifier(nn.Module):
    """logits = head(features(x)) for flat 14×14 images; features are 64-dimensional."""

    def __init__(self, side: int = 14, features: int = 64) -> None:
        super().__init__()
        self.side = side
        self.body = nn.Sequential(
            nn.Unflatten(1, (1, side, side)),
            nn.Conv2d(1, 16, 3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(16, 32, 3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Flatten(),
            nn.Linear(32 * (side // 4) ** 2, features),
            nn.ReLU(),
        )
        self.head = nn.Linear(features, 10)

    def features(self, x: Tensor) -> Tensor:
        """Penultimate activations [n, 64]."""
        return self.body(x)

    def forward(self, x: Tensor) -> Tensor:
        """Class logits [n, 10]."""
        return self.head(self.body(x))


def train_classifier(
    data: BinaryImageData, epochs: int = 8, batch_size: int = 100, lr: float = 1e-3
) -> DigitClassifier:
    """Train on ``data.train`` (labels required) deterministically (seed 0, CPU)."""
    if data.train_labels is None:
        raise CheckpointError(f"{data.name} has no labels; the classifier needs labelled data")
    g = torch.Generator().manual_seed(CLASSIFIER_SEED)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(CLASSIFIER_SEED)
        model = DigitClassifier(data.image_shape[0])
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    sampler = EpochSampler(len(data.train), batch_size, CLASSIFIER_SEED)
    for update in range(1, epochs * sampler.batches_per_epoch + 1):
        idx = sampler.indices(update)
        x = data.train_batch(idx, g)
        loss = F.cross_entropy(model(x), data.train_labels[idx])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    model.eval()
    return model


@torch.no_grad()
def accuracy(model: DigitClassifier, x: Tensor, labels: Tensor) -> float:
    """Fraction of images classified correctly."""
    return float((model(x).argmax(1) == labels).double().mean())


def load_or_train_classifier(
    data: BinaryImageData, path: str | Path, epochs: int = 8
) -> tuple[DigitClassifier, dict[str, Any]]:
    """The cached classifier at ``path`` if it was trained the same way, else train and save.

    Returns the model and its info: epochs, test accuracy, val accuracy.
    """
    path = Path(path)
    if path.is_file():
        state = load_checkpoint(path)
        info = state.get("info", {})
        if info.get("epochs") == epochs and info.get("data") == data.name:
            model = DigitClassifier(data.image_shape[0])
            model.load_state_dict(state["model"])
            model.eval()
            return model, info
    model = train_classifier(data, epochs)
    assert data.test_labels is not None and data.val_labels is not None
    info = {
        "data": data.name,
        "epochs": epochs,
        "test_accuracy": accuracy(model, data.test, data.test_labels),
        "val_accuracy": accuracy(model, data.val, data.val_labels),
    }
    save_checkpoint(path, {"model": model.state_dict(), "info": info})
    return model, info
