"""Activation normalization (Kingma & Dhariwal 2018): y = (x − b) ∘ exp(−s), log|det J| = −Σ s.

Data-dependent initialization: on the first forward pass (data → noise) b and s are set to the
mean and log standard deviation of that batch, so its output has zero mean and unit variance per
feature. Whether this has happened is a buffer, so it is saved in and restored by
``state_dict``/``load_state_dict``: a loaded ActNorm never re-initializes on new data.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from deepgen.flows.base import Transform, checking_values


class ActNorm(Transform):
    """Per-feature affine normalization with data-dependent initialization.

    >>> import torch
    >>> t = ActNorm(2)
    >>> y, _ = t(3 + 2 * torch.randn(500, 2))   # the first batch initializes it
    >>> bool((y.mean(0).abs() < 1e-5).all()) and bool(t.initialized)
    True
    """

    initialized: Tensor

    def __init__(self, features: int, eps: float = 1e-6) -> None:
        super().__init__()
        self.features, self.eps = features, eps
        self.loc = nn.Parameter(torch.zeros(features))
        self.log_scale = nn.Parameter(torch.zeros(features))
        self.register_buffer("initialized", torch.tensor(False))

    @torch.no_grad()
    def initialize(self, x: Tensor) -> None:
        """b = mean(x), s = log std(x) over the batch (std floored at ``eps``)."""
        self.loc.copy_(x.mean(0))
        std = x.std(0) if x.shape[0] > 1 else torch.ones_like(self.log_scale)
        self.log_scale.copy_(torch.log(std.clamp(min=self.eps)))
        self.initialized.fill_(True)

    def forward(self, x: Tensor, context: Tensor | None = None) -> tuple[Tensor, Tensor]:
        self.check_context(x, context)
        if checking_values() and not bool(self.initialized):  # compiled: started before
            self.initialize(x)
        y = (x - self.loc) * torch.exp(-self.log_scale)
        return y, (-self.log_scale.sum()).expand(x.shape[0])

    def inverse(self, y: Tensor, context: Tensor | None = None) -> tuple[Tensor, Tensor]:
        self.check_context(y, context)
        x = y * torch.exp(self.log_scale) + self.loc
        return x, self.log_scale.sum().expand(y.shape[0])
