"""The convolutional GAN: shapes, ranges, sizes, double backward, and a short training run
through the unchanged GANTask."""

from __future__ import annotations

import json
import math

import pytest
import torch
from torch import nn

from deepgen.errors import ConfigError, ShapeError
from deepgen.gan.conv import (
    ConvDiscriminator,
    ConvGANConfig,
    ConvGenerator,
    build_conv_gan,
    minibatch_std,
)
from deepgen.gan.experiment import GANRunConfig, GANTask
from deepgen.gan.losses import d_loss, r1_penalty
from deepgen.gan.metrics import saturated_fraction

SHAPES = [(28, 28), (14, 14)]
LR_G = LR_D = 2e-4  # the smoke test's rates (the mnist14 defaults)


@pytest.mark.parametrize("shape", SHAPES)
def test_shapes_and_ranges(shape: tuple[int, int]) -> None:
    torch.manual_seed(0)
    cfg = ConvGANConfig(image_shape=shape, z_dim=8, width=8)
    gen, disc = build_conv_gan(cfg)
    x = gen(torch.randn(5, 8))
    assert x.shape == (5, shape[0] * shape[1]) == (5, cfg.x_dim)
    assert bool(((x > 0) & (x < 1)).all())
    logits = disc(torch.bernoulli(x))
    assert logits.shape == (5,) and bool(torch.isfinite(logits).all())
    with pytest.raises(ShapeError, match="flat images"):
        disc(x.view(5, 1, *shape))
    with pytest.raises(ShapeError, match="noise"):
        gen(torch.randn(5, 9))


def test_sample_is_reproducible_from_a_seeded_generator() -> None:
    gen = ConvGenerator(ConvGANConfig(image_shape=(14, 14), z_dim=8, width=4))
    torch.manual_seed(1)
    a = gen.sample(6, torch.Generator().manual_seed(3))
    torch.manual_seed(2)  # the global random state plays no part
    b = gen.sample(6, torch.Generator().manual_seed(3))
    c = gen.sample(6, torch.Generator().manual_seed(4))
    assert torch.equal(a, b)
    assert not torch.allclose(a, c)


def _param_count(m: nn.Module) -> int:
    return sum(p.numel() for p in m.parameters())


@pytest.mark.parametrize(
    ("shape", "z", "c"), [((28, 28), 64, 64), ((28, 28), 3, 5), ((14, 14), 7, 6)]
)
def test_parameter_counts_follow_the_layer_list(shape: tuple[int, int], z: int, c: int) -> None:
    gen, disc = build_conv_gan(ConvGANConfig(image_shape=shape, z_dim=z, width=c))
    g = (z + 1) * 4 * c * 49 + (4 * c * 2 * c * 16 + 2 * c)  # linear, first ConvTranspose
    if shape == (28, 28):
        g += (2 * c * c * 16 + c) + (c * 9 + 1)  # second ConvTranspose, 3×3 conv to 1 channel
    else:
        g += 2 * c * 9 + 1
    side = 7 if shape == (28, 28) else 3
    d = (16 * c + c) + (c * 2 * c * 16 + 2 * c) + (2 * c * side * side + 1)
    assert (_param_count(gen), _param_count(disc)) == (g, d)


def test_default_28x28_sizes_are_in_the_stated_range() -> None:
    """28×28, z_dim 64, C = 64: G 1,471,489 and D 138,561 parameters."""
    gen, disc = build_conv_gan(ConvGANConfig())
    assert 1_400_000 <= _param_count(gen) <= 1_500_000
    assert 130_000 <= _param_count(disc) <= 150_000


@pytest.mark.parametrize("sn", [False, True])
def test_r1_penalty_backpropagates_to_the_discriminator(sn: bool) -> None:
    torch.manual_seed(0)
    cfg = ConvGANConfig(image_shape=(28, 28), width=4, spectral_norm=sn)
    disc = ConvDiscriminator(cfg)
    real = torch.bernoulli(torch.full((8, cfg.x_dim), 0.3))
    penalty = r1_penalty(disc, real)
    assert penalty.item() > 0 and math.isfinite(penalty.item())
    penalty.backward()
    named = dict(disc.named_parameters())
    weights = {k: p for k, p in named.items() if "weight" in k or "original" in k}
    assert len(weights) == 3
    for name, p in named.items():
        assert p.grad is None or bool(torch.isfinite(p.grad).all()), name
    for name, p in weights.items():  # ∇_x D depends on every weight (not on the biases)
        assert p.grad is not None and p.grad.abs().sum().item() > 0, name


