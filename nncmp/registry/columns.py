"""A regression model's output as (batch, outputs): a user's model may return (batch,) for one output (or a
tuple/dict whose first item is its prediction).

Its own module because it subclasses nn.Module: imported only when a user's regression model is built.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn


class OutputColumns(nn.Module):
    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> Any:
        out = self.model(x)
        if isinstance(out, tuple):  # (prediction, what else its loss needs): the prediction as columns
            return (out[0].reshape(len(out[0]), -1), *out[1:])
        if isinstance(out, list):
            return [out[0].reshape(len(out[0]), -1), *out[1:]]
        if isinstance(out, dict):
            key = next(iter(out))
            return {**out, key: out[key].reshape(len(out[key]), -1)}
        return out.reshape(len(out), -1)
