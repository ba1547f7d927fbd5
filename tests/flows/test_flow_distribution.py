"""Flows are torch Distributions (SPEC §7): the contract, conditioning that is real, bases that
move with the module, presets, and context errors that are never silent."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn
from torch.distributions import Distribution, Independent, Normal

from deepgen import flows
from deepgen.errors import ConfigError, InversionError, ShapeError
from deepgen.flows.registry import BUILTINS, randomize_parameters

DT = torch.float64

PRESETS = {
    "NICE": lambda c: flows.NICE(2, context=c, transforms=2, hidden=(16, 16)),
    "RealNVP": lambda c: flows.RealNVP(2, context=c, transforms=2, hidden=(16, 16)),
    "ScaledCoupling": lambda c: flows.ScaledCoupling(2, context=c, transforms=2, hidden=(16, 16)),
    "MAF": lambda c: flows.MAF(2, context=c, transforms=2, hidden=(16, 16)),
    "IAF": lambda c: flows.IAF(2, context=c, transforms=2, hidden=(16, 16)),
    "NSF": lambda c: flows.NSF(2, context=c, transforms=2, hidden=(16, 16), bins=4),
    "AutoregressiveNSF": lambda c: flows.AutoregressiveNSF(
        2, context=c, transforms=2, hidden=(16, 16), bins=4
    ),
}


def _random(module: nn.Module, seed: int, scale: float = 0.3) -> nn.Module:
    randomize_parameters(module, torch.Generator().manual_seed(seed), scale)
    return module


def test_the_issue_snippet_runs_with_the_promised_shapes_and_gradients() -> None:
    torch.manual_seed(0)
    f = flows.NSF(features=2, context=3, transforms=3, hidden=(64, 64))
    assert isinstance(f, nn.Module)
    c = torch.randn(4, 3)
    d = f(c)
    assert isinstance(d, Distribution)
    assert d.batch_shape == (4,) and d.event_shape == (2,)
    assert d.log_prob(torch.randn(4, 2)).shape == (4,)
    x = d.rsample((7,))
    assert x.shape == (7, 4, 2)
    x.square().sum().backward()
    grads = [p.grad for p in f.parameters() if p.grad is not None]
    assert grads and any(g.abs().sum() > 0 for g in grads)  # gradients reach f's parameters
    x, lp = d.rsample_and_log_prob((5,))
    assert x.shape == (5, 4, 2) and lp.shape == (5, 4)
    m = flows.MAF(features=2)
    assert m().batch_shape == () and m().event_shape == (2,)


@pytest.mark.parametrize("name", sorted(PRESETS))
@pytest.mark.parametrize("context", [0, 3])
def test_presets_sample_and_score_consistently(name: str, context: int) -> None:
    """rsample_and_log_prob's one-pass density equals log_prob at the same points."""
    torch.manual_seed(1)
    f = _random(PRESETS[name](context), seed=2)
    c = torch.randn(6, context, dtype=DT) if context else None
    d = f(c)
    assert d.batch_shape == ((6,) if context else ())
    x, lp = d.rsample_and_log_prob((3,))
    assert x.shape == ((3, 6, 2) if context else (3, 2))
    torch.testing.assert_close(d.log_prob(x), lp, atol=1e-8, rtol=1e-8)


def test_log_prob_broadcasts_samples_against_a_context_batch() -> None:
    torch.manual_seed(0)
    f = _random(flows.MAF(2, context=3, transforms=2, hidden=(8, 8)), seed=0)
    c = torch.randn(5, 3, dtype=DT)
    x = torch.randn(7, 5, 2, dtype=DT)
    lp = f(c).log_prob(x)
    assert lp.shape == (7, 5)
    # row by row against contexts given one at a time
    for j in range(5):
        torch.testing.assert_close(lp[:, j], f(c[j].expand(7, 3)).log_prob(x[:, j]))
    # a context with two batch dimensions
    assert f(torch.randn(2, 5, 3, dtype=DT)).log_prob(x[:, None]).shape == (7, 2, 5)


