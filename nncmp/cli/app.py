"""The `nncmp` Typer application: the commands in the order `nncmp --help` lists them."""

from __future__ import annotations

from typing import Annotated

import typer

from nncmp import __version__
from nncmp.cli.bench import bench
from nncmp.cli.common import Commands
from nncmp.cli.compare import compare, resume_command, transfer
from nncmp.cli.inspect import inspect
from nncmp.cli.landscape import landscape
from nncmp.cli.optimizers import optimizers
from nncmp.cli.paths import paths
from nncmp.cli.report import datasets, export, models, report
from nncmp.cli.suite import suite
from nncmp.cli.train import train

app = typer.Typer(
    cls=Commands,  # click's groups, with a hint for a list given with spaces
    help="Compare neural-network optimizers and weight initialisations on real PyTorch training runs.",
    rich_markup_mode=None,  # plain click errors: one "Error: ..." line, no boxed panels
    no_args_is_help=True,
    add_completion=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"nncmp {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True,
                                         help="Show the version and exit.")] = False,
) -> None:
    """Compare neural-network optimizers and weight initialisations on real PyTorch training runs."""


app.command()(train)
app.command()(compare)
app.command()(transfer)
app.command("resume")(resume_command)
app.command()(suite)
app.command()(report)
app.command()(export)
app.command()(datasets)
app.command()(models)
app.command()(bench)
app.command()(inspect)
app.command()(optimizers)
app.command()(paths)
app.command()(landscape)


def main() -> None:
    # How torch's OpenMP threads wait, chosen from the load measured when torch is first imported (the rule
    # and its measurements are in training/openmp.py, shared with the Python API): --help and bad input never
    # import torch, so they never wait for the measurement. `import nncmp` made the same call already; this
    # one says the command relies on it.
    from nncmp.training.openmp import choose_wait_policy

    choose_wait_policy()
    from nncmp.training import signals

    signals.EXITING_AFTER_INTERRUPT = True
    code: int | str | None = 0
    try:
        app(prog_name="nncmp")
    except SystemExit as e:  # click's way out, whatever the command did
        code = e.code
    signals.end(code)
