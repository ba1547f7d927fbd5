"""Deep sigmoidal flows (Huang et al. 2018): g(z) = σ⁻¹(Σ_i w_i σ(a_i z + b_i)) element-wise.

With a_i > 0 (softplus) and w on the simplex (softmax), g is strictly increasing from −∞ to ∞
(see :func:`~deepgen.flows.elementwise.dsf`); the inverse is the shared bisection
:func:`~deepgen.flows.elementwise.monotone_inverse`.

``DeepSigmoidal`` has free parameters per feature (or, with a context, an MLP of it);
``SigmoidalCoupling`` makes them functions of the other half of the features (a coupling
layer), which is what density estimation needs.
"""

from __future__ import annotations

from collections.abc import Sequence

from deepgen.flows.coupling import Coupling
from deepgen.flows.elementwise import Elementwise, Sigmoidal


class DeepSigmoidal(Elementwise):
    """K sigmoids per feature; inverse by bisection to ``tol`` (absolute, in z).

    >>> import torch
    >>> t = DeepSigmoidal(2, components=4)
    >>> y, logdet = t(torch.randn(3, 2))
    >>> y.shape
    torch.Size([3, 2])
    """

    def __init__(
        self,
        features: int,
        components: int = 4,
        tol: float = 1e-12,
        context: int = 0,
        hidden: int | Sequence[int] = 64,
    ) -> None:
        super().__init__(features, Sigmoidal(components, tol), context, hidden)


class SigmoidalCoupling(Coupling):
    """y_a = x_a, y_b = g(x_b; θ(x_a, c)) with g the deep sigmoidal map whose a, b, w come from
    an MLP; log|det J| = Σ log g′(x_b). Inverse by bisection to ``tol``.

    >>> import torch
    >>> t = SigmoidalCoupling(4, hidden=8, components=3)
    >>> y, logdet = t(torch.randn(5, 4))
    >>> y.shape, logdet.shape
    (torch.Size([5, 4]), torch.Size([5]))
    """

    def __init__(
        self,
        features: int,
        hidden: int | Sequence[int] = 64,
        swap: bool = False,
        components: int = 8,
        tol: float = 1e-12,
        context: int = 0,
    ) -> None:
        super().__init__(features, Sigmoidal(components, tol), context, hidden, swap)
