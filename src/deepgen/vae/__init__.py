"""Variational autoencoders: the seed VAE (SPEC §1, a fast path) and VAEs composed of parts.

>>> import torch
>>> from deepgen.vae import VAEConfig, build_vae
>>> vae = build_vae(VAEConfig(x_dim=6, hidden=16, z_dim=2, posterior="iaf", prior="vamp"))
>>> type(vae).__name__
'ComposedVAE'
>>> vae.encode(torch.rand(3, 6).round()).rsample((4,)).shape
torch.Size([4, 3, 2])
"""

from deepgen.vae.composed import ComposedVAE, build_vae, closed_form_kl, seeded_from
from deepgen.vae.conv import ConvBernoulliDecoder, ConvGaussianEncoder
from deepgen.vae.hierarchical import HierarchicalVAE
from deepgen.vae.model import OBJECTIVES, POSTERIORS, PRIORS, VAE, ElboTerms, VAEConfig
from deepgen.vae.parts import (
    BernoulliDecoder,
    BernoulliLogits,
    FlowEncoder,
    FlowPrior,
    GaussianEncoder,
    StandardNormalPrior,
    VampPrior,
)

__all__ = [
    "OBJECTIVES",
    "POSTERIORS",
    "PRIORS",
    "VAE",
    "BernoulliDecoder",
    "BernoulliLogits",
    "ComposedVAE",
    "ConvBernoulliDecoder",
    "ConvGaussianEncoder",
    "ElboTerms",
    "FlowEncoder",
    "FlowPrior",
    "GaussianEncoder",
    "HierarchicalVAE",
    "StandardNormalPrior",
    "VAEConfig",
    "VampPrior",
    "build_vae",
    "closed_form_kl",
    "seeded_from",
]
