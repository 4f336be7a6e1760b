"""Run a list of RunSpecs on the shared engine, handing each run's records back as soon as it finishes."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from nncmp.data import Data
from nncmp.spec import RunSpec


def run_local(specs: list[RunSpec], data: Data, progress: Any,
              on_run: Callable[[list[dict[str, Any]]], None]) -> None:
    """Train each spec in order in this process. KeyboardInterrupt propagates after the finished runs
    have been handed to `on_run` (which saves them), so nothing finished is lost."""
    from nncmp.engine import train

    for i, spec in enumerate(specs, 1):
        progress.start_run(i, spec.resolved(data.n_train))
        records = train(spec, data, on_epoch=progress.epoch)
        progress.end_run(i, spec, records)
        on_run(records)
