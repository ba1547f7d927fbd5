"""The rational-quadratic spline: identity, monotonicity, analytic inverse, log g′, C¹, tails.

Round trips are held to 1e-10 plus what the conditioning of the map allows: y = g(x) is rounded
to about eps·|y|, which moves g⁻¹(y) by eps·|y|/g′(x), and log g′ at the recovered point moves
by |(log g′)′| times that. Where the spline is steep the extra term is negligible; where it is
nearly flat no algorithm can do better (the paper's root formula without the sign switch is off
by about a hundred times this bound in such places).
"""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from torch import Tensor

from deepgen.errors import ConfigError, ShapeError
from deepgen.flows.spline import RQSpline, rational_quadratic

DT = torch.float64
EPS = torch.finfo(DT).eps

bins_st = st.integers(1, 12)
bound_st = st.floats(0.5, 10.0)
seed_st = st.integers(0, 10_000)


def random_spline(bins: int, bound: float, seed: int) -> tuple[RQSpline, Tensor]:
    s = RQSpline(bins=bins, bound=bound)
    p = 2 * torch.randn(s.params, generator=torch.Generator().manual_seed(seed), dtype=DT)
    return s, p


def with_neighbours(t: Tensor) -> Tensor:
    """t and the next representable numbers on either side."""
    return torch.cat([t, torch.nextafter(t, t + 1), torch.nextafter(t, t - 1)])


def points(bound: float, knots: Tensor) -> Tensor:
    """A dense grid past both edges, the knots, ±bound and tail points, each with neighbours."""
    edges = torch.tensor([-bound, bound], dtype=DT)
    tails = torch.tensor([-100.0, -bound - 1, -bound - 1e-9, bound + 1e-9, bound + 1, 100.0])
    grid = torch.linspace(-1.5 * bound, 1.5 * bound, 1001, dtype=DT)
    return torch.cat([grid, with_neighbours(knots), with_neighbours(edges), tails.to(DT)])


def forward_with_autograd(
    s: RQSpline, x: Tensor, p: Tensor
) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """y, log g′ (returned), g′ (autograd of y) and (log g′)′ (autograd of the returned log g′)."""
    x = x.detach().clone().requires_grad_()
    y, ld = s.forward(x, p.expand(*x.shape, s.params))
    (dy,) = torch.autograd.grad(y.sum(), x, retain_graph=True)
    (dld,) = torch.autograd.grad(ld.sum(), x)
    return y.detach(), ld.detach(), dy, dld


# 1. identity ---------------------------------------------------------------------------------


@pytest.mark.parametrize("bins", [1, 3, 8])
def test_identity_params_are_zeros_and_give_the_identity(bins: int) -> None:
    s = RQSpline(bins=bins, bound=3.0)
    p0 = s.identity_params()
    assert p0.dtype == torch.float32 and p0.shape == (s.params,) and s.params == 3 * bins - 1
    assert bool((p0 == 0).all())
    kx, ky, d = s.knots(p0.to(DT))
    uniform = torch.linspace(-3, 3, bins + 1, dtype=DT)
    torch.testing.assert_close(kx, uniform, rtol=0, atol=1e-14)
    torch.testing.assert_close(ky, uniform, rtol=0, atol=1e-14)
    torch.testing.assert_close(d, torch.ones(bins + 1, dtype=DT), rtol=0, atol=1e-15)

    x = points(3.0, kx)
    p = p0.expand(*x.shape, s.params)
    y, ld = s.forward(x, p)
    assert y.dtype == DT
    torch.testing.assert_close(y, x, rtol=0, atol=1e-14)
    assert ld.abs().max().item() <= 1e-14
    xi, ldi = s.inverse(x, p)
    torch.testing.assert_close(xi, x, rtol=0, atol=1e-14)
    assert ldi.abs().max().item() <= 1e-14


# 2. monotone, round trips --------------------------------------------------------------------


