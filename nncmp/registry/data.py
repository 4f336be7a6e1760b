"""What every dataset becomes: four tensors held in memory, with the task and the shape of one example."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch


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

    @property
    def n_out(self) -> int:
        if self.task == "classification":
            return self.classes
        return self.y_train.shape[1] if self.y_train.ndim > 1 else 1

    @property
    def n_train(self) -> int:
        return len(self.x_train)
