"""What training tells as it goes, and to whom: a Reporter. Training knows only this interface; the
command layer hands in one that prints (output/progress.py), and the default says nothing.

A progress object gets these calls, in this order:

    start_group(indices, specs)          a backend training in this process: these runs (0-based positions)
                                         start training together
    epoch(record)                        a backend training in this process: a run finished an epoch
                                         (epoch 0 included)
    counts(running, waiting)             worker backends: groups on workers and waiting for one
    group_done(indices, results, error)  every backend: a group came back and is saved (results None: its
                                         runs failed for good, with `error`)
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from nncmp.config.run import RunSpec
    from nncmp.registry.data import Data
    from nncmp.training.plan import Group
    from nncmp.training.recorder import Record


class Progress(Protocol):
    """Every call a progress object gets (the module's docstring says when)."""

    def start_group(self, indices: Sequence[int], specs: list[RunSpec]) -> None: ...

    def epoch(self, record: Record) -> None: ...

    def counts(self, running: int, pending: int) -> None: ...

    def group_done(self, indices: Sequence[int], results: list[list[Record]] | None, error: str = "") -> None: ...


class Silent:
    """A progress object that shows nothing."""

    def start_group(self, indices: Sequence[int], specs: list[RunSpec]) -> None:
        pass

    def epoch(self, record: Record) -> None:
        pass

    def counts(self, running: int, pending: int) -> None:
        pass

    def group_done(self, indices: Sequence[int], results: list[list[Record]] | None, error: str = "") -> None:
        pass


class Reporter:
    """Says nothing; subclasses show progress, notes (one line each) and --verbose details."""

    @contextlib.contextmanager
    def progress(self, groups: Sequence[Group], data: Data) -> Iterator[Progress]:
        """A progress object for training a plan's `groups` on `data`, for the duration of the block."""
        yield Silent()

    def note(self, text: str) -> None:
        """Something the user should know (resuming, tuning started): one line."""

    def detail(self, text: str) -> None:
        """--verbose: how the runs are grouped and why."""

    @property
    def detailed(self) -> bool:
        return False
