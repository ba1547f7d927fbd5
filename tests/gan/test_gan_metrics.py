"""Offline metrics: mixture coverage/quality, Fréchet distance, class-histogram KL, and that
they rank real data above a mode-collapsed generator."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from deepgen.data import load_dataset
from deepgen.data.toy import ring_modes, sample_toy
from deepgen.errors import ShapeError
from deepgen.gan.classifier import accuracy, load_or_train_classifier
from deepgen.gan.experiment import TOY_STD, ImageScorer, toy_modes
from deepgen.gan.metrics import (
    class_histogram_kl,
    frechet_distance,
    mixture_metrics,
    saturated_fraction,
)


def test_real_mixture_scores_match_theory() -> None:
    n = 20_000
    x = sample_toy("ring8", n, torch.Generator().manual_seed(0))
    m = mixture_metrics(x, toy_modes("ring8"), TOY_STD)
    # P(‖ε‖ ≤ 3σ) for a 2-D isotropic Gaussian is 1 − exp(−9/2)
    expected = 1 - math.exp(-4.5)
    assert abs(m["high_quality_fraction"] - expected) < 5 * math.sqrt(expected * (1 - expected) / n)
    assert m["modes_covered"] == 8 and m["modes"] == 8
    assert m["mode_kl_to_uniform"] < 0.01
    assert sum(m["mode_counts"]) == pytest.approx(m["high_quality_fraction"] * n)


def test_mixture_metrics_rank_real_above_collapsed_and_blurry() -> None:
    g = torch.Generator().manual_seed(1)
    modes = toy_modes("grid25")
    real = sample_toy("grid25", 5000, g)
    collapsed = modes[3] + TOY_STD * torch.randn(5000, 2, generator=g)
    blurry = real + 0.3 * torch.randn(5000, 2, generator=g)
    r, c, b = (mixture_metrics(x, modes, TOY_STD) for x in (real, collapsed, blurry))
    assert r["modes_covered"] == 25 and c["modes_covered"] == 1
    assert r["mode_kl_to_uniform"] < c["mode_kl_to_uniform"] == pytest.approx(math.log(25))
    assert r["high_quality_fraction"] > 0.95 > 0.2 > b["high_quality_fraction"]


def test_mode_needs_a_tenth_of_a_fair_share() -> None:
    modes = ring_modes(8, 2.0)
    x = torch.cat([modes[0].expand(900, 2), modes[1].expand(100, 2)])  # fair share 125
    assert mixture_metrics(x, modes, TOY_STD)["modes_covered"] == 1 + (100 >= 12.5)
    x = torch.cat([modes[0].expand(990, 2), modes[1].expand(10, 2)])
    assert mixture_metrics(x, modes, TOY_STD)["modes_covered"] == 1


def test_frechet_distance_closed_forms() -> None:
    g = torch.Generator().manual_seed(0)
    a = torch.randn(400, 3, generator=g, dtype=torch.float64)
    assert frechet_distance(a, a) == pytest.approx(0.0, abs=1e-9)
    # one dimension: (μ₁ − μ₂)² + (s₁ − s₂)² with the sample moments
    x = torch.randn(300, 1, generator=g, dtype=torch.float64)
    y = 2 + 3 * torch.randn(500, 1, generator=g, dtype=torch.float64)
    expected = (x.mean() - y.mean()) ** 2 + (x.std() - y.std()) ** 2
    assert frechet_distance(x, y) == pytest.approx(expected.item(), rel=1e-10)
    # large samples from N(0, I) and N(μ, 4I) in k dims: ‖μ‖² + k(2 − 1)²
    k, n = 4, 100_000
    p = torch.randn(n, k, generator=g, dtype=torch.float64)
    q = 1.0 + 2 * torch.randn(n, k, generator=g, dtype=torch.float64)
    assert frechet_distance(p, q) == pytest.approx(k * 1.0 + k * 1.0, abs=0.1)
    with pytest.raises(ShapeError):
        frechet_distance(p, q[:, :2])


def test_class_histogram_kl() -> None:
    assert class_histogram_kl(torch.arange(10).repeat(7)) == pytest.approx(0.0, abs=1e-12)
    assert class_histogram_kl(torch.full((50,), 3)) == pytest.approx(math.log(10))
    two = torch.tensor([0, 1] * 20)
    assert class_histogram_kl(two) == pytest.approx(math.log(5))


def test_image_scores_rank_real_above_a_mode_collapsed_generator(tmp_path) -> None:
    data = load_dataset("mnist14")
    classifier, info = load_or_train_classifier(data, tmp_path / "classifier.pt", epochs=1)
    assert info["test_accuracy"] == accuracy(classifier, data.test, data.test_labels)
    assert info["test_accuracy"] > 0.7  # one epoch; the default 8 epochs give about 0.91
    again, info2 = load_or_train_classifier(data, tmp_path / "classifier.pt", epochs=1)
    assert info2 == info  # cached, and the same network
    for a, b in zip(classifier.parameters(), again.parameters(), strict=True):
        torch.testing.assert_close(a, b)
    scorer = ImageScorer(classifier, data.test)
    real = scorer.score(data.val)
    assert data.train_labels is not None
    ones = data.train[data.train_labels == 1][:1000]  # a generator that only draws ones
    collapsed = scorer.score(ones)
    noise = scorer.score(torch.bernoulli(torch.full((1000, 196), 0.13)))
    assert real["fid"] < collapsed["fid"] and real["fid"] < noise["fid"]
    assert real["class_kl"] < 0.05 < 1.0 < collapsed["class_kl"]
    assert np.argmax(collapsed["class_counts"]) == 1


@given(st.lists(st.floats(0.0, 1.0), min_size=1, max_size=50))
def test_saturated_fraction_counts_probabilities_near_0_or_1(ps: list[float]) -> None:
    expected = sum(p <= 0.01 or p >= 1 - 0.01 for p in ps) / len(ps)
    assert saturated_fraction(torch.tensor([ps], dtype=torch.float64)) == pytest.approx(expected)