def test_base_moves_with_the_module_and_lives_in_the_state_dict() -> None:
    torch.manual_seed(0)
    f = flows.RealNVP(2, transforms=2, hidden=(8, 8))
    assert {"base.loc", "base.scale"} <= set(f.state_dict())
    x = torch.randn(10, 2)
    lp32 = f().log_prob(x)
    f64 = f.double()
    d = f64()
    assert d.base.mean.dtype == DT  # the base followed .double()
    lp64 = d.log_prob(x.double())
    torch.testing.assert_close(lp64.float(), lp32, atol=1e-5, rtol=1e-5)
    g = flows.RealNVP(2, transforms=2, hidden=(8, 8)).double()
    g.load_state_dict(f64.state_dict())
    assert torch.equal(g().log_prob(x.double()), lp64)  # identical after the round trip


@pytest.mark.parametrize(
    "base", [flows.DiagonalGaussian(2), flows.GaussianMixture(2, components=3), None]
)
def test_learned_bases_are_parameters_and_score_their_samples(base: nn.Module | None) -> None:
    torch.manual_seed(0)
    f = flows.MAF(2, transforms=2, hidden=(8, 8), base=base)
    if base is not None:
        _random(base, 3)
        assert all(p.requires_grad for p in base.parameters())
        assert any(k.startswith("base.") for k in dict(f.named_parameters()))
    f = f.double()
    x, lp = f().sample_and_log_prob((50,))
    torch.testing.assert_close(f().log_prob(x), lp)


def test_a_mixture_base_refuses_rsample_with_a_clear_error() -> None:
    f = flows.MAF(2, transforms=1, base=flows.GaussianMixture(2))
    with pytest.raises(NotImplementedError, match="reparameterized"):
        f().rsample((3,))
    assert f().sample((3,)).shape == (3, 2)


def test_a_mixture_base_density_is_the_closed_form_when_the_transform_is_the_identity() -> None:
    torch.manual_seed(0)
    base = _random(flows.GaussianMixture(2, components=3), 5, scale=1.0)
    f = flows.Flow([flows.Reverse(2), flows.Reverse(2)], base=base).double()
    x = torch.randn(9, 2, dtype=DT)
    w = torch.softmax(base.logits, 0)
    comp = Independent(Normal(base.loc, base.log_scale.exp()), 1)
    ref = torch.logsumexp(torch.log(w) + comp.log_prob(x[:, None]), -1)
    torch.testing.assert_close(f().log_prob(x), ref)


def test_context_errors_are_one_line_and_never_silent() -> None:
    cond = flows.NSF(2, context=3, transforms=2)
    uncond = flows.NSF(2, transforms=2)
    with pytest.raises(ShapeError, match=r"conditional.*none was given"):
        cond()
    with pytest.raises(ShapeError, match=r"\[\.\.\., 3\]"):
        cond(torch.randn(4, 5))
    with pytest.raises(ShapeError, match="unconditional"):
        uncond(torch.randn(4, 3))
    with pytest.raises(ShapeError, match="unconditional"):
        uncond.log_prob(torch.randn(4, 2), torch.randn(4, 3))
    for err in (ShapeError,):
        with pytest.raises(err) as info:
            cond(torch.randn(4, 5))
        assert "\n" not in str(info.value)


@pytest.mark.parametrize("name", sorted(BUILTINS))
def test_every_transform_refuses_a_context_it_cannot_use_and_needs_one_it_can(name: str) -> None:
    spec = BUILTINS[name]
    t = spec.build(4).double()
    x = spec.x(3, 4, torch.Generator().manual_seed(0))
    if spec.context:
        with pytest.raises(ShapeError, match="needs a context"):
            t(x)
        with pytest.raises(ShapeError, match="needs a context"):
            t.inverse(x)
        with pytest.raises(ShapeError, match="context of shape"):
            t(x, torch.randn(3, spec.context + 1, dtype=DT))
    else:
        c = torch.randn(3, 2, dtype=DT)
        with pytest.raises(ShapeError, match="unconditional"):
            t(x, c)
        with pytest.raises(ShapeError, match="unconditional"):
            t.inverse(x, c)