@given(bins=bins_st, bound=bound_st, seed=seed_st)
def test_random_spline_is_increasing_and_inverts_from_both_sides(
    bins: int, bound: float, seed: int
) -> None:
    s, p = random_spline(bins, bound, seed)
    kx, ky, d = s.knots(p)
    dense = torch.linspace(-1.5 * bound, 1.5 * bound, 4001, dtype=DT)
    yd, _ = s.forward(dense, p.expand(*dense.shape, s.params))
    assert torch.diff(yd).min().item() > 0

    x = points(bound, kx)
    y, ld, _, _ = forward_with_autograd(s, x, p)
    assert bool(torch.isfinite(y).all() and torch.isfinite(ld).all())
    xr, _ = s.inverse(y, p.expand(*y.shape, s.params))
    tol = 1e-10 + 16 * EPS * (y.abs() + bound) / ld.exp()
    err = (xr - x).abs()
    assert bool((err <= tol).all()), f"x round trip off by {(err / tol).max().item():.3g} x tol"

    y0 = points(bound, ky)
    x0, ldi = s.inverse(y0, p.expand(*y0.shape, s.params))
    assert bool(torch.isfinite(x0).all() and torch.isfinite(ldi).all())
    yr, _ = s.forward(x0, p.expand(*x0.shape, s.params))
    assert (yr - y0).abs().max().item() <= 1e-10
    # the knots (edges included) map onto each other; g′ = d at a knot
    pk = p.expand(*kx.shape, s.params)
    assert (s.forward(kx, pk)[0] - ky).abs().max().item() <= 1e-12 * bound
    assert bool(((s.inverse(ky, pk)[0] - kx).abs() <= 1e-10 + 16 * EPS * 2 * bound / d).all())


# 3. log-derivative ---------------------------------------------------------------------------


@given(bins=bins_st, bound=bound_st, seed=seed_st)
def test_log_derivative_matches_autograd_and_inverse_is_its_negative(
    bins: int, bound: float, seed: int
) -> None:
    s, p = random_spline(bins, bound, seed)
    kx, _, _ = s.knots(p)
    x = points(bound, kx)
    y, ld, dy, dld = forward_with_autograd(s, x, p)
    assert bool((dy > 0).all())
    assert (ld - dy.log()).abs().max().item() <= 1e-10

    xr, ldi = s.inverse(y, p.expand(*y.shape, s.params))
    _, _, _, dld_r = forward_with_autograd(s, xr, p)
    dx = 16 * EPS * (y.abs() + bound) / ld.exp()
    tol = 1e-10 + torch.maximum(dld.abs(), dld_r.abs()) * dx
    err = (ldi + ld).abs()
    assert bool((err <= tol).all()), f"inverse log g' off by {(err / tol).max().item():.3g} x tol"

    # and the inverse's own log-derivative against autograd through the root formula
    yy = torch.linspace(-1.2 * bound, 1.2 * bound, 501, dtype=DT).requires_grad_()
    xx, ldi2 = s.inverse(yy, p.expand(*yy.shape, s.params))
    (dx_dy,) = torch.autograd.grad(xx.sum(), yy)
    torch.testing.assert_close(dx_dy.log(), ldi2.detach(), rtol=0, atol=1e-8)


def test_inverse_root_keeps_full_precision_in_a_bin_with_a_flat_middle() -> None:
    # one bin, slopes 1 and 5 at its ends but mean slope h/w ≈ 0.011: near its right end b < 0,
    # where 2c / (−b − √disc) cancels (about 80 x the bound below); (−b + √disc) / 2a does not
    kx = torch.tensor([-10.0, 0.75], dtype=DT)
    ky = torch.tensor([-10.0, -9.88], dtype=DT)
    d = torch.tensor([1.0, 5.0], dtype=DT)
    x = torch.linspace(-10, 0.75, 2001, dtype=DT)
    knots = (kx.expand(2001, 2), ky.expand(2001, 2), d.expand(2001, 2))
    y, ld = rational_quadratic(x, *knots)
    xr, ldi = rational_quadratic(y, *knots, inverse=True)
    assert bool(((xr - x).abs() <= 16 * EPS * (y.abs() + 10) / ld.exp()).all())
    assert bool(torch.isfinite(ldi).all())


