"""Scoring a trained checkpoint for ``deepgen leaderboard --checkpoint FAMILY=FILE``: the same
numbers a leaderboard run computes after training, without training.

* vae, iwae: importance-sampled log p(x) with K samples on the test images (``vae eval``);
* pixelcnn: the exact NLL on the test images;
* flow: the dequantization bounds (uniform or the run's variational q) with 16 draws;
* gan: the classifier Fréchet distance of 10,000 samples of the (EMA) generator to the test
  images, and of as many validation images, with the classifier cached beside the checkpoint
  (trained there if absent).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from deepgen.data import load_dataset, spread
from deepgen.errors import CheckpointError, ConfigError
from deepgen.train import load_checkpoint, resolve_device

KIND_OF = {"vae": "vae", "iwae": "vae", "pixelcnn": "pixelcnn", "flow": "flow", "gan": "gan"}


def score_checkpoint(family: str, path: str | Path, cfg: Any) -> dict[str, Any]:
    """What the leaderboard needs of a trained checkpoint of ``family``: the run's own
    ``wall_seconds`` and ``updates``, and ``test_nll``/``stderr``/``test_images`` (or the GAN's
    sample metrics), on the leaderboard's data, test images and device."""
    path = Path(path)
    state = load_checkpoint(path)
    meta = state.get("meta", {})
    kind = meta.get("kind")
    if kind != KIND_OF[family]:
        raise CheckpointError(
            f"--checkpoint {family}={path} holds a {kind} model, not a {KIND_OF[family]}"
        )
    if meta.get("run", {}).get("data") != cfg.data:
        raise ConfigError(
            f"--checkpoint {family}={path} was trained on {meta['run'].get('data')}, not {cfg.data}"
        )
    base = {"wall_seconds": float(state["wall_seconds"]), "updates": int(state["update"])}
    device = resolve_device(cfg.device)
    torch.set_num_threads(cfg.threads)
    if family in ("vae", "iwae"):
        return {**base, **vae_test_score(path, cfg)}
    data = load_dataset(cfg.data, cfg.data_dir)
    test = data.test[spread(len(data.test), cfg.test_images)]
    if family == "pixelcnn":
        from deepgen.autoregressive.experiment import load_pixelcnn, nll_on

        model, _ = load_pixelcnn(path, device)
        r = nll_on(model, test)
        return {**base, "test_nll": r["nll"], "stderr": r["stderr"], "test_images": r["images"]}
    if family == "flow":
        return {**base, **_flow_score(path, state, test, cfg, device)}
    return {**base, **_gan_score(path, state, data, cfg, device)}


def vae_test_score(path: str | Path, cfg: Any) -> dict[str, Any]:
    """Importance-sampled −log p(x) (K = ``cfg.eval_k``) of a VAE checkpoint on the test images
    (``cfg.test_images`` spread over the split), with its standard error over the images."""
    from deepgen.vae.experiment import evaluate_checkpoint

    ev = evaluate_checkpoint(
        path,
        k=cfg.eval_k,
        split="test",
        device=cfg.device,
        data_dir=cfg.data_dir,
        seed=cfg.seed,
        threads=cfg.threads,
        spread_over=cfg.test_images,
    )
    return {"test_nll": -ev["log_px"], "stderr": ev["stderr"], "test_images": ev["images"]}


def _flow_score(
    path: Path, state: dict[str, Any], test: torch.Tensor, cfg: Any, device: torch.device
) -> dict[str, Any]:
    from deepgen.flows.experiment import FlowRunConfig, image_bounds
    from deepgen.flows.recipe import build_flow

    meta = state["meta"]
    shape = meta.get("image_shape")
    if shape is None:
        raise CheckpointError(f"--checkpoint flow={path} is a flow on points, not on images")
    run = FlowRunConfig.from_settings(meta["run"])
    levels = meta.get("levels", 2)
    flow, dequantizer = build_flow(run.model, meta["features"], tuple(shape), levels, run.seed)
    flow = flow.to(device)
    flow.load_state_dict(state["task"]["flow"])
    if dequantizer is not None:
        dequantizer = dequantizer.to(device)
        dequantizer.load_state_dict(state["task"]["dequantizer"])
        dequantizer.eval()
    flow.eval()
    b = image_bounds(flow, test.to(device), 16, cfg.seed + 2, dequantizer, levels=levels)
    return {"test_nll": b["nll"], "stderr": b["nll_stderr"], "test_images": len(test)}


def _gan_score(
    path: Path, state: dict[str, Any], data: Any, cfg: Any, device: torch.device
) -> dict[str, Any]:
    from deepgen.gan.classifier import load_or_train_classifier
    from deepgen.gan.experiment import GANRunConfig, ImageScorer, _labelled_mnist, real_reference
    from deepgen.leaderboard import gan_samples
    from deepgen.sampling import _gan

    run = GANRunConfig.from_saved({**state["meta"]["run"], "data_dir": cfg.data_dir})
    labelled = data if cfg.data == "mnist14" else _labelled_mnist(run)
    with torch.random.fork_rng(devices=[]):
        classifier, _ = load_or_train_classifier(
            labelled, path.parent / "classifier.pt", cfg.classifier_epochs
        )
    scorer = ImageScorer(classifier, data.test)
    # the draws of the run's own final evaluation (GANTask.evaluate), so the numbers agree
    g = torch.Generator(device=device).manual_seed(cfg.seed + 12345)
    n = gan_samples(data.sizes())
    drawn = _gan(path, state, n, g, device)
    images = torch.bernoulli(drawn.values.to(device), generator=g)
    reference = real_reference(scorer, data.val, n)
    key = "fid_ema" if "ema" in state["task"] else "fid"
    return {
        "test_nll": None,
        "stderr": None,
        "test_images": len(data.test),
        key: scorer.score(images)["fid"],
        "fid_real_val": reference["fid_real_val"],
        "real_val_images": n,
    }
