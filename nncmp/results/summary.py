"""The summary of a results folder: its tables read back (store) and summarised (stats). compare, report
and the HTML report all come here, so report reproduces compare's summary.csv byte for byte."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from nncmp.results import schema, stats, store, transfer
from nncmp.results.measures import measures

if TYPE_CHECKING:
    import pandas as pd


def summarize_folder(folder: Path, target: float | None, metric: str | None, baseline: str | None,
                     warnings: list[str] | None = None) -> tuple[pd.DataFrame, pd.DataFrame, str]:
    """The metrics, the ranked summary and the metric used, from a results folder's files. A damaged metrics.csv
    is refused, or with `warnings` summarised without its damaged runs, said there (results/checked.py)."""
    metrics = store.read_metrics(folder, warnings)
    tuning_path = Path(folder) / schema.TUNING
    tuning = store.read_tuning(tuning_path) if tuning_path.exists() else None
    metric = metric or stats.default_metric(metrics)
    if baseline is not None:
        baseline = stats.find_config(metrics["config"], baseline)
    try:
        config = store.read_config(folder)
    except store.StoreError:  # summarising tables alone (tests, a folder whose config.json is elsewhere)
        config = {}
    base = config.get("base") or config.get("spec") or {}
    derived = measures(config.get("data"))
    summary = stats.summarize(metrics, target, metric, baseline, tuning, derived, by_step=bool(base.get("steps")))
    return metrics, add_costs(summary, metrics, Path(folder) / schema.RUNS), metric


def add_costs(summary: pd.DataFrame, metrics: pd.DataFrame, runs_path: Path) -> pd.DataFrame:
    """summary.csv's costs: each configuration's runs.csv costs (schema.COST_COLUMNS), the mean over its seeds that
    have them. A runs.csv from before the costs (or none, or one that cannot be read) adds no columns."""
    try:
        runs = store.read_csv(runs_path) if runs_path.is_file() else None
    except store.StoreError:
        return summary
    if runs is None or not all(c in runs.columns for c in schema.COST_COLUMNS) or summary.empty:
        return summary
    config = metrics.drop_duplicates("run_id").set_index("run_id")["config"]
    costs = runs[runs["run_id"].isin(config.index)].assign(config=lambda t: t["run_id"].map(config))
    means = costs.groupby("config", sort=False)[schema.COST_COLUMNS].mean()
    counts = schema.COST_COLUMNS[:2]  # the same for every seed: whole numbers
    means[counts] = means[counts].round().astype("Int64")
    return summary.join(means, on="config")


def write_transfer(folder: Path, metrics: pd.DataFrame, metric: str) -> pd.DataFrame | None:
    """transfer.csv, where the records hold a sweep over widths and rates (results/transfer.py); None otherwise
    (and an older transfer.csv of the folder removed, so it never describes other runs)."""
    path = Path(folder) / schema.TRANSFER
    if not transfer.applies(metrics):
        path.unlink(missing_ok=True)
        return None
    table = transfer.transfer(metrics, metric)
    store.write_csv(path, table)
    return table
