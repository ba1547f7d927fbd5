"""PixelCNN and Gated PixelCNN: autoregressive by Jacobian, exact likelihood, exact sampling."""

from __future__ import annotations

import itertools
import math

import pytest
import torch

from deepgen.autoregressive.masks import ordering, precedes
from deepgen.autoregressive.pixelcnn import (
    GatedPixelCNN,
    PixelCNN,
    PixelCNNConfig,
    build_model,
    pixel_logits,
    sample,
)
from deepgen.autoregressive.receptive_field import analytic_field
from deepgen.errors import ConfigError, DataError, ShapeError

CONVS = ["seed", "pixelcnn"]
KINDS = [False, True]  # gated?


def tiny(
    conv: str, gated: bool, h: int = 5, w: int = 4, layers: int = 3, first: int = 3, seed: int = 0
) -> PixelCNN | GatedPixelCNN:
    torch.manual_seed(seed)
    cfg = PixelCNNConfig(
        height=h,
        width=w,
        channels=4,
        layers=layers,
        kernel=3,
        first_kernel=first,
        convention=conv,
        gated=gated,
    )
    model = build_model(cfg).double()
    with torch.no_grad():  # biases away from 0 so that ReLUs are not all dead or all alive
        for p in model.parameters():
            p.add_(0.1 * torch.randn_like(p))
    return model


@pytest.mark.parametrize("gated", KINDS, ids=["pixelcnn", "gated"])
@pytest.mark.parametrize("conv", CONVS)
def test_no_output_depends_on_its_own_or_a_later_pixel(conv: str, gated: bool) -> None:
    h, w = 5, 4
    model = tiny(conv, gated, h, w, first=5)
    pixels = [(r, c) for r in range(h) for c in range(w)]
    outputs = [lambda t: model(t).flatten()]  # the logits: what the likelihood uses
    if gated:  # and the gated stacks' features, which no ReLU can switch off
        outputs.append(lambda t: model.features(t).sum(1).flatten())
    seen = torch.zeros(h * w, h * w, dtype=torch.bool)
    for trial, f in itertools.product(range(3), outputs):
        x = torch.bernoulli(torch.full((1, 1, h, w), 0.5, dtype=torch.float64))
        x = x + 0.3 * torch.randn_like(x) * trial  # also off the binary points
        seen |= torch.autograd.functional.jacobian(f, x).reshape(h * w, h * w) != 0
    for i, p in enumerate(pixels):  # every output pixel
        for j, q in enumerate(pixels):
            if not precedes(q, p, conv):
                assert not seen[i, j], f"logit {p} depends on pixel {q}"
    assert seen.any(dim=1).sum() >= h * w // 2  # the check is not vacuous


