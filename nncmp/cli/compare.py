"""`nncmp compare` and `nncmp resume`: a grid of runs, a ranked summary with confidence intervals."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from nncmp.cli.common import (
    AllowChangedOpt,
    DepthOpt,
    DownloadOpt,
    JsonOpt,
    ModelArgOpt,
    OptArgOpt,
    OutOpt,
    OverwriteOpt,
    QuietOpt,
    UsageFailure,
    VerboseOpt,
    WidthOpt,
    hidden_layers,
    parse_opt_args,
    reporter,
    user_errors,
)
from nncmp.cli.declared import declares, dimensions, extra, grid, single, values
from nncmp.config.comparison import CompareConfig, Options
from nncmp.config.fields import parse_list
from nncmp.config.grid import DIMENSIONS
from nncmp.config.run import RunSpec
from nncmp.config.space import tuning_options
from nncmp.config.tuning import DEFAULT_TRIALS
from nncmp.errors import SpecError
from nncmp.registry import hyperparameters as hp

if TYPE_CHECKING:
    from rich.console import Console

    from nncmp.commands.compare import CompareResult
    from nncmp.errors import Interrupted
    from nncmp.output.progress import ConsoleReporter

STATS = ["target", "metric", "baseline"]
BASE = ["dataset", "target_column", "task", "model"]
BASE_REST = ["batchnorm"]
BASE_LAST = ["epochs", "seed", "n"]
OPTIONS = ["data_dir", "plot", "html", "x", "group_size", "threads", "track_layers", "track_weights", "track_every",
           "device", "deterministic", "tensorboard", "backend", "jobs", "retries", "address", "gpus_per_task"]


@declares(grid(RunSpec, ["optimizer", "init"]), extra("seeds", Annotated[int, typer.Option(
              help="Seeds per configuration: --seed, --seed+1, ...")], 3),
          grid(RunSpec, ["lr", "batch_size", "act", "schedule", "hidden", "dropout"]),
          extra("depths", Annotated[str | None, typer.Option(
              help="mlp depths to compare, comma-separated: each that many hidden layers, all --width wide.",
              show_default="off")]),
          grid(RunSpec, ["batchnorm"]),
          single(RunSpec, ["warmup"]), extra("opt_arg", OptArgOpt), single(CompareConfig, STATS),
          single(RunSpec, BASE), extra("model_arg", ModelArgOpt), extra("depth", DepthOpt), extra("width", WidthOpt),
          single(RunSpec, BASE_REST),
          single(RunSpec, hp.optimizer_own()), single(RunSpec, BASE_LAST),
          extra("tune", Annotated[str | None, typer.Option(
              help="Tune every hyperparameter each optimizer has (rate, momentum or betas, weight decay, warm-up) "
                   "with this sampler: halton, random or tpe (Optuna's), the same number of trials for every "
                   "optimizer, on a split of the training data; then run each at its defaults and tuned with "
                   "every seed.", show_default="off")]),
          extra("trials", Annotated[int | None, typer.Option(
              help="--tune: trials per configuration and study.", show_default=str(DEFAULT_TRIALS))]),
          extra("studies", Annotated[int | None, typer.Option(
              help="--tune: independent studies of --trials trials each (sampler seeds --seed, --seed+1, ...); the "
                   "winner of the median study is the tuned configuration.", show_default="1")]),
          extra("space", Annotated[Path | None, typer.Option(
              help="--tune: a search space file (JSON or TOML, AlgoPerf's shape: name → {min, max, scaling} or a "
                   "list of values, per optimizer or for all) laid over nncmp's; `nncmp optimizers --space NAME` "
                   "prints nncmp's.", show_default="nncmp's per optimizer", metavar="FILE")]),
          single(Options, OPTIONS))
def compare(download: DownloadOpt = False, out: OutOpt = None, json_out: JsonOpt = False, verbose: VerboseOpt = False,
            share_gpu: Annotated[bool, typer.Option(
                "--share-gpu", help="--backend processes: let more workers than GPUs share them.",
                show_default="off")] = False,
            resume: Annotated[Path | None, typer.Option(
                help="Continue the comparison in this results folder: only its unfinished runs train (a missing "
                     "or empty folder: the comparison starts there, so one command line serves every retry of a "
                     "preempted job). The options must describe the same runs (or use `nncmp resume DIR`).",
                show_default="off")] = None,
            overwrite: OverwriteOpt = False, allow_changed_code: AllowChangedOpt = False, quiet: QuietOpt = False,
            **declared: Any) -> None:
    """Train every optimizer × init × lr × batch size × seed and print a ranked summary."""
    from nncmp.commands.compare import CompareRequest
    from nncmp.commands.compare import compare as run
    from nncmp.config.grid import Grid

    if resume is not None and (overwrite or (out is not None and Path(out) != Path(resume))):
        raise UsageFailure("--resume DIR continues DIR: it cannot be combined with --overwrite or another --out")
    with user_errors():
        lrs = declared["lrs"]
        auto = lrs is not None and lrs.strip() == "auto"
        if auto:
            declared["lrs"] = None
        declared["hiddens"] = architectures(declared["hiddens"], declared.pop("depth"), declared.pop("width"),
                                            declared.pop("depths"))
        base = RunSpec(**values(RunSpec, declared, BASE + BASE_REST + BASE_LAST),
                       model_args=parse_opt_args(declared["model_arg"], "--model-arg"))
        the_grid = Grid(base=base, dims=dimensions(RunSpec, declared, DIMENSIONS), seeds=declared["seeds"],
                        hyper=values(RunSpec, declared, hp.optimizer_own()),
                        opt_args=parse_opt_args(declared["opt_arg"]), warmup=declared["warmup"])
        config = CompareConfig(grid=the_grid, auto=auto, **values(CompareConfig, declared, STATS),
                               options=Options(**values(Options, declared, OPTIONS)),
                               tuning=tuning_options(the_grid, declared["tune"], declared["trials"],
                                                     declared["studies"], declared["space"]))
        request = CompareRequest(config, out=resume or out, resume=resume is not None, overwrite=overwrite,
                                 download=download, share_gpu=share_gpu, allow_changed_code=allow_changed_code)
    show = reporter(quiet, verbose, json_out)
    raise typer.Exit(finish(lambda: run(request, show), show, json_out=json_out))


def architectures(hiddens: str | None, depth: int | None, width: int | None, depths: str | None) -> str | None:
    """--hiddens (or --hidden), --depth × --width, or --depths with --width, as --hiddens' text."""
    if depths is None:
        return hidden_layers(hiddens, depth, width)
    if hiddens is not None or depth is not None:
        raise SpecError("--depths gives the architectures; it cannot be combined with --hidden(s) or --depth")
    if width is not None and width < 1:
        raise SpecError(f"--width must be >= 1, got {width}")
    values = parse_list("--depths", depths, int, "integers")
    if any(d < 1 for d in values):
        raise SpecError(f"--depths must be >= 1, got {depths}")
    return ";".join(f"{width or 256}x{d}" for d in values)


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
) -> None:
    """Finish an interrupted comparison: train only its unfinished runs, with the options it was started with."""
    from nncmp.commands.compare import resume as run

    with user_errors():
        Options(threads=threads, device=device or "auto")  # their checks, before anything is read
    show = reporter(quiet, verbose, json_out)
    overrides = {"threads": threads, "backend": backend, "jobs": jobs, "address": address, "device": device,
                 "allow_changed_code": allow_changed_code}
    raise typer.Exit(finish(lambda: run(results_dir, show, **overrides), show, json_out=json_out))


