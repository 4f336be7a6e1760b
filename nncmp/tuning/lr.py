"""`--lrs auto`: tune each optimizer's learning rate on a split carved from the training data.

For every configuration of a grid apart from its rate (optimizer, init, activation, normalisation,
batch size: stats.TUNED_PER), one seed trains at each rate of a log-spaced grid
around the optimizer's default; the rate with the best final accuracy on the tuning split wins
(diverged runs lose; regression: the lowest final loss). The validation data that `compare` reports is
never seen here, so the choice does not bias the reported numbers.
"""

from __future__ import annotations

import math
from dataclasses import replace
from typing import Any

from nncmp.registry.datasets import Data
from nncmp.registry.optimizers import entry, format_args
from nncmp.spec.run import RunSpec
from nncmp.results.stats import TUNED_PER

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


def tuning_split_size(n_train: int) -> int:
    """At most how many training examples the tuning runs train on (for checks before the data is split)."""
    return n_train - math.ceil(n_train * TUNING_FRACTION)


def score(record: dict[str, Any]) -> float:
    """Higher is better; a diverged or failed run scores -inf so it never wins."""
    if record["status"] in ("diverged", "failed"):
        return -math.inf
    if record["val_acc"] is not None and not (isinstance(record["val_acc"], float) and math.isnan(record["val_acc"])):
        return float(record["val_acc"])
    return -float(record["val_loss"])


def tuning_key(spec: RunSpec, n_train: int, keys: list[str] = TUNED_PER) -> tuple[Any, ...]:
    """The values of `keys` (a tuning table's key columns) for a spec, batch size resolved on n_train."""
    resolved = spec.resolved(n_train)
    return tuple(format_args(resolved.opt_args) if k == "opt_args" else getattr(resolved, k) for k in keys)


def tuning_specs(specs: list[RunSpec]) -> list[RunSpec]:
    """One spec per configuration apart from its rate (TUNED_PER) × grid rate, on the first seed."""
    first_seed = min(s.seed for s in specs)
    seen, out = set(), []
    for s in specs:
        key = tuple(getattr(s, k) for k in TUNED_PER)
        if key in seen:
            continue
        seen.add(key)
        out += [replace(s, lr=lr, seed=first_seed) for lr in lr_grid(entry(s.optimizer).lr)]
    return out


def tuning_table(specs: list[RunSpec], finals: list[dict[str, Any]], n_train: int) -> Any:
    """One row per tuning run, with the chosen rate of its configuration (TUNED_PER) marked.

    `batch_size` is the one the reported runs use (resolved on the full training set), so the
    table joins onto the summary.
    """
    import pandas as pd

    rows = []
    for spec, last in zip(specs, finals):
        rows.append({"optimizer": spec.optimizer, "init": spec.init, "act": spec.act, "norm": spec.norm,
                     "batch_size": spec.resolved(n_train).batch_size, "schedule": spec.schedule,
                     "opt_args": format_args(spec.opt_args), "lr": spec.lr, "default_lr": entry(spec.optimizer).lr, "score": score(last),
                     "tune_val_acc": last["val_acc"], "tune_val_loss": last["val_loss"],
                     "status": last["status"], "seconds": last["seconds"]})
    table = pd.DataFrame(rows)
    table["chosen"] = False
    table["at_edge"] = False
    for _, g in table.groupby(TUNED_PER, sort=False):
        best = g["score"].idxmax()  # ties: the smallest rate (first in the grid)
        table.loc[best, "chosen"] = True
        table.loc[best, "at_edge"] = table.loc[best, "lr"] in (g["lr"].min(), g["lr"].max())
    return table


def read_table(path: Any) -> Any:
    """tuning.csv through the results folder's reader; an empty opt_args (none given) reads back as ''."""
    from nncmp.results import store
    from nncmp.results.stats import TUNING_COLUMNS

    table = store.read_csv(path, TUNING_COLUMNS)
    if "opt_args" in table.columns:
        table["opt_args"] = store.text_column(table["opt_args"])
    return table


def table_keys(table: Any) -> list[str]:
    """The tuning keys a tuning table has: TUNED_PER, or (folders from before act and norm were tuned
    separately) the ones it was written with."""
    return [k for k in TUNED_PER if k in table.columns]


def chosen_rates(table: Any) -> dict[tuple[Any, ...], float]:
    keys = table_keys(table)
    chosen = table[table["chosen"]]
    return {tuple(int(r[k]) if k == "batch_size" else r[k] for k in keys): float(r["lr"])
            for r in chosen.to_dict("records")}


def with_tuned_rates(specs: list[RunSpec], table: Any, n_train: int) -> list[RunSpec]:
    """Each spec at its optimizer's default rate and at its tuned rate (once if they are equal)."""
    chosen = chosen_rates(table)
    keys = table_keys(table)
    out = []
    for s in specs:
        default = entry(s.optimizer).lr
        tuned = chosen[tuning_key(s, n_train, keys)]
        out.append(replace(s, lr=default))
        if tuned != default:
            out.append(replace(s, lr=tuned))
    return out
