"""Layers the built-in models are made of beyond torch.nn's: the mlp's residual block (--model-arg residual).

torch is imported at the top: models.py (read by --help) imports this only when it builds a residual mlp.
"""

from __future__ import annotations

import torch
from torch import nn


class Residual(nn.Module):
    """x + scale · branch(x): a hidden layer of the residual mlp. `scale` is a plain float, no buffer (nothing
    for torch.func to stack): 1, or 1/√depth, the block multiplier of depth-μP (Yang et al. 2023, Tensor
    Programs VI; Bordelon et al. 2023), which keeps each block's contribution to the output of the same order
    however deep the network is."""

    def __init__(self, branch: nn.Module, scale: float = 1.0):
        super().__init__()
        self.branch = branch
        self.scale = scale

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.scale * self.branch(x)
