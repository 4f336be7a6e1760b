"""What every dataset becomes: four tensors held in memory, with the task and the shape of one example."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import torch

# A label that is no target (padding; the positions of a sequence with nothing to predict): torch's
# cross-entropy default, so data made for torch needs no change.
IGNORE_INDEX = -100


@dataclass(frozen=True)
class Data:
    name: str
    task: str  # "classification" or "regression"
    shape: tuple[int, ...]  # one example, e.g. (1, 28, 28)
    classes: int  # 0 for regression
    x_train: torch.Tensor
    y_train: torch.Tensor
    x_val: torch.Tensor
    y_val: torch.Tensor
    # Inputs are token ids in [0, vocab) (integer tensors, for an nn.Embedding); 0: float features.
    vocab: int = 0
    # What one position of a sequence target is called in metric names: "token", or "character" for text
    # read character by character (bits per character).
    token: str = "token"
    # Facts about the data a results folder should keep (config.json's "data"): a text's vocabulary, a
    # generator's arguments. JSON-ready values.
    info: tuple[tuple[str, Any], ...] = ()

    @property
    def n_out(self) -> int:
        if self.task == "classification":
            return self.classes
        return self.y_train.shape[1] if self.y_train.ndim > 1 else 1

    @property
    def per_token(self) -> bool:
        """Classification with a label per position (y of shape (N, T, ...)): accuracy and loss are per
        token, and labels of IGNORE_INDEX (padding, positions without a target) count for neither."""
        return self.task == "classification" and self.y_train.ndim > 1

    @property
    def n_train(self) -> int:
        return len(self.x_train)
