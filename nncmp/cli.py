"""Command line: options → RunSpec/Grid → engine → results folder → tables.

torch, pandas and matplotlib are imported inside commands, after the options are checked, so
`nncmp --help` and bad input answer at once.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from nncmp import __version__
from nncmp.cli_bench import bench
from nncmp.cli_inspect import inspect
from nncmp.data import DATASETS, DataError
from nncmp.inits import ALIASES, INITS
from nncmp.models import ACTIVATIONS
from nncmp.optim import OPTIMIZERS
from nncmp.options import (
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
    OutOpt,
    OverwriteOpt,
    QuietOpt,
    RetriesOpt,
    RuntimeFailure,
    SeedOpt,
    ThreadsOpt,
    TrackLayersOpt,
    UsageFailure,
    VerboseOpt,
    WeightDecayOpt,
    WidthOpt,
    _check_threads,
    _hyper,
    _load_data,
    _names,
    check_backend,
    hidden_layers,
    parse_list,
    results_folder,
    set_threads,
    user_errors,
)
from nncmp.spec import Grid, RunSpec, SpecError
from nncmp.stats import DEFAULT_TARGET

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
    init: Annotated[str, typer.Option(help=f"Weight init: {_names(INITS)} (aliases: "
                                      + ", ".join(f"{a}={c}" for a, c in ALIASES.items()) + ").")] = "default",
    opt: Annotated[str, typer.Option(help=f"Optimizer: {_names(OPTIMIZERS)}.")] = "adam",
    lr: Annotated[float | None, typer.Option(
        help="Learning rate.", show_default="optimizer's default: 0.01, adam/adamw 0.001")] = None,
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
    overwrite: OverwriteOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """Train one run and print one row per epoch (epoch 0 is the untrained model)."""
    _check_threads(threads)
    with user_errors():
        spec = RunSpec(dataset=dataset, model=model, hidden=hidden_layers(hidden, depth, width),
                       act=act, batchnorm=batchnorm, dropout=dropout, init=init, optimizer=opt, lr=lr,
                       batch_size=batch_size, epochs=epochs, seed=seed, n=n,
                       **_hyper(momentum, betas, alpha, eps, weight_decay))
    data = _load_data(spec, data_dir, download)
    set_threads(threads)
    with results_folder(out, "train", overwrite=overwrite) as folder:
        _train_into(folder, spec, data, quiet, plot, track_layers)


def _train_into(folder: Path, spec: RunSpec, data: Any, quiet: bool, plot: bool, track_layers: bool) -> None:
    from nncmp import engine, stats, store
    from nncmp.report import epoch_header, epoch_line, make_console
    from nncmp.session import Terminated, termination_as_interrupt

    console = make_console()
    resolved = spec.resolved(data.n_train)
    store.write_config(folder, "train", {"spec": resolved.to_dict(), "target": DEFAULT_TARGET})
    if not quiet:
        console.print(f"{resolved.run_id} on {spec.dataset} ({data.n_train} train / {len(data.x_val)} val)")
        console.print(epoch_header())
    try:
        from nncmp.execute import train_one

        tracker = None
        if track_layers:
            from nncmp.layers import LayerTracker

            tracker = LayerTracker(data)
        with termination_as_interrupt():
            records = train_one(spec, data, on_epoch=None if quiet else lambda r: console.print(epoch_line(r)),
                                probe=tracker)
    except KeyboardInterrupt as e:
        console.print(f"interrupted before the run finished; nothing to save beyond {folder / 'config.json'}")
        raise typer.Exit(143 if isinstance(e, Terminated) else 130) from None
    metrics = engine.records_frame(records)
    with user_errors():
        try:
            store.write_csv(folder / "metrics.csv", metrics)
        except OSError as e:
            raise store.WriteError(f"cannot write {folder / 'metrics.csv'}: {e.strerror or e}") from None
    summary = stats.summarize(metrics, DEFAULT_TARGET)
    store.write_csv(folder / "summary.csv", summary)
    if tracker:
        from nncmp.session import write_layers

        write_layers(folder / "layers.csv", [resolved.run_id], tracker.rows)
    if plot:
        from nncmp.plots import write_plots

        write_plots(metrics, summary, folder)
    if quiet:
        console.print(epoch_line(records[-1]))
    if records[-1]["status"] == "diverged":
        step = records[-1]["diverged_step"]
        console.print(f"diverged at epoch {records[-1]['epoch']}" + (f", step {step}" if step else "")
                      + ": the loss is not finite (try a smaller --lr)")
    console.print(f"results: {folder}")


X_CHOICES = ("epochs", "examples", "seconds")
FORMATS = ("table", "csv", "markdown", "json")
BY_CHOICES = ("init", "optimizer", "act", "norm")

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


def _check_choice(option: str, value: str | None, choices: Any) -> None:
    if value is not None and value not in choices:
        raise UsageFailure(f"{option}: unknown value {value!r}; choose from: {', '.join(choices)}")


@app.command()
def compare(
    opts: Annotated[str, typer.Option("--opts", "--opt", help=f"Optimizers, comma-separated: {_names(OPTIMIZERS)}.")]
    = "sgd,minibatch,rmsprop,adam",
    inits: Annotated[str, typer.Option("--inits", "--init", help=f"Inits, comma-separated: {_names(INITS)}, "
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
        "--acts", help=f"Activations to compare, comma-separated: {_names(ACTIVATIONS)}.",
        show_default="--act")] = None,
    norms: Annotated[str | None, typer.Option(
        "--norms", help="Normalisations to compare, comma-separated: none, batchnorm (BatchNorm1d after each mlp "
        "hidden layer).", show_default="--batchnorm")] = None,
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
    x: XOpt = "epochs",
    json_out: JsonOpt = False,
    group_size: GroupSizeOpt = 16,
    threads: ThreadsOpt = None,
    verbose: VerboseOpt = False,
    track_layers: TrackLayersOpt = False,
    backend: BackendOpt = "local",
    jobs: JobsOpt = 2,
    retries: RetriesOpt = 2,
    address: AddressOpt = None,
    resume: Annotated[Path | None, typer.Option(
        help="Continue the comparison in this results folder: only its unfinished runs train. The options must "
             "describe the same runs (or use `nncmp resume DIR`).", show_default="off")] = None,
    overwrite: OverwriteOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """Train every optimizer × init × lr × batch size × seed and print a ranked summary."""
    from nncmp.stats import RANKABLE

    _check_threads(threads)
    check_backend(backend, jobs, retries, address)
    if group_size < 1:
        raise UsageFailure(f"--group-size must be >= 1, got {group_size}")
    if resume is not None and (overwrite or (out is not None and Path(out) != Path(resume))):
        raise UsageFailure("--resume DIR continues DIR: it cannot be combined with --overwrite or another --out")

    target = DEFAULT_TARGET if target is None else target
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
            hyper=_hyper(momentum, betas, alpha, eps, weight_decay),
            acts=parse_list("--acts", acts, str, "activation names") if acts else None,
            norms=parse_list("--norms", norms, str, "normalisations") if norms else None,
        )
        if not 0.0 <= target <= 1.0:
            raise SpecError(f"--target must be a val accuracy in [0, 1], got {target:g}")
    _check_choice("--metric", metric, RANKABLE)
    _check_choice("--x", x, X_CHOICES)
    config = {"grid": {"optimizers": grid.optimizers, "inits": grid.inits, "lrs": "auto" if auto else grid.lrs,
                       "batch_sizes": grid.batch_sizes, "seeds": grid.seeds, "hyper": grid.hyper,
                       "acts": grid.acts, "norms": grid.norms},
              "base": base.to_dict(), "target": target, "metric": metric, "baseline": baseline,
              "options": {"group_size": group_size, "plot": plot, "x": x, "track_layers": track_layers,
                          "backend": backend, "jobs": jobs, "retries": retries, "address": address,
                          "data_dir": str(data_dir) if data_dir else None}}
    saved = None
    if resume is not None:
        from nncmp.resume import check_same_runs

        with user_errors():
            saved = check_same_runs(resume, config)
    specs = grid.runs()
    data = _load_data(base, data_dir, download)
    set_threads(threads)
    if baseline is not None and not auto:
        _find_baseline([s.resolved(data.n_train).config_id for s in specs], baseline)
    from nncmp.session import Execution

    with results_folder(resume or out, "compare", resume=resume is not None, overwrite=overwrite) as folder:
        _run_grid(specs, data, folder, config, auto=auto, quiet=quiet or json_out, json_out=json_out,
                  plot=plot, x=x, saved=saved,
                  execution=Execution(group_size, verbose, track_layers, backend, jobs, retries, address,
                                      str(data_dir) if data_dir else None))


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
    quiet: QuietOpt = False,
) -> None:
    """Finish an interrupted comparison: train only its unfinished runs, with the options it was started with."""
    from nncmp.resume import grid_from_config, saved_compare
    from nncmp.session import Execution

    _check_threads(threads)
    with user_errors():
        saved = saved_compare(results_dir)
        grid, auto = grid_from_config(results_dir, saved)
    options = saved.get("options") or {}
    data_dir = options.get("data_dir")
    backend = backend or options.get("backend", "local")
    jobs = jobs or int(options.get("jobs", 2))
    retries = int(options.get("retries", 2))
    address = address or (options.get("address") if backend == "ray" else None)
    check_backend(backend, jobs, retries, address)
    data = _load_data(grid.base, Path(data_dir) if data_dir else None, False)
    set_threads(threads)
    config = {k: v for k, v in saved.items() if k in ("grid", "base", "target", "metric", "baseline", "options")}
    with results_folder(results_dir, "compare", resume=True) as folder:
        _run_grid(grid.runs(), data, folder, config, auto=auto, quiet=quiet or json_out, json_out=json_out,
                  plot=options.get("plot", True), x=options.get("x", "epochs"),
                  execution=Execution(int(options.get("group_size", 16)), verbose,
                                      bool(options.get("track_layers", False)), backend, jobs, retries, address,
                                      data_dir), saved=saved)


def _find_baseline(configs: list[str], baseline: str) -> str:
    from nncmp.stats import find_config

    with user_errors():
        return find_config(configs, baseline)


def _run_grid(specs: list[RunSpec], data: Any, folder: Path, config: dict[str, Any], auto: bool, quiet: bool,
              json_out: bool, plot: bool, x: str, execution: Any, saved: dict[str, Any] | None = None) -> None:
    """Tune (with --lrs auto), train every unfinished run, then summarise. `saved`: the config.json of the
    folder being resumed (None for a new comparison)."""
    from nncmp import session
    from nncmp.report import make_console

    # With --json, stdout carries the JSON document only; anything else goes to stderr.
    console = make_console(stderr=json_out)
    resume = saved is not None
    if resume:
        config = {**config, "created": saved.get("created"), "resumed": [*saved.get("resumed", []), _now()]}
    with user_errors():
        session.write_config(folder, config, specs, data)
        try:
            if auto:
                specs = session.tune_rates(specs, data, folder, console, quiet, execution, resume=resume)
                session.write_config(folder, config, specs, data)
                if config["baseline"] is not None:
                    _find_baseline([s.resolved(data.n_train).config_id for s in specs], config["baseline"])
            session.run_grid(specs, data, folder, console, quiet, execution, resume=resume)
        except session.Interrupted as stop:
            _interrupted(stop, folder, config, x, console)
        except session.RunsFailed as failure:
            if (folder / "metrics.csv").exists():
                _render(folder, config["target"], config["metric"], config["baseline"], None, "table", plot, x,
                        console, write=True)
            first = next(iter(failure.failed.items()))
            raise RuntimeFailure(f"{len(failure.failed)} run(s) failed on every attempt (their errors are in "
                                 f"{folder / 'runs.csv'}), e.g. {first[0]}: {first[1]}; the other runs finished and "
                                 f"are saved: nncmp resume {folder} tries the failed ones again") from None
    _render(folder, config["target"], config["metric"], config["baseline"], None,
            "json" if json_out else "table", plot, x, make_console(), write=True)
    if not json_out:
        console.print(f"results: {folder}  ({len(specs)} runs: config.json, metrics.csv, summary.csv"
                      + (", tuning.csv" if auto else "") + (", PNG plots" if plot else "") + ")")


def _now() -> str:
    from datetime import datetime

    return datetime.now().isoformat(timespec="seconds")


def _interrupted(stop: Any, folder: Path, config: dict[str, Any], x: str, console: Any) -> None:
    """Say what was saved and how to go on; exit 130 (Ctrl-C) or 143 (SIGTERM). Interrupts are ignored
    from here on (session.ignore_interrupts), so these last writes complete."""
    from nncmp.session import restore_interrupts

    try:
        if stop.phase == "tuning":
            console.print(f"interrupted while tuning learning rates ({stop.finished} of {stop.total} tuning runs "
                          f"finished, saved in {folder / 'tuning_metrics.csv'})")
        else:
            if stop.finished:
                _render(folder, config["target"], config["metric"], config["baseline"], None, "table", False, x,
                        console, write=True)
            console.print(f"interrupted: {stop.finished} of {stop.total} runs finished and saved in {folder} "
                          "(runs.csv lists each run's state)")
        console.print(f"resume with: nncmp resume {folder}")
    finally:
        restore_interrupts()
    raise typer.Exit(stop.code)


def _render(folder: Path, target: float | None, metric: str | None, baseline: str | None, by: str | None,
            fmt: str, plot: bool, x: str, console: Any, write: bool = False) -> None:
    """Summarise a results folder from its files and print it in `fmt`. compare and report both come
    here, so report reproduces compare's summary.csv byte for byte."""
    from nncmp import report, store

    with user_errors():
        metrics, summary, metric = report.summarize_folder(folder, target, metric, baseline)
    if write:
        store.write_csv(folder / "summary.csv", summary)
    if plot:
        from nncmp.plots import write_plots

        write_plots(metrics, summary, folder, x)
    output = report.render(summary, metric, target, fmt, by, folder)
    if isinstance(output, str):
        console.file.write(output)
    else:
        console.print(output)


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
    fmt: Annotated[str, typer.Option("--format", help="Output: table, csv, markdown or json.")] = "table",
    json_out: JsonOpt = False,
    plot: PlotOpt = True,
    x: XOpt = "epochs",
) -> None:
    """Re-render the summary, statistics and plots of an existing results folder, without training."""
    import json

    from nncmp.stats import RANKABLE

    _check_choice("--by", by, BY_CHOICES)
    _check_choice("--format", fmt, FORMATS)
    _check_choice("--metric", metric, RANKABLE)
    _check_choice("--x", x, X_CHOICES)
    if not (results_dir / "metrics.csv").is_file():
        raise UsageFailure(f"{results_dir} is not a results folder: it has no metrics.csv")
    config_path = results_dir / "config.json"
    saved = json.loads(config_path.read_text()) if config_path.is_file() else {}
    if target is None:
        target = saved.get("target", DEFAULT_TARGET)
    if target is not None and not 0.0 <= target <= 1.0:
        raise UsageFailure(f"--target must be a val accuracy in [0, 1], got {target:g}")
    from nncmp.report import make_console

    _render(results_dir, target, metric or saved.get("metric"), baseline or saved.get("baseline"), by,
            "json" if json_out else fmt, plot, x, make_console())


@app.command()
def datasets(
    data_dir: DataDirOpt = None,
) -> None:
    """List the datasets: shape, classes, sizes, and whether each is available offline now."""
    from nncmp.data import load
    from nncmp.report import make_console, simple_table

    rows = []
    for name, entry in DATASETS.items():
        try:
            load(name, data_dir=data_dir)
            available = "yes"
        except DataError:
            available = "no: needs --download" if name in ("mnist", "fashion-mnist", "cifar10") else "no"
        rows.append({"name": name, "task": entry.task, "shape": "x".join(map(str, entry.shape)),
                     "classes": str(entry.classes or "—"), "train / val": entry.sizes,
                     "available now": available, "source": entry.source})
    make_console().print(simple_table("Datasets", rows, caption="torchvision datasets are looked for in "
                                      f"{data_dir or '~/.cache/nncmp/data'}; --download fetches them."))


app.command()(bench)
app.command()(inspect)


def main() -> None:
    from nncmp import session

    session.EXITING_AFTER_INTERRUPT = True
    app(prog_name="nncmp")