# 4. C¹ at the knots --------------------------------------------------------------------------


@given(bins=st.integers(2, 12), bound=bound_st, seed=seed_st)
def test_value_and_slope_are_continuous_at_the_knots(bins: int, bound: float, seed: int) -> None:
    s, p = random_spline(bins, bound, seed)
    kx, ky, d = s.knots(p)
    # exact one-sided limits: the bin left of knot k at ξ = 1 and the bin right of it at ξ = 0
    for k in range(bins + 1):
        pieces = []
        if k > 0:
            pieces.append(rational_quadratic(kx[k], kx[: k + 1], ky[: k + 1], d[: k + 1]))
        if k < bins:
            pieces.append(rational_quadratic(kx[k], kx[k:], ky[k:], d[k:]))
        for y, ld in pieces:
            assert abs(y.item() - ky[k].item()) <= 1e-12 * bound
            assert abs(ld.item() - d[k].log().item()) <= 1e-12
    # and through the public map, 1e-9 either side of each interior knot
    h = 1e-9
    inner = kx[1:-1]
    yp, ldp, _, dldp = forward_with_autograd(s, inner + h, p)
    ym, ldm, _, dldm = forward_with_autograd(s, inner - h, p)
    assert (yp - ym).abs().max().item() <= 1e-7
    slope_p, slope_m = ldp.exp(), ldm.exp()
    # g′ may turn fast inside a narrow bin: allow what its (one-sided) curvature explains
    turn = 2 * h * torch.maximum((slope_p * dldp).abs(), (slope_m * dldm).abs())
    assert bool(((slope_p - slope_m).abs() <= 1e-6 + 1.01 * turn).all())


# 5. tails ------------------------------------------------------------------------------------


@given(bins=bins_st, bound=bound_st, seed=seed_st)
def test_tails_are_the_identity_exactly(bins: int, bound: float, seed: int) -> None:
    s, p = random_spline(bins, bound, seed)
    b = torch.tensor(bound, dtype=DT)
    out = torch.tensor([1e-12, 1e-6, 0.5, 3.0, 1e6], dtype=DT)
    z = torch.cat([torch.nextafter(b, b + 1).reshape(1), b + out, -b - out])
    z = torch.cat([z, -torch.nextafter(b, b + 1).reshape(1)])
    pz = p.expand(*z.shape, s.params)
    for f in (s.forward, s.inverse):
        w, ld = f(z, pz)
        assert bool((w == z).all())
        assert bool((ld == 0).all())
    # at ±bound exactly: no NaN, the edge maps to itself and the slope is 1 (continuous tails)
    e = torch.stack([-b, b])
    w, ld, _, dld = forward_with_autograd(s, e, p)
    torch.testing.assert_close(w, e, rtol=0, atol=1e-12 * bound)
    assert ld.abs().max().item() <= 1e-12
    w, ld = s.inverse(e, p.expand(2, s.params))
    torch.testing.assert_close(w, e, rtol=0, atol=1e-12 * bound)
    # the inverse's root is rounded at eps·bound, which (log g′)′ (large in a narrow bin) amplifies
    assert bool((ld.abs() <= 1e-12 + 16 * EPS * 2 * bound * dld.abs()).all())


# 6. gradients --------------------------------------------------------------------------------