def test_discriminator_double_backward_matches_finite_differences() -> None:
    torch.manual_seed(0)
    disc = ConvDiscriminator(ConvGANConfig(image_shape=(14, 14), width=2)).double()
    x = torch.rand(2, 196, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradgradcheck(disc, (x,))


def test_spectral_norm_on_the_discriminator_and_optionally_the_generator() -> None:
    torch.manual_seed(0)
    cfg = ConvGANConfig(image_shape=(28, 28), z_dim=4, width=4, spectral_norm=True)
    disc = ConvDiscriminator(cfg)
    x = torch.rand(4, cfg.x_dim)
    for _ in range(50):  # each training-mode call runs one power iteration
        disc(x)
    disc.eval()
    layers = [m for m in disc.modules() if isinstance(m, nn.Conv2d | nn.Linear)]
    assert len(layers) == 3
    for layer in layers:
        sigma = torch.linalg.matrix_norm(layer.weight.detach().flatten(1), ord=2).item()
        assert sigma == pytest.approx(1.0, abs=1e-3)
    plain = ConvGenerator(cfg)  # the config's flag is the discriminator's
    assert not any(hasattr(m, "parametrizations") for m in plain.modules())
    gen = ConvGenerator(cfg, spectral_norm=True)
    assert sum(hasattr(m, "parametrizations") for m in gen.modules()) == 4


@pytest.mark.parametrize(
    ("given", "match"),
    [
        ({"image_shape": (32, 32)}, "image_shape"),
        ({"image_shape": (28, 14)}, "image_shape"),
        ({"z_dim": 0}, "z_dim"),
        ({"width": 0}, "width"),
        ({"width": 1.5}, "width"),
    ],
)
def test_bad_configs_are_refused_in_one_line(given: dict, match: str) -> None:
    with pytest.raises(ConfigError, match=match) as err:
        ConvGANConfig(**given)
    assert "\n" not in str(err.value)


def test_config_round_trips_through_json() -> None:
    cfg = ConvGANConfig(image_shape=(14, 14), z_dim=16, width=32, spectral_norm=True)
    back = ConvGANConfig(**json.loads(json.dumps(cfg.to_dict())))
    assert back == cfg and back.image_shape == (14, 14) and back.x_dim == 196


def _task(cfg: ConvGANConfig, images: torch.Tensor, **run: object) -> GANTask:
    gen, disc = build_conv_gan(cfg)
    data = "mnist14" if cfg.image_shape == (14, 14) else "binarized-mnist"
    settings = {"data": data, "arch": "dcgan", "batch_size": len(images), **run}
    rc = GANRunConfig.from_settings({**settings, "model": cfg})
    return GANTask(rc, gen, disc, torch.device("cpu"), images)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "run", [{"loss": "ns", "r1": 10.0}, {"loss": "wgan-gp", "gp": 10.0}], ids=["r1", "wgan-gp"]
)
def test_penalties_run_inside_the_unchanged_gan_task(run: dict) -> None:
    torch.manual_seed(0)
    cfg = ConvGANConfig(image_shape=(28, 28), z_dim=8, width=4, spectral_norm=True)
    images = torch.bernoulli(torch.full((16, cfg.x_dim), 0.2))
    out = _task(cfg, images, ema=0.9, **run).step(1)
    assert out["penalty"].item() > 0
    assert all(math.isfinite(v.item()) for v in out.values())


