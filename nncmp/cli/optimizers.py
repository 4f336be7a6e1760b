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
    space: Annotated[str | None, typer.Option(
        "--space", metavar="NAME", show_default="off",
        help="Print the search space `compare --tune` would use for this optimizer (as a --space file: JSON).")] = None,
    schedule: Annotated[str, typer.Option(
        help="With --space: the schedule the runs use (a warm-up schedule adds the warm-up fraction).")] = "constant",
) -> None:
    """List the optimizers: source, default learning rate, hyperparameters, special handling, and whether
    each runs here."""
    from nncmp.commands.optimizers import optimizers as run

    if space is not None:
        from nncmp.commands.optimizers import search_space

        with user_errors():
            doc = search_space(space, schedule)
        typer.echo(json.dumps(doc, indent=2))
        return
    with user_errors():
        rows = run(filter_)
    if json_out:
        typer.echo(json.dumps(rows, indent=2, default=str))
        return
    from nncmp.output.views import optimizer_table

    console().print(optimizer_table(rows))
