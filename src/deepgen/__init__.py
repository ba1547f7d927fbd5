"""deepgen: deep generative models and variational inference in PyTorch."""

__version__ = "0.1.0"
