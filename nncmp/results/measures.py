"""What a comparison measures besides loss and accuracy, derived per run from its final validation loss by what
the data and the loss are (config.json's "data", registry/losses.describe):

    cross-entropy per token, no label smoothing   perplexity = exp(loss); bits per token (or character) =
                                                  loss / ln 2  — the loss is the mean negative log-likelihood
    mean squared error                            RMSE = √loss; R² = 1 − loss / Var(validation targets)

A measure a loss does not give (perplexity of a smoothed or a user's loss, RMSE of a Huber loss) is not shown:
nothing is labelled what it is not. A regression's loss is recorded in the targets' own units even where
--standardize trained the model on standardised targets (registry/losses.Criterion.reported), so RMSE and R²
are of the original targets, whose variance config.json holds.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Measure:
    name: str  # summary.csv's column stem: final_val_perplexity → final_val_perplexity_mean, _std, _ci95
    label: str  # the table's header
    of_loss: Callable[[float], float]  # the measure of a run from its final validation loss
    larger_is_better: bool


def measures(data: dict[str, Any] | None) -> list[Measure]:
    """The measures `data` (config.json's "data"; None: a folder from before it was recorded) supports."""
    if not data:
        return []
    if data.get("per_token") and data.get("log_likelihood"):
        unit = data.get("token") or "token"
        return [Measure("final_val_perplexity", "val perplexity", _exp, False),
                Measure(f"final_val_bits_per_{unit}", f"val bits/{unit[:4]}", lambda x: x / math.log(2), False)]
    if data.get("task") == "regression" and data.get("loss") == "mse":
        out = [Measure("final_val_rmse", "val RMSE", lambda x: math.sqrt(x) if x >= 0 else math.nan, False)]
        variance = data.get("target_variance")
        if variance:
            out.append(Measure("final_val_r2", "val R²", lambda x: 1 - x / variance, True))
        return out
    return []


def _exp(x: float) -> float:
    return math.exp(x) if x < 700 else math.inf
