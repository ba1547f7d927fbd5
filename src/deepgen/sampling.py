"""Samples from any deepgen checkpoint (``deepgen sample``).

The checkpoint's ``meta`` says which command wrote it (vae, flow, pixelcnn, gan) and how to
rebuild the model; each kind draws ``n`` samples its own way:

* vae: z ~ p(z), pixel means σ(decoder(z)) — the prior is the model's (N(0, I), VampPrior, flow);
* flow: x = f⁻¹(z), z ~ N(0, I); for dequantized images the binary x = ⌊2y⌋;
* pixelcnn: exact ancestral sampling, pixel by pixel (binary images);
* gan: x = G(z) with the EMA generator when the run kept one.

Images are written as a PNG grid, 2-D points as a scatter; the samples themselves go to
``samples.pt`` (a float tensor [n, features]) with ``samples.json`` saying what they are.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from deepgen.errors import CheckpointError, ConfigError
from deepgen.fileio import atomic_write_bytes, write_json
from deepgen.train import load_checkpoint, resolve_device
from deepgen.train.lock import claim_out_dir

KINDS = ("vae", "flow", "pixelcnn", "gan")
PIXELS = {196: (14, 14), 784: (28, 28)}


@dataclass
class Samples:
    """What a checkpoint produced: ``values`` [n, features], and how to look at them."""

    kind: str
    values: Tensor
    image_shape: tuple[int, int] | None  # None: points (2-D data)
    what: str


def _image_shape(features: int) -> tuple[int, int] | None:
    return PIXELS.get(features) if features > 2 else None


@torch.no_grad()
def draw(checkpoint: str | Path, n: int, seed: int = 0, device: str = "auto") -> Samples:
    """n samples from the model saved in ``checkpoint`` (noise from ``seed``)."""
    if n < 1:
        raise ConfigError(f"--n must be >= 1, got {n}")
    dev = resolve_device(device)
    state = load_checkpoint(checkpoint, map_location=dev)
    kind = state.get("meta", {}).get("kind")
    if kind not in KINDS:
        raise CheckpointError(f"{checkpoint}: no model kind deepgen can sample ({kind!r})")
    torch.manual_seed(seed)
    g = torch.Generator(device=dev).manual_seed(seed)
    return {"vae": _vae, "flow": _flow, "pixelcnn": _pixelcnn, "gan": _gan}[kind](
        checkpoint, state, n, g, dev
    )


def _vae(checkpoint: Any, state: dict, n: int, g: torch.Generator, dev: torch.device) -> Samples:
    from deepgen.vae.experiment import load_vae

    model, _ = load_vae(checkpoint, dev)
    x = model.sample(n, g).cpu()
    return Samples("vae", x, _image_shape(x.shape[1]), "pixel means σ(decoder(z)), z ~ p(z)")


def _flow(checkpoint: Any, state: dict, n: int, g: torch.Generator, dev: torch.device) -> Samples:
    from deepgen.flows.experiment import FlowRunConfig, sample_binary_images
    from deepgen.flows.recipe import build_flow

    meta = state["meta"]
    if "features" not in meta:
        raise CheckpointError(
            f"{checkpoint} predates deepgen sample for flows (no feature count saved); "
            "retrain it to sample"
        )
    cfg = FlowRunConfig.from_settings(meta["run"])
    shape, levels = meta.get("image_shape"), meta.get("levels", 2)
    image = None if shape is None else tuple(shape)
    flow, _ = build_flow(cfg.model, meta["features"], image, levels, cfg.seed)
    flow = flow.to(dev)
    flow.load_state_dict(state["task"]["flow"])
    flow.eval()
    if shape is not None:
        x = sample_binary_images(flow, n, levels).cpu() / (levels - 1)
        what = "binary x = ⌊2y⌋" if levels == 2 else f"grey x = ⌊{levels}y⌋/{levels - 1}"
        return Samples("flow", x, tuple(shape), what)
    with torch.no_grad():
        x = flow.sample(n).cpu()
    return Samples("flow", x, None, "points x = f⁻¹(z), z ~ N(0, I)")


def _pixelcnn(
    checkpoint: Any, state: dict, n: int, g: torch.Generator, dev: torch.device
) -> Samples:
    from deepgen.autoregressive.experiment import load_pixelcnn
    from deepgen.autoregressive.pixelcnn import sample

    model, _ = load_pixelcnn(checkpoint, dev)
    x = sample(model, n, g).cpu()
    shape = (model.config.height, model.config.width)
    return Samples("pixelcnn", x, shape, "binary images, exact ancestral sampling")


def _gan(checkpoint: Any, state: dict, n: int, g: torch.Generator, dev: torch.device) -> Samples:
    from deepgen.gan.conv import ConvGANConfig, ConvGenerator
    from deepgen.gan.models import GANModelConfig, Generator

    model = dict(state["meta"]["model"])
    if model.pop("arch", "mlp") == "dcgan":
        cfg: Any = ConvGANConfig(**model)
        gen: Any = ConvGenerator(cfg).to(dev)
    else:
        cfg = GANModelConfig(**model)
        gen = Generator(cfg).to(dev)
    weights = state["task"].get("ema") or state["task"]["gen"]
    gen.load_state_dict(weights)
    gen.eval()
    x = gen.sample(n, g).cpu()
    which = "EMA generator" if "ema" in state["task"] else "generator"
    return Samples("gan", x, _image_shape(cfg.x_dim), f"x = G(z), z ~ N(0, I), the {which}")


def write_samples(samples: Samples, out_dir: str | Path, checkpoint: str | Path) -> list[Path]:
    """samples.png (a grid, or a scatter for points), samples.pt and samples.json in out_dir."""
    from deepgen.report.plots import plot_image_grid, plot_samples_over_data

    with claim_out_dir(out_dir) as out:
        x = samples.values
        title = f"{samples.kind}: {len(x)} samples ({samples.what})"
        if samples.image_shape is not None:
            png = plot_image_grid(x[:64].numpy(), samples.image_shape, out / "samples.png", title)
        else:
            points = x[:, :2].numpy()
            png = plot_samples_over_data(points, points[:0], out / "samples.png", title)
        buffer = io.BytesIO()
        torch.save(x, buffer)
        pt = atomic_write_bytes(out / "samples.pt", buffer.getvalue())
        info = write_json(
            out / "samples.json",
            {
                "checkpoint": str(checkpoint),
                "kind": samples.kind,
                "n": len(x),
                "shape": list(x.shape),
                "image_shape": list(samples.image_shape) if samples.image_shape else None,
                "what": samples.what,
            },
        )
    return [png, pt, info]
