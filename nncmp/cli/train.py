"""`nncmp train`: one run, one row per epoch (epoch 0 is the untrained model)."""

from __future__ import annotations

from typing import Any

import typer

from nncmp.cli.common import QuietOpt, reporter, user_errors
from nncmp.cli.declared import declares, params
from nncmp.config.arguments import TRAIN
from nncmp.config.request import build


@declares(params(TRAIN))
def train(quiet: QuietOpt = False, **declared: Any) -> None:
    """Train one run and print one row per epoch (epoch 0 is the untrained model)."""
    with user_errors():
        request = build("train", declared)
    # After the checks: the command imports torch, and bad input must answer at once.
    from nncmp.cli.compare import finish
    from nncmp.commands.train import train as run

    show = reporter(quiet, epochs=True)
    raise typer.Exit(finish(lambda: run(request, show), show, train=True, quiet=quiet))