@pytest.mark.parametrize("conv", CONVS)
def test_gated_features_read_exactly_the_analytic_field(conv: str) -> None:
    h, w = 5, 4
    model = tiny(conv, True, h, w, layers=3, first=3)
    x = torch.randn(1, 1, h, w, dtype=torch.float64)
    jac = torch.autograd.functional.jacobian(
        lambda t: model.features(t).sum(1).flatten(), x
    ).reshape(h * w, h * w)
    for i, (r, c) in enumerate(itertools.product(range(h), range(w))):
        field = analytic_field(h, w, (r + 1, c + 1), ["A", "B", "B"], 3, conv, gated=True)
        got = {(j // w + 1, j % w + 1) for j in (jac[i] != 0).nonzero().flatten().tolist()}
        assert got == set(field)


@pytest.mark.parametrize("gated", KINDS, ids=["pixelcnn", "gated"])
@pytest.mark.parametrize("conv", CONVS)
def test_log_prob_is_the_sum_of_per_pixel_conditionals(conv: str, gated: bool) -> None:
    h, w = 4, 3
    model = tiny(conv, gated, h, w)
    g = torch.Generator().manual_seed(1)
    x = torch.bernoulli(torch.full((6, 1, h, w), 0.5, dtype=torch.float64), generator=g)
    total = model.log_prob(x)
    cond = model.conditionals(x)
    assert torch.allclose(cond.sum((1, 2)), total, rtol=0, atol=1e-12)
    assert torch.allclose(model.loss(x), -total.mean(), rtol=0, atol=1e-12)
    # each conditional is log p(x_i | x_<i): it does not change when x_i and later pixels do
    for r, c in ordering(h, w, conv):
        later = torch.tensor(
            [[not precedes((a, b), (r, c), conv) for b in range(w)] for a in range(h)]
        )
        other = torch.where(later, 1 - x, x)
        logit = model(other)[:, 0, r, c]
        expect = x[:, 0, r, c] * logit - torch.nn.functional.softplus(logit)
        assert torch.allclose(cond[:, r, c], expect, rtol=0, atol=1e-12)


@pytest.mark.parametrize("gated", KINDS, ids=["pixelcnn", "gated"])
@pytest.mark.parametrize("conv", CONVS)
def test_probabilities_of_all_images_sum_to_one(conv: str, gated: bool) -> None:
    h, w = 3, 3
    model = tiny(conv, gated, h, w, layers=2)
    images = torch.tensor(list(itertools.product([0.0, 1.0], repeat=h * w)), dtype=torch.float64)
    total = torch.logsumexp(model.log_prob(images), 0)
    assert abs(total.item()) < 1e-12


@pytest.mark.parametrize("gated", KINDS, ids=["pixelcnn", "gated"])
@pytest.mark.parametrize("conv", CONVS)
def test_restricted_rows_give_the_same_logits_as_a_full_pass(conv: str, gated: bool) -> None:
    h, w = 10, 4  # taller than the reach, so the crop really is a crop
    model = tiny(conv, gated, h, w, layers=3, first=5)
    assert model.vertical_reach < h - 3
    x = torch.bernoulli(torch.full((3, 1, h, w), 0.5, dtype=torch.float64))
    full = model(x)[:, 0]
    for row in range(h):
        for method in ("naive", "crop", "restricted"):
            got = pixel_logits(model, x, row, method)
            assert torch.allclose(full[:, row], got, rtol=0, atol=1e-12), (row, method)


@pytest.mark.parametrize("gated", KINDS, ids=["pixelcnn", "gated"])
@pytest.mark.parametrize("conv", CONVS)
def test_naive_and_restricted_samplers_agree(conv: str, gated: bool) -> None:
    h, w = 7, 3
    model = tiny(conv, gated, h, w, layers=2)
    u = torch.rand(5, h, w, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    calls: list[int] = []

    def progress(pixels):  # type: ignore[no-untyped-def]
        items = list(pixels)
        calls.append(len(items))
        return items

    a = sample(model, 5, method="naive", uniforms=u)
    b = sample(model, 5, method="restricted", uniforms=u, progress=progress)
    assert torch.equal(a, b)
    assert torch.equal(a, sample(model, 5, method="crop", uniforms=u))
    assert calls == [h * w]
    assert set(a.unique().tolist()) <= {0.0, 1.0}


@pytest.mark.parametrize("gated", KINDS, ids=["pixelcnn", "gated"])
def test_sampler_draws_from_the_model_distribution(gated: bool) -> None:
    # 2×2 images: 16 outcomes; with n = 4000 draws each frequency is within 5 binomial
    # standard errors of the model's exact probability (a failure is a < 1e-5 event per cell).
    h, w, n = 2, 2, 4000
    model = tiny("pixelcnn", gated, h, w, layers=2)
    draws = sample(model, n, torch.Generator().manual_seed(4))
    images = torch.tensor(list(itertools.product([0.0, 1.0], repeat=h * w)), dtype=torch.float64)
    probs = model.log_prob(images).exp()
    for image, p in zip(images, probs, strict=True):
        freq = (draws == image).all(1).double().mean().item()
        se = math.sqrt(p.item() * (1 - p.item()) / n)
        assert abs(freq - p.item()) <= 5 * se + 1e-9, (image.tolist(), freq, p.item())


def test_sampling_is_deterministic_given_the_generator() -> None:
    model = tiny("pixelcnn", False, 4, 4)
    a = sample(model, 3, torch.Generator().manual_seed(9))
    b = sample(model, 3, torch.Generator().manual_seed(9))
    assert torch.equal(a, b)


def test_errors() -> None:
    model = tiny("pixelcnn", False, 4, 4)
    with pytest.raises(ShapeError, match=r"\[batch, 16\]"):
        model.log_prob(torch.zeros(2, 15, dtype=torch.float64))
    with pytest.raises(DataError, match="non-binary"):
        model.log_prob(torch.full((2, 16), 0.5, dtype=torch.float64))
    with pytest.raises(ConfigError, match="odd"):
        PixelCNNConfig(kernel=4)
    with pytest.raises(ConfigError, match="unknown sampler"):
        sample(model, 2, method="fast")
    with pytest.raises(ConfigError, match="layers must be >= 1"):
        PixelCNNConfig(layers=0)
