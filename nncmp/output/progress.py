"""Progress of a grid on a console: runs × epochs, with an ETA weighted by each epoch's cost.

A Rich bar on a terminal; in a Jupyter notebook the same bar as one output replaced in place; plain lines
when the output is neither (logs, CI, a pipe), nothing with --quiet; nncmp train's one line per epoch. The
calls it gets are training/progress.py's; ConsoleReporter is the training.progress.Reporter that prints.
"""

from __future__ import annotations

import contextlib
import io
import math
import threading
import time
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING

from rich.console import Console
from rich.jupyter import JUPYTER_HTML_FORMAT

from nncmp.config.budget import eval_interval, rounds, steps_per_epoch
from nncmp.output.terminal import epoch_header, epoch_line, num
from nncmp.training.plan import runs_of
from nncmp.training.progress import Reporter, Silent

if TYPE_CHECKING:
    import rich.progress

    from nncmp.config.run import RunSpec
    from nncmp.registry.data import Data
    from nncmp.training.plan import Group
    from nncmp.training.progress import Progress
    from nncmp.training.recorder import Record


def epoch_cost(spec: RunSpec, n_train: int, engine: str) -> float:
    """Relative time of one epoch of a (resolved) run on `engine`, before anything is measured: a step costs
    about as much as 64 examples of compute, so batch size 1 on autograd (4,000 steps an epoch) is ~30x slower
    than batch size 64. Once runs have trained, the ETA uses their measured times instead (RunProgress.eta)."""
    batch = min(spec.effective_batch_size() or n_train, n_train)
    # The batch-1 SGD fast path (no autograd) takes about a twelfth of an autograd step (measured on the
    # course's MLP: 4,000 of its steps take about three times as long as 63 batch-64 steps).
    step = 0.08 if engine == "fast-sgd" else 1.0
    return math.ceil(n_train / batch) * step + n_train / 64


def round_cost(spec: RunSpec, n_train: int, engine: str) -> float:
    """epoch_cost of one evaluation round: an epoch, or a step budget's --eval-every steps."""
    every = eval_interval(spec)
    cost = epoch_cost(spec, n_train, engine)
    return cost if every is None else cost * every / steps_per_epoch(spec, n_train)


def _kind(spec: RunSpec) -> tuple[object, ...]:
    """Runs whose epochs take about as long: same model, architecture and batch size."""
    return (spec.model, spec.hidden, spec.effective_batch_size())


