"""A regression model's output as (batch, outputs): a user's model may return (batch,) for one output.

Its own module because it subclasses nn.Module: imported only when a user's regression model is built.
"""

from __future__ import annotations

import torch
from torch import nn


class OutputColumns(nn.Module):
    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.model(x)
        return out.reshape(len(out), -1)
