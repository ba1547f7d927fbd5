"""What a generator whose pixels are saturated can score on binarized MNIST.

Binarized MNIST was made by drawing each pixel from Bernoulli(grey level): a stroke's edges are
random. A generator whose pixel probabilities are all near 0 or 1 draws clean edges, so even
perfect digit shapes keep a distance from the data. This scores real digits made binary in
several ways, exactly as ``deepgen gan`` scores its samples (classifier features, ``--n`` images
against the whole test split of binarized MNIST):

- ``bernoulli``: x ~ Bernoulli(g), g the grey level (how the data set was made);
- ``threshold T``: x = [g > T] (every pixel saturated; T sets the stroke width);
- ``clamp C``: x ~ Bernoulli(σ(C tanh(logit(g) / C))) (the logit soft-clamped at ±C: no pixel
  probability leaves (σ(−C), σ(C)));
- ``real``: the first n validation images of binarized MNIST (the GAN's reference).

The grey images are MNIST training images 50,000 onwards, those behind binarized MNIST's
validation split. Writes ``gan_saturation_floor.json``. Not a speed benchmark.

    python benchmarks/gan_saturation_floor.py --data-dir ../shared/data \
        --classifier runs/gan/classifier.pt --out benchmarks/results
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import torch

from deepgen.data import load_dataset
from deepgen.data.idx import load_mnist
from deepgen.errors import ConfigError
from deepgen.fileio import write_json
from deepgen.gan.classifier import load_or_train_classifier
from deepgen.gan.experiment import ImageScorer
from deepgen.gan.metrics import saturated_fraction

GREY_FROM = 50_000  # MNIST training images from here on are binarized MNIST's validation split
THRESHOLDS = (0.3, 0.5, 0.7)
CLAMPS = (5.0, 7.0)


def binarizations(grey: torch.Tensor, seed: int) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    """Each way of making grey levels g ∈ [0, 1] binary, by name (see the module's text): its
    pixel probabilities and its binary images."""
    g = torch.Generator().manual_seed(seed)
    logit = torch.logit(grey.clamp(1e-6, 1 - 1e-6))
    probabilities = {"bernoulli": grey}
    probabilities.update({f"clamp {c:g}": torch.sigmoid(c * torch.tanh(logit / c)) for c in CLAMPS})
    out = {name: (p, torch.bernoulli(p, generator=g)) for name, p in probabilities.items()}
    for t in THRESHOLDS:
        x = (grey > t).float()
        out[f"threshold {t}"] = (x, x)
    return out


def measure(data_dir: Path, classifier: Path, n: int, seed: int, epochs: int) -> dict[str, Any]:
    """Fréchet distance to the test split of each binarization of n grey digits."""
    binarized = load_dataset("binarized-mnist", str(data_dir / "binarized_mnist"))
    if not 1 <= n <= len(binarized.val):
        raise ConfigError(f"--n must be in [1, {len(binarized.val)}], got {n}")
    model, info = load_or_train_classifier(
        load_dataset("mnist28", str(data_dir / "mnist")), classifier, epochs
    )
    scorer = ImageScorer(model, binarized.test)
    images, _ = load_mnist(data_dir / "mnist", "train")
    grey = torch.from_numpy(images[GREY_FROM : GREY_FROM + n].reshape(n, -1)).float() / 255
    rows = {"real": {"fid": scorer.score(binarized.val[:n])["fid"], "saturated": 1.0}}
    for name, (p, x) in binarizations(grey, seed).items():
        rows[name] = {"fid": scorer.score(x)["fid"], "saturated": saturated_fraction(p)}
    accuracy = info.get("test_accuracy", float("nan"))
    return {
        "benchmark": "gan_saturation_floor",
        "how": (
            f"MNIST training images {GREY_FROM:,} to {GREY_FROM + n - 1:,} made binary each "
            f"way (Bernoulli seed {seed}), and the first {n:,} validation images of binarized "
            f"MNIST, each against its {len(binarized.test):,} test images in the features of "
            f"the classifier {classifier} (test accuracy {accuracy:.4f}); saturated: the share "
            "of pixel probabilities outside (0.01, 0.99) (binary images: 1)"
        ),
        "n": n,
        "rows": rows,
    }


def main(argv: list[str] | None = None) -> dict[str, Any]:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument(
        "--data-dir", required=True, help="the folder holding mnist/ and binarized_mnist/"
    )
    p.add_argument(
        "--classifier", required=True, help="a GAN run's classifier.pt (trained if absent)"
    )
    p.add_argument("--classifier-epochs", type=int, default=8)
    p.add_argument("--n", type=int, default=10_000, help="images per row")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default="benchmarks/results", help="folder of the JSON")
    args = p.parse_args(argv)
    result = measure(
        Path(args.data_dir), Path(args.classifier), args.n, args.seed, args.classifier_epochs
    )
    Path(args.out).mkdir(parents=True, exist_ok=True)
    write_json(Path(args.out) / "gan_saturation_floor.json", result)
    for name, row in result["rows"].items():
        print(f"{name:>14}: Fréchet distance {row['fid']:7.2f}, saturated {row['saturated']:.1%}")
    return result


if __name__ == "__main__":
    main()
