"""Command line: the commands and their options. Each parses and checks its options into a RunSpec or a
CompareConfig and hands it to session.py, which does the work.

torch, pandas and matplotlib are imported inside commands, after the options are checked, so
`nncmp --help` and bad input answer at once.
"""

from __future__ import annotations

import math
from pathlib import Path
from dataclasses import replace
from typing import Annotated

import typer

from nncmp import __version__
from nncmp.cli_bench import bench
from nncmp.cli_inspect import inspect
from nncmp.cli_optimizers import optimizers
from nncmp.cli_paths import paths
from nncmp.cli_landscape import landscape
from nncmp.spec.config import CompareConfig, Options, check_same_runs
from nncmp.spec.config import read as read_config
from nncmp.registry.inits import ALIASES, INITS
from nncmp.registry.models import ACTIVATIONS
from nncmp.registry.optimizers import OPTIMIZERS
from nncmp.registry.schedules import SCHEDULES
from nncmp.options import (
    DeterministicOpt,
    DeviceOpt,
    ActOpt,
    AddressOpt,
    AlphaOpt,
    BackendOpt,
    BatchnormOpt,
    BetasOpt,
    DataDirOpt,
    DatasetOpt,
    DepthOpt,
    DownloadOpt,
    DropoutOpt,
    EpochsOpt,
    EpsOpt,
    GroupSizeOpt,
    HiddenOpt,
    JobsOpt,
    JsonOpt,
    ModelOpt,
    MomentumOpt,
    NOpt,
    OPT_HELP,
    OptArgOpt,
    OutOpt,
    OverwriteOpt,
    QuietOpt,
    RetriesOpt,
    TensorboardOpt,
    TrackEveryOpt,
    TrackWeightsOpt,
    SeedOpt,
    ThreadsOpt,
    TrackLayersOpt,
    UsageFailure,
    VerboseOpt,
    WarmupOpt,
    WeightDecayOpt,
    WidthOpt,
    check_backend,
    check_device,
    check_tensorboard,
    check_gpu_jobs,
    check_choice,
    check_target,
    check_threads,
    check_tracking,
    hidden_layers,
    hyperparameters,
    load_data,
    names,
    parse_list,
    parse_opt_args,
    pick_device,
    results_folder,
    set_threads,
    user_errors,
)
from nncmp.training.probes import Tracking
from nncmp.spec.run import Grid, RunSpec, check_steps
from nncmp.results.stats import DEFAULT_TARGET

app = typer.Typer(
    help="Compare neural-network optimizers and weight initialisations on real PyTorch training runs.",
    rich_markup_mode=None,  # plain click errors: one "Error: ..." line, no boxed panels
    no_args_is_help=True,
    add_completion=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"nncmp {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True,
                                         help="Show the version and exit.")] = False,
) -> None:
    """Compare neural-network optimizers and weight initialisations on real PyTorch training runs."""


