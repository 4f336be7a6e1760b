"""`nncmp suite`: every optimizer on every problem of a suite; performance profiles, the AlgoPerf score and
the speed-up against a reference, in one table. `--calibrate` sets the suite's targets."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from nncmp.cli.common import JsonOpt, QuietOpt, VerboseOpt, reporter, user_errors
from nncmp.cli.declared import declares, params
from nncmp.config.arguments import SUITE
from nncmp.config.request import CalibrateRequest, build


@declares(params(SUITE))
def suite(
    list_problems: Annotated[bool, typer.Option(
        "--list", help="List the suite's problems and targets, and exit.", show_default="off")] = False,
    json_out: JsonOpt = False, verbose: VerboseOpt = False, quiet: QuietOpt = False, **declared: Any,
) -> None:
    """Run every optimizer on every problem of a suite and judge them together: performance profiles, the
    AlgoPerf score and the speed-up against a reference, by time to each problem's target."""
    with user_errors():
        if list_problems:
            from nncmp.suite.problems import load_suite

            _list(load_suite(declared["suite"]))
            return
        request = build("suite", declared)
    show = reporter(quiet, verbose, json_out)
    if isinstance(request, CalibrateRequest):
        raise typer.Exit(_calibrate(request, show, json_out))
    raise typer.Exit(_finish(request, show, json_out))


def _finish(request: Any, show: Any, json_out: bool) -> int:
    from nncmp.commands.suite import run_suite
    from nncmp.errors import Interrupted
    from nncmp.suite import report

    try:
        with user_errors():
            try:
                result = run_suite(request, show)
            except Interrupted as stop:
                return _interrupted(stop, show)
    except KeyboardInterrupt:
        show.console.print("interrupted before anything was saved")
        return 130
    if json_out:
        typer.echo(report.to_json(result.verdict, result.suite, result.folder), nl=False)
    else:
        show.console.print(report.table(result.verdict, result.suite))
        for line in result.verdict.sentences:  # each optimizer against the reference, in words
            show.console.print(line, markup=False, highlight=False)
    if result.failed:
        from nncmp.errors import SomeRunsFailed

        names = ", ".join(result.failed)
        with user_errors():
            raise SomeRunsFailed(f"runs of {names} failed on every attempt (their errors are in each problem's "
                                 f"runs.csv); the verdict counts them as misses: nncmp suite --resume "
                                 f"{result.folder} tries them again")
    if not json_out:
        show.console.print(f"results: {result.folder}  ({', '.join(result.files)})")
    return 0


def _interrupted(stop: Any, show: Any) -> int:
    from nncmp.training.signals import restore_interrupts

    try:
        show.console.print(f"interrupted during {stop.phase}: finished problems and runs are saved in {stop.folder}")
        show.console.print(f"resume with: nncmp suite --resume {stop.folder}")
    finally:
        restore_interrupts()
    return stop.code


def _calibrate(request: CalibrateRequest, show: Any, json_out: bool) -> int:
    from nncmp.commands.suite import calibrate
    from nncmp.errors import Interrupted

    try:
        with user_errors():
            result = calibrate(request, show)
    except Interrupted as stop:
        return _interrupted(stop, show)
    if json_out:
        import json

        typer.echo(json.dumps({"folder": str(result.folder), "targets": result.targets,
                               "written": str(result.written)}, indent=2))
        return 0
    from nncmp.output.terminal import simple_table

    rows = [{"problem": p, "target": t} for p, t in result.targets.items()]
    show.console.print(simple_table("Calibrated targets", rows))
    show.console.print(f"targets written into {result.written}; results: {result.folder}")
    return 0


def _list(the_suite: Any) -> None:
    from nncmp.cli.common import console
    from nncmp.output.terminal import simple_table

    rows = [{"problem": p.name, "dataset": p.spec.dataset, "model": p.spec.model, "budget": p.budget_text(),
             "target": p.shown_target(), "about": p.description} for p in the_suite.problems]
    console().print(simple_table(f"Suite {the_suite.name}" + (f": {the_suite.description}" if the_suite.description
                                                               else ""), rows))