class RunProgress:
    """Progress over runs × epochs: a Rich bar on a terminal or in a notebook (NotebookBar), plain lines
    otherwise (one per finished run, and a line at least every HEARTBEAT seconds while training), nothing
    when quiet. The ETA comes from measured epoch times: each kind of run (model, architecture, batch size)
    at the seconds its epochs took so far, kinds not trained yet at the cost model scaled by the overall
    measured rate."""

    HEARTBEAT = 10.0  # seconds between progress lines on piped output

    def __init__(self, console: Console, groups: Sequence[Group], data: Data, quiet: bool = False):
        self.console = console
        specs = runs_of(groups)
        engines = {i: g.engine for g in groups for i in g.indices}
        self.n_runs = len(specs)
        self.costs = [round_cost(s, data.n_train, engines[i]) for i, s in enumerate(specs)]
        self.kinds = [_kind(s) for s in specs]
        self.total = sum(c * rounds(s) for c, s in zip(self.costs, specs))
        self.left = [c * rounds(s) for c, s in zip(self.costs, specs)]  # cost not trained yet, per run
        self.done = 0.0
        self.cost = 0.0
        # Rich's Console says False to is_terminal in Jupyter, which would print a line per run (124 outputs in
        # one cell); is_jupyter gets the bar, drawn by NotebookBar.
        self.mode = "off" if quiet else ("bar" if console.is_terminal else "notebook" if console.is_jupyter
                                         else "lines")
        self._finished = 0
        self._state = ""
        self._run = "starting"
        self._group: tuple[int, ...] = ()
        self._seconds: dict[tuple[object, ...], float] = {}  # kind → measured seconds of its trained epochs
        self._costs: dict[tuple[object, ...], float] = {}  # kind → cost of those epochs
        self.started = self._group_clock = time.perf_counter()
        self._bar: rich.progress.Progress | None = None
        self._cell: NotebookBar | None = None
        self._stop = threading.Event()
        self._beat: threading.Thread | None = None

    def __enter__(self) -> RunProgress:
        if self.mode in ("bar", "notebook"):
            from rich.progress import (
                BarColumn,
                Progress,
                TaskProgressColumn,
                TextColumn,
                TimeElapsedColumn,
            )

            self._bar = Progress(TextColumn("{task.description}"), BarColumn(), TaskProgressColumn(),
                                 TimeElapsedColumn(), TextColumn("eta {task.fields[eta]}"), console=self.console)
            self._task = self._bar.add_task("training", total=self.total, eta="…")
            if self.mode == "bar":
                self._bar.__enter__()
            else:
                self._cell = NotebookBar(self._bar, self.console.width)
        elif self.mode == "lines":
            self._beat = threading.Thread(target=self._heartbeat, daemon=True)
            self._beat.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._cell is not None:
            self._cell.show(final=True)
        elif self._bar is not None:
            self._bar.__exit__(*exc)

    def _heartbeat(self) -> None:
        """Piped output (a notebook's !nncmp, CI, | tee): a line every HEARTBEAT seconds while training."""
        while not self._stop.wait(self.HEARTBEAT):
            self.console.print(f"{self._finished}/{self.n_runs} runs done; {self._state or 'training'} "
                               f"{self._run}; elapsed {self._elapsed()}; eta {self.eta_text()}")

    def _elapsed(self) -> str:
        return f"{time.perf_counter() - self.started:.0f}s"

    def eta(self) -> float:
        """Seconds still to train: each run's untrained cost at the measured rate of its kind."""
        measured = sum(self._costs.values())
        overall = sum(self._seconds.values()) / measured if measured else math.nan
        total = 0.0
        for kind, left in zip(self.kinds, self.left):
            if left > 0:
                rate = self._seconds[kind] / self._costs[kind] if self._costs.get(kind) else overall
                total += left * rate
        return total

    def eta_text(self) -> str:
        eta = self.eta()
        return "…" if math.isnan(eta) else f"{eta:.0f}s"

    def _trained(self, indices: Sequence[int], cost: float, seconds: float) -> None:
        """Runs `indices` trained `cost` more (each) in `seconds` (together)."""
        kind = self.kinds[indices[0]]
        self._seconds[kind] = self._seconds.get(kind, 0.0) + seconds
        self._costs[kind] = self._costs.get(kind, 0.0) + cost * len(indices)

    def counts(self, running: int, pending: int) -> None:
        """Parallel backends: groups running on workers and waiting for one."""
        state = f"{running} group(s) running, {pending} waiting"
        if self.mode == "lines" and self._finished and state != self._state:
            self.console.print(f"{self._finished}/{self.n_runs} runs done; {state}")
        self._state = state
        self._run = ""
        self.counts_refresh()

    def group_done(self, indices: Sequence[int], results: list[list[Record]] | None, error: str = "") -> None:
        """A group came back and is saved (results None: its runs failed, with `error`). Epochs a run never
        trained (it diverged, or failed) count as done for the ETA."""
        if results is not None and tuple(indices) != self._group:
            # Trained on a worker: its own training seconds (shared equally among the group). A group trained
            # here was timed epoch by epoch already.
            self._trained(indices, self.costs[indices[0]] * max(r[-1]["epoch"] for r in results),
                          sum(r[-1]["seconds"] for r in results))
        for k, i in enumerate(indices):
            self._finished += 1
            self.done += self.left[i]
            self.left[i] = 0.0
            if results is None:
                if self.mode == "lines":
                    self.console.print(f"[{i + 1}/{self.n_runs}] failed" + (f": {error}" if error else ""))
            else:
                self._print_run(i + 1, results[k])
        self.counts_refresh()

    def counts_refresh(self) -> None:
        if self._bar is not None:
            self._bar.update(self._task, completed=self.done, eta=self.eta_text(),
                             description=f"{self._finished}/{self.n_runs} runs done"
                                         + (f" · {self._state}" if self._state else ""))
        if self._cell is not None:
            self._cell.show()

    def start_group(self, indices: Sequence[int], specs: list[RunSpec]) -> None:
        """Runs (0-based grid positions) about to train together; they share one epoch cost."""
        self.cost = self.costs[indices[0]]
        first = specs[0]
        self._run = (f"run {indices[0] + 1}/{self.n_runs} {first.run_id}" if len(indices) == 1 else
                     f"{len(indices)} runs together, {first.config_id} …")
        self._epochs = first.epochs
        self._steps = first.steps  # a step budget: progress in steps
        self._group = tuple(indices)
        self._group_clock = time.perf_counter()
        self._group_epoch = 0

    def epoch(self, record: Record) -> None:
        if record["epoch"] > 0:
            self.done += self.cost
            if self._group and record["epoch"] > self._group_epoch:  # the group just trained this epoch
                self._group_epoch = record["epoch"]
                now = time.perf_counter()
                self._trained(self._group, self.cost, now - self._group_clock)
                self._group_clock = now
                for i in self._group:
                    self.left[i] = max(0.0, self.left[i] - self.cost)
        if self._bar is not None:
            self._bar.update(self._task, completed=self.done, eta=self.eta_text(),
                             description=f"{self._run} " + (f"step {record['step']}/{self._steps}" if self._steps
                                                            else f"epoch {record['epoch']}/{self._epochs}"))
        if self._cell is not None:
            self._cell.show()

    def _print_run(self, i: int, records: list[Record]) -> None:
        if self.mode != "lines":
            return
        last = records[-1]
        self.console.print(
            f"[{i}/{self.n_runs}] {last['run_id']}  val_acc {num(last['val_acc'])}  val_loss {num(last['val_loss'])}"
            f"  {last['status']}  elapsed {self._elapsed()}  eta {self.eta_text()}"
        )


