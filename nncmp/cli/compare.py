"""`nncmp compare` and `nncmp resume`: a grid of runs, a ranked summary with confidence intervals."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from nncmp.cli.common import AllowChangedOpt, JsonOpt, QuietOpt, VerboseOpt, WideOpt, reporter, user_errors
from nncmp.cli.declared import declares, params
from nncmp.config.arguments import COMPARE, TRANSFER
from nncmp.config.comparison import Options
from nncmp.config.request import build

if TYPE_CHECKING:
    from rich.console import Console

    from nncmp.commands.compare import CompareResult
    from nncmp.errors import Interrupted
    from nncmp.output.progress import ConsoleReporter


@declares(params(COMPARE))
def compare(json_out: JsonOpt = False, verbose: VerboseOpt = False, quiet: QuietOpt = False, wide: WideOpt = False,
            **declared: Any) -> None:
    """Train every optimizer × init × lr × batch size × seed and print a ranked summary."""
    with user_errors():
        request = build("compare", declared)
    from nncmp.commands.compare import compare as run  # after the checks: it imports torch

    show = reporter(quiet, verbose, json_out)
    raise typer.Exit(finish(lambda: run(request, show), show, json_out=json_out, wide=wide))


@declares(params(TRANSFER))
def transfer(json_out: JsonOpt = False, verbose: VerboseOpt = False, quiet: QuietOpt = False, wide: WideOpt = False,
             **declared: Any) -> None:
    """Does the best learning rate survive a wider model? compare with a sweep's defaults: Adam at widths 64 to
    1024, under the standard parametrisation and μP, at every power of two from 2^-14 to 2^-4; the best rate per
    width and its slope against the width follow the summary (transfer.csv, transfer.png)."""
    with user_errors():
        request = build("transfer", declared)
    from nncmp.commands.compare import compare as run  # after the checks: it imports torch

    show = reporter(quiet, verbose, json_out)
    raise typer.Exit(finish(lambda: run(request, show), show, json_out=json_out, wide=wide))


def resume_command(
    results_dir: Annotated[Path, typer.Argument(help="A results folder of an interrupted compare.",
                                                metavar="RESULTS_DIR", show_default=False)],
    json_out: JsonOpt = False,
    threads: Annotated[int | None, typer.Option(help="As in compare.", show_default="torch's choice")] = None,
    verbose: VerboseOpt = False,
    backend: Annotated[str | None, typer.Option(help="As in compare.", show_default="the comparison's")] = None,
    jobs: Annotated[int | None, typer.Option(help="As in compare.", show_default="the comparison's")] = None,
    address: Annotated[str | None, typer.Option(help="As in compare.", show_default="the comparison's")] = None,
    device: Annotated[str | None, typer.Option(help="As in compare.", show_default="the comparison's")] = None,
    allow_changed_code: AllowChangedOpt = False,
    quiet: QuietOpt = False,
    wide: WideOpt = False,
) -> None:
    """Finish an interrupted comparison: train only its unfinished runs, with the options it was started with."""
    from nncmp.commands.compare import resume as run

    with user_errors():
        Options(threads=threads, device=device or "auto")  # their checks, before anything is read
    show = reporter(quiet, verbose, json_out)
    overrides = {"threads": threads, "backend": backend, "jobs": jobs, "address": address, "device": device,
                 "allow_changed_code": allow_changed_code}
    raise typer.Exit(finish(lambda: run(results_dir, show, **overrides), show, json_out=json_out, wide=wide))


def finish(call: Callable[[], CompareResult], show: ConsoleReporter, json_out: bool = False, train: bool = False,
           quiet: bool = False, wide: bool = False) -> int:
    """Run a compare-shaped command and show its outcome: the summary table (or JSON; fitted to the terminal,
    every column with `wide`), what failed, where the results are; after Ctrl-C or SIGTERM what was saved and
    how to go on. Returns the exit code."""
    from nncmp.errors import Interrupted, SomeRunsFailed
    from nncmp.output import terminal

    try:
        with user_errors():
            try:
                result = call()
            except Interrupted as stop:
                return _interrupted(stop, show.console)
    except KeyboardInterrupt as e:  # before the results folder was made: nothing to save
        from nncmp.training.signals import exit_code

        show.console.print("interrupted before anything was saved")
        return exit_code(e)
    if train:
        from nncmp.output.views import show_train

        show_train(result, show.console, quiet)
    elif json_out:
        typer.echo(terminal.render(result.summary, result.metric, result.target, "json", None, result.folder),
                   nl=False)
    elif len(result.summary):
        # --wide: lines as long as the table, not cut at the terminal's width
        show.console.print(terminal.summary_table(result.summary, result.metric, result.target, wide), crop=not wide)
        from nncmp.output import tuning

        budgets = tuning.table(result.folder, wide)
        if budgets is not None:
            show.console.print(budgets, crop=not wide)
        if result.transfer is not None:
            from nncmp.output.views import transfer_text

            show.console.print(transfer_text(result.transfer, result.metric), markup=False, end="")
    if result.failed:
        first = next(iter(result.failed.items()))
        how = f"nncmp resume {result.folder} tries {'it' if result.runs == 1 else 'the failed ones'} again"
        rest = "the other runs finished and are saved" if len(result.failed) < result.runs else "no run finished"
        message = (f"{first[0]} failed: {first[1]}" if result.runs == 1 else
                   f"{len(result.failed)} run(s) failed on every attempt (their errors are in "
                   f"{result.folder / 'runs.csv'}), e.g. {first[0]}: {first[1]}; {rest}")
        with user_errors():
            raise SomeRunsFailed(f"{message}: {how}")
    from nncmp.training.signals import after_last_line

    after_last_line(f"interrupted after the {'run' if train else 'comparison'} finished: everything is saved in "
                    f"{result.folder}, nothing to resume")
    if not json_out:
        show.console.print(f"results: {result.folder}" + ("" if train else f"  ({result.runs} runs: "
                                                           + ", ".join(result.files) + ")"))
    return 0


def _interrupted(stop: Interrupted, out: Console) -> int:
    """Say what was saved and how to go on; the exit code. Interrupts are ignored from the moment of the
    interruption (training/signals.py) until these last lines are out."""
    from nncmp.output import terminal
    from nncmp.training.signals import restore_interrupts

    try:
        folder = stop.folder
        if stop.phase == "summarising" or (stop.phase == "training" and stop.finished == stop.total):
            out.print(f"interrupted while writing the summary and figures: all {stop.total} runs finished and are "
                      f"saved in {folder} (metrics.csv, runs.csv)")
            out.print(f"write the summary and figures with: nncmp report {folder}")
            return stop.code
        if stop.phase == "tuning":
            of = f" of {stop.total}" if stop.total else ""
            out.print(f"interrupted while tuning {stop.tuned} ({stop.finished}{of} tuning runs finished, saved in "
                      f"{folder / 'tuning_metrics.csv'})")
        else:
            if stop.summary is not None:
                out.print(terminal.summary_table(stop.summary, stop.metric, stop.target))
            out.print(f"interrupted: {stop.finished} of {stop.total} runs finished and saved in {folder} "
                      "(runs.csv lists each run's state)")
        out.print(f"resume with: nncmp resume {folder}")
    finally:
        restore_interrupts()
    return stop.code
