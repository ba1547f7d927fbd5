"""The transform protocol, composition and inversion.

For a bijection f with y = f(x): p_X(x) = p_Y(f(x)) |det ∂f/∂x|, so
log p_X(x) = log p_Y(y) + log|det J_f(x)|; composition adds log-determinants.

Every transform states how many context features it is conditioned on (``context_features``,
0 for an unconditional one) and checks what it is given: a missing context for a conditional
transform, a context for an unconditional one, or one of the wrong size is a one-line
:class:`~deepgen.errors.ShapeError` — a context is never silently ignored.
"""

from __future__ import annotations

from collections.abc import Iterable

import torch
from torch import Tensor, nn

from deepgen.errors import DataError, ShapeError


def checking_values() -> bool:
    """Whether checks of values (NaN, a domain) run: always, except inside code being
    compiled by ``torch.compile``, where a data-dependent branch would break the graph (the
    training loops that compile check their data before)."""
    return not torch.compiler.is_compiling()


def check_features(x: Tensor, features: int, what: str = "input") -> None:
    """Raise a one-line ShapeError unless ``x`` is [..., features], and DataError on NaN/inf."""
    if x.dim() < 1 or x.shape[-1] != features:
        raise ShapeError(f"{what} must have shape [..., {features}], got {list(x.shape)}")
    # one reduction and one host sync; the element-wise test only when the sum is not finite
    # (which a sum of huge finite values can also be)
    if not checking_values():
        return
    if not bool(torch.isfinite(x.sum())) and not bool(torch.isfinite(x).all()):
        raise DataError(f"{what} contains NaN or infinite values")


