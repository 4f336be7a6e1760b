"""What every dataset becomes: four tensors held in memory, with the task and the shape of one example; and
--standardize, the one scaling policy every source goes through (npz, CSV, Python, loaders, built-ins).

The policy (`standardized`): float features are standardised per input value (each column of a table, each
position of a signal or image) with the training split's mean and standard deviation, the validation split
with the same statistics; a value constant over the training split is only centred (its training values
become 0; nothing is divided by a zero). Regression targets get their training split's mean and standard
deviation per output, which the built-in losses mse and huber train against (registry/losses.py) while every
loss and measure is reported in the targets' own units. Token ids (integer inputs) and class labels are never
touched. `auto` standardises a user's data and leaves the built-in datasets as their definitions scale them;
`on` standardises every dataset; `off` uses every dataset as given.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import torch

# A label that is no target (padding; the positions of a sequence with nothing to predict): torch's
# cross-entropy default, so data made for torch needs no change.
IGNORE_INDEX = -100
STANDARDIZE = ("auto", "on", "off")
# Rows per pass when computing and applying statistics: float64 copies of a chunk, never of the whole split.
CHUNK = 65536


@dataclass(frozen=True)
class Scaling:
    """What --standardize did to a dataset (config.json's data.standardize)."""

    mode: str = "off"  # the --standardize it was loaded with
    features: bool = False  # the float features were standardised with the training split's statistics
    constant: int = 0  # feature values constant over the training split: centred only
    # Regression targets: each output's mean and standard deviation over the training split, which mse and huber
    # train against; () where the targets are used as given.
    target_mean: tuple[float, ...] = ()
    target_std: tuple[float, ...] = ()


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
    # What --standardize did (the features above are already standardised; the targets are kept as given).
    scaling: Scaling = Scaling()

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


def standardized(data: Data, mode: str, built_in: bool) -> Data:
    """`data` under --standardize `mode` (auto, on, off); `built_in`: one of nncmp's datasets, which `auto` leaves
    as its definition scales it. Features are standardised here; regression targets keep their values and get
    their statistics (Scaling.target_mean, target_std) for the loss."""
    if mode == "off" or (mode == "auto" and built_in):
        return replace(data, scaling=Scaling(mode))
    changes: dict[str, Any] = {}
    features, constant = data.vocab == 0 and data.x_train.is_floating_point(), 0
    if features:
        mean, std, still = statistics(data.x_train)
        constant = int(still.sum())
        changes["x_train"] = apply(data.x_train, mean, std)
        # A dataset whose validation split is its training split (toy-regression) stays so: holdout() reads that.
        changes["x_val"] = changes["x_train"] if data.x_val is data.x_train else apply(data.x_val, mean, std)
    target_mean: tuple[float, ...] = ()
    target_std: tuple[float, ...] = ()
    if data.task == "regression":
        mean, std, _ = statistics(data.y_train.reshape(data.n_train, -1))
        target_mean, target_std = tuple(mean.tolist()), tuple(std.tolist())
    scaling = Scaling(mode, features, constant, target_mean, target_std)
    return replace(data, **changes, scaling=scaling)


def statistics(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Each input value's mean and standard deviation over the examples (float64, two passes in chunks), and
    which are constant: their standard deviation is then 1, so they are only centred. Constant means equal
    values, or a variance below what rounding of the mean alone gives (scikit-learn's StandardScaler bound),
    so rounding noise is never magnified into a feature."""
    import torch

    n = len(x)
    mean = sum((c.double().sum(0) for c in x.split(CHUNK)), torch.zeros(x.shape[1:], dtype=torch.float64)) / n
    var = sum((((c.double() - mean) ** 2).sum(0) for c in x.split(CHUNK)),
              torch.zeros(x.shape[1:], dtype=torch.float64)) / n
    eps = torch.finfo(torch.float64).eps
    constant = var <= n * eps * var + (n * mean * eps) ** 2
    # A constant value's own value as its mean: its training values become exactly 0, not the sum's rounding.
    mean = torch.where(constant, x[0].double(), mean)
    return mean, torch.where(constant, 1.0, var.sqrt()), constant


def apply(x: torch.Tensor, mean: torch.Tensor, std: torch.Tensor) -> torch.Tensor:
    """(x − mean) / std in float64, as float32."""
    import torch

    return torch.cat([((c.double() - mean) / std).float() for c in x.split(CHUNK)])
