"""A comparison into a results folder: optional learning-rate tuning, then every run of the grid.

Records are saved as each run finishes (metrics.csv, tuning_metrics.csv), so an interruption loses
only the run in progress.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from nncmp import store
from nncmp.data import Data
from nncmp.engine import records_frame
from nncmp.execute import run_local
from nncmp.report import RunProgress
from nncmp.spec import RunSpec


class Interrupted(Exception):
    """Ctrl-C during a comparison; says how far it got. Everything finished is already on disk."""

    def __init__(self, phase: str, finished: int, total: int):
        super().__init__(phase)
        self.phase, self.finished, self.total = phase, finished, total


def _saver(path: Path, records: list[dict[str, Any]]) -> Callable[[list[dict[str, Any]]], None]:
    def save(run_records: list[dict[str, Any]]) -> None:
        records.extend(run_records)
        store.write_csv(path, records_frame(records))

    return save


def write_config(folder: Path, config: dict[str, Any], specs: list[RunSpec], data: Data) -> None:
    store.write_config(folder, "compare", {**config, "runs": [s.resolved(data.n_train).to_dict() for s in specs]})


def tune_rates(specs: list[RunSpec], data: Data, folder: Path, console: Any, quiet: bool) -> list[RunSpec]:
    """--lrs auto: train the tuning grid on a split of the training data, write tuning.csv, and return the
    runs to report: every spec at its optimizer's default rate and at its tuned rate."""
    from nncmp import tune

    candidates = tune.tuning_specs(specs)
    split = tune.tuning_split(data)
    finals: list[dict[str, Any]] = []
    save = _saver(folder / "tuning_metrics.csv", [])

    def keep(run_records: list[dict[str, Any]]) -> None:
        finals.append(run_records[-1])
        save(run_records)

    if not quiet:
        console.print(f"tuning learning rates: {len(candidates)} runs on {split.n_train} training examples, "
                      f"scored on {len(split.x_val)} held out from training")
    try:
        with RunProgress(console, candidates, split.n_train, quiet) as progress:
            run_local(candidates, split, progress, keep)
    except KeyboardInterrupt:
        raise Interrupted("tuning", len(finals), len(candidates)) from None
    table = tune.tuning_table(candidates, finals, data.n_train)
    store.write_csv(folder / "tuning.csv", table)
    return tune.with_tuned_rates(specs, table, data.n_train)


def run_grid(specs: list[RunSpec], data: Data, folder: Path, console: Any, quiet: bool) -> None:
    """Train every spec, rewriting metrics.csv after each finished run."""
    records: list[dict[str, Any]] = []
    try:
        with RunProgress(console, specs, data.n_train, quiet) as progress:
            run_local(specs, data, progress, _saver(folder / "metrics.csv", records))
    except KeyboardInterrupt:
        raise Interrupted("training", len({r["run_id"] for r in records}), len(specs)) from None
