"""GANs: exactly solvable games (bilinear, Dirac-GAN), MLP GANs on mixtures and MNIST 14×14,
DCGAN-style convolutional GANs for 28×28 images, and evaluation that needs no downloaded
weights."""

from deepgen.gan.conv import ConvDiscriminator, ConvGANConfig, ConvGenerator, build_conv_gan
from deepgen.gan.game_run import GameConfig, run_game
from deepgen.gan.games import (
    METHODS,
    BilinearGame,
    DiracGAN,
    MethodParams,
    analyse,
    simulate,
    spectral_verdict,
    update_matrix,
)

__all__ = [
    "METHODS",
    "BilinearGame",
    "ConvDiscriminator",
    "ConvGANConfig",
    "ConvGenerator",
    "DiracGAN",
    "GameConfig",
    "MethodParams",
    "analyse",
    "build_conv_gan",
    "run_game",
    "simulate",
    "spectral_verdict",
    "update_matrix",
]
