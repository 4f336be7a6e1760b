"""`--lrs auto`: tune each optimizer's learning rate on a split carved from the training data.

For every configuration of a grid apart from its rate (optimizer, init, activation, normalisation,
batch size, schedule, --opt-arg values: schema.TUNED_PER), one seed trains at each rate of a log-spaced
grid around the optimizer's default; the rate with the best final accuracy on the holdout split wins
(diverged runs lose; regression: the lowest final loss). The validation data that `compare` reports is
never seen here, so the choice does not bias the reported numbers.
"""

from __future__ import annotations

import math
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from nncmp.registry.datasets import Data, holdout
from nncmp.registry.optimizers import entry
from nncmp.results import schema, store
from nncmp.results.schema import TUNED_PER
from nncmp.spec.config import Options
from nncmp.spec.run import RunSpec
from nncmp.training.progress import Reporter
from nncmp.training.runner import finished_runs, run_phase

if TYPE_CHECKING:
    import pandas as pd

POINTS = 7  # half-decade steps over three decades, centred on the default
DECADES = 3.0


def lr_grid(default: float, points: int = POINTS, decades: float = DECADES) -> list[float]:
    """Log-spaced rates from default·10^(-decades/2) to default·10^(+decades/2), 3 significant digits."""
    step = decades / (points - 1)
    return [float(f"{default * 10 ** (-decades / 2 + i * step):.3g}") for i in range(points)]


def score(record: dict[str, Any]) -> float:
    """Higher is better; a diverged or failed run scores -inf so it never wins."""
    if record["status"] in ("diverged", "failed"):
        return -math.inf
    if record["val_acc"] is not None and not (isinstance(record["val_acc"], float) and math.isnan(record["val_acc"])):
        return float(record["val_acc"])
    return -float(record["val_loss"])


def tuning_key(spec: RunSpec, keys: list[str] = TUNED_PER) -> tuple[Any, ...]:
    """The values of `keys` (a tuning table's key columns) for a resolved spec, as the table holds them."""
    columns = spec.columns()
    return tuple(columns[k] for k in keys)


def tuning_specs(specs: list[RunSpec]) -> list[RunSpec]:
    """One spec per configuration apart from its rate (TUNED_PER) × grid rate, on the first seed
    (`specs` resolved on the full training set, and so are these)."""
    first_seed = min(s.seed for s in specs)
    seen, out = set(), []
    for s in specs:
        key = tuning_key(s)
        if key in seen:
            continue
        seen.add(key)
        out += [replace(s, lr=lr, seed=first_seed) for lr in lr_grid(entry(s.optimizer).lr)]
    return out


def tuning_table(specs: list[RunSpec], finals: list[dict[str, Any]]) -> pd.DataFrame:
    """One row per tuning run, with the chosen rate of its configuration (TUNED_PER) marked.

    `specs` are resolved on the full training set: `batch_size` is the one the reported runs use, so the
    table joins onto the summary.
    """
    import pandas as pd

    rows = []
    for spec, last in zip(specs, finals):
        columns = spec.columns()
        rows.append({**{k: columns[k] for k in TUNED_PER}, "lr": spec.lr, "default_lr": entry(spec.optimizer).lr,
                     "score": score(last),
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


def table_keys(table: pd.DataFrame) -> list[str]:
    """The tuning keys a tuning table has: TUNED_PER, or (folders from before act and norm were tuned
    separately) the ones it was written with."""
    return [k for k in TUNED_PER if k in table.columns]


def chosen_rates(table: pd.DataFrame) -> dict[tuple[Any, ...], float]:
    keys = table_keys(table)
    chosen = table[table["chosen"]]
    return {tuple(int(r[k]) if k == "batch_size" else r[k] for k in keys): float(r["lr"])
            for r in chosen.to_dict("records")}


def with_tuned_rates(specs: list[RunSpec], table: pd.DataFrame) -> list[RunSpec]:
    """Each (resolved) spec at its optimizer's default rate and at its tuned rate (once if they are equal)."""
    chosen = chosen_rates(table)
    keys = table_keys(table)
    out = []
    for s in specs:
        default = entry(s.optimizer).lr
        tuned = chosen[tuning_key(s, keys)]
        out.append(replace(s, lr=default))
        if tuned != default:
            out.append(replace(s, lr=tuned))
    return out


def tune_rates(specs: list[RunSpec], data: Data, folder: Path, reporter: Reporter, options: Options = Options(),
               resume: bool = False) -> list[RunSpec]:
    """--lrs auto: train the tuning runs on the holdout split of the training data, write tuning.csv, and
    return the runs to report: every spec (resolved on `data`) at its optimizer's default rate and at its
    tuned rate. A resume reuses a finished tuning.csv, or the finished tuning runs."""
    if resume and (folder / schema.TUNING).exists():
        return with_tuned_rates(specs, store.read_tuning(folder / schema.TUNING))
    candidates = tuning_specs(specs)
    split = holdout(data)
    on_split = [s.resolved(split.n_train) for s in candidates]  # full-batch runs take the whole split
    path = folder / schema.TUNING_METRICS
    done = finished_runs(path, on_split) if resume else {}
    reporter.note(f"tuning learning rates: {len(candidates)} runs on {split.n_train} training examples, "
                  f"scored on {len(split.x_val)} held out from training")
    by_run, failed = run_phase(on_split, split, path, reporter, options, "tuning", done)
    if failed:  # they lose the tuning; the grid's runs of that configuration report the error
        reporter.note(f"{len(failed)} tuning run(s) failed, e.g. {next(iter(failed.values()))}")
    failure = {"val_acc": math.nan, "val_loss": math.nan, "status": "failed", "seconds": math.nan}
    finals = [by_run[i][-1] if i in by_run else failure for i in range(len(candidates))]
    table = tuning_table(candidates, finals)
    store.write_csv(folder / schema.TUNING, table)
    return with_tuned_rates(specs, table)
