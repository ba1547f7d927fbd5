"""How the classifier Fréchet distance depends on the number of images scored.

The Fréchet distance between Gaussian fits of two feature sets is a biased estimate: with n
images its trace terms carry an error of order 1/n, so the same two distributions score higher
at smaller n. For each n in ``--sizes`` this scores the first n real validation images and the
first n of a GAN checkpoint's samples (Bernoulli draws of its pixel probabilities, EMA generator
where the run kept one) against the whole test split, with the classifier cached beside the
checkpoint, and writes ``frechet_sample_size.json``: the two distances and their ratio at each n.
Not a speed benchmark.

    python benchmarks/frechet_sample_size.py --checkpoint runs/gan/checkpoint.pt \
        --data-dir ../shared/data/binarized_mnist --out benchmarks/results
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import torch

from deepgen.data import load_dataset
from deepgen.errors import CheckpointError
from deepgen.fileio import write_json
from deepgen.gan.classifier import DigitClassifier
from deepgen.gan.experiment import ImageScorer, check_eval_samples
from deepgen.gan.metrics import frechet_distance
from deepgen.sampling import draw
from deepgen.train import load_checkpoint


def _classifier(path: Path, side: int) -> DigitClassifier:
    if not path.is_file():
        raise CheckpointError(f"{path}: no scoring classifier (a GAN run on images caches one)")
    model = DigitClassifier(side)
    model.load_state_dict(load_checkpoint(path)["model"])
    return model.eval()


def measure(
    checkpoint: Path, data_dir: str | None, sizes: list[int], seed: int = 12345
) -> dict[str, Any]:
    """The real and generated images' Fréchet distances to the test split at each size."""
    state = load_checkpoint(checkpoint)
    run = state["meta"]["run"]
    data = load_dataset(run["data"], data_dir)
    n_max = max(sizes)
    check_eval_samples(n_max, len(data.val))
    scorer = ImageScorer(
        _classifier(checkpoint.parent / "classifier.pt", data.image_shape[0]), data.test
    )
    drawn = draw(checkpoint, n_max, seed, "cpu")
    binary = torch.bernoulli(drawn.values, generator=torch.Generator().manual_seed(seed + 1))
    generated = scorer.features(binary)
    real = scorer.features(data.val[:n_max])
    rows = []
    for n in sorted(sizes):
        fid_real = frechet_distance(real[:n], scorer.reference_features)
        fid_generated = frechet_distance(generated[:n], scorer.reference_features)
        rows.append(
            {
                "n": n,
                "real": fid_real,
                "generated": fid_generated,
                "ratio": fid_generated / fid_real,
            }
        )
    return {
        "benchmark": "frechet_sample_size",
        "how": (
            f"the first n of {n_max:,} Bernoulli samples of the checkpoint's {drawn.what} "
            f"(noise seed {seed}, Bernoulli seed {seed + 1}) and the first n validation "
            f"images, each against all {len(data.test):,} test images, in the features of the "
            "run's classifier"
        ),
        "checkpoint": str(checkpoint),
        "data": run["data"],
        "updates": state["update"],
        "rows": rows,
    }


def main(argv: list[str] | None = None) -> dict[str, Any]:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--checkpoint", type=Path, required=True, help="a GAN run's checkpoint.pt")
    p.add_argument("--data-dir", help="the data's files (binarized-mnist)")
    p.add_argument("--sizes", default="1000,2000,5000,10000", help="comma-separated n")
    p.add_argument("--seed", type=int, default=12345, help="noise seed of the samples")
    p.add_argument("--out", type=Path, default=Path("benchmarks/results"))
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    sizes = [int(s) for s in args.sizes.split(",")]
    result = measure(args.checkpoint, args.data_dir, sizes, args.seed)
    write_json(args.out / "frechet_sample_size.json", result)
    for row in result["rows"]:
        print(f"n = {row['n']:>6,}: real {row['real']:8.3f}  generated {row['generated']:8.3f}")
    return result


if __name__ == "__main__":
    main()
