"""Linear flows: element-wise affine (O(K) log-det), lower-triangular (O(K)), and a general
invertible matrix parameterized by its LU decomposition (O(K) log-det instead of O(K³))."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from deepgen.flows.base import Transform
from deepgen.flows.elementwise import Affine, Elementwise


class ElementwiseAffine(Transform):
    """y = μ + σ ∘ x with σ = exp(log σ): log|det J| = Σ log σ_i.

    Unconditional: μ and log σ are free parameters. With ``context`` > 0 they are an MLP of
    the context (log σ soft-clamped, as in :class:`~deepgen.flows.elementwise.Affine`).

    >>> import torch
    >>> t = ElementwiseAffine(2, context=3, hidden=8)
    >>> x, c = torch.randn(4, 2), torch.randn(4, 3)
    >>> bool(torch.allclose(t.inverse(t(x, c)[0], c)[0], x, atol=1e-6))
    True
    """

    def __init__(self, features: int, context: int = 0, hidden: int | Sequence[int] = 64) -> None:
        super().__init__()
        self.features, self.context_features = features, context
        if context:  # the generic element-wise transform with the affine map does it all
            self.conditional = Elementwise(features, Affine(), context, hidden)
        else:
            self.shift = nn.Parameter(torch.zeros(features))
            self.log_scale = nn.Parameter(torch.zeros(features))

    def forward(self, x: Tensor, context: Tensor | None = None) -> tuple[Tensor, Tensor]:
        self.check_context(x, context)
        if context is not None:
            return self.conditional(x, context)
        y = self.shift + torch.exp(self.log_scale) * x
        return y, self.log_scale.sum().expand(x.shape[0])

    def inverse(self, y: Tensor, context: Tensor | None = None) -> tuple[Tensor, Tensor]:
        self.check_context(y, context)
        if context is not None:
            return self.conditional.inverse(y, context)
        x = (y - self.shift) * torch.exp(-self.log_scale)
        return x, (-self.log_scale.sum()).expand(y.shape[0])


class LowerTriangularLinear(Transform):
    """y = L x + b with L lower-triangular, diagonal exp(d) > 0: log|det J| = Σ d_i.

    >>> import torch
    >>> t = LowerTriangularLinear(3)
    >>> y, logdet = t(torch.randn(4, 3))
    >>> logdet.shape
    torch.Size([4])
    """

    def __init__(self, features: int) -> None:
        super().__init__()
        self.features = features
        self.lower = nn.Parameter(torch.zeros(features, features))
        self.log_diag = nn.Parameter(torch.zeros(features))
        self.bias = nn.Parameter(torch.zeros(features))

    def matrix(self) -> Tensor:
        """L = strictly-lower part of the free matrix + diag(exp(d))."""
        return torch.tril(self.lower, -1) + torch.diag(torch.exp(self.log_diag))

    def forward(self, x: Tensor, context: Tensor | None = None) -> tuple[Tensor, Tensor]:
        self.check_context(x, context)
        return x @ self.matrix().T + self.bias, self.log_diag.sum().expand(x.shape[0])

    def inverse(self, y: Tensor, context: Tensor | None = None) -> tuple[Tensor, Tensor]:
        self.check_context(y, context)
        rhs = (y - self.bias).T
        x = torch.linalg.solve_triangular(self.matrix(), rhs, upper=False).T
        return x, (-self.log_diag.sum()).expand(y.shape[0])


class LULinear(Transform):
    """y = W x + b with W = P L U: P a fixed permutation, L unit lower-triangular, U upper with a
    positive diagonal exp(s). Any invertible W with det of sign det P is reachable.
    log|det J| = Σ s_i; the inverse is two triangular solves.

    >>> import torch
    >>> t = LULinear(3).double()
    >>> x = torch.randn(4, 3, dtype=torch.float64)
    >>> bool(torch.allclose(t.inverse(t(x)[0])[0], x))
    True
    """

    def __init__(self, features: int, seed: int = 0) -> None:
        super().__init__()
        self.features = features
        g = torch.Generator().manual_seed(seed)
        self.register_buffer("perm", torch.randperm(features, generator=g))
        self.lower = nn.Parameter(torch.zeros(features, features))
        self.upper = nn.Parameter(torch.zeros(features, features))
        self.log_diag = nn.Parameter(torch.zeros(features))
        self.bias = nn.Parameter(torch.zeros(features))

    def _factors(self) -> tuple[Tensor, Tensor]:
        eye = torch.eye(self.features, dtype=self.lower.dtype, device=self.lower.device)
        lower = torch.tril(self.lower, -1) + eye
        upper = torch.triu(self.upper, 1) + torch.diag(torch.exp(self.log_diag))
        return lower, upper

    def matrix(self) -> Tensor:
        """W = P L U (rows of L U permuted by P)."""
        lower, upper = self._factors()
        w = lower @ upper
        out = torch.empty_like(w)
        out[self.perm] = w
        return out

    def forward(self, x: Tensor, context: Tensor | None = None) -> tuple[Tensor, Tensor]:
        self.check_context(x, context)
        return x @ self.matrix().T + self.bias, self.log_diag.sum().expand(x.shape[0])

    def inverse(self, y: Tensor, context: Tensor | None = None) -> tuple[Tensor, Tensor]:
        self.check_context(y, context)
        lower, upper = self._factors()
        rhs = (y - self.bias)[:, self.perm].T  # undo P: (P⁻¹ v)_i = v_{perm[i]}
        u = torch.linalg.solve_triangular(lower, rhs, upper=False, unitriangular=True)
        x = torch.linalg.solve_triangular(upper, u, upper=True).T
        return x, (-self.log_diag.sum()).expand(y.shape[0])
