"""`nncmp report`, `nncmp export`, `nncmp datasets` and `nncmp models`: what is already on disk, shown or
exported, and what can be trained."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from nncmp.cli.common import JsonOpt, UsageFailure, WideOpt, console, user_errors
from nncmp.cli.declared import declares, single, values
from nncmp.config.comparison import CompareConfig, Options, check_statistics
from nncmp.config.fields import one_of

FORMATS = ("table", "csv", "markdown", "json", "html")
BY_CHOICES = ("init", "optimizer", "hidden", "dropout", "act", "norm", "schedule")


def _choice(option: str, value: str | None, choices: tuple[str, ...]) -> None:
    problem = one_of(option, choices)(value) if value is not None else None
    if problem:
        raise UsageFailure(problem)


@declares(single(CompareConfig, ["target", "metric", "baseline"]))
def report(
    results_dir: Annotated[Path, typer.Argument(help="A results folder written by compare (or train).",
                                                metavar="RESULTS_DIR", show_default=False)],
    by: Annotated[str | None, typer.Option(
        help=f"Pivot: one column per value of this factor ({', '.join(BY_CHOICES)}), rows the others; "
             "cells mean ± 95% CI of the metric.", show_default="no pivot: the ranked summary")] = None,
    fmt: Annotated[str, typer.Option("--format", help="Output: table, csv, markdown, json, or html (one "
                                     "self-contained page for any results folder).")] = "table",
    html_path: Annotated[Path | None, typer.Option(
        "--html", help="Write the HTML report to this file (implies --format html).", show_default="off")] = None,
    json_out: JsonOpt = False,
    plot: Annotated[bool, typer.Option(help="Write PNG plots into the results folder.")] = True,
    x: Annotated[str, typer.Option("--x", help="x axis of the curves: epochs, examples or seconds.")] = "epochs",
    wide: WideOpt = False,
    **declared: Any,
) -> None:
    """Re-render the summary, statistics and plots of an existing results folder, without training."""
    from nncmp.commands import report as commands

    _choice("--by", by, BY_CHOICES)
    _choice("--format", fmt, FORMATS)
    with user_errors():
        stats = values(CompareConfig, declared, ["target", "metric", "baseline"])
        Options(x=x)
        check_statistics(**stats)
        if html_path is not None or fmt == "html":
            page = commands.html(results_dir, *(stats.get(k) for k in ("target", "metric", "baseline")),
                                 (by,) if by else (), x, html_path)
            typer.echo(page if html_path is None else f"report: {html_path}", nl=html_path is not None)
            return
        result = commands.report(results_dir, stats.get("target"), stats.get("metric"), stats.get("baseline"),
                                 plot, x)
    from nncmp.output import views

    if by is not None and result.summary is None:
        raise UsageFailure(f"--by pivots a comparison's summary; {results_dir} holds the results of nncmp "
                           f"{result.kind}")
    out = console()
    with user_errors():  # all of it before any is printed: a damaged tuning.csv or budget.csv is one line
        outputs = list(views.render_folder(result, "json" if json_out else fmt, by, wide))
    for output in outputs:
        if isinstance(output, str):
            out.file.write(output)
        else:
            out.print(output, crop=not wide)
    for line in result.damaged:  # on stderr, as the line below
        typer.echo(f"warning: {line}", err=True)
    if result.incomplete:  # on stderr: the table, CSV or JSON on stdout stays what it is
        typer.echo(f"warning: {result.incomplete}", err=True)


def export(
    results_dir: Annotated[Path, typer.Argument(help="A results folder of compare or train (for --mlflow also of "
                                                "suite).", metavar="RESULTS_DIR", show_default=False)],
    tensorboard: Annotated[Path | None, typer.Option(
        "--tensorboard", metavar="LOGDIR", help="The TensorBoard log folder to write the runs into.",
        show_default="off")] = None,
    mlflow: Annotated[str | None, typer.Option(
        "--mlflow", metavar="URI", show_default="off",
        help="The MLflow tracking store to log the runs into: a tracking URI (sqlite:///mlflow.db, "
             "http://host:5000, databricks) or 'default' ($MLFLOW_TRACKING_URI, else MLflow's default). An MLflow "
             "run per nncmp run under a run per comparison, in experiment 'nncmp' ($MLFLOW_EXPERIMENT_NAME for "
             "another); exporting again updates the same runs.")] = None,
) -> None:
    """Export a results folder's runs: to TensorBoard (one run per nncmp run, HParams included) and/or MLflow
    (one run per nncmp run, under a run per comparison)."""
    from nncmp.commands.export import export as run

    with user_errors():
        result = run(results_dir, tensorboard, mlflow)
    if result.mlflow is not None:
        uri = result.mlflow
        view = f"open {uri}" if uri.startswith(("http:", "https:", "databricks")) else \
            f"mlflow ui --backend-store-uri {uri}"
        typer.echo(f"{result.runs} runs logged to MLflow experiment {result.experiment!r} at {uri}; view them "
                   f"with: {view}")
    if result.tensorboard is not None:
        logdir = result.tensorboard
        typer.echo(f"{result.runs} runs written to {logdir}; view them with: tensorboard --logdir {logdir}")


@declares(single(Options, ["data_dir"]))
def datasets(**declared: Any) -> None:
    """List the datasets: shape, classes, sizes, and whether each is available offline now."""
    from nncmp.commands.datasets import datasets as run
    from nncmp.output.terminal import simple_table

    data_dir = declared["data_dir"]
    caption = f"torchvision datasets are looked for in {data_dir or '~/.cache/nncmp/data'}; --download fetches them."
    console().print(simple_table("Datasets", run(data_dir), caption=caption))


def models() -> None:
    """List the models: nncmp's own, those installed packages register (entry points nncmp.models), and
    how to pass your own."""
    from nncmp.commands.models import models as run
    from nncmp.output.terminal import simple_table

    console().print(simple_table("Models", run()))