def test_an_embedding_network_feeds_the_transforms() -> None:
    torch.manual_seed(0)
    emb = nn.Sequential(nn.Linear(5, 4), nn.Tanh())
    f = flows.MAF(2, context=5, transforms=2, hidden=(8, 8), embedding=emb)
    assert f.context_features == 5
    _random(f.transform, seed=0)  # the conditioners start at zero output: give them weights
    f = f.float()
    c = torch.randn(6, 5)
    lp = f(c).log_prob(torch.randn(6, 2))
    assert lp.shape == (6,)
    # the embedding's parameters receive gradients: it is used
    lp.sum().backward()
    assert emb[0].weight.grad is not None and emb[0].weight.grad.abs().sum() > 0
    with pytest.raises(ShapeError, match=r"\[\.\.\., 5\]"):
        f(torch.randn(6, 4))


@pytest.mark.parametrize("name", ["NSF", "MAF", "AutoregressiveNSF"])
def test_conditional_densities_integrate_to_one_at_fixed_contexts(name: str) -> None:
    torch.manual_seed(0)
    f = _random(PRESETS[name](3), seed=11, scale=0.25)
    grid = torch.linspace(-9, 9, 361, dtype=DT)
    xx, yy = torch.meshgrid(grid, grid, indexing="ij")
    pts = torch.stack([xx.flatten(), yy.flatten()], -1)
    area = (grid[1] - grid[0]).item() ** 2
    masses = []
    for c in torch.randn(2, 3, dtype=DT, generator=torch.Generator().manual_seed(4)):
        with torch.no_grad():
            lp = f(c.expand(len(pts), 3)).log_prob(pts)
        masses.append(torch.exp(lp).sum().item() * area)
    assert masses == pytest.approx([1.0, 1.0], abs=0.01)
    # and the contexts give different densities (the context is used)
    with torch.no_grad():
        c1, c2 = torch.randn(2, 1, 3, dtype=DT)
        assert (f(c1).log_prob(pts[:100]) - f(c2).log_prob(pts[:100])).abs().max() > 1e-3


