"""GANs: exactly solvable games (bilinear, Dirac-GAN), MLP GANs on mixtures and MNIST 14×14,
and evaluation that needs no downloaded weights."""

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
    "DiracGAN",
    "GameConfig",
    "MethodParams",
    "analyse",
    "run_game",
    "simulate",
    "spectral_verdict",
    "update_matrix",
]