def test_a_short_ns_training_run_teaches_d_and_moves_g() -> None:
    """64 fixed random binary 14×14 images with pixel density 0.2; GANTask (non-saturating
    loss, Adam at 2e-4, one D update then one G update per step, straight-through Bernoulli
    fakes) for 40 steps. Probe: D's loss on the real images vs. fixed binary samples of the
    *initial* G (density ≈ 0.5). It starts at ≈ log 4 (D cannot tell them apart) and must fall
    by at least 0.05 nats, with the logit gap E D(real) − E D(fake₀) above 0.1 (seed 0 gives
    1.378 → 1.279 and a gap of 0.23); and G's mean pixel probability must move from ≈ 0.5 into
    (0.05, 0.3) around the data's 0.2 (seed 0: 0.155). D's loss against the *current* fakes
    stays near log 4, as a GAN's should while G keeps up. With D not learning (lr_d = 1e-12)
    the first two fail; with G not learning (lr_g = 1e-12) the third does."""
    torch.manual_seed(0)
    data_g = torch.Generator().manual_seed(1)
    images = torch.bernoulli(torch.full((64, 196), 0.2), generator=data_g)
    cfg = ConvGANConfig(image_shape=(14, 14), z_dim=16, width=16)
    task = _task(cfg, images, loss="ns", lr_g=LR_G, lr_d=LR_D, ema=0.0)
    z = torch.randn(256, cfg.z_dim, generator=data_g)
    with torch.no_grad():
        fake0 = torch.bernoulli(task.gen(z), generator=torch.Generator().manual_seed(2))

    @torch.no_grad()
    def probe() -> tuple[float, float, float]:
        r, f0 = task.disc(images), task.disc(fake0)
        return d_loss("ns", r, f0).item(), (r.mean() - f0.mean()).item(), task.gen(z).mean().item()

    loss0, gap0, mean0 = probe()
    assert loss0 == pytest.approx(math.log(4), abs=0.05) and abs(mean0 - 0.5) < 0.05
    for step in range(1, 41):
        out = task.step(step)
        assert all(math.isfinite(v.item()) for v in out.values())
    loss1, gap1, mean1 = probe()
    assert loss1 < loss0 - 0.05, (loss0, loss1)
    assert gap1 > 0.1, (gap0, gap1)
    assert 0.05 < mean1 < 0.3, (mean0, mean1)


def test_minibatch_std_is_the_mean_feature_std_within_each_group_of_four() -> None:
    torch.manual_seed(0)
    h = torch.randn(8, 3, 5, 5, dtype=torch.float64)
    s = minibatch_std(h)
    assert s.shape == (8, 1, 5, 5)
    for g in range(2):  # against numpy-style population std, group by group
        block = h[4 * g : 4 * g + 4].numpy()
        expected = float(((block.var(axis=0) + 1e-8) ** 0.5).mean())
        assert torch.allclose(s[4 * g : 4 * g + 4], torch.full_like(s[:4], expected))
    same = minibatch_std(torch.ones(4, 3, 5, 5))
    assert torch.allclose(same, torch.full_like(same, 1e-4))  # no variety: sqrt(1e-8)
    with pytest.raises(ShapeError, match="groups of 4 images; a batch of 6"):
        minibatch_std(torch.zeros(6, 3, 5, 5))


def test_minibatch_std_couples_images_within_a_group_and_no_further() -> None:
    """Changing one image moves the logits of its group's other images, not those of the other
    group: why a data-parallel run whose per-process batch is a multiple of 4 equals one
    process. Without the option no image moves another's logit."""
    torch.manual_seed(0)
    x = torch.bernoulli(torch.full((8, 196), 0.3, dtype=torch.float64))
    y = x.clone()
    y[1] = 1 - y[1]  # image 1 of the first group changes
    for on in (True, False):
        torch.manual_seed(1)
        cfg = ConvGANConfig(image_shape=(14, 14), width=4, minibatch_std=on)
        disc = ConvDiscriminator(cfg).double()
        before, after = disc(x), disc(y)
        moved = (before - after).abs() > 1e-9
        assert moved[1]
        assert bool(moved[[0, 2, 3]].all()) == on
        assert not moved[4:].any()
    assert _param_count(disc) < _param_count(
        ConvDiscriminator(ConvGANConfig(image_shape=(14, 14), width=4, minibatch_std=True))
    )  # the head takes one more feature map