def _conditional_gaussian(n: int, g: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """x | c ~ N(A c, diag exp(W c)²), c ~ N(0, I): A, W fixed."""
    a = torch.tensor([[1.5, -1.0], [0.5, 2.0]])
    w = torch.tensor([[0.6, 0.0], [-0.4, 0.5]])
    c = torch.randn(n, 2, generator=g)
    x = c @ a.T + torch.exp(c @ w.T) * torch.randn(n, 2, generator=g)
    true_lp = Independent(Normal(c @ a.T, torch.exp(c @ w.T)), 1).log_prob(x)
    return c, torch.cat([x, true_lp[:, None]], -1)


def _fit(flow: flows.Flow, c: torch.Tensor, x: torch.Tensor, steps: int, cond: bool) -> None:
    opt = torch.optim.Adam(flow.parameters(), lr=3e-3)
    g = torch.Generator().manual_seed(1)
    for _ in range(steps):
        idx = torch.randint(len(x), (256,), generator=g)
        lp = flow.log_prob(x[idx], c[idx] if cond else None)
        opt.zero_grad()
        (-lp.mean()).backward()
        opt.step()


def test_a_conditional_maf_uses_its_context() -> None:
    """Fit to x | c ~ N(A c, diag exp(W c)²): the conditional MAF comes within 0.1 nats of the
    true conditional log-likelihood on fresh data; an unconditional MAF, which can only learn
    the marginal of x, stays far below it."""
    torch.manual_seed(0)
    g = torch.Generator().manual_seed(0)
    c, xt = _conditional_gaussian(20_000, g)
    x = xt[:, :2]
    c_test, xt_test = _conditional_gaussian(20_000, torch.Generator().manual_seed(9))
    x_test, true_lp = xt_test[:, :2], xt_test[:, 2]
    cond = flows.MAF(2, context=2, transforms=3, hidden=(32, 32))
    uncond = flows.MAF(2, transforms=3, hidden=(32, 32))
    _fit(cond, c, x, 1500, True)
    _fit(uncond, c, x, 1500, False)
    with torch.no_grad():
        truth = true_lp.mean().item()
        lp_cond = cond.log_prob(x_test, c_test).mean().item()
        lp_uncond = uncond.log_prob(x_test).mean().item()
    assert abs(lp_cond - truth) < 0.1, (lp_cond, truth)
    assert lp_uncond < truth - 1.0, (lp_uncond, truth)


def test_the_shared_monotone_inverse_raises_when_no_bracket_holds_the_target() -> None:
    y = torch.tensor([0.5, 2.0], dtype=DT)  # tanh never reaches 2
    with pytest.raises(InversionError, match="no bracket"):
        flows.monotone_inverse(torch.tanh, y)
    with pytest.raises(InversionError, match="NaN"):
        flows.monotone_inverse(torch.tanh, torch.tensor([math.nan], dtype=DT))
    x = flows.monotone_inverse(torch.tanh, torch.tensor([0.5, -0.999], dtype=DT))
    torch.testing.assert_close(torch.tanh(x), torch.tensor([0.5, -0.999], dtype=DT))


def test_a_sigmoidal_layer_with_a_bounded_map_raises_instead_of_returning_a_non_solution() -> None:
    """A deep sigmoidal map is onto ℝ, so its inverse always brackets; a target beyond what
    float64 can reach (the map saturates numerically) must raise, not return garbage."""
    g = flows.Sigmoidal(components=2)
    p = torch.zeros(1, g.params, dtype=DT)
    with pytest.raises(InversionError):
        g.inverse(torch.tensor([1e300], dtype=DT), p)


class _Inverse(nn.Module):
    """t.inverse as a module's forward, so torch.func.functional_call can swap its parameters."""

    def __init__(self, t: flows.Transform) -> None:
        super().__init__()
        self.t = t

    def forward(self, y: torch.Tensor, c: torch.Tensor | None) -> torch.Tensor:
        return torch.cat([self.t.inverse(y, c)[0], self.t.inverse(y, c)[1][:, None]], -1)


@pytest.mark.parametrize("context", [0, 2])
def test_a_numerical_inverse_is_differentiable_by_the_implicit_function_theorem(
    context: int,
) -> None:
    """Planar's inverse is a bisection; its output and log-det still carry exact gradients
    (gradcheck in the input, the context and every parameter), so it can be used to rsample."""
    torch.manual_seed(0)
    t = _random(flows.Planar(3, context=context, hidden=(4,)), seed=1, scale=0.7)
    module = _Inverse(t)
    names = [n for n, _ in module.named_parameters()]
    y = torch.randn(4, 3, dtype=DT, requires_grad=True)
    c = torch.randn(4, context, dtype=DT, requires_grad=True) if context else None
    params = tuple(p.detach().requires_grad_(True) for p in module.parameters())

    def inverse(y: torch.Tensor, c: torch.Tensor | None, *ps: torch.Tensor) -> torch.Tensor:
        return torch.func.functional_call(module, dict(zip(names, ps, strict=True)), (y, c))

    assert torch.autograd.gradcheck(inverse, (y, c, *params), atol=1e-6)


def test_zero_samples_are_an_empty_tensor_not_a_crash() -> None:
    f = flows.MAF(2, context=3, transforms=2, hidden=(8, 8))
    c = torch.randn(4, 3)
    assert f(c).sample((0,)).shape == (0, 4, 2)
    x, lp = flows.RealNVP(2, transforms=2)().sample_and_log_prob((0,))
    assert x.shape == (0, 2) and lp.shape == (0,)


def test_the_sigmoidal_inverse_is_differentiable_in_its_input_and_parameters() -> None:
    g = flows.Sigmoidal(components=3)
    gen = torch.Generator().manual_seed(0)
    y = torch.randn(5, dtype=DT, generator=gen, requires_grad=True)
    p = (0.5 * torch.randn(5, g.params, dtype=DT, generator=gen)).requires_grad_(True)
    assert torch.autograd.gradcheck(lambda y, p: g.inverse(y, p), (y, p), atol=1e-6)


def test_layers_and_a_list_of_hidden_sizes_must_agree() -> None:
    assert len([m for m in flows.MADE(3, hidden=8, layers=3).net if isinstance(m, nn.ReLU)]) == 3
    assert flows.MADE(3, hidden=(8, 4), layers=2).net[2].out_features == 4
    with pytest.raises(ConfigError, match="disagrees"):
        flows.MADE(3, hidden=(8, 4), layers=3)
