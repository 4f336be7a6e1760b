"""export: a results folder's runs to experiment trackers — TensorBoard (scalars per epoch and per example,
HParams: output/tensorboard.py) and MLflow (a run per nncmp run and per tuning trial under a run per
comparison, a calibration's trials and baseline runs under a run per problem, found again on the next export:
output/mlflow_export.py)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from nncmp.errors import SpecError
from nncmp.results import store


@dataclass
class ExportResult:
    folder: Path
    runs: int  # nncmp runs exported (to each tracker asked)
    tensorboard: Path | None = None  # the log folder written
    mlflow: str | None = None  # the tracking URI, as MLflow resolved it
    experiment: str | None = None  # the MLflow experiment's name


def export(folder: Path, tensorboard: Path | None = None, mlflow: str | None = None) -> ExportResult:
    """Every run of a results folder (compare or train; a suite's and a calibration's too for MLflow) into a
    TensorBoard log folder and/or an MLflow tracking store (URI, or 'default'). Everything is checked before
    anything is written: the folder, the packages, the MLflow store."""
    if tensorboard is None and mlflow is None:
        raise SpecError("export: say where to: --tensorboard LOGDIR and/or --mlflow URI")
    folder = Path(folder)
    if tensorboard is not None:
        from nncmp.output.tensorboard import check_installed  # lazy: the command layer imports output/ late

        check_installed()
        store.require_results(folder)
    if mlflow is not None:
        from nncmp.output.mlflow_export import check_installed as check_mlflow  # lazy: as above

        check_mlflow()
        # A suite's or a calibration's runs are in its problems' folders: its own has none.
        store.require_results(folder, runs=store.command_of(folder) not in ("suite", "calibrate"))
    result = ExportResult(folder, 0)
    if mlflow is not None:
        from nncmp.output.mlflow_export import export as to_mlflow  # lazy: it imports mlflow (seconds)

        result.runs, tracker = to_mlflow(folder, mlflow)
        result.mlflow, result.experiment = tracker.uri, tracker.name
    if tensorboard is not None:
        from nncmp.output.tensorboard import export as to_tensorboard  # lazy: it imports torch

        result.runs = len(to_tensorboard(store.read_metrics(folder), tensorboard))
        result.tensorboard = Path(tensorboard)
    return result
