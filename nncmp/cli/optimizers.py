"""`nncmp optimizers`: every optimizer nncmp can compare, where it comes from and how it is trained."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from nncmp.cli.common import JsonOpt, console, user_errors


def optimizers(
    filter_: Annotated[str | None, typer.Option(
        "--filter", help="Only names matching this glob, e.g. 'adam*' or 'pytorch-optimizer:*'.",
        show_default="all")] = None,
    json_out: JsonOpt = False,
) -> None:
    """List the optimizers: source, default learning rate, hyperparameters, special handling, and whether
    each runs here."""
    from nncmp.commands.optimizers import optimizers as run

    with user_errors():
        rows = run(filter_)
    if json_out:
        typer.echo(json.dumps(rows, indent=2, default=str))
        return
    from nncmp.output.views import optimizer_table

    console().print(optimizer_table(rows))
