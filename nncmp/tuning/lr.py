"""`--lrs auto`: tune each optimizer's learning rate on a split carved from the training data.

The simple case of budgeted tuning (search.py), through the same machinery: for every configuration of
a grid apart from its rate (optimizer, init, activation, normalisation, batch size, schedule, --opt-arg
values: schema.TUNED_PER), one seed trains at each rate of a log-spaced grid around the optimizer's
default, then at WIDEN more rates beyond the edge where the best of them lies (config/space.py says why; every
configuration trains the same number); the rate with the best final accuracy on the holdout split wins
(diverged and collapsed runs lose; regression: the lowest final loss). The validation data that `compare`
reports is never seen here, so the choice does not bias the reported numbers.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from nncmp.config.comparison import Options
from nncmp.config.run import RunSpec
from nncmp.config.space import POINTS, WIDEN, lr_grid  # noqa: F401  (lr_grid: where --lrs auto's grid is defined)
from nncmp.registry.datasets import Data
from nncmp.registry.optimizers import entry
from nncmp.training.progress import Reporter


def tuning_specs(specs: list[RunSpec]) -> list[RunSpec]:
    """One spec per configuration apart from its rate (TUNED_PER) × rate of the grid (before its widening, which
    depends on the scores), on the first seed."""
    from nncmp.tuning.search import tuning_key

    first_seed = min(s.seed for s in specs)
    seen, out = set(), []
    for s in specs:
        key = tuning_key(s)
        if key in seen:
            continue
        seen.add(key)
        out += [replace(s, lr=lr, seed=first_seed) for lr in lr_grid(entry(s.optimizer).lr)]
    return out


def tune_rates(specs: list[RunSpec], data: Data, folder: Path, reporter: Reporter, options: Options = Options(),
               resume: bool = False, defaults: bool = True) -> list[RunSpec]:
    """--lrs auto: the grid's trials on the holdout split, tuning.csv, and the runs to report: every spec
    (resolved on `data`) at its optimizer's default rate and at its tuned rate."""
    from nncmp.config.tuning import GRID, Tuning
    from nncmp.tuning.search import tune

    return tune(specs, data, folder, reporter, options, Tuning(GRID, POINTS + WIDEN), resume, defaults)
