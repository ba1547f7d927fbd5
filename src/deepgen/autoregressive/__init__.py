"""Autoregressive image models: masks of masked convolutions, receptive fields, PixelCNN."""

from deepgen.autoregressive.masks import (
    CONVENTIONS,
    MASK_TYPES,
    channel_mask,
    horizontal_stack_mask,
    ordering,
    precedes,
    spatial_mask,
    vertical_stack_mask,
)
from deepgen.autoregressive.pixelcnn import (
    GatedPixelCNN,
    MaskedConv2d,
    PixelCNN,
    PixelCNNConfig,
    build_model,
    sample,
)
from deepgen.autoregressive.receptive_field import (
    ReceptiveField,
    analytic_field,
    autograd_field,
    receptive_field,
)

__all__ = [
    "CONVENTIONS",
    "MASK_TYPES",
    "GatedPixelCNN",
    "MaskedConv2d",
    "PixelCNN",
    "PixelCNNConfig",
    "ReceptiveField",
    "analytic_field",
    "autograd_field",
    "build_model",
    "channel_mask",
    "horizontal_stack_mask",
    "ordering",
    "precedes",
    "receptive_field",
    "sample",
    "spatial_mask",
    "vertical_stack_mask",
]
