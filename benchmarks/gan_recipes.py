"""GAN recipes on binarized MNIST compared at equal steps: which change beats the default?

Each recipe is ``deepgen gan`` with the binarized-mnist defaults (DCGAN width 32, spectral
norm, R1 γ = 10, EMA 0.999, batch 64, Adam 2e-4, β = (0.5, 0.999), seed 0) and the
discriminator they were compared with, ``--d-depth 1`` (the default then), plus its own flags,
trained for ``--steps`` generator steps; every ``--val-every`` steps its raw and EMA generators'
classifier Fréchet distances are taken on 1,000 samples against the test split (real
validation images score 4.54 at that size; the distance falls with the sample size, so the
figures compare recipes with one another, not with the 10,000-sample figures). Recipes run one
after another (never side by side: this is a quality comparison, but its minutes are reported
too), each in ``OUT/NAME``; a finished recipe is read back, a stopped one resumed (or, with
``--no-train``, reported as far as it got). ``--baseline RUN`` reads the default recipe's curve
from a longer run with the default settings instead of training it again. Writes
``gan_recipes.json``: each recipe's flags, validation curve and seconds. Not a speed benchmark.

    python benchmarks/gan_recipes.py --data-dir ../shared/data/binarized_mnist \
        --classifier runs/gan/classifier.pt --out runs/recipes --results benchmarks/results
"""

from __future__ import annotations

import argparse
import json
import shutil
import time
from pathlib import Path
from typing import Any

from deepgen.cli.main import main as deepgen
from deepgen.errors import ConfigError
from deepgen.fileio import write_json

TTUR = ["--lr-g", "1e-4", "--lr-d", "4e-4", "--beta1", "0", "--beta2", "0.9"]
RECIPES: dict[str, list[str]] = {
    "default": [],
    "r1-1": ["--r1", "1"],
    "hinge-ttur": ["--loss", "hinge", "--r1", "0", *TTUR],
    "ns-r1-ttur": TTUR,
    "minibatch-std": ["--minibatch-std"],
    "st-logit": ["--straight-through", "logit"],
    "no-sn": ["--no-spectral-norm"],
    "no-sn-st-logit": ["--no-spectral-norm", "--straight-through", "logit"],
    "no-sn-r1-100": ["--no-spectral-norm", "--r1", "100"],
    "bgan-8": ["--boundary-seeking", "8"],
    "no-sn-bgan-8": ["--no-spectral-norm", "--boundary-seeking", "8"],
    "bgan-8-slow-g": ["--boundary-seeking", "8", "--lr-g", "5e-5"],
    "d-depth-2": ["--d-depth", "2"],
}


def _curve(run: Path) -> list[dict[str, float]]:
    rows = [json.loads(line) for line in (run / "val_log.jsonl").read_text().splitlines()]
    return [{k: r[k] for k in ("update", "fid", "fid_ema") if k in r} for r in rows]


def _stopped(name: str, out: Path) -> dict[str, Any]:
    """A recipe stopped before its end (``--no-train``): its curve so far, or nothing."""
    curve = _curve(out) if (out / "val_log.jsonl").is_file() else []
    return {"flags": RECIPES[name], "finished": False, "curve": curve}


def _baseline(run: Path, steps: int) -> dict[str, Any]:
    """The default recipe's curve up to ``steps``, read from a longer run with its settings."""
    curve = [c for c in _curve(run) if c["update"] <= steps]
    return {"flags": [], "from_run": str(run), "finished": True, "curve": curve}


def run_recipe(name: str, args: argparse.Namespace) -> dict[str, Any]:
    """Train (or resume, or read back) one recipe; its flags, curve and seconds."""
    out = Path(args.out) / name
    flags = RECIPES[name]
    argv = ["gan", "--data", args.data, "--arch", "dcgan", "--width", str(args.width)]
    argv += ["--d-depth", "1"]  # the base they were compared on; a recipe's own flag wins
    argv += ["--steps", str(args.steps)]
    argv += ["--val-every", str(args.val_every), "--checkpoint-every", str(args.val_every)]
    argv += ["--eval-samples", str(args.eval_samples), "--quiet", "--out", str(out)]
    if args.data_dir:
        argv += ["--data-dir", args.data_dir]
    argv += ["--classifier-epochs", str(args.classifier_epochs), *flags]
    seconds = 0.0
    if args.no_train and not (out / "metrics.json").is_file():
        return _stopped(name, out)
    if not (out / "metrics.json").is_file():
        resume = (out / "checkpoint.pt").is_file()
        if not resume and args.classifier:
            out.mkdir(parents=True, exist_ok=True)
            shutil.copy(args.classifier, out / "classifier.pt")
        start = time.perf_counter()
        if deepgen([*argv, *(["--resume"] if resume else [])]) != 0:
            raise ConfigError(f"recipe {name}: deepgen gan failed (its message is above)")
        seconds = time.perf_counter() - start
    metrics = json.loads((out / "metrics.json").read_text())
    return {
        "flags": flags,
        "finished": True,
        "curve": _curve(out),
        "updates": metrics["updates"],
        "fid": metrics["fid"],
        "fid_ema": metrics["fid_ema"],
        "fid_real_val": metrics["fid_real_val"],
        "eval_samples": metrics["eval_samples"],
        "wall_seconds": metrics["wall_seconds"],
        "seconds_this_call": seconds,
    }


def main(argv: list[str] | None = None) -> dict[str, Any]:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--recipes", default=",".join(RECIPES), help="comma-separated names")
    p.add_argument("--data", default="binarized-mnist", choices=("binarized-mnist", "mnist14"))
    p.add_argument("--data-dir", help="binarized-mnist: its .amat.gz files")
    p.add_argument("--classifier", help="a cached classifier.pt of an earlier run (saves time)")
    p.add_argument("--classifier-epochs", type=int, default=8)
    p.add_argument("--width", type=int, default=32)
    p.add_argument("--steps", type=int, default=5000)
    p.add_argument("--val-every", type=int, default=1000)
    p.add_argument("--eval-samples", type=int, default=1000)
    p.add_argument("--out", default="runs/recipes", help="folder of the runs")
    p.add_argument("--results", default="benchmarks/results", help="folder of the JSON")
    p.add_argument(
        "--no-train",
        action="store_true",
        help="train nothing: finished recipes are read back, stopped ones give their curve so far",
    )
    p.add_argument(
        "--baseline",
        metavar="RUN",
        help="a longer run with the default settings: its curve up to --steps stands for the "
        "default recipe (which is then not trained)",
    )
    args = p.parse_args(argv)
    names = [n for n in args.recipes.split(",") if n]
    unknown = sorted(set(names) - set(RECIPES))
    if unknown:
        raise ConfigError(f"unknown recipe {unknown[0]!r}; choose from {', '.join(RECIPES)}")
    result = {
        "what": "GAN recipes at equal steps: validation Fréchet distance (1,000 samples)",
        "data": args.data,
        "width": args.width,
        "steps": args.steps,
        "recipes": {
            name: _baseline(Path(args.baseline), args.steps)
            if name == "default" and args.baseline
            else run_recipe(name, args)
            for name in names
        },
    }
    Path(args.results).mkdir(parents=True, exist_ok=True)
    write_json(Path(args.results) / "gan_recipes.json", result)
    return result


if __name__ == "__main__":
    main()