def test_minibatch_std_discriminator_has_an_r1_double_backward() -> None:
    torch.manual_seed(0)
    cfg = ConvGANConfig(image_shape=(14, 14), width=2, minibatch_std=True)
    disc = ConvDiscriminator(cfg).double()
    x = torch.rand(4, 196, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradgradcheck(disc, (x,))
    real = torch.bernoulli(torch.full((8, 196), 0.3))
    penalty = r1_penalty(ConvDiscriminator(cfg), real)
    penalty.backward()
    assert penalty.item() > 0 and math.isfinite(penalty.item())


@pytest.mark.parametrize("sn", [False, True])
def test_a_deeper_discriminator_keeps_sizes_and_the_r1_double_backward(sn: bool) -> None:
    """d_depth 3 puts two 3×3 stride-1 convolutions after each strided one: same output, the
    image still reduced 14 → 7 → 3; every convolution spectrally normalised when asked."""
    torch.manual_seed(0)
    cfg = ConvGANConfig(image_shape=(14, 14), width=2, d_depth=3, spectral_norm=sn)
    disc = ConvDiscriminator(cfg).double()
    convs = [m for m in disc.modules() if isinstance(m, nn.Conv2d)]
    assert [m.kernel_size for m in convs] == [(4, 4), (3, 3), (3, 3)] * 2
    assert [m.stride for m in convs] == [(2, 2), (1, 1), (1, 1)] * 2
    normalised = [m for m in disc.modules() if hasattr(m, "parametrizations")]
    assert len(normalised) == (7 if sn else 0)  # six convolutions and the head
    x = torch.rand(3, 196, dtype=torch.float64, requires_grad=True)
    assert disc(x).shape == (3,)
    disc.eval()  # in training mode spectral norm takes a power-iteration step every call
    assert torch.autograd.gradgradcheck(disc, (x,))
    with pytest.raises(ConfigError, match="d_depth must be an integer >= 1, got 0"):
        ConvGANConfig(d_depth=0)


def test_minibatch_std_needs_a_batch_in_groups_of_four() -> None:
    with pytest.raises(ConfigError, match="--batch-size must be a multiple of 4, got 30"):
        GANRunConfig(data="mnist14", arch="dcgan", batch_size=30, model={"minibatch_std": True})
    GANRunConfig(data="mnist14", arch="dcgan", batch_size=32, model={"minibatch_std": True})


@pytest.mark.parametrize("st", ["probability", "logit"])
def test_straight_through_passes_the_samples_gradient_to_p_or_to_the_logit(st: str) -> None:
    """Forward: binary samples b ~ Bernoulli(σ(ℓ)) either way (the same draws from the same
    seed). Backward: ∂b/∂p = 1 gives the generator the gradient of Σ c·p, ∂b/∂ℓ = 1 that of
    Σ c·ℓ; on a generator saturated by a large output bias, the first is ~0 and the second is
    not."""
    torch.manual_seed(0)
    cfg = ConvGANConfig(image_shape=(14, 14), z_dim=8, width=4)
    task = _task(cfg, torch.zeros(8, 196), straight_through=st)
    z = torch.randn(8, cfg.z_dim)
    c = torch.randn(8, 196)
    torch.manual_seed(5)
    fake = task._fake(z)
    assert set(fake.unique().tolist()) <= {0.0, 1.0}
    torch.manual_seed(5)
    assert torch.equal(fake, torch.bernoulli(task.gen(z).detach()))
    params = list(task.gen.parameters())
    got = torch.autograd.grad((c * fake).sum(), params)
    through = task.gen.logits(z) if st == "logit" else task.gen(z)
    want = torch.autograd.grad((c * through).sum(), params)
    for g, w in zip(got, want, strict=True):
        assert torch.allclose(g, w, atol=1e-6)
    assert saturated_fraction(task.gen(z)) < 0.01  # a fresh generator: p near 1/2
    with torch.no_grad():
        task.gen.net[-2].bias.fill_(-30.0)  # every pixel off: p(1 − p) ≈ 1e-13
    assert saturated_fraction(task.gen(z)) == 1.0
    saturated = torch.autograd.grad((c * task._fake(z)).sum(), task.gen.fc.weight)[0]
    assert (saturated.abs().max().item() > 1e-3) == (st == "logit")


def test_straight_through_is_refused_where_nothing_is_sampled() -> None:
    with pytest.raises(ConfigError, match="--straight-through is for binary images"):
        GANRunConfig(data="ring8", straight_through="logit")
    with pytest.raises(ConfigError, match="unknown --straight-through 'x'"):
        GANRunConfig(data="mnist14", straight_through="x")
