"""nncmp: compare neural-network optimizers and weight initialisations on real PyTorch runs."""

__version__ = "0.1.0"