@pytest.mark.parametrize("direction", ["forward", "inverse"])
def test_gradient_reaches_exactly_the_parameters_of_the_bin(direction: str) -> None:
    bins = 6
    s, p0 = random_spline(bins, 3.0, seed=7)
    kx, ky, _ = s.knots(p0)
    knots = kx if direction == "forward" else ky
    for k in range(bins):
        p = p0.clone().requires_grad_()
        z = ((knots[k] + knots[k + 1]) / 2).reshape(1)
        out, ld = getattr(s, direction)(z, p.expand(1, s.params))
        (g_out,) = torch.autograd.grad(out.sum(), p, retain_graph=True)
        (g_ld,) = torch.autograd.grad(ld.sum(), p)
        # interior derivative j (raw index 2K + j - 1) belongs to the bins j - 1 and j
        own = {2 * bins + j - 1 for j in (k, k + 1) if 1 <= j <= bins - 1}
        for g in (g_out, g_ld):
            assert bool(torch.isfinite(g).all())
            assert g[k].item() != 0 and g[bins + k].item() != 0  # this bin's width and height
            for i in range(2 * bins, 3 * bins - 1):
                assert (g[i].item() != 0) == (i in own), (k, i, g[i].item())
    # a point in a tail depends on no parameter
    p = p0.clone().requires_grad_()
    out, ld = s.forward(torch.tensor([4.0], dtype=DT), p.expand(1, s.params))
    (g,) = torch.autograd.grad((out + ld).sum(), p)
    assert bool((g == 0).all())


def test_gradients_pass_gradcheck_and_stay_finite_at_the_edges() -> None:
    s = RQSpline(bins=3, bound=2.0)
    g = torch.Generator().manual_seed(3)
    p = (2 * torch.randn(5, s.params, generator=g, dtype=DT)).requires_grad_()
    x = torch.tensor([-2.5, -1.1, 0.3, 1.7, 2.6], dtype=DT, requires_grad=True)
    assert torch.autograd.gradcheck(lambda x, p: s.forward(x, p), (x, p))
    assert torch.autograd.gradcheck(lambda y, p: s.inverse(y, p), (x, p))
    e = torch.tensor([-2.0, 2.0], dtype=DT, requires_grad=True)
    for f in (s.forward, s.inverse):
        out, ld = f(e, p[:2])
        gx, gp = torch.autograd.grad((out + ld).sum(), (e, p))
        assert bool(torch.isfinite(gx).all() and torch.isfinite(gp).all())


# 7. configuration and shapes -----------------------------------------------------------------


@pytest.mark.parametrize(
    "kw",
    [
        {"bins": 0},
        {"bins": -2},
        {"bins": 2.5},
        {"bins": True},
        {"bound": 0.0},
        {"bound": -1.0},
        {"bound": math.inf},
        {"bins": 10, "min_width": 0.1},
        {"bins": 4, "min_height": 0.3},
        {"min_width": 0.0},
        {"min_height": -1e-3},
        {"min_derivative": 0.0},
        {"min_derivative": 1.0},
    ],
)
def test_bad_configuration_raises_a_one_line_config_error(kw: dict) -> None:
    with pytest.raises(ConfigError) as info:
        RQSpline(**kw)
    assert "\n" not in str(info.value)


def test_batched_shapes_dtype_and_shape_errors() -> None:
    s = RQSpline(bins=5, bound=2.0)
    g = torch.Generator().manual_seed(0)
    x = 3 * torch.randn(4, 3, generator=g, dtype=DT)
    p = torch.randn(4, 3, s.params, generator=g, dtype=DT)
    y, ld = s.forward(x, p)
    assert y.shape == ld.shape == (4, 3) and y.dtype == DT
    # element-wise: each entry is the 1-d map with its own parameters
    y1, ld1 = s.forward(x.reshape(12), p.reshape(12, s.params))
    assert torch.equal(y.reshape(12), y1) and torch.equal(ld.reshape(12), ld1)
    xr, _ = s.inverse(y, p)
    torch.testing.assert_close(xr, x, rtol=0, atol=1e-10)
    # float32 input with float32 identity parameters stays float32
    y32, _ = s.forward(x.float(), s.identity_params().expand(4, 3, s.params))
    assert y32.dtype == torch.float32
    torch.testing.assert_close(y32, x.float())
    with pytest.raises(ShapeError):
        s.forward(x, p[..., :-1])
    with pytest.raises(ShapeError):
        s.inverse(x, torch.zeros(5, 3, s.params, dtype=DT))
