"""Variational autoencoders."""

from deepgen.vae.model import VAE, VAEConfig

__all__ = ["VAE", "VAEConfig"]