class NotebookBar:
    """A Rich Progress shown in a notebook cell as one output that each update replaces (an IPython display
    handle), at most every EVERY seconds, and once more at the end.

    Rich's own live display needs ipywidgets in Jupyter (it warns and shows nothing without), and so does
    tqdm.auto's bar (without, it falls back to carriage-return text on stderr, which a saved or executed
    notebook keeps as a growing stream); nncmp depends on neither. A display handle is plain IPython: it
    works in JupyterLab, the classic notebook, VS Code and nbclient, and a saved notebook keeps the final
    bar as HTML with a text fallback. Updates come from the training loop itself, at each epoch and each
    group saved (no refresh thread: output sent from another thread can land in whichever cell runs then,
    and nbclient drops what does not belong to the cell it runs)."""

    EVERY = 0.5

    def __init__(self, bar: rich.progress.Progress, width: int):
        from IPython.display import display  # lazy: only in a notebook, where IPython is there

        self.bar, self.width = bar, width
        self._shown = time.perf_counter()
        self.handle = display(self._bundle(), raw=True, display_id=True)

    def show(self, final: bool = False) -> None:
        now = time.perf_counter()
        if final or now - self._shown >= self.EVERY:
            self._shown = now
            self.handle.update(self._bundle(), raw=True)

    def _bundle(self) -> dict[str, str]:
        """The bar as the notebook shows it (HTML, Rich's colours inlined) and as plain text."""
        console = Console(file=io.StringIO(), record=True, width=self.width, force_terminal=True,
                          force_jupyter=False, color_system="truecolor")
        console.print(self.bar.get_renderable())
        text = console.export_text(clear=False).rstrip()
        return {"text/plain": text, "text/html": console.export_html(code_format=JUPYTER_HTML_FORMAT,
                                                                     inline_styles=True)}


class EpochLines(Silent):
    """nncmp train: one line per epoch of its one run, as it finishes."""

    def __init__(self, console: Console, groups: Sequence[Group], data: Data):
        specs = runs_of(groups)
        self.console, self.scheduled = console, any(s.schedule != "constant" for s in specs)
        if specs:
            console.print(f"{specs[0].run_id} on {specs[0].dataset} ({data.n_train} training examples)")
        console.print(epoch_header(self.scheduled))

    def epoch(self, record: Record) -> None:
        self.console.print(epoch_line(record, self.scheduled))


class ConsoleReporter(Reporter):
    """Progress, notes and --verbose details on a Rich console (quiet: the notes and details are dropped;
    `epochs`: one line per epoch instead of a bar, for a single run)."""

    def __init__(self, console: Console, quiet: bool = False, verbose: bool = False, epochs: bool = False):
        self.console, self.quiet, self.verbose, self.epochs = console, quiet, verbose, epochs

    @contextlib.contextmanager
    def progress(self, groups: Sequence[Group], data: Data) -> Iterator[Progress]:
        if self.epochs and not self.quiet:
            yield EpochLines(self.console, groups, data)
            return
        with RunProgress(self.console, groups, data, self.quiet or self.epochs) as progress:
            yield progress

    def note(self, text: str) -> None:
        if not self.quiet:
            self.console.print(text)

    def detail(self, text: str) -> None:
        self.console.print(text)

    @property
    def detailed(self) -> bool:
        return self.verbose and not self.quiet
