"""GAN losses, penalties, spectral normalisation and the EMA, each against its definition."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from torch import nn

from deepgen.errors import ConfigError
from deepgen.gan.games import DiracGAN
from deepgen.gan.losses import LOSSES, d_loss, g_loss, gradient_penalty, r1_penalty
from deepgen.gan.models import EMA, Discriminator, GANModelConfig, Generator


def _logits(seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return 3 * torch.randn(64, generator=g, dtype=torch.float64), 3 * torch.randn(
        64, generator=g, dtype=torch.float64
    )


@given(seed=st.integers(0, 10_000))
def test_losses_match_their_definitions(seed: int) -> None:
    r, f = _logits(seed)
    sig = torch.sigmoid
    bce = -(torch.log(sig(r)).mean() + torch.log(1 - sig(f)).mean())
    torch.testing.assert_close(d_loss("minimax", r, f), bce)
    torch.testing.assert_close(d_loss("ns", r, f), bce)
    torch.testing.assert_close(g_loss("minimax", f), torch.log(1 - sig(f)).mean())
    torch.testing.assert_close(g_loss("ns", f), -torch.log(sig(f)).mean())
    torch.testing.assert_close(d_loss("wgan-gp", r, f), f.mean() - r.mean())
    hinge = torch.clamp(1 - r, min=0).mean() + torch.clamp(1 + f, min=0).mean()
    torch.testing.assert_close(d_loss("hinge", r, f), hinge)
    for name in ("wgan-gp", "hinge"):
        torch.testing.assert_close(g_loss(name, f), -f.mean())


def test_penalties_of_a_linear_critic_are_closed_form() -> None:
    torch.manual_seed(0)
    lin = nn.Linear(5, 1).double()
    disc = lambda x: lin(x).squeeze(-1)  # noqa: E731
    real = torch.randn(32, 5, dtype=torch.float64)
    fake = torch.randn(32, 5, dtype=torch.float64)
    w = lin.weight.detach().flatten()
    torch.testing.assert_close(r1_penalty(disc, real), w.pow(2).sum())
    torch.testing.assert_close(gradient_penalty(disc, real, fake), (w.norm() - 1) ** 2)


@given(psi=st.floats(-2, 2), theta=st.floats(-2, 2), gamma=st.floats(0.1, 3))
def test_minimax_loss_on_the_dirac_gan_gives_the_game_field(
    psi: float, theta: float, gamma: float
) -> None:
    """D_ψ(x) = ψx on data δ_0 and samples δ_θ: −∇_ψ(L_D + γ/2·R1) and −∇_θ L_G are the
    field that deepgen.gan.games.DiracGAN('r1') iterates."""
    p = torch.tensor([psi], dtype=torch.float64, requires_grad=True)
    t = torch.tensor([theta], dtype=torch.float64, requires_grad=True)
    disc = lambda x: (p * x).squeeze(-1)  # noqa: E731
    real, fake = torch.zeros(1, 1, dtype=torch.float64), t.view(1, 1)
    loss_d = d_loss("minimax", disc(real), disc(fake.detach())) + gamma / 2 * r1_penalty(disc, real)
    (gd,) = torch.autograd.grad(loss_d, p)
    (gg,) = torch.autograd.grad(g_loss("minimax", disc(fake)), t)
    vd, vg = DiracGAN("r1", gamma).field(np.array([psi]), np.array([theta]))
    np.testing.assert_allclose([-gd.item(), -gg.item()], [vd[0], vg[0]], atol=1e-12)


def test_spectral_norm_bounds_the_largest_singular_value() -> None:
    torch.manual_seed(0)
    disc = Discriminator(GANModelConfig(x_dim=6, d_hidden=32, d_layers=2, spectral_norm=True))
    x = torch.randn(8, 6)
    for _ in range(30):  # each training-mode call runs one power iteration
        disc(x)
    disc.eval()
    linears = [m for m in disc.modules() if isinstance(m, nn.Linear)]
    assert len(linears) == 3
    for lin in linears:
        sigma = torch.linalg.matrix_norm(lin.weight.detach(), ord=2).item()
        assert sigma == pytest.approx(1.0, abs=1e-3)
    plain = Discriminator(GANModelConfig(x_dim=6, d_hidden=32, d_layers=2))
    assert not any(hasattr(m, "parametrizations") for m in plain.modules())


def test_ema_is_the_exponential_average() -> None:
    torch.manual_seed(0)
    gen = Generator(GANModelConfig(hidden=8, layers=1))
    ema = EMA(gen, 0.9)
    before = [p.detach().clone() for p in ema.model.parameters()]
    with torch.no_grad():
        for p in gen.parameters():
            p.add_(1.0)
    ema.update(gen)
    for old, new, cur in zip(before, ema.model.parameters(), gen.parameters(), strict=True):
        torch.testing.assert_close(new, 0.9 * old + 0.1 * cur)
    assert not any(p.requires_grad for p in ema.model.parameters())
    with pytest.raises(ConfigError, match="ema"):
        EMA(gen, 1.0)


def test_generator_output_ranges() -> None:
    torch.manual_seed(0)
    images = Generator(GANModelConfig(x_dim=196, z_dim=8, output="sigmoid")).sample(16)
    assert images.shape == (16, 196) and bool(((images > 0) & (images < 1)).all())
    with pytest.raises(ConfigError, match="output"):
        GANModelConfig(output="tanh")


def test_unknown_loss() -> None:
    assert set(LOSSES) == {"minimax", "ns", "wgan-gp", "hinge"}
    r, f = _logits(0)
    with pytest.raises(ConfigError, match="unknown GAN loss"):
        d_loss("lsgan", r, f)
