"""Every ready-made flow: a normalized density on the plane, and samples with their log_prob."""

from __future__ import annotations

import pytest
import torch

from deepgen.data.toy import sample_toy
from deepgen.errors import ConfigError
from deepgen.flows.experiment import density_on_grid, grid_box
from deepgen.flows.zoo import KINDS, build_flow


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_each_flow_trains_briefly_and_its_density_integrates_to_one(kind: str) -> None:
    torch.manual_seed(0)
    data = sample_toy("moons", 512, torch.Generator().manual_seed(0))
    flow = build_flow(kind, 2, layers=2, hidden=8)
    opt = torch.optim.Adam(flow.parameters(), lr=1e-2)
    for _ in range(25):
        loss = -flow.log_prob(data).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert torch.isfinite(loss)
    _, integral = density_on_grid(flow, grid_box(data), 300, torch.device("cpu"))
    assert integral == pytest.approx(1.0, abs=0.01)
    with torch.no_grad():
        x, lp = flow.sample_and_log_prob(64)
        torch.testing.assert_close(lp, flow.log_prob(x), atol=1e-3, rtol=1e-4)


def test_unknown_kind_and_bad_sizes_are_clear_errors() -> None:
    with pytest.raises(ConfigError, match="unknown flow 'glow'"):
        build_flow("glow", 2)
    with pytest.raises(ConfigError, match="even"):
        build_flow("scaled-coupling", 3)
    with pytest.raises(ConfigError, match="at least 2 features"):
        build_flow("realnvp", 1)
