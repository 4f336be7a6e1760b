"""Progress of a grid: runs × epochs, with an ETA weighted by each epoch's cost.

A Rich bar on a terminal, plain lines when stdout is not a terminal (logs, CI), nothing with --quiet.
The engines and backends report to it through these calls, in this order:

    start_group(indices, specs)   local backend: these runs (0-based grid positions) start training together
    epoch(record)                 local backend: a run finished an epoch (epoch 0 included)
    end_run(i, spec, records)     a run (1-based position) finished, diverged or not
    counts(running, waiting)      parallel backends: groups on workers and waiting for one
    group_done(indices, results)  parallel backends: a group came back (results None: it failed for good)
"""

from __future__ import annotations

import math
import time
from typing import Any

from rich.console import Console

from nncmp.output.terminal import num


def epoch_cost(spec: Any, n_train: int) -> float:
    """Relative time of one epoch, for the ETA: a step costs about as much as 64 examples of compute,
    so batch size 1 (4,000 steps an epoch) is ~30x slower than batch size 64 on the same data."""
    batch = min(spec.effective_batch_size() or n_train, n_train)
    return math.ceil(n_train / batch) + n_train / 64


class RunProgress:
    """Progress over runs × epochs, with an ETA weighted by each epoch's cost: a Rich bar on a terminal,
    plain lines otherwise, nothing when quiet."""

    def __init__(self, console: Console, specs: list[Any], n_train: int, quiet: bool = False):
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
        self._bar: Any = None

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

    def group_done(self, indices: list[int] | tuple[int, ...], results: list[Any] | None) -> None:
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

    def start_group(self, indices: list[int] | tuple[int, ...], specs: list[Any]) -> None:
        """Runs (0-based grid positions) about to train together; they share one epoch cost."""
        self.cost = self.costs[indices[0]]
        first = specs[0]
        self._run = (f"run {indices[0] + 1}/{self.n_runs} {first.run_id}" if len(indices) == 1 else
                     f"{len(indices)} runs together, {first.config_id} …")
        self._epochs = first.epochs
        self._group_start = self.done

    def group_failed(self, indices: list[int] | tuple[int, ...], error: str) -> None:
        """This process's group raised: its runs count as done for the ETA, and (lines mode) say why."""
        self.done = self._group_start + self.cost * sum(self._epochs_of[i] for i in indices)
        if self._bar is not None:
            self._bar.update(self._task, completed=self.done)
        if self.mode == "lines":
            for i in indices:
                self.console.print(f"[{i + 1}/{self.n_runs}] failed: {error}")

    def epoch(self, record: dict[str, Any]) -> None:
        if record["epoch"] > 0:
            self.done += self.cost
        if self._bar is not None:
            self._bar.update(self._task, completed=self.done,
                             description=f"{self._run} epoch {record['epoch']}/{self._epochs}")

    def end_run(self, i: int, spec: Any, records: list[dict[str, Any]]) -> None:
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
