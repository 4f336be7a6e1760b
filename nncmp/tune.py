"""`--lrs auto`: tune each optimizer's learning rate on a split carved from the training data.

For every (optimizer, init, batch size) in a grid, one seed trains at each rate of a log-spaced grid
around the optimizer's default; the rate with the best final accuracy on the tuning split wins
(diverged runs lose; regression: the lowest final loss). The validation data that `compare` reports is
never seen here, so the choice does not bias the reported numbers.
"""

from __future__ import annotations

import math
from dataclasses import replace
from typing import Any

from nncmp.data import Data
from nncmp.optim import OPTIMIZERS
from nncmp.spec import RunSpec

POINTS = 7  # half-decade steps over three decades, centred on the default
DECADES = 3.0
TUNING_FRACTION = 0.2


def lr_grid(default: float, points: int = POINTS, decades: float = DECADES) -> list[float]:
    """Log-spaced rates from default·10^(-decades/2) to default·10^(+decades/2), 3 significant digits."""
    step = decades / (points - 1)
    return [float(f"{default * 10 ** (-decades / 2 + i * step):.3g}") for i in range(points)]


def tuning_split(data: Data) -> Data:
    """Train on 80% of the training set, score on the other 20% (stratified, fixed).

    A dataset without a separate validation split (toy-regression: val = train) is tuned on itself.
    """
    import torch

    if data.x_val is data.x_train:
        return data
    n = data.n_train
    if data.task == "classification":
        from sklearn.model_selection import train_test_split

        tr, va = train_test_split(range(n), test_size=TUNING_FRACTION, stratify=data.y_train.numpy(),
                                  random_state=0)
        tr, va = torch.as_tensor(tr), torch.as_tensor(va)
    else:
        perm = torch.randperm(n, generator=torch.Generator().manual_seed(0))
        k = max(1, int(n * TUNING_FRACTION))
        tr, va = perm[k:], perm[:k]
    return replace(data, x_train=data.x_train[tr], y_train=data.y_train[tr],
                   x_val=data.x_train[va], y_val=data.y_train[va])


def score(record: dict[str, Any]) -> float:
    """Higher is better; a diverged run scores -inf so it never wins."""
    if record["status"] == "diverged":
        return -math.inf
    if record["val_acc"] is not None and not (isinstance(record["val_acc"], float) and math.isnan(record["val_acc"])):
        return float(record["val_acc"])
    return -float(record["val_loss"])


def tuning_specs(specs: list[RunSpec]) -> list[RunSpec]:
    """One spec per (optimizer, init, batch size) × grid rate, on the first seed."""
    first_seed = min(s.seed for s in specs)
    seen, out = set(), []
    for s in specs:
        key = (s.optimizer, s.init, s.batch_size)
        if key in seen:
            continue
        seen.add(key)
        out += [replace(s, lr=lr, seed=first_seed) for lr in lr_grid(OPTIMIZERS[s.optimizer].lr)]
    return out


def tuning_table(specs: list[RunSpec], finals: list[dict[str, Any]], n_train: int) -> Any:
    """One row per tuning run, with the chosen rate of its (optimizer, init, batch size) marked.

    `batch_size` is the one the reported runs use (resolved on the full training set), so the
    table joins onto the summary.
    """
    import pandas as pd

    rows = []
    for spec, last in zip(specs, finals):
        rows.append({"optimizer": spec.optimizer, "init": spec.init,
                     "batch_size": spec.resolved(n_train).batch_size, "lr": spec.lr,
                     "default_lr": OPTIMIZERS[spec.optimizer].lr, "score": score(last),
                     "tune_val_acc": last["val_acc"], "tune_val_loss": last["val_loss"],
                     "status": last["status"], "seconds": last["seconds"]})
    table = pd.DataFrame(rows)
    table["chosen"] = False
    table["at_edge"] = False
    for _, g in table.groupby(["optimizer", "init", "batch_size"], sort=False):
        best = g["score"].idxmax()  # ties: the smallest rate (first in the grid)
        table.loc[best, "chosen"] = True
        table.loc[best, "at_edge"] = table.loc[best, "lr"] in (g["lr"].min(), g["lr"].max())
    return table


def chosen_rates(table: Any) -> dict[tuple[str, str, int], float]:
    chosen = table[table["chosen"]]
    return {(r.optimizer, r.init, int(r.batch_size)): float(r.lr) for r in chosen.itertuples()}


def with_tuned_rates(specs: list[RunSpec], table: Any, n_train: int) -> list[RunSpec]:
    """Each spec at its optimizer's default rate and at its tuned rate (once if they are equal)."""
    chosen = chosen_rates(table)
    out = []
    for s in specs:
        default = OPTIMIZERS[s.optimizer].lr
        tuned = chosen[(s.optimizer, s.init, s.resolved(n_train).batch_size)]
        out.append(replace(s, lr=default))
        if tuned != default:
            out.append(replace(s, lr=tuned))
    return out


def summary_columns(summary: Any, table: Any, runs: Any, metric: str) -> Any:
    """Per configuration: whether its lr is the default or the tuned one, the tuning cost, and for a
    tuned rate the paired difference of `metric` against the same configuration at the default rate."""
    import pandas as pd

    from nncmp.stats import paired_difference

    keys = ["optimizer", "init", "batch_size"]
    per_key = table.groupby(keys, sort=False).agg(
        tuned_lr=("lr", lambda s: float(s[table.loc[s.index, "chosen"]].iloc[0])),
        lr_at_edge=("at_edge", "any"), tuning_runs=("lr", "size"), tuning_seconds=("seconds", "sum"),
    ).reset_index()
    out = summary.merge(per_key, on=keys, how="left")
    default = out["optimizer"].map(lambda o: OPTIMIZERS[o].lr if o in OPTIMIZERS else math.nan)
    is_default, is_tuned = out["lr"] == default, out["lr"] == out["tuned_lr"]
    out["lr_choice"] = [("default=tuned" if d and t else "default" if d else "tuned" if t else "")
                        for d, t in zip(is_default, is_tuned)]
    out["lr_at_edge"] = out["lr_at_edge"].astype("boolean") & pd.Series(is_tuned, dtype="boolean")
    gain, gain_ci = [], []
    for r in out.to_dict("records"):
        partner = out[(out["optimizer"] == r["optimizer"]) & (out["init"] == r["init"])
                      & (out["batch_size"] == r["batch_size"]) & (out["lr_choice"] == "default")]
        if r["lr_choice"] == "tuned" and len(partner) == 1:
            mean, ci, _ = paired_difference(runs, r["config"], partner["config"].iloc[0], metric)
        else:
            mean, ci = math.nan, math.nan
        gain.append(mean)
        gain_ci.append(ci)
    out["tuned_minus_default"], out["tuned_minus_default_ci95"] = gain, gain_ci
    return out