@app.command()
def train(
    dataset: DatasetOpt = "mnist5k",
    model: ModelOpt = "mlp",
    hidden: HiddenOpt = None,
    depth: DepthOpt = None,
    width: WidthOpt = None,
    act: ActOpt = "relu",
    batchnorm: BatchnormOpt = False,
    dropout: DropoutOpt = 0.0,
    init: Annotated[str, typer.Option(help=f"Weight init: {names(INITS)} (aliases: "
                                      + ", ".join(f"{a}={c}" for a, c in ALIASES.items()) + ").")] = "default",
    opt: Annotated[str, typer.Option(help=f"Optimizer: {names(OPTIMIZERS)}, {OPT_HELP}.")] = "adam",
    lr: Annotated[float | None, typer.Option(
        help="Learning rate.", show_default="optimizer's default: 0.01, adam/adamw 0.001")] = None,
    schedule: Annotated[str, typer.Option(help=f"Learning-rate schedule over all steps: {', '.join(SCHEDULES)}.")]
    = "constant",
    warmup: WarmupOpt = None,
    opt_arg: OptArgOpt = None,
    momentum: MomentumOpt = None,
    betas: BetasOpt = None,
    alpha: AlphaOpt = None,
    eps: EpsOpt = None,
    weight_decay: WeightDecayOpt = None,
    batch_size: Annotated[int | None, typer.Option(
        help="Examples per step.", show_default="optimizer's default: gd all, sgd 1, others 64")] = None,
    epochs: EpochsOpt = 10,
    seed: SeedOpt = 0,
    n: NOpt = None,
    data_dir: DataDirOpt = None,
    download: DownloadOpt = False,
    out: OutOpt = None,
    plot: PlotOpt = True,
    threads: ThreadsOpt = None,
    track_layers: TrackLayersOpt = False,
    track_weights: TrackWeightsOpt = False,
    track_every: TrackEveryOpt = None,
    device: DeviceOpt = "auto",
    deterministic: DeterministicOpt = False,
    tensorboard: TensorboardOpt = None,
    overwrite: OverwriteOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """Train one run and print one row per epoch (epoch 0 is the untrained model)."""
    check_threads(threads)
    check_device(device)
    check_tensorboard(tensorboard)
    with user_errors():
        spec = RunSpec(dataset=dataset, model=model, hidden=hidden_layers(hidden, depth, width),
                       act=act, batchnorm=batchnorm, dropout=dropout, init=init, optimizer=opt, lr=lr,
                       batch_size=batch_size, epochs=epochs, seed=seed, n=n, opt_args=parse_opt_args(opt_arg),
                       schedule=schedule, warmup=warmup, **hyperparameters(momentum, betas, alpha, eps, weight_decay))
    check_tracking(track_weights, track_every, [spec])
    device = pick_device(device, threads, deterministic)
    data = load_data(spec, data_dir, download)
    with user_errors():
        check_steps([spec], data.n_train)
    set_threads(threads)
    from nncmp import session

    with results_folder(out, "train", overwrite=overwrite) as folder, user_errors():
        code = session.train(folder, spec, data, quiet, plot,
                             Tracking(layers=track_layers, weights=track_weights, every=track_every or 0), device,
                             tensorboard)
    raise typer.Exit(code)


X_CHOICES = ("epochs", "examples", "seconds")
FORMATS = ("table", "csv", "markdown", "json", "html")
BY_CHOICES = ("init", "optimizer", "act", "norm", "schedule")

TargetOpt = Annotated[float | None, typer.Option(
    help="Val accuracy to reach: epochs, examples and seconds until the seed-mean curve reaches it.",
    show_default="0.9; report: the compare's")]
MetricOpt = Annotated[str | None, typer.Option(
    help="Metric to rank by: final_val_acc, best_val_acc, final_val_loss, final_train_loss, epochs_to_target, "
         "examples_to_target, seconds_to_target.", show_default="final_val_acc (regression: final_val_loss)")]
BaselineOpt = Annotated[str | None, typer.Option(
    help="Configuration to compare every other with: paired per-seed difference of the metric with 95% CI. "
         "A config id or its leading parts, e.g. 'sgd' or 'adam/he'.", show_default="none")]
PlotOpt = Annotated[bool, typer.Option(help="Write PNG plots into the results folder.")]
XOpt = Annotated[str, typer.Option("--x", help="x axis of the curves: epochs, examples or seconds.")]


@app.command()
def compare(
    opts: Annotated[str, typer.Option("--opts", "--opt", help=f"Optimizers, comma-separated: {names(OPTIMIZERS)}, "
                                      f"{OPT_HELP}.")] = "sgd,minibatch,rmsprop,adam",
    inits: Annotated[str, typer.Option("--inits", "--init", help=f"Inits, comma-separated: {names(INITS)}, "
                                       "xavier, he.")] = "xavier,he",
    seeds: Annotated[int, typer.Option(help="Seeds per configuration: --seed, --seed+1, ...")] = 3,
    lrs: Annotated[str | None, typer.Option(
        "--lrs", "--lr", help="Learning rates, comma-separated, or 'auto': tune each optimizer's rate on a split "
        "of the training data (7 rates over 3 decades around its default, one seed), then run the default and "
        "the tuned rate with every seed.", show_default="each optimizer's default")] = None,
    batch_sizes: Annotated[str | None, typer.Option(
        "--batch-sizes", "--batch-size", help="Batch sizes, comma-separated.",
        show_default="each optimizer's default")] = None,
    acts: Annotated[str | None, typer.Option(
        "--acts", help=f"Activations to compare, comma-separated: {names(ACTIVATIONS)}.",
        show_default="--act")] = None,
    norms: Annotated[str | None, typer.Option(
        "--norms", help="Normalisations to compare, comma-separated: none, batchnorm (BatchNorm1d after each mlp "
        "hidden layer).", show_default="--batchnorm")] = None,
    schedules: Annotated[str, typer.Option(
        "--schedules", "--schedule",
        help=f"Learning-rate schedules to compare, comma-separated: {', '.join(SCHEDULES)}.")]
    = "constant",
    warmup: WarmupOpt = None,
    opt_arg: OptArgOpt = None,
    target: TargetOpt = None,
    metric: MetricOpt = None,
    baseline: BaselineOpt = None,
    dataset: DatasetOpt = "mnist5k",
    model: ModelOpt = "mlp",
    hidden: HiddenOpt = None,
    depth: DepthOpt = None,
    width: WidthOpt = None,
    act: ActOpt = "relu",
    batchnorm: BatchnormOpt = False,
    dropout: DropoutOpt = 0.0,
    momentum: MomentumOpt = None,
    betas: BetasOpt = None,
    alpha: AlphaOpt = None,
    eps: EpsOpt = None,
    weight_decay: WeightDecayOpt = None,
    epochs: EpochsOpt = 10,
    seed: SeedOpt = 0,
    n: NOpt = None,
    data_dir: DataDirOpt = None,
    download: DownloadOpt = False,
    out: OutOpt = None,
    plot: PlotOpt = True,
    html: Annotated[bool, typer.Option("--html", help="Also write report.html: the whole comparison as one "
                                       "self-contained page.", show_default="off")] = False,
    x: XOpt = "epochs",
    json_out: JsonOpt = False,
    group_size: GroupSizeOpt = 16,
    threads: ThreadsOpt = None,
    verbose: VerboseOpt = False,
    track_layers: TrackLayersOpt = False,
    track_weights: TrackWeightsOpt = False,
    track_every: TrackEveryOpt = None,
    device: DeviceOpt = "auto",
    deterministic: DeterministicOpt = False,
    tensorboard: TensorboardOpt = None,
    backend: BackendOpt = "local",
    jobs: JobsOpt = 2,
    retries: RetriesOpt = 2,
    address: AddressOpt = None,
    gpus_per_task: Annotated[float | None, typer.Option(
        help="--backend ray on GPUs: the GPUs each group's task reserves; a fraction packs several groups onto "
             "one GPU.", show_default="1 on cuda, 0 on the CPU")] = None,
    share_gpu: Annotated[bool, typer.Option(
        "--share-gpu", help="--backend processes: let more workers than GPUs share them.", show_default="off")]
    = False,
    resume: Annotated[Path | None, typer.Option(
        help="Continue the comparison in this results folder: only its unfinished runs train. The options must "
             "describe the same runs (or use `nncmp resume DIR`).", show_default="off")] = None,
    overwrite: OverwriteOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """Train every optimizer × init × lr × batch size × seed and print a ranked summary."""
    from nncmp.results.stats import RANKABLE

    check_threads(threads)
    check_device(device)
    check_tensorboard(tensorboard)
    check_backend(backend, jobs, retries, address)
    if gpus_per_task is not None and not (math.isfinite(gpus_per_task) and gpus_per_task >= 0):
        raise UsageFailure(f"--gpus-per-task must be a finite number >= 0, got {gpus_per_task:g}")
    if gpus_per_task is not None and backend != "ray":
        raise UsageFailure("--gpus-per-task applies only to --backend ray")
    if group_size < 1:
        raise UsageFailure(f"--group-size must be >= 1, got {group_size}")
    if resume is not None and (overwrite or (out is not None and Path(out) != Path(resume))):
        raise UsageFailure("--resume DIR continues DIR: it cannot be combined with --overwrite or another --out")
    check_choice("--metric", metric, RANKABLE)
    check_choice("--x", x, X_CHOICES)
    auto = lrs is not None and lrs.strip() == "auto"
    with user_errors():
        base = RunSpec(dataset=dataset, model=model, hidden=hidden_layers(hidden, depth, width),
                       act=act, batchnorm=batchnorm, dropout=dropout, epochs=epochs, seed=seed, n=n)
        grid = Grid(
            base=base,
            optimizers=parse_list("--opts", opts, str, "optimizer names"),
            inits=parse_list("--inits", inits, str, "init names"),
            lrs=parse_list("--lrs", lrs, float, "numbers (or 'auto')") if lrs and not auto else None,
            batch_sizes=parse_list("--batch-sizes", batch_sizes, int, "integers") if batch_sizes else None,
            seeds=seeds,
            hyper=hyperparameters(momentum, betas, alpha, eps, weight_decay),
            acts=parse_list("--acts", acts, str, "activation names") if acts else None,
            norms=parse_list("--norms", norms, str, "normalisations") if norms else None,
            opt_args=parse_opt_args(opt_arg),
            # The default leaves the grid as it was before schedules existed, so older folders resume.
            schedules=None if schedules.strip() == "constant" else parse_list("--schedules", schedules, str,
                                                                               "schedule names"),
            warmup=warmup,
        )
    check_tracking(track_weights, track_every, grid.runs())
    device = pick_device(device, threads, deterministic)
    check_gpu_jobs(backend, jobs, device, share_gpu)
    config = CompareConfig(grid=grid, auto=auto, target=check_target(DEFAULT_TARGET if target is None else target),
                           metric=metric, baseline=baseline,
                           options=Options(group_size=group_size, plot=plot, html=html, x=x,
                                           tensorboard=str(tensorboard) if tensorboard else None,
                                           track_layers=track_layers,
                                           track_weights=track_weights, track_every=track_every or 0,
                                           device=device, deterministic=deterministic, gpus_per_task=gpus_per_task,
                                           backend=backend, jobs=jobs, retries=retries, address=address,
                                           data_dir=str(data_dir) if data_dir else None, threads=threads))
    saved = None
    if resume is not None:
        with user_errors():
            saved_config, saved = read_config(resume)
            check_same_runs(resume, saved_config, config)
    data = load_data(base, data_dir, download)
    set_threads(threads)
    from nncmp import session

    with user_errors():
        check_steps(grid.runs(), data.n_train)
        if auto:  # tuning runs train on a split of the training set: fewer steps
            from nncmp.tuning.lr import tuning_split_size

            check_steps(grid.runs(), tuning_split_size(data.n_train))
        else:
            session.check_baseline(grid.runs(), baseline, data.n_train)
    with results_folder(resume or out, "compare", resume=resume is not None, overwrite=overwrite) as folder, \
            user_errors():
        code = session.compare(folder, config, data, quiet, json_out, verbose, saved)
    raise typer.Exit(code)


@app.command("resume")
def resume_command(
    results_dir: Annotated[Path, typer.Argument(help="A results folder of an interrupted compare.",
                                                metavar="RESULTS_DIR", show_default=False)],
    json_out: JsonOpt = False,
    threads: ThreadsOpt = None,
    verbose: VerboseOpt = False,
    backend: Annotated[str | None, typer.Option(help="As in compare.", show_default="the comparison's")] = None,
    jobs: Annotated[int | None, typer.Option(help="As in compare.", show_default="the comparison's")] = None,
    address: AddressOpt = None,
    device: Annotated[str | None, typer.Option(help="As in compare.", show_default="the comparison's")] = None,
    quiet: QuietOpt = False,
) -> None:
    """Finish an interrupted comparison: train only its unfinished runs, with the options it was started with."""
    check_threads(threads)
    check_device(device)
    with user_errors():
        config, saved = read_config(results_dir)
    options = config.options
    backend = backend or options.backend
    options = replace(options, backend=backend, jobs=jobs or options.jobs,
                      address=address or (options.address if backend == "ray" else None), threads=threads)
    check_backend(options.backend, options.jobs, options.retries, options.address)
    # Its recorded device, or another: a run's numbers do not depend on the device beyond rounding.
    options = replace(options, device=pick_device(device or options.device, threads, options.deterministic))
    config = replace(config, options=options)
    data = load_data(config.grid.base, Path(options.data_dir) if options.data_dir else None, False)
    set_threads(threads)
    from nncmp import session

    with results_folder(results_dir, "compare", resume=True) as folder, user_errors():
        code = session.compare(folder, config, data, quiet, json_out, verbose, saved)
    raise typer.Exit(code)


@app.command("report")
def report_command(
    results_dir: Annotated[Path, typer.Argument(help="A results folder written by compare (or train).",
                                                metavar="RESULTS_DIR", show_default=False)],
    by: Annotated[str | None, typer.Option(
        help="Pivot: one column per value of this factor (init or optimizer), rows the other; "
             "cells mean ± 95% CI of the metric.", show_default="no pivot: the ranked summary")] = None,
    target: TargetOpt = None,
    metric: MetricOpt = None,
    baseline: BaselineOpt = None,
    fmt: Annotated[str, typer.Option("--format", help="Output: table, csv, markdown, json, or html (one "
                                     "self-contained page for any results folder).")] = "table",
    html_path: Annotated[Path | None, typer.Option(
        "--html", help="Write the HTML report to this file (implies --format html).", show_default="off")] = None,
    json_out: JsonOpt = False,
    plot: PlotOpt = True,
    x: XOpt = "epochs",
) -> None:
    """Re-render the summary, statistics and plots of an existing results folder, without training."""
    from nncmp.results.stats import RANKABLE

    check_choice("--by", by, BY_CHOICES)
    check_choice("--format", fmt, FORMATS)
    check_choice("--metric", metric, RANKABLE)
    check_choice("--x", x, X_CHOICES)
    if html_path is not None or fmt == "html":
        _html_report(results_dir, html_path, target, metric, baseline, by, x)
        return
    if not (results_dir / "metrics.csv").is_file():
        raise UsageFailure(f"{results_dir} is not a results folder: it has no metrics.csv")
    from nncmp import session
    from nncmp.results import store
    from nncmp.output.terminal import make_console

    with user_errors():
        # What the folder's command asked for, unless overridden here (a train folder has no baseline).
        saved = store.read_config(results_dir) if (results_dir / "config.json").is_file() else {}
        target = check_target(saved.get("target", DEFAULT_TARGET) if target is None else target)
        session.render(results_dir, target, metric or saved.get("metric"), baseline or saved.get("baseline"), by,
                       "json" if json_out else fmt, plot, x, make_console())


def _html_report(folder: Path, path: Path | None, target: float | None, metric: str | None,
                 baseline: str | None, by: str | None, x: str) -> None:
    from nncmp.results import store
    from nncmp.output.html import build

    if not (folder / "metrics.csv").is_file() and not (folder / "config.json").is_file():
        raise UsageFailure(f"{folder} is not a results folder: it has neither metrics.csv nor config.json")
    with user_errors():
        saved = store.read_config(folder) if (folder / "config.json").is_file() else {}
        target = check_target(saved.get("target", DEFAULT_TARGET) if target is None else target)
        page = build(folder, target, metric or saved.get("metric"), baseline or saved.get("baseline"),
                     (by,) if by else (), x)
        if path is None:
            typer.echo(page, nl=False)
        else:
            store.atomic_write_text(Path(path), page)
            typer.echo(f"report: {path}")


@app.command()
def export(
    results_dir: Annotated[Path, typer.Argument(help="A results folder of compare or train.", metavar="RESULTS_DIR",
                                                show_default=False)],
    tensorboard: Annotated[Path, typer.Option("--tensorboard", metavar="LOGDIR",
                                              help="The TensorBoard log folder to write the runs into.")],
) -> None:
    """Export a results folder's runs: to TensorBoard (one run per nncmp run, HParams included)."""
    check_tensorboard(tensorboard)
    if not (results_dir / "metrics.csv").is_file():
        raise UsageFailure(f"{results_dir} is not a results folder: it has no metrics.csv")
    from nncmp.results import store
    from nncmp.output.tensorboard import export as export_runs

    with user_errors():
        folders = export_runs(store.read_metrics(results_dir), tensorboard)
    typer.echo(f"{len(folders)} runs written to {tensorboard}; view them with: tensorboard --logdir {tensorboard}")


@app.command()
def datasets(
    data_dir: DataDirOpt = None,
) -> None:
    """List the datasets: shape, classes, sizes, and whether each is available offline now."""
    from nncmp.registry.datasets import availability
    from nncmp.output.terminal import make_console, simple_table

    caption = f"torchvision datasets are looked for in {data_dir or '~/.cache/nncmp/data'}; --download fetches them."
    make_console().print(simple_table("Datasets", availability(data_dir), caption=caption))


app.command()(bench)
app.command()(inspect)
app.command()(optimizers)
app.command()(paths)
app.command()(landscape)


def main() -> None:
    from nncmp.training import signals

    signals.EXITING_AFTER_INTERRUPT = True
    app(prog_name="nncmp")
