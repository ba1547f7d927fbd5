"""A fixed permutation of the features (log|det| = 0), drawn once from a seed."""

from __future__ import annotations

import torch
from torch import Tensor

from deepgen.flows.base import Transform


class Permutation(Transform):
    """y = x[:, π]; inverse x = y[:, π⁻¹]. π is a buffer, so it is saved with the model.

    >>> import torch
    >>> t = Permutation(4, seed=1)
    >>> x = torch.arange(4.0).unsqueeze(0)
    >>> torch.equal(t.inverse(t(x)[0])[0], x)
    True
    """

    perm: Tensor
    inv_perm: Tensor

    def __init__(self, features: int, seed: int = 0) -> None:
        super().__init__()
        self.features = features
        perm = torch.randperm(features, generator=torch.Generator().manual_seed(seed))
        self.register_buffer("perm", perm)
        self.register_buffer("inv_perm", torch.argsort(perm))

    def forward(self, x: Tensor, context: Tensor | None = None) -> tuple[Tensor, Tensor]:
        self.check_context(x, context)
        return x[:, self.perm], x.new_zeros(x.shape[0])

    def inverse(self, y: Tensor, context: Tensor | None = None) -> tuple[Tensor, Tensor]:
        self.check_context(y, context)
        return y[:, self.inv_perm], y.new_zeros(y.shape[0])