def finish(call: Callable[[], CompareResult], show: ConsoleReporter, json_out: bool = False, train: bool = False,
           quiet: bool = False) -> int:
    """Run a compare-shaped command and show its outcome: the summary table (or JSON), what failed, where the
    results are; after Ctrl-C or SIGTERM what was saved and how to go on. Returns the exit code."""
    from nncmp.errors import Interrupted, SomeRunsFailed
    from nncmp.output import terminal

    try:
        with user_errors():
            try:
                result = call()
            except Interrupted as stop:
                return _interrupted(stop, show.console)
    except KeyboardInterrupt:  # before the results folder was made: nothing to save
        show.console.print("interrupted before anything was saved")
        return 130
    if train:
        from nncmp.output.views import show_train

        show_train(result, show.console, quiet)
    elif json_out:
        typer.echo(terminal.render(result.summary, result.metric, result.target, "json", None, result.folder),
                   nl=False)
    elif len(result.summary):
        show.console.print(terminal.summary_table(result.summary, result.metric, result.target))
        from nncmp.output import tuning

        budgets = tuning.table(result.folder)
        if budgets is not None:
            show.console.print(budgets)
    if result.failed:
        first = next(iter(result.failed.items()))
        how = f"nncmp resume {result.folder} tries {'it' if result.runs == 1 else 'the failed ones'} again"
        message = (f"{first[0]} failed: {first[1]}" if result.runs == 1 else
                   f"{len(result.failed)} run(s) failed on every attempt (their errors are in "
                   f"{result.folder / 'runs.csv'}), e.g. {first[0]}: {first[1]}; the other runs finished and are "
                   f"saved")
        with user_errors():
            raise SomeRunsFailed(f"{message}: {how}")
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
        if stop.phase == "summarising":
            out.print(f"interrupted while writing the summary and figures: all {stop.total} runs finished and are "
                      f"saved in {folder} (metrics.csv, runs.csv)")
            out.print(f"write the summary and figures with: nncmp report {folder}")
            return stop.code
        if stop.phase == "tuning":
            out.print(f"interrupted while tuning learning rates ({stop.finished} of {stop.total} tuning runs "
                      f"finished, saved in {folder / 'tuning_metrics.csv'})")
        else:
            if stop.summary is not None:
                out.print(terminal.summary_table(stop.summary, stop.metric, stop.target))
            out.print(f"interrupted: {stop.finished} of {stop.total} runs finished and saved in {folder} "
                      "(runs.csv lists each run's state)")
        out.print(f"resume with: nncmp resume {folder}")
    finally:
        restore_interrupts()
    return stop.code
