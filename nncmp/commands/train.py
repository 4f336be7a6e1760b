"""train: one run, through compare's path — a one-run comparison, saved, summarised and plotted the same
way (its folder resumes, reports and exports like any comparison's)."""

from __future__ import annotations

from nncmp.commands.compare import CompareResult, compare
from nncmp.config.comparison import CompareConfig
from nncmp.config.grid import Grid
from nncmp.config.request import CompareRequest, TrainRequest
from nncmp.training.progress import Reporter


def train(request: TrainRequest, reporter: Reporter = Reporter()) -> CompareResult:
    """One run into its results folder: metrics.csv, summary.csv, plots (and what `options` track)."""
    config = CompareConfig(grid=Grid(base=request.spec, seeds=1), options=request.options)
    return compare(CompareRequest(config, out=request.out, overwrite=request.overwrite, download=request.download,
                                  command="train"), reporter)
