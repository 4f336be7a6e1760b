"""`nncmp suite`: every optimizer on every problem of a suite; performance profiles, the AlgoPerf score and
the speed-up against a reference, in one table. `--calibrate` sets the suite's targets."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from nncmp.cli.common import (
    DownloadOpt,
    JsonOpt,
    OutOpt,
    OverwriteOpt,
    QuietOpt,
    UsageFailure,
    VerboseOpt,
    reporter,
    user_errors,
)
from nncmp.cli.declared import declares, single, values
from nncmp.config.comparison import Options
from nncmp.config.tuning import DEFAULT_TRIALS

OPTIONS = ["data_dir", "plot", "html", "group_size", "threads", "device", "deterministic", "backend", "jobs",
           "retries", "address", "gpus_per_task"]
BUILTIN_HELP = "default (7 offline problems, minutes on 2 cores) or large (adds mnist5k-cnn, fashion-mnist, cifar10)"


@declares(single(Options, OPTIONS))
def suite(
    suite_name: Annotated[str, typer.Argument(
        metavar="[SUITE]", help=f"A built-in suite, {BUILTIN_HELP}, or a suite file (.toml).")] = "default",
    opts: Annotated[str | None, typer.Option(
        help="Optimizers to compare, comma-separated (any of `nncmp optimizers`).",
        show_default="required; on --resume the suite's")] = None,
    problems: Annotated[str | None, typer.Option(
        help="Only these problems of the suite, comma-separated.", show_default="all")] = None,
    seeds: Annotated[int | None, typer.Option(help="Seeds per optimizer and problem.", show_default="3")] = None,
    lrs: Annotated[str | None, typer.Option(
        help="'auto': tune each optimizer's learning rate per problem first (on a split of the training data), "
             "and judge it at its tuned rate.", show_default="each optimizer's default rate")] = None,
    tune: Annotated[str | None, typer.Option(
        help="Tune every hyperparameter per problem with this sampler (halton, random, tpe), the same trials for "
             "every optimizer, and judge each tuned.", show_default="off")] = None,
    trials: Annotated[int | None, typer.Option(help="--tune: trials per optimizer, problem and study.",
                                               show_default=str(DEFAULT_TRIALS))] = None,
    studies: Annotated[int | None, typer.Option(help="--tune: independent studies.", show_default="1")] = None,
    space: Annotated[Path | None, typer.Option(help="--tune: a search space file, as compare's.", metavar="FILE",
                                               show_default="nncmp's per optimizer")] = None,
    by: Annotated[str, typer.Option(
        help="Time to target in steps (optimizer steps), examples (training examples: the same on any machine) "
             "or seconds (of training, on this machine).")] = "examples",
    reference: Annotated[str | None, typer.Option(
        help="The optimizer the speed-up is against (and, with --ratio-to reference, the profiles).",
        show_default="the first of --opts")] = None,
    ratio_to: Annotated[str, typer.Option(
        help="The profiles' ratio: each time over the fastest optimizer's on that problem (best, as Dolan & Moré "
             "and AlgoPerf), or over the reference's.")] = "best",
    calibrate: Annotated[bool, typer.Option(
        "--calibrate", help="Instead of comparing: set each problem's target from tuned baselines (the median over "
        "--seeds of the best one's best holdout score × --slack) and write the targets into the suite file (a "
        "built-in suite: into suite.toml in the results folder).", show_default="off")] = False,
    baselines: Annotated[str | None, typer.Option(
        help="--calibrate: the baseline optimizers, comma-separated.", show_default="adamw,nadam,nesterov")] = None,
    slack: Annotated[float | None, typer.Option(
        help="--calibrate: target = slack × the baselines' median best accuracy (a loss: ÷ slack), in (0, 1].",
        show_default="0.99")] = None,
    list_problems: Annotated[bool, typer.Option(
        "--list", help="List the suite's problems and targets, and exit.", show_default="off")] = False,
    resume: Annotated[Path | None, typer.Option(
        help="Continue the suite in this results folder: finished problems and runs are not trained again (a "
             "missing or empty folder: the suite starts there). Options left out are the suite's; --by, "
             "--reference and --ratio-to may change (the verdict is recomputed).", show_default="off")] = None,
    out: OutOpt = None, overwrite: OverwriteOpt = False, download: DownloadOpt = False, json_out: JsonOpt = False,
    verbose: VerboseOpt = False, quiet: QuietOpt = False, **declared: Any,
) -> None:
    """Run every optimizer on every problem of a suite and judge them together: performance profiles, the
    AlgoPerf score and the speed-up against a reference, by time to each problem's target."""
    from nncmp.config.fields import parse_list

    if resume is not None and (overwrite or (out is not None and Path(out) != Path(resume))):
        raise UsageFailure("--resume DIR continues DIR: it cannot be combined with --overwrite or another --out")
    with user_errors():
        from nncmp.suite.problems import load_suite

        if list_problems:
            _list(load_suite(suite_name))
            return
        options = Options(**values(Options, declared, OPTIONS))
        from nncmp.errors import SpecError

        if slack is not None and not 0 < slack <= 1:
            raise SpecError(f"--slack must be in (0, 1], got {slack:g}")
        for flag, given in (("--slack", slack), ("--baselines", baselines)):
            if given is not None and not calibrate:
                raise SpecError(f"{flag} applies only with --calibrate")
        problem_names = tuple(parse_list("--problems", problems, str, "names")) if problems else ()
        if calibrate:
            code = _calibrate(suite_name, problem_names, baselines, seeds, 0.99 if slack is None else slack, options,
                              out, resume, overwrite, download, quiet, verbose, json_out)
            raise typer.Exit(code)
        from nncmp.commands.suite import SuiteRequest, check_request

        auto = lrs is not None and lrs.strip() == "auto"
        if lrs is not None and not auto:
            raise SpecError(f"--lrs: a suite tunes the rate per problem (--lrs auto) or uses the defaults; got {lrs!r}")
        opt_names = tuple(parse_list("--opts", opts, str, "names")) if opts else ()
        tuning = _tuning(opt_names, tune, trials, studies, space)
        request = SuiteRequest(suite_name, opt_names, problem_names, seeds, auto, tuning, by.strip().lower(),
                               reference, ratio_to.strip().lower(), options, resume or out, resume is not None,
                               overwrite, download)
        check_request(request)
        if tuning is not None and auto:
            raise SpecError("--tune and --lrs auto both tune the learning rate; use one (--tune also tunes the rest)")
    show = reporter(quiet, verbose, json_out)
    raise typer.Exit(_finish(request, show, json_out))


