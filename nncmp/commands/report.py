"""report: the summary, statistics and plots of an existing results folder, without training; and the
one-file HTML report of any folder nncmp wrote."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from nncmp.config.comparison import DEFAULT_TARGET
from nncmp.errors import SpecError
from nncmp.results import schema, store
from nncmp.results.summary import summarize_folder

if TYPE_CHECKING:
    import pandas as pd


@dataclass
class ReportResult:
    folder: Path
    metrics: pd.DataFrame | None  # the runs' records (None: a folder without training runs)
    summary: pd.DataFrame | None  # the ranked summary of its configurations
    metric: str | None
    target: float | None
    kind: str = "compare"  # the command that wrote it: compare, train, bench, inspect, paths
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)  # what else it holds: name → table
    landscape: dict[str, Any] | None = None  # landscape.json, when nncmp landscape wrote into the folder


def saved_settings(folder: Path, target: float | None, metric: str | None,
                   baseline: str | None) -> tuple[float, str | None, str | None]:
    """What the folder's command asked for (target, metric, baseline), unless given here (a train folder has
    no baseline)."""
    saved = store.read_config(folder) if store.is_started(folder) else {}
    target = saved.get("target", DEFAULT_TARGET) if target is None else target
    if not 0.0 <= target <= 1.0:
        raise SpecError(f"--target must be a val accuracy in [0, 1], got {target:g}")
    return target, metric or saved.get("metric"), baseline or saved.get("baseline")


def report(folder: Path, target: float | None = None, metric: str | None = None, baseline: str | None = None,
           plot: bool = True, x: str = "epochs") -> ReportResult:
    """The folder's ranked summary (as compare made it: the same summary.csv byte for byte), its plots
    rewritten when `plot`."""
    folder = Path(folder)
    store.require_results(folder, runs=False)
    kind = store.command_of(folder) or "compare"
    if kind == "suite":
        from nncmp.errors import SpecError

        raise SpecError(f"{folder} is a suite: its verdict is {folder / schema.SUITE_MD} (nncmp suite --resume "
                        f"{folder} rewrites it, e.g. --by steps); each problem's sub-folder is a compare folder "
                        f"for report, e.g. nncmp report {folder}/<problem>")
    result = ReportResult(folder, None, None, None, None, kind, _tables(folder, kind))
    if (folder / schema.LANDSCAPE_JSON).is_file():
        result.landscape = json.loads((folder / schema.LANDSCAPE_JSON).read_text())
    if kind in ("compare", "train") and store.has_runs(folder):
        target, metric, baseline = saved_settings(folder, target, metric, baseline)
        result.metrics, result.summary, result.metric = summarize_folder(folder, target, metric, baseline)
        result.target = target
        if plot:
            from nncmp.output.plots import write_plots

            write_plots(result.metrics, result.summary, folder, x)
            from nncmp.output.tuning_plots import write_figures

            write_figures(folder)  # --tune: budget.png, sensitivity.png
    elif not result.tables:
        store.require_results(folder)  # a folder nncmp began but that holds nothing to show yet
    return result


def _tables(folder: Path, kind: str) -> dict[str, pd.DataFrame]:
    """The tables of a folder besides its runs' summary: a bench's cases and figures, inspect's layer
    statistics (one row per init × layer), the paths' summary, a landscape's trajectories and lines."""
    names = {"bench": (schema.BENCH, schema.FIGURES), "inspect": (schema.LAYERS,), "paths": (schema.PATHS_SUMMARY,)}
    tables = {name: store.read_csv(folder / name) for name in names.get(kind, ()) if (folder / name).is_file()}
    if kind == "inspect" and schema.LAYERS in tables:
        layers = tables[schema.LAYERS]
        tables[schema.LAYERS] = layers.pivot_table(index=["init", "layer"], columns="statistic", values="value",
                                                   sort=False).reset_index()
    for name in (schema.TRAJECTORIES, schema.INTERPOLATION):
        if (folder / name).is_file():
            tables[name] = store.read_csv(folder / name)
    return tables


def html(folder: Path, target: float | None = None, metric: str | None = None, baseline: str | None = None,
         by: tuple[str, ...] = (), x: str = "epochs", path: Path | None = None) -> str:
    """The HTML report of any results folder nncmp wrote (written to `path` if given); the page."""
    from nncmp.output.html import build

    store.require_results(folder, runs=False)
    target, metric, baseline = saved_settings(folder, target, metric, baseline)
    page = build(folder, target, metric, baseline, by, x)
    if path is not None:
        store.atomic_write_text(Path(path), page)
    return page
