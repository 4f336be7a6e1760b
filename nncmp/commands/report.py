"""report: the summary, statistics and plots of an existing results folder, without training; and the
one-file HTML report of any folder nncmp wrote."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from nncmp.config.comparison import DEFAULT_TARGET
from nncmp.errors import SpecError, StoreError
from nncmp.results import schema, store
from nncmp.results.summary import summarize_folder, write_transfer

if TYPE_CHECKING:
    import pandas as pd


KINDS = ("compare", "train", "bench", "inspect", "paths", "suite", "calibrate")  # the commands that write config.json


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
    incomplete: str | None = None  # a comparison whose runs did not all finish: how many, and how to finish it
    damaged: list[str] = field(default_factory=list)  # damaged lines of metrics.csv and runs.csv, and what was left out
    transfer: pd.DataFrame | None = None  # transfer.csv: a sweep over --widths and --lrs (results/transfer.py)


def saved_settings(folder: Path, target: float | None, metric: str | None,
                   baseline: str | None) -> tuple[float, str | None, str | None]:
    """What the folder's command asked for (target, metric, baseline), unless given here (a train folder has
    no baseline)."""
    saved = store.read_config(folder) if store.is_started(folder) else {}
    target = saved.get("target", DEFAULT_TARGET) if target is None else target
    if not 0.0 <= target <= 1.0:
        raise SpecError(f"--target must be a val accuracy in [0, 1], got {target:g}")
    return target, metric or saved.get("metric"), baseline or saved.get("baseline")


def kind_of(folder: Path) -> str:
    """The command that wrote `folder`: a folder without config.json is an older compare's; a config.json that
    names no nncmp command is refused (StoreError), as nothing here would show what it holds."""
    kind = store.read_config(folder).get("command") if store.is_started(folder) else "compare"
    if kind not in KINDS:
        raise StoreError(f"{Path(folder) / schema.CONFIG}: written by {kind!r}, not by an nncmp command "
                         f"({', '.join(KINDS)})")
    return kind


def report(folder: Path, target: float | None = None, metric: str | None = None, baseline: str | None = None,
           plot: bool = True, x: str = "epochs") -> ReportResult:
    """The folder's ranked summary (as compare made it: the same summary.csv byte for byte), its plots
    rewritten when `plot`."""
    folder = Path(folder)
    store.require_results(folder, runs=False)
    kind = kind_of(folder)
    if kind == "calibrate":
        raise SpecError(f"{folder} is a suite's calibration: its targets are in {folder / schema.SUITE_TOML}, each "
                        f"baseline run's best score in {folder / schema.CALIBRATION}")
    if kind == "suite":
        raise SpecError(f"{folder} is a suite: its verdict is {folder / schema.SUITE_MD} (nncmp suite --resume "
                        f"{folder} rewrites it, e.g. --by steps); each problem's sub-folder is a compare folder "
                        f"for report, e.g. nncmp report {folder}/<problem>")
    result = ReportResult(folder, None, None, None, None, kind, _tables(folder, kind))
    if (folder / schema.LANDSCAPE_JSON).is_file():
        result.landscape = json.loads((folder / schema.LANDSCAPE_JSON).read_text())
    if kind in ("compare", "train"):
        result.incomplete = incomplete(folder)
    if kind in ("compare", "train") and store.has_runs(folder):
        target, metric, baseline = saved_settings(folder, target, metric, baseline)
        result.metrics, result.summary, result.metric = summarize_folder(folder, target, metric, baseline,
                                                                         result.damaged)
        result.target = target
        if not result.damaged:
            result.transfer = write_transfer(folder, result.metrics, result.metric)
        if plot and not result.damaged:  # the figures of the whole comparison are not replaced by a part's
            from nncmp.output.plots import write_plots

            write_plots(result.metrics, result.summary, folder, x, result.transfer, result.metric)
            from nncmp.output.tuning_plots import write_figures

            write_figures(folder)  # --tune: budget.png, sensitivity.png
    elif not result.tables:
        store.require_results(folder)  # a folder nncmp began but that holds nothing to show yet
    return result


def incomplete(folder: Path) -> str | None:
    """What report says of a comparison that did not finish (its process stopped: Ctrl-C, a kill, a full disk, a
    user's os._exit), from runs.csv, which marks every run that has not finished (pending, interrupted, failed);
    None when every run finished, or for a folder from before runs.csv."""
    path = folder / schema.RUNS
    if not path.is_file():
        return None
    try:
        status = store.read_csv(path)["status"].astype(str)
    except Exception:  # noqa: BLE001 -- a damaged runs.csv is said by the readers of the results, not here
        return None
    left = status[~status.isin(schema.STATUSES)]
    if left.empty:
        return None
    counts = ", ".join(f"{n} {s}" for s, n in left.value_counts().items())
    return (f"this comparison is incomplete: {len(status) - len(left)} of {len(status)} runs finished ({counts}; "
            f"runs.csv lists them); the summary covers the finished ones; finish it with: nncmp resume {folder}")


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
    kind_of(folder)
    target, metric, baseline = saved_settings(folder, target, metric, baseline)
    page = build(folder, target, metric, baseline, by, x)
    if path is not None:
        store.atomic_write_text(Path(path), page)
    return page
