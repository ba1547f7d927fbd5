"""ActNorm's data-dependent initialization (and that it survives load_state_dict); the bounded
Logit transform (clear errors outside its domain and range)."""

from __future__ import annotations

import io

import pytest
import torch

from deepgen.errors import DataError
from deepgen.flows import Flow
from deepgen.flows.actnorm import ActNorm
from deepgen.flows.base import Compose
from deepgen.flows.bounded import Logit
from deepgen.flows.check import check_bijection

DT = torch.float64


def test_actnorm_standardizes_its_first_batch() -> None:
    x = 3.0 + 2.5 * torch.randn(500, 4, dtype=DT, generator=torch.Generator().manual_seed(0))
    t = ActNorm(4).double()
    y, ld = t(x)
    torch.testing.assert_close(y.mean(0), torch.zeros(4, dtype=DT), atol=1e-12, rtol=0)
    torch.testing.assert_close(y.std(0), torch.ones(4, dtype=DT))
    torch.testing.assert_close(ld, -torch.log(x.std(0)).sum().expand(500))
    assert bool(t.initialized)


def test_actnorm_initialization_survives_load_state_dict_and_a_checkpoint_file() -> None:
    g = torch.Generator().manual_seed(1)
    first, later = 5 + torch.randn(64, 3, generator=g), -2 + 4 * torch.randn(64, 3, generator=g)
    trained = ActNorm(3)
    trained(first)
    buffer = io.BytesIO()
    torch.save(trained.state_dict(), buffer)
    buffer.seek(0)
    for state in (trained.state_dict(), torch.load(buffer)):
        loaded = ActNorm(3)
        loaded.load_state_dict(state)
        y_loaded, _ = loaded(later)  # must not re-initialize on this new batch
        y_trained, _ = trained(later)
        torch.testing.assert_close(y_loaded, y_trained)
        torch.testing.assert_close(loaded.loc, trained.loc)
        assert y_loaded.mean(0).abs().max() > 1  # i.e. 'later' was not standardized


def test_actnorm_is_a_checked_bijection_after_initialization() -> None:
    t = ActNorm(3).double()
    x = torch.randn(10, 3, dtype=DT)
    t(7 * x + 1)
    assert check_bijection(t, x).ok


def test_logit_is_a_bijection_of_the_cube_and_checks_against_autograd() -> None:
    x = torch.rand(20, 5, dtype=DT, generator=torch.Generator().manual_seed(0))
    for alpha in (0.0, 1e-3, 0.05):
        report = check_bijection(Logit(5, alpha=alpha), x, atol=1e-8)
        assert report.ok, report.message


def test_points_outside_a_bounded_transform_get_a_clear_error_never_nan() -> None:
    t = Logit(2, alpha=0.01)
    with pytest.raises(DataError, match=r"domain is \[0, 1\].*1\.5"):
        t(torch.tensor([[0.5, 1.5]]))
    with pytest.raises(DataError, match="open"):
        Logit(2, alpha=0.0)(torch.tensor([[0.0, 0.5]]))
    # the range of Logit with α > 0 is a bounded box: a point beyond it has no preimage
    with pytest.raises(DataError, match="range"):
        t.inverse(torch.tensor([[0.0, 50.0]]))
    # as the first layer of a flow: log_prob of an out-of-range point is an error, not NaN
    flow = Flow(Compose([Logit(2, alpha=0.01), ActNorm(2)]))
    with pytest.raises(DataError, match="outside"):
        flow.log_prob(torch.tensor([[0.2, -0.1]]))
