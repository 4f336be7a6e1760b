"""What training tells as it goes, and to whom: a Reporter. Training knows only this interface; the
command layer hands in one that prints (output/progress.py), and the default says nothing.

A progress object gets these calls, in this order:

    start_group(indices, specs)   local backend: these runs (0-based positions) start training together
    epoch(record)                 local backend: a run finished an epoch (epoch 0 included)
    end_run(i, spec, records)     a run (1-based position) finished, diverged or not
    group_failed(indices, error)  local backend: the group raised; its runs are given up
    counts(running, waiting)      parallel backends: groups on workers and waiting for one
    group_done(indices, results)  parallel backends: a group came back (results None: it failed for good)
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from typing import Any


class Silent:
    """A progress object that shows nothing."""

    def start_group(self, indices: Sequence[int], specs: list[Any]) -> None:
        pass

    def epoch(self, record: dict[str, Any]) -> None:
        pass

    def end_run(self, i: int, spec: Any, records: list[dict[str, Any]]) -> None:
        pass

    def group_failed(self, indices: Sequence[int], error: str) -> None:
        pass

    def counts(self, running: int, pending: int) -> None:
        pass

    def group_done(self, indices: Sequence[int], results: list[Any] | None) -> None:
        pass


class Reporter:
    """Says nothing; subclasses show progress, notes (one line each) and --verbose details."""

    @contextlib.contextmanager
    def progress(self, specs: list[Any], n_train: int) -> Iterator[Any]:
        """A progress object for training `specs` on `n_train` examples, for the duration of the block."""
        yield Silent()

    def note(self, text: str) -> None:
        """Something the user should know (resuming, tuning started): one line."""

    def detail(self, text: str) -> None:
        """--verbose: how the runs are grouped and why."""

    @property
    def detailed(self) -> bool:
        return False
