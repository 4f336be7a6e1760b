"""report: the summary, statistics and plots of an existing results folder, without training; and the
one-file HTML report of any folder nncmp wrote."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from nncmp.errors import SpecError
from nncmp.results import store
from nncmp.results.summary import summarize_folder
from nncmp.spec.config import DEFAULT_TARGET

if TYPE_CHECKING:
    import pandas as pd


@dataclass
class ReportResult:
    folder: Path
    metrics: pd.DataFrame
    summary: pd.DataFrame
    metric: str
    target: float | None


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
    store.require_results(folder)
    target, metric, baseline = saved_settings(folder, target, metric, baseline)
    metrics, summary, metric = summarize_folder(folder, target, metric, baseline)
    if plot:
        from nncmp.output.plots import write_plots

        write_plots(metrics, summary, folder, x)
    return ReportResult(Path(folder), metrics, summary, metric, target)


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
