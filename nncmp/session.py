"""A comparison into a results folder: optional learning-rate tuning, then every run of the grid.

Records are saved as each group of runs finishes (metrics.csv, tuning_metrics.csv), in grid order
whatever order the groups finish in, so an interruption loses only the group in progress.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nncmp import store
from nncmp.data import Data
from nncmp.engine import records_frame
from nncmp.execute import run_local
from nncmp.plan import MAX_GROUP
from nncmp.report import RunProgress
from nncmp.spec import RunSpec


class Interrupted(Exception):
    """Ctrl-C during a comparison; says how far it got. Everything finished is already on disk."""

    def __init__(self, phase: str, finished: int, total: int):
        super().__init__(phase)
        self.phase, self.finished, self.total = phase, finished, total


@dataclass(frozen=True)
class Execution:
    """How a grid runs (never what it computes): group size and what to say about the plan."""

    max_group: int = MAX_GROUP
    verbose: bool = False


def _saver(path: Path) -> tuple[Callable[[int, list[dict[str, Any]]], None], dict[int, Any]]:
    """on_run for run_local: keeps each run's records by grid position and rewrites `path` in grid order."""
    by_run: dict[int, list[dict[str, Any]]] = {}

    def save(index: int, run_records: list[dict[str, Any]]) -> None:
        by_run[index] = run_records
        store.write_csv(path, records_frame([r for i in sorted(by_run) for r in by_run[i]]))

    return save, by_run


def write_config(folder: Path, config: dict[str, Any], specs: list[RunSpec], data: Data) -> None:
    store.write_config(folder, "compare", {**config, "runs": [s.resolved(data.n_train).to_dict() for s in specs]})


def _run(specs: list[RunSpec], data: Data, path: Path, console: Any, quiet: bool, execution: Execution,
         phase: str) -> dict[int, Any]:
    save, by_run = _saver(path)
    say = console.print if execution.verbose and not quiet else None
    try:
        with RunProgress(console, specs, data.n_train, quiet) as progress:
            run_local(specs, data, progress, save, execution.max_group, say)
    except KeyboardInterrupt:
        raise Interrupted(phase, len(by_run), len(specs)) from None
    return by_run


def tune_rates(specs: list[RunSpec], data: Data, folder: Path, console: Any, quiet: bool,
               execution: Execution = Execution()) -> list[RunSpec]:
    """--lrs auto: train the tuning grid on a split of the training data, write tuning.csv, and return the
    runs to report: every spec at its optimizer's default rate and at its tuned rate."""
    from nncmp import tune

    candidates = tune.tuning_specs(specs)
    split = tune.tuning_split(data)
    if not quiet:
        console.print(f"tuning learning rates: {len(candidates)} runs on {split.n_train} training examples, "
                      f"scored on {len(split.x_val)} held out from training")
    by_run = _run(candidates, split, folder / "tuning_metrics.csv", console, quiet, execution, "tuning")
    finals = [by_run[i][-1] for i in range(len(candidates))]
    table = tune.tuning_table(candidates, finals, data.n_train)
    store.write_csv(folder / "tuning.csv", table)
    return tune.with_tuned_rates(specs, table, data.n_train)


def run_grid(specs: list[RunSpec], data: Data, folder: Path, console: Any, quiet: bool,
             execution: Execution = Execution()) -> None:
    """Train every spec, rewriting metrics.csv after each finished group."""
    _run(specs, data, folder / "metrics.csv", console, quiet, execution, "training")
