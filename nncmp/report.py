"""Terminal output: Rich tables for epochs, summaries, benchmarks and datasets, and run progress.

Only formats what it is given; statistics come from stats.py.
"""

from __future__ import annotations

import math
import sys
import time
from typing import Any

from rich.console import Console
from rich.table import Table


def make_console(stderr: bool = False) -> Console:
    stream = sys.stderr if stderr else sys.stdout
    # Piped output gets a wide, colourless table instead of Rich's 80-column default.
    width = None if stream.isatty() else 200
    return Console(file=stream, width=width, highlight=False)


def num(x: Any, digits: int = 4) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "—"
    if isinstance(x, float) and math.isinf(x):
        return "inf" if x > 0 else "-inf"
    return f"{x:.{digits}f}" if isinstance(x, float) else str(x)


def mean_pm(mean: float, std: float, digits: int = 4) -> str:
    if math.isnan(mean):
        return "—"
    return f"{mean:.{digits}f}" if math.isnan(std) else f"{mean:.{digits}f} ± {std:.{digits}f}"


EPOCH_COLUMNS = [("epoch", 0), ("train_loss", 4), ("train_acc", 4), ("val_loss", 4), ("val_acc", 4), ("seconds", 2)]


def epoch_header() -> str:
    return "  ".join(f"{name:>10}" for name, _ in EPOCH_COLUMNS)


def epoch_line(record: dict[str, Any]) -> str:
    cells = []
    for name, digits in EPOCH_COLUMNS:
        v = record[name]
        cells.append(f"{v:>10d}" if digits == 0 else f"{num(None if v is None else float(v), digits):>10}")
    return "  ".join(cells)


def summary_table(summary: Any, metric: str, target: float | None) -> Table:
    caption = (f"Ranked by {metric.replace('_', ' ')} (mean over finished seeds); configurations with a "
               "diverged run rank last. Values are mean ± std over seeds.")
    table = Table(title="Summary", caption=caption, caption_justify="left")
    for col in ["#", "optimizer", "init", "lr", "batch", "seeds", "final val acc", "best val acc",
                "final val loss", f"epoch ≥ {target:g}" if target is not None else "epoch ≥ target", "status"]:
        table.add_column(col, justify="left" if col in ("optimizer", "init", "status") else "right")
    for r in summary.to_dict("records"):
        table.add_row(
            str(r["rank"]), r["optimizer"], r["init"], f"{r['lr']:g}", str(r["batch_size"]), str(r["n_seeds"]),
            mean_pm(r["final_val_acc_mean"], r["final_val_acc_std"]),
            mean_pm(r["best_val_acc_mean"], r["best_val_acc_std"]),
            mean_pm(r["final_val_loss_mean"], r["final_val_loss_std"]),
            "—" if math.isnan(r["epochs_to_target"]) else str(int(r["epochs_to_target"])),
            r["status"],
        )
    return table


def simple_table(title: str, rows: list[dict[str, Any]], caption: str | None = None) -> Table:
    table = Table(title=title, caption=caption, caption_justify="left")
    if not rows:
        return table
    for col in rows[0]:
        numeric = isinstance(rows[0][col], (int, float))
        table.add_column(col, justify="right" if numeric else "left")
    for r in rows:
        table.add_row(*(num(v, 2) if isinstance(v, float) else str(v) for v in r.values()))
    return table


class RunProgress:
    """Progress over runs × epochs: a Rich bar on a terminal, plain lines otherwise, nothing when quiet."""

    def __init__(self, console: Console, specs: list[Any], quiet: bool = False):
        self.console = console
        self.n_runs = len(specs)
        self.total = sum(s.epochs for s in specs)
        self.done = 0
        self.mode = "off" if quiet else ("bar" if console.is_terminal else "lines")
        self.started = time.perf_counter()
        self._bar: Any = None

    def __enter__(self) -> RunProgress:
        if self.mode == "bar":
            from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn,
                                       TimeRemainingColumn)

            self._bar = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                                 TextColumn("epochs"), TimeElapsedColumn(), TextColumn("eta"), TimeRemainingColumn(),
                                 console=self.console)
            self._bar.__enter__()
            self._task = self._bar.add_task("training", total=self.total)
        return self

    def __exit__(self, *exc: Any) -> None:
        if self._bar is not None:
            self._bar.__exit__(*exc)

    def start_run(self, i: int, spec: Any) -> None:
        if self._bar is not None:
            self._bar.update(self._task, description=f"run {i}/{self.n_runs} {spec.run_id}")

    def epoch(self, record: dict[str, Any]) -> None:
        if record["epoch"] > 0:
            self.done += 1
            if self._bar is not None:
                self._bar.advance(self._task)

    def end_run(self, i: int, spec: Any, records: list[dict[str, Any]]) -> None:
        if self._bar is not None:
            # Epochs a diverged run never trained still count as done for the ETA.
            self._bar.update(self._task, completed=self.done + spec.epochs - records[-1]["epoch"])
        self.done += spec.epochs - records[-1]["epoch"]
        if self.mode != "lines":
            return
        last = records[-1]
        elapsed = time.perf_counter() - self.started
        eta = elapsed / self.done * (self.total - self.done) if self.done else math.nan
        self.console.print(
            f"[{i}/{self.n_runs}] {last['run_id']}  val_acc {num(last['val_acc'])}  val_loss {num(last['val_loss'])}"
            f"  {last['status']}  elapsed {elapsed:.0f}s  eta {eta:.0f}s"
        )
