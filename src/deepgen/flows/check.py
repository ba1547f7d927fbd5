"""Verify any transform numerically, from both sides: inverse(forward(x)) ≈ x at points x of the
domain and forward(inverse(y)) ≈ y at points y of the range, log|det J| against the Jacobian
from torch.autograd (slogdet), and forward + inverse log-determinants summing to zero."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import torch
from torch import Tensor
from torch.autograd.functional import jacobian

from deepgen.flows.base import Transform


@dataclass(frozen=True)
class BijectionReport:
    """Worst errors over the batch; ``ok`` when all are within tolerance and J is non-singular.

    >>> import torch
    >>> from deepgen.flows import LULinear, check_bijection
    >>> check_bijection(LULinear(3).double(), torch.randn(4, 3, dtype=torch.float64)).ok
    True
    """

    name: str
    max_inverse_error: float
    max_logdet_error: float
    max_logdet_sum: float
    min_abs_det: float
    ok: bool
    message: str

    def to_dict(self) -> dict[str, Any]:
        """Plain dict (JSON-serialisable)."""
        return asdict(self)


def check_bijection(
    transform: Transform,
    x: Tensor,
    context: Tensor | None = None,
    atol: float = 1e-8,
    name: str | None = None,
    y: Tensor | None = None,
) -> BijectionReport:
    """Check ``transform`` at the points ``x`` ([batch, features]) and, when given, at the
    points ``y`` of its range (y → x → y, with their own context rows); use float64.

    The Jacobian of each sample is computed by autograd; a singular one (|det J| ≈ 0, e.g. an
    element-wise ReLU on its flat part) means the map is not a bijection there.
    """
    name = name or type(transform).__name__
    with torch.no_grad():
        y_x, logdet = transform(x, context)
        x_back, logdet_inv = transform.inverse(y_x, context)
        inv_err = (x_back - x).abs().max().item()
        sum_err = (logdet + logdet_inv).abs().max().item()
        if y is not None:
            x_y, logdet_inv_y = transform.inverse(y, context)
            y_back, logdet_y = transform(x_y, context)
            inv_err = max(inv_err, (y_back - y).abs().max().item())
            sum_err = max(sum_err, (logdet_y + logdet_inv_y).abs().max().item())
    ld_errs, min_det = [], float("inf")
    for i in range(x.shape[0]):
        ctx = None if context is None else context[i : i + 1]
        j = jacobian(lambda v, ctx=ctx: transform(v.unsqueeze(0), ctx)[0].squeeze(0), x[i])
        sign, logabs = torch.linalg.slogdet(j)
        min_det = min(min_det, torch.exp(logabs).item() if sign != 0 else 0.0)
        ld_errs.append((logabs - logdet[i]).abs().item() if sign != 0 else float("inf"))
    ld_err = max(ld_errs)
    problems = []
    if min_det == 0.0 or not math.isfinite(ld_err):
        problems.append("the Jacobian is singular: the map is not invertible there")
    if not inv_err <= atol:
        problems.append(f"a round trip misses its start by {inv_err:.3g} > {atol:g}")
    if not ld_err <= atol:
        problems.append(f"log|det J| differs from autograd's by {ld_err:.3g} > {atol:g}")
    if not sum_err <= atol:
        problems.append(f"forward and inverse log-dets do not cancel ({sum_err:.3g})")
    return BijectionReport(
        name=name,
        max_inverse_error=inv_err,
        max_logdet_error=ld_err,
        max_logdet_sum=sum_err,
        min_abs_det=min_det,
        ok=not problems,
        message="; ".join(problems) if problems else "ok",
    )
