"""Flows as modules that return torch Distributions, and the ready-made recipes.

``Flow(transforms, base)`` is the generic constructor: any list of deepgen transforms (each
mapping data → noise) over a base module. Calling the flow with a context (with nothing when
it is unconditional) returns a :class:`~deepgen.flows.distribution.FlowDistribution`. An
optional embedding network maps the raw context to what the transforms are conditioned on.

Presets, each a short recipe of generic parts: :class:`NICE`, :class:`RealNVP`,
:class:`ScaledCoupling` (SPEC §3's block), :class:`MAF`, :class:`IAF`, :class:`NSF` (spline
coupling) and :class:`AutoregressiveNSF`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import Tensor, nn

from deepgen.errors import ConfigError, ShapeError
from deepgen.flows.autoregressive import MaskedAffineAutoregressive, MaskedSplineAutoregressive
from deepgen.flows.base import Compose, InverseTransform, Reverse, Transform
from deepgen.flows.bases import StandardNormal
from deepgen.flows.coupling import (
    AdditiveCoupling,
    AffineCoupling,
    ScaledAffineCoupling,
    SplineCoupling,
)
from deepgen.flows.distribution import FlowDistribution, standard_normal_log_prob
from deepgen.flows.linear import ElementwiseAffine

Hidden = int | Sequence[int]


class Flow(nn.Module):
    """A density p(x | c): x = f⁻¹(z; e(c)), z ~ base, with f = the composed ``transforms``
    (data → noise) and e the ``embedding`` (identity when None).

    >>> import torch
    >>> from deepgen.flows import Flow, AffineCoupling
    >>> flow = Flow([AffineCoupling(2, hidden=16), AffineCoupling(2, hidden=16, swap=True)])
    >>> d = flow()                                   # a torch Distribution
    >>> d.log_prob(torch.randn(10, 2)).shape
    torch.Size([10])
    >>> x, log_p = d.rsample_and_log_prob((4,))
    >>> x.shape, log_p.shape
    (torch.Size([4, 2]), torch.Size([4]))
    """

    def __init__(
        self,
        transforms: Transform | Sequence[Transform],
        base: nn.Module | None = None,
        embedding: nn.Module | None = None,
        context: int | None = None,
    ) -> None:
        super().__init__()
        transform = transforms if isinstance(transforms, Transform) else Compose(transforms)
        self.transform = transform
        self.features = transform.features
        self.base = StandardNormal(self.features) if base is None else base
        self.embedding = embedding
        inner = transform.context_features
        if embedding is None:
            if context is not None and context != inner:
                raise ShapeError(
                    f"context={context} but the transforms are conditioned on {inner} features"
                )
            self.context_features = inner
        else:
            if context is None:
                raise ConfigError("a flow with an embedding needs the raw context size: context=")
            size = embedded_size(embedding, context)
            if inner != size:
                raise ShapeError(
                    f"the embedding gives {size} features but the transforms are conditioned "
                    f"on {inner}"
                )
            self.context_features = context

    def forward(self, context: Tensor | None = None) -> FlowDistribution:
        """p(x | c) as a torch Distribution (batch shape: the context's leading shape)."""
        if context is not None and self.embedding is not None:
            if context.dim() < 1 or context.shape[-1] != self.context_features:
                raise ShapeError(
                    f"the context must have shape [..., {self.context_features}], got "
                    f"{list(context.shape)}"
                )
            context = self.embedding(context)
        # the standard normal's density by its short formula rather than torch's general one
        fast = standard_normal_log_prob if type(self.base) is StandardNormal else None
        return FlowDistribution(self.base(), self.transform, context, fast)

    # shortcuts for training loops: the same code path as self(context).<method>
    def log_prob(self, x: Tensor, context: Tensor | None = None) -> Tensor:
        """log p(x | c) = self(context).log_prob(x)."""
        return self(context).log_prob(x)

    def sample(self, n: int, context: Tensor | None = None) -> Tensor:
        """n samples (no gradients): [n, *batch, features]."""
        return self(context).sample((n,))

    def sample_and_log_prob(self, n: int, context: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """n samples and their log-density (no gradients), from one inverse pass."""
        return self(context).sample_and_log_prob((n,))


def embedded_size(embedding: nn.Module, context: int) -> int:
    """The number of features ``embedding`` makes of a context of ``context`` features."""
    p = next(embedding.parameters(), None)
    probe = torch.zeros(1, context, dtype=p.dtype if p is not None else torch.float32)
    with torch.no_grad():
        return int(embedding(probe).shape[-1])


def _layers(
    features: int,
    context: int,
    embedding: nn.Module | None,
    n: int,
    block: Callable[[int, int], list[Transform]],
) -> tuple[list[Transform], int | None]:
    if n < 1:
        raise ConfigError(f"a flow needs at least one transform, got transforms={n}")
    if features < 1:
        raise ConfigError(f"a flow needs at least one feature, got features={features}")
    inner = context if embedding is None else embedded_size(embedding, context)
    blocks: list[Transform] = []
    for i in range(n):
        blocks += block(i, inner)
    return blocks, (context if embedding is not None else None)


def _need_two(name: str, features: int) -> None:
    if features < 2:
        raise ConfigError(
            f"{name} is a coupling flow and needs at least 2 features, got {features}; "
            "use an autoregressive flow (MAF, AutoregressiveNSF) for 1"
        )


class _Preset(Flow):
    def __init__(
        self,
        features: int,
        context: int,
        transforms: int,
        embedding: nn.Module | None,
        base: nn.Module | None,
        block: Callable[[int, int], list[Transform]],
    ) -> None:
        blocks, raw = _layers(features, context, embedding, transforms, block)
        super().__init__(blocks, base, embedding, raw)


class NICE(_Preset):
    """NICE (Dinh et al. 2014): additive couplings on alternating halves, then a diagonal
    scaling (the only volume change).

    >>> flow = NICE(features=4, transforms=4, hidden=(32, 32))
    >>> flow().sample((3,)).shape
    torch.Size([3, 4])
    """

    def __init__(
        self,
        features: int,
        context: int = 0,
        transforms: int = 4,
        hidden: Hidden = (64, 64),
        embedding: nn.Module | None = None,
        base: nn.Module | None = None,
    ) -> None:
        _need_two("NICE", features)

        def block(i: int, c: int) -> list[Transform]:
            layer: list[Transform] = [AdditiveCoupling(features, hidden, bool(i % 2), c)]
            return layer + ([ElementwiseAffine(features)] if i == transforms - 1 else [])

        super().__init__(features, context, transforms, embedding, base, block)


class RealNVP(_Preset):
    """RealNVP (Dinh et al. 2017): affine couplings on alternating halves, soft-clamped scales.

    >>> import torch
    >>> flow = RealNVP(features=2, context=1, transforms=4)
    >>> flow(torch.randn(7, 1)).log_prob(torch.randn(7, 2)).shape
    torch.Size([7])
    """

    def __init__(
        self,
        features: int,
        context: int = 0,
        transforms: int = 8,
        hidden: Hidden = (64, 64),
        embedding: nn.Module | None = None,
        base: nn.Module | None = None,
        scale_bound: float = 5.0,
    ) -> None:
        _need_two("RealNVP", features)

        def block(i: int, c: int) -> list[Transform]:
            return [AffineCoupling(features, hidden, bool(i % 2), scale_bound, c)]

        super().__init__(features, context, transforms, embedding, base, block)


class ScaledCoupling(_Preset):
    """SPEC §3's scaled affine coupling blocks, with the features reversed between blocks.

    >>> flow = ScaledCoupling(features=4, transforms=2)
    >>> flow().sample((2,)).shape
    torch.Size([2, 4])
    """

    def __init__(
        self,
        features: int,
        context: int = 0,
        transforms: int = 8,
        hidden: Hidden = (64, 64),
        embedding: nn.Module | None = None,
        base: nn.Module | None = None,
    ) -> None:
        if features < 2 or features % 2:
            raise ConfigError(f"ScaledCoupling needs an even number of features, got {features}")

        def block(i: int, c: int) -> list[Transform]:
            return [ScaledAffineCoupling(features, hidden, context=c), Reverse(features)]

        super().__init__(features, context, transforms, embedding, base, block)


def _reverse_between(i: int, n: int, features: int) -> list[Transform]:
    return [Reverse(features)] if i < n - 1 and features > 1 else []


def _affine_autoregressive(
    features: int, transforms: int, hidden: Hidden, scale_bound: float, invert: bool
) -> Callable[[int, int], list[Transform]]:
    """Layer i of MAF (or, inverted, of IAF), the order reversed between layers."""

    def block(i: int, c: int) -> list[Transform]:
        layer: Transform = MaskedAffineAutoregressive(features, hidden, None, scale_bound, c)
        layer = InverseTransform(layer) if invert else layer
        return [layer, *_reverse_between(i, transforms, features)]

    return block


class MAF(_Preset):
    """Masked autoregressive flow (Papamakarios et al. 2017): log_prob in one pass per layer,
    sampling in D passes; the order is reversed between layers.

    >>> import torch
    >>> m = MAF(features=2)            # unconditional: call m() for the distribution
    >>> m().log_prob(torch.zeros(1, 2)).shape
    torch.Size([1])
    """

    def __init__(
        self,
        features: int,
        context: int = 0,
        transforms: int = 5,
        hidden: Hidden = (64, 64),
        embedding: nn.Module | None = None,
        base: nn.Module | None = None,
        scale_bound: float = 5.0,
    ) -> None:
        block = _affine_autoregressive(features, transforms, hidden, scale_bound, invert=False)
        super().__init__(features, context, transforms, embedding, base, block)


class IAF(_Preset):
    """Inverse autoregressive flow (Kingma et al. 2016): sampling (and rsample_and_log_prob) in
    one pass per layer; log_prob of a given x takes D passes.

    >>> import torch
    >>> q = IAF(features=3, context=2, transforms=2, hidden=(16, 16))
    >>> z, log_q = q(torch.randn(5, 2)).rsample_and_log_prob((10,))
    >>> z.shape, log_q.shape
    (torch.Size([10, 5, 3]), torch.Size([10, 5]))
    """

    def __init__(
        self,
        features: int,
        context: int = 0,
        transforms: int = 5,
        hidden: Hidden = (64, 64),
        embedding: nn.Module | None = None,
        base: nn.Module | None = None,
        scale_bound: float = 5.0,
    ) -> None:
        block = _affine_autoregressive(features, transforms, hidden, scale_bound, invert=True)
        super().__init__(features, context, transforms, embedding, base, block)


class NSF(_Preset):
    """Neural spline flow (Durkan et al. 2019), coupling form: rational-quadratic splines with
    ``bins`` bins on [−bound, bound] and identity tails, on alternating halves.

    >>> import torch
    >>> f = NSF(features=2, context=3, transforms=3, hidden=(64, 64))
    >>> d = f(torch.randn(4, 3))
    >>> d.batch_shape, d.event_shape
    (torch.Size([4]), torch.Size([2]))
    """

    def __init__(
        self,
        features: int,
        context: int = 0,
        transforms: int = 4,
        hidden: Hidden = (64, 64),
        bins: int = 8,
        bound: float = 5.0,
        embedding: nn.Module | None = None,
        base: nn.Module | None = None,
    ) -> None:
        _need_two("NSF", features)

        def block(i: int, c: int) -> list[Transform]:
            return [SplineCoupling(features, hidden, bool(i % 2), bins, bound, c)]

        super().__init__(features, context, transforms, embedding, base, block)


class AutoregressiveNSF(_Preset):
    """Neural spline flow, autoregressive form: each layer a MADE-conditioned spline.

    >>> f = AutoregressiveNSF(features=2, transforms=2, hidden=(16, 16))
    >>> f().sample((3,)).shape
    torch.Size([3, 2])
    """

    def __init__(
        self,
        features: int,
        context: int = 0,
        transforms: int = 4,
        hidden: Hidden = (64, 64),
        bins: int = 8,
        bound: float = 5.0,
        embedding: nn.Module | None = None,
        base: nn.Module | None = None,
    ) -> None:
        def block(i: int, c: int) -> list[Transform]:
            layer = MaskedSplineAutoregressive(features, hidden, None, bins, bound, c)
            return [layer, *_reverse_between(i, transforms, features)]

        super().__init__(features, context, transforms, embedding, base, block)
