"""The optimizer every training command uses (Adam, with torch's fused kernel where it exists),
and ``--compile``.

torch.optim.Adam(fused=True) does the whole update of all parameters in one kernel per
parameter instead of a dozen small ops; on one CPU thread that is 2-3x faster for the small
models here (measured: 130 µs against 340 µs per step for the SPEC §1 VAE). The arithmetic is
Adam's; only the rounding order differs, and a resumed run uses the same kernel, so resume
stays exact.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TypeVar

import torch
from torch import nn

F = TypeVar("F", bound=Callable[..., object])
FUSED_DTYPES = (torch.float16, torch.bfloat16, torch.float32, torch.float64)


def adam(
    params: Iterable[nn.Parameter],
    lr: float,
    betas: tuple[float, float] = (0.9, 0.999),
    eps: float = 1e-8,
) -> torch.optim.Adam:
    """Adam over ``params``, fused when every parameter is a floating tensor on CPU or CUDA."""
    params = list(params)
    fused = all(p.dtype in FUSED_DTYPES and p.device.type in ("cpu", "cuda") for p in params)
    return torch.optim.Adam(params, lr=lr, betas=betas, eps=eps, fused=fused or None)


def maybe_compiled(fn: F, enabled: bool) -> F:
    """``torch.compile(fn)`` when ``enabled`` (``--compile``), else ``fn`` itself. Compiling a
    bound method leaves the module and its state_dict as they are. Measured on one CPU thread
    (benchmarks/precision_compile.py): the VAE's update 1.22x faster, the PixelCNN's 1.31x,
    the flows' 1.39-1.71x, the GANs' 0.54-0.92x (slower), after a first compile of up to a
    minute. Random draws inside the compiled code come from
    torch's generator as in eager mode (inductor's ``fallback_random``)."""
    if not enabled:
        return fn
    import torch._inductor.config as inductor

    # random numbers inside compiled code from torch's own generator, as in eager mode: the
    # same seed gives the same draws, so a compiled run reproduces an eager one
    inductor.fallback_random = True
    return torch.compile(fn)  # type: ignore[return-value]