class Transform(nn.Module):
    """An invertible map on ℝ^features: ``forward`` and ``inverse`` return (output, log|det J|).

    Inputs are [batch, features]; a conditional transform also takes a context
    [batch, context_features]. Log-determinants are per sample, shape [batch].

    A new transform implements both directions and checks its context:

    >>> import torch
    >>> class Shift(Transform):
    ...     def __init__(self, features: int) -> None:
    ...         super().__init__()
    ...         self.features = features
    ...     def forward(self, x, context=None):
    ...         self.check_context(x, context)
    ...         return x + 1, x.new_zeros(x.shape[0])
    ...     def inverse(self, y, context=None):
    ...         self.check_context(y, context)
    ...         return y - 1, y.new_zeros(y.shape[0])
    >>> Shift(2)(torch.zeros(1, 2))[0]
    tensor([[1., 1.]])
    """

    features: int
    context_features: int = 0
    # log|det J| is identically 0 (a permutation): a composition need not add it
    zero_logdet: bool = False

    def forward(self, x: Tensor, context: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """y = f(x) and log|det ∂f/∂x| per sample."""
        raise NotImplementedError

    def inverse(self, y: Tensor, context: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """x = f⁻¹(y) and log|det ∂f⁻¹/∂y| = −log|det ∂f/∂x| per sample."""
        raise NotImplementedError

    def check_context(self, x: Tensor, context: Tensor | None) -> None:
        """Refuse a context this transform cannot use, or a missing / wrongly shaped one."""
        name = type(self).__name__
        if context is None:
            if self.context_features:
                raise ShapeError(
                    f"{name} is conditional: it needs a context of "
                    f"{self.context_features} features, none was given"
                )
        elif not self.context_features:
            raise ShapeError(
                f"{name} is unconditional: it takes no context, got one of shape "
                f"{list(context.shape)}"
            )
        elif context.shape[-1] != self.context_features or context.shape[:-1] != x.shape[:-1]:
            raise ShapeError(
                f"{name} needs a context of shape {[*x.shape[:-1], self.context_features]}, "
                f"got {list(context.shape)}"
            )


def context_size(transforms: Iterable[Transform]) -> int:
    """The context size shared by the conditional transforms among ``transforms`` (0 if none);
    a ShapeError if two of them disagree."""
    sizes = {t.context_features for t in transforms if t.context_features}
    if len(sizes) > 1:
        raise ShapeError(f"conditional transforms disagree on the context size: {sorted(sizes)}")
    return sizes.pop() if sizes else 0


class Compose(Transform):
    """f = f_n ∘ … ∘ f_1: forward applies them in order, log-determinants add.

    The context goes to the conditional parts only; the composition is conditional when any
    part is.

    >>> import torch
    >>> from deepgen.flows import Compose, ElementwiseAffine, Reverse
    >>> t = Compose([ElementwiseAffine(3), Reverse(3)])
    >>> y, logdet = t(torch.randn(5, 3))
    >>> x, logdet_inv = t.inverse(y)
    >>> bool(torch.allclose(logdet + logdet_inv, torch.zeros(5)))
    True
    """

    def __init__(self, transforms: Iterable[Transform]) -> None:
        super().__init__()
        self.transforms = nn.ModuleList(transforms)
        if len(self.transforms) == 0:
            raise ValueError("Compose needs at least one transform")
        sizes = {t.features for t in self.transforms}
        if len(sizes) != 1:
            raise ShapeError(f"composed transforms disagree on the feature size: {sorted(sizes)}")
        self.features = sizes.pop()
        self.context_features = context_size(self.transforms)
        self._conditional = [bool(t.context_features) for t in self.transforms]

    def forward(self, x: Tensor, context: Tensor | None = None) -> tuple[Tensor, Tensor]:
        self.check_context(x, context)
        total: Tensor | None = None
        for t, cond in zip(self.transforms, self._conditional, strict=True):
            x, ld = t(x, context) if cond else t(x)
            if not t.zero_logdet:
                total = ld if total is None else total + ld
        return x, x.new_zeros(x.shape[0]) if total is None else total

    def inverse(self, y: Tensor, context: Tensor | None = None) -> tuple[Tensor, Tensor]:
        self.check_context(y, context)
        total: Tensor | None = None
        for t, cond in zip(reversed(self.transforms), reversed(self._conditional), strict=True):
            y, ld = t.inverse(y, context) if cond else t.inverse(y)
            if not t.zero_logdet:
                total = ld if total is None else total + ld
        return y, y.new_zeros(y.shape[0]) if total is None else total


class InverseTransform(Transform):
    """The inverse of a transform: swaps its two directions (and keeps its context).

    >>> import torch
    >>> from deepgen.flows import LULinear
    >>> t = LULinear(3)
    >>> x = torch.randn(2, 3)
    >>> torch.equal(InverseTransform(t)(x)[0], t.inverse(x)[0])
    True
    """

    def __init__(self, transform: Transform) -> None:
        super().__init__()
        self.base = transform
        self.features = transform.features
        self.context_features = transform.context_features

    def forward(self, x: Tensor, context: Tensor | None = None) -> tuple[Tensor, Tensor]:
        return self.base.inverse(x, context)

    def inverse(self, y: Tensor, context: Tensor | None = None) -> tuple[Tensor, Tensor]:
        return self.base(y, context)


class Reverse(Transform):
    """Reverses the order of the features (a permutation: log|det| = 0).

    >>> import torch
    >>> Reverse(3)(torch.tensor([[1.0, 2.0, 3.0]]))[0]
    tensor([[3., 2., 1.]])
    """

    zero_logdet = True

    def __init__(self, features: int) -> None:
        super().__init__()
        self.features = features

    def forward(self, x: Tensor, context: Tensor | None = None) -> tuple[Tensor, Tensor]:
        self.check_context(x, context)
        return x.flip(-1), x.new_zeros(x.shape[0])

    def inverse(self, y: Tensor, context: Tensor | None = None) -> tuple[Tensor, Tensor]:
        self.check_context(y, context)
        return y.flip(-1), y.new_zeros(y.shape[0])
