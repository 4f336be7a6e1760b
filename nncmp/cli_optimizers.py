"""`nncmp optimizers`: every optimizer nncmp can compare, where it comes from and how it is trained."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from nncmp.options import JsonOpt, UsageFailure, user_errors


def optimizers(
    filter_: Annotated[str | None, typer.Option(
        "--filter", help="Only names matching this glob, e.g. 'adam*' or 'pytorch-optimizer:*'.",
        show_default="all")] = None,
    json_out: JsonOpt = False,
) -> None:
    """List the optimizers: source, default learning rate, hyperparameters, special handling, and whether
    each runs here."""
    from nncmp.registry.optimizers import catalog, format_value

    with user_errors():
        rows = catalog(filter_)
    if not rows:
        raise UsageFailure(f"--filter {filter_!r} matches no optimizer")
    if json_out:
        typer.echo(json.dumps(rows, indent=2, default=str))
        return
    from rich.table import Table

    from nncmp.output.terminal import make_console

    table = Table(title=f"Optimizers ({len(rows)})", caption_justify="left", caption=(
        "Bare names resolve built-in → torch.optim → pytorch-optimizer; torch:NAME or pytorch-optimizer:NAME "
        "picks a library. Set a hyperparameter with --opt-arg KEY=VALUE (--momentum, --betas, --alpha, --eps and "
        "--weight-decay have options of their own). handling: see README \"Optimizers\"."))
    for column in ("name", "source", "lr", "hyperparameters (defaults)", "handling", "runs here"):
        table.add_column(column, justify="right" if column == "lr" else "left", overflow="fold")
    for r in rows:
        hyper = " ".join(f"{k}={format_value(v)}" for k, v in r["hyperparameters"].items())
        table.add_row(r["name"], r["source"], f"{r['lr']:g}", hyper, ", ".join(r["handling"]),
                      "yes" if r["available"] else f"no: {r['why_not']}")
    make_console().print(table)
