"""export: a results folder's runs as TensorBoard runs (scalars per epoch and per example, HParams)."""

from __future__ import annotations

from pathlib import Path

from nncmp.results import store


def export(folder: Path, tensorboard: Path) -> list[Path]:
    """Every run of a results folder into a TensorBoard log folder; the run folders written."""
    from nncmp.output.tensorboard import check_installed
    from nncmp.output.tensorboard import export as export_runs

    check_installed()
    store.require_results(folder)
    return export_runs(store.read_metrics(folder), tensorboard)
