"""train: one run, through compare's path — a one-run comparison, saved, summarised and plotted the same
way (its folder resumes, reports and exports like any comparison's)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from nncmp.commands.compare import CompareRequest, CompareResult, compare
from nncmp.config.comparison import CompareConfig, Options
from nncmp.config.grid import Grid
from nncmp.config.run import RunSpec
from nncmp.training.progress import Reporter


@dataclass(frozen=True)
class TrainRequest:
    spec: RunSpec
    options: Options = field(default_factory=Options)  # plots, tracking, device, threads, TensorBoard
    out: Path | None = None
    overwrite: bool = False
    download: bool = False


def train(request: TrainRequest, reporter: Reporter = Reporter()) -> CompareResult:
    """One run into its results folder: metrics.csv, summary.csv, plots (and what `options` track)."""
    config = CompareConfig(grid=Grid(base=request.spec, seeds=1), options=request.options)
    return compare(CompareRequest(config, out=request.out, overwrite=request.overwrite, download=request.download,
                                  command="train"), reporter)