def _tuning(opts: tuple[str, ...], tune: str | None, trials: int | None, studies: int | None,
            space: Path | None) -> Any:
    from nncmp.config.grid import Grid
    from nncmp.config.run import RunSpec
    from nncmp.config.space import tuning_options

    grid = Grid(base=RunSpec(), dims={"optimizer": opts} if opts else {})
    return tuning_options(grid, tune, trials, studies, space)


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


def _calibrate(suite_name: str, problems: tuple[str, ...], baselines: str | None, seeds: int | None, slack: float,
               options: Options, out: Path | None, resume: Path | None, overwrite: bool, download: bool,
               quiet: bool, verbose: bool, json_out: bool) -> int:
    from nncmp.commands.suite import CalibrateRequest, calibrate
    from nncmp.config.fields import parse_list
    from nncmp.errors import Interrupted

    names = tuple(parse_list("--baselines", baselines, str, "names")) if baselines else ()
    request = CalibrateRequest(suite_name, problems, names, seeds or 3, slack, options, resume or out,
                               resume is not None, overwrite, download)
    show = reporter(quiet, verbose, json_out)
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

    rows = [{"problem": p.name, "dataset": p.spec.dataset, "model": p.spec.model, "epochs": p.spec.epochs,
             "target": p.shown_target(), "about": p.description} for p in the_suite.problems]
    console().print(simple_table(f"Suite {the_suite.name}" + (f": {the_suite.description}" if the_suite.description
                                                               else ""), rows))
