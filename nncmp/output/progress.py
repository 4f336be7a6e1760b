"""Progress of a grid on a console: runs × epochs, with an ETA weighted by each epoch's cost.

A Rich bar on a terminal, plain lines when the output is not a terminal (logs, CI), nothing with --quiet;
nncmp train's one line per epoch. The calls it gets are training/progress.py's; ConsoleReporter is the
training.progress.Reporter that prints.
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING

from rich.console import Console

from nncmp.output.terminal import epoch_header, epoch_line, num
from nncmp.training.progress import Reporter, Silent

if TYPE_CHECKING:
    import rich.progress

    from nncmp.spec.run import RunSpec
    from nncmp.training.progress import Progress
    from nncmp.training.recorder import Record


def epoch_cost(spec: RunSpec, n_train: int) -> float:
    """Relative time of one epoch, for the ETA: a step costs about as much as 64 examples of compute,
    so batch size 1 (4,000 steps an epoch) is ~30x slower than batch size 64 on the same data."""
    batch = min(spec.effective_batch_size() or n_train, n_train)
    return math.ceil(n_train / batch) + n_train / 64


class RunProgress:
    """Progress over runs × epochs, with an ETA weighted by each epoch's cost: a Rich bar on a terminal,
    plain lines otherwise, nothing when quiet."""

    def __init__(self, console: Console, specs: list[RunSpec], n_train: int, quiet: bool = False):
        self.console = console
        self.n_runs = len(specs)
        self.costs = [epoch_cost(s, n_train) for s in specs]
        self.total = sum(c * s.epochs for c, s in zip(self.costs, specs))
        self.done = 0.0
        self.cost = 0.0
        self.mode = "off" if quiet else ("bar" if console.is_terminal else "lines")
        self._epochs_of = [s.epochs for s in specs]
        self._finished = 0
        self._state = ""
        self.started = time.perf_counter()
        self._bar: rich.progress.Progress | None = None

    def __enter__(self) -> RunProgress:
        if self.mode == "bar":
            from rich.progress import (
                BarColumn,
                Progress,
                TaskProgressColumn,
                TextColumn,
                TimeElapsedColumn,
                TimeRemainingColumn,
            )

            self._bar = Progress(TextColumn("{task.description}"), BarColumn(), TaskProgressColumn(),
                                 TimeElapsedColumn(), TextColumn("eta"), TimeRemainingColumn(), console=self.console)
            self._bar.__enter__()
            self._task = self._bar.add_task("training", total=self.total)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._bar is not None:
            self._bar.__exit__(*exc)

    def counts(self, running: int, pending: int) -> None:
        """Parallel backends: groups running on workers and waiting for one."""
        state = f"{running} group(s) running, {pending} waiting"
        if self.mode == "lines" and self._finished and state != self._state:
            self.console.print(f"{self._finished}/{self.n_runs} runs done; {state}")
        self._state = state
        self.counts_refresh()

    def group_done(self, indices: Sequence[int], results: list[list[Record]] | None) -> None:
        """Parallel backends: a whole group finished on a worker (results None: it failed)."""
        for k, i in enumerate(indices):
            self.cost = self.costs[i]
            self._finished += 1
            if results is None:
                self.done += self.cost * self._epochs_of[i]
                if self.mode == "lines":
                    self.console.print(f"[{i + 1}/{self.n_runs}] failed")
            else:
                self.done += self.cost * results[k][-1]["epoch"]
                self.end_run(i + 1, None, results[k])
        self.counts_refresh()

    def counts_refresh(self) -> None:
        if self._bar is not None:
            self._bar.update(self._task, completed=self.done,
                             description=f"{self._finished}/{self.n_runs} runs done · {self._state}")

    def start_group(self, indices: Sequence[int], specs: list[RunSpec]) -> None:
        """Runs (0-based grid positions) about to train together; they share one epoch cost."""
        self.cost = self.costs[indices[0]]
        first = specs[0]
        self._run = (f"run {indices[0] + 1}/{self.n_runs} {first.run_id}" if len(indices) == 1 else
                     f"{len(indices)} runs together, {first.config_id} …")
        self._epochs = first.epochs
        self._group_start = self.done

    def group_failed(self, indices: Sequence[int], error: str) -> None:
        """This process's group raised: its runs count as done for the ETA, and (lines mode) say why."""
        self.done = self._group_start + self.cost * sum(self._epochs_of[i] for i in indices)
        if self._bar is not None:
            self._bar.update(self._task, completed=self.done)
        if self.mode == "lines":
            for i in indices:
                self.console.print(f"[{i + 1}/{self.n_runs}] failed: {error}")

    def epoch(self, record: Record) -> None:
        if record["epoch"] > 0:
            self.done += self.cost
        if self._bar is not None:
            self._bar.update(self._task, completed=self.done,
                             description=f"{self._run} epoch {record['epoch']}/{self._epochs}")

    def end_run(self, i: int, spec: RunSpec | None, records: list[Record]) -> None:
        # Epochs a diverged run never trained count as done for the ETA.
        self.done += self.cost * (self._epochs_of[i - 1] - records[-1]["epoch"])
        if self._bar is not None:
            self._bar.update(self._task, completed=self.done)
        if self.mode != "lines":
            return
        last = records[-1]
        elapsed = time.perf_counter() - self.started
        eta = elapsed / self.done * (self.total - self.done) if self.done else math.nan
        self.console.print(
            f"[{i}/{self.n_runs}] {last['run_id']}  val_acc {num(last['val_acc'])}  val_loss {num(last['val_loss'])}"
            f"  {last['status']}  elapsed {elapsed:.0f}s  eta {eta:.0f}s"
        )


class EpochLines(Silent):
    """nncmp train: one line per epoch of its one run, as it finishes."""

    def __init__(self, console: Console, specs: list[RunSpec], n_train: int):
        self.console, self.scheduled = console, any(s.schedule != "constant" for s in specs)
        if specs:
            console.print(f"{specs[0].run_id} on {specs[0].dataset} ({n_train} training examples)")
        console.print(epoch_header(self.scheduled))

    def epoch(self, record: Record) -> None:
        self.console.print(epoch_line(record, self.scheduled))


class ConsoleReporter(Reporter):
    """Progress, notes and --verbose details on a Rich console (quiet: the notes and details are dropped;
    `epochs`: one line per epoch instead of a bar, for a single run)."""

    def __init__(self, console: Console, quiet: bool = False, verbose: bool = False, epochs: bool = False):
        self.console, self.quiet, self.verbose, self.epochs = console, quiet, verbose, epochs

    @contextlib.contextmanager
    def progress(self, specs: list[RunSpec], n_train: int) -> Iterator[Progress]:
        if self.epochs and not self.quiet:
            yield EpochLines(self.console, specs, n_train)
            return
        with RunProgress(self.console, specs, n_train, self.quiet or self.epochs) as progress:
            yield progress

    def note(self, text: str) -> None:
        if not self.quiet:
            self.console.print(text)

    def detail(self, text: str) -> None:
        self.console.print(text)

    @property
    def detailed(self) -> bool:
        return self.verbose and not self.quiet
