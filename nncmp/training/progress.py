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
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from nncmp.config.run import RunSpec
    from nncmp.registry.data import Data
    from nncmp.training.recorder import Record


class GroupProgress(Protocol):
    """The calls the parallel backends make (all they need of a progress object)."""

    def counts(self, running: int, pending: int) -> None: ...

    def group_done(self, indices: Sequence[int], results: list[list[Record]] | None) -> None: ...


class Progress(GroupProgress, Protocol):
    """Every call a progress object gets (the module's docstring says when)."""

    def start_group(self, indices: Sequence[int], specs: list[RunSpec]) -> None: ...

    def epoch(self, record: Record) -> None: ...

    def end_run(self, i: int, spec: RunSpec, records: list[Record]) -> None: ...

    def group_failed(self, indices: Sequence[int], error: str) -> None: ...


class Silent:
    """A progress object that shows nothing."""

    def start_group(self, indices: Sequence[int], specs: list[RunSpec]) -> None:
        pass

    def epoch(self, record: Record) -> None:
        pass

    def end_run(self, i: int, spec: RunSpec | None, records: list[Record]) -> None:
        pass

    def group_failed(self, indices: Sequence[int], error: str) -> None:
        pass

    def counts(self, running: int, pending: int) -> None:
        pass

    def group_done(self, indices: Sequence[int], results: list[list[Record]] | None) -> None:
        pass


class Reporter:
    """Says nothing; subclasses show progress, notes (one line each) and --verbose details."""

    @contextlib.contextmanager
    def progress(self, specs: list[RunSpec], data: Data) -> Iterator[Progress]:
        """A progress object for training `specs` on `data`, for the duration of the block."""
        yield Silent()

    def note(self, text: str) -> None:
        """Something the user should know (resuming, tuning started): one line."""

    def detail(self, text: str) -> None:
        """--verbose: how the runs are grouped and why."""

    @property
    def detailed(self) -> bool:
        return False
