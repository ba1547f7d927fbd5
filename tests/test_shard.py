"""deepgen.shard: under data parallelism each process's noise is its slice of the one-process
draw for the global batch, for every way the training losses draw noise."""

from __future__ import annotations

import pytest
import torch

from deepgen import shard
from deepgen.distributions import DiagonalNormal, reparameterize
from deepgen.errors import ConfigError
from deepgen.flows import MAF
from deepgen.gan.losses import gradient_penalty
from deepgen.vae.composed import build_vae
from deepgen.vae.model import VAEConfig


def _per_rank(fn, world: int, seed: int = 0) -> list[torch.Tensor]:
    """What each of ``world`` processes computes, each from the same generator state."""
    out = []
    for rank in range(world):
        with shard.sharded(rank, world):
            torch.manual_seed(seed)
            out.append(fn(rank))
    return out


@pytest.mark.parametrize("world", [2, 3])
def test_reparameterized_noise_is_the_slice_of_the_global_draw(world: int) -> None:
    loc, log_var = torch.randn(6 * world, 4), torch.randn(6 * world, 4)
    torch.manual_seed(0)
    whole = reparameterize(loc, log_var, (3,))
    torch.manual_seed(0)
    z_whole, lq_whole = DiagonalNormal(loc, log_var).rsample_and_log_prob((3,))

    def mine(rank: int) -> torch.Tensor:
        return reparameterize(shard.local(loc), shard.local(log_var), (3,))

    assert torch.equal(torch.cat(_per_rank(mine, world), 1), whole)

    def mine_q(rank: int) -> torch.Tensor:
        return DiagonalNormal(shard.local(loc), shard.local(log_var)).rsample_and_log_prob((3,))

    parts = _per_rank(mine_q, world)
    assert torch.equal(torch.cat([p[0] for p in parts], 1), z_whole)
    assert torch.equal(torch.cat([p[1] for p in parts], 1), lq_whole)


def test_a_conditional_flow_samples_its_slice() -> None:
    torch.manual_seed(1)
    flow = MAF(features=3, context=2, transforms=2, hidden=(8,))
    c = torch.randn(8, 2)
    torch.manual_seed(0)
    whole, log_q = flow(c).rsample_and_log_prob((2,))
    parts = _per_rank(lambda r: flow(shard.local(c)).rsample_and_log_prob((2,)), 2)
    assert torch.allclose(torch.cat([p[0] for p in parts], 1), whole, atol=1e-6)
    assert torch.allclose(torch.cat([p[1] for p in parts], 1), log_q, atol=1e-5)


def test_bernoulli_and_uniform_draws_are_slices() -> None:
    p = torch.rand(10, 5)
    torch.manual_seed(0)
    whole = torch.bernoulli(p)
    parts = _per_rank(lambda r: shard.bernoulli(shard.local(p)), 2)
    assert torch.equal(torch.cat(parts), whole)

    disc = torch.nn.Sequential(torch.nn.Linear(5, 1))
    real, fake = torch.randn(10, 5), torch.randn(10, 5)
    torch.manual_seed(0)
    gp_whole = gradient_penalty(disc, real, fake)
    parts = _per_rank(lambda r: gradient_penalty(disc, shard.local(real), shard.local(fake)), 2)
    assert torch.stack(parts).mean().item() == pytest.approx(gp_whole.item(), rel=1e-6)


def test_outside_a_sharded_block_nothing_changes() -> None:
    x = torch.arange(6.0)
    assert shard.local(x) is x and shard.current() == (0, 1)
    with shard.sharded(1, 3):
        assert torch.equal(shard.local(x), torch.tensor([2.0, 3.0]))
        assert shard.current() == (1, 3)
    assert shard.current() == (0, 1)


def test_uneven_batches_and_bad_ranks_are_one_line_errors() -> None:
    with shard.sharded(0, 4), pytest.raises(ConfigError, match="does not split evenly over 4"):
        shard.local(torch.zeros(6))
    with pytest.raises(ConfigError, match="rank 2 is outside a world of 2"), shard.sharded(2, 2):
        pass


@pytest.mark.parametrize(
    "settings",
    [
        {},
        {"posterior": "iaf", "objective": "iwae", "samples": 3},
        {"posterior": "planar", "prior": "vamp", "pseudo_inputs": 5},
        {"objective": "iwae", "samples": 4, "estimator": "dreg"},
        {"objective": "miwae", "samples": 4, "groups": 2, "prior": "flow"},
    ],
)
def test_halves_of_a_vae_batch_average_to_the_whole_batch_gradient(settings: dict) -> None:
    """What two processes compute (each its half, from the same random state), averaged, is
    the one-process gradient and loss, to float32 rounding."""
    torch.manual_seed(0)
    model = build_vae(VAEConfig(x_dim=20, hidden=16, z_dim=3, **settings))
    x = torch.rand(12, 20).round()

    def gradient(rank: int = 0, world: int = 1) -> tuple[torch.Tensor, float]:
        model.zero_grad()
        torch.manual_seed(5)
        with shard.sharded(rank, world):
            loss, _ = model.loss(shard.local(x), validate=False)
        loss.backward()
        grads = [p.grad.reshape(-1) for p in model.parameters() if p.grad is not None]
        return torch.cat(grads), loss.item()

    whole, loss = gradient()
    halves = [gradient(rank, 2) for rank in range(2)]
    averaged = (halves[0][0] + halves[1][0]) / 2
    assert (averaged - whole).abs().max() <= 1e-6 * whole.abs().max()
    assert (halves[0][1] + halves[1][1]) / 2 == pytest.approx(loss, rel=1e-6)
    # and each half really is different data: the halves' gradients are not the whole's
    assert (halves[0][0] - whole).abs().max() > 1e-3 * whole.abs().max()
