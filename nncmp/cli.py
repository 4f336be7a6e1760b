"""Command line: options → RunSpec/Grid → engine → results folder → tables.

torch, pandas and matplotlib are imported inside commands, after the options are checked, so
`nncmp --help` and bad input answer at once.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Annotated, Any

import typer

from nncmp import __version__
from nncmp.data import DATASETS, DataError
from nncmp.inits import ALIASES, INITS
from nncmp.models import ACTIVATIONS, MODELS
from nncmp.optim import OPTIMIZERS
from nncmp.spec import Grid, RunSpec, SpecError
from nncmp.stats import DEFAULT_TARGET, BaselineError
from nncmp.store import StoreError

app = typer.Typer(
    help="Compare neural-network optimizers and weight initialisations on real PyTorch training runs.",
    rich_markup_mode=None,  # plain click errors: one "Error: ..." line, no boxed panels
    no_args_is_help=True,
    add_completion=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


class UsageFailure(typer.BadParameter):
    """Bad input: shown as one 'Error: ...' line with exit code 2 (usage error), never a traceback."""

    def show(self, file: Any = None) -> None:
        typer.echo(f"Error: {self.message}", err=True)


@contextlib.contextmanager
def user_errors() -> Iterator[None]:
    try:
        yield
    except (SpecError, DataError, StoreError, BaselineError) as e:
        raise UsageFailure(str(e)) from None


def parse_list(option: str, text: str, convert: Callable[[str], Any], kind: str) -> tuple[Any, ...]:
    items = [t.strip() for t in text.split(",")]
    try:
        if not text.strip() or any(not t for t in items):
            raise ValueError
        return tuple(convert(t) for t in items)
    except ValueError:
        raise UsageFailure(f"{option}: {text!r} is not a comma-separated list of {kind}") from None


def _names(registry: Any) -> str:
    return ", ".join(registry)


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


# Options shared by train, compare and bench (one definition, one help text).
DatasetOpt = Annotated[str, typer.Option(help=f"Dataset: {_names(DATASETS)}.")]
ModelOpt = Annotated[str, typer.Option(help=f"Model: {_names(MODELS)}.")]
HiddenOpt = Annotated[str, typer.Option(help="mlp hidden-layer widths, comma-separated.")]
ActOpt = Annotated[str, typer.Option(help=f"Activation: {_names(ACTIVATIONS)}.")]
BatchnormOpt = Annotated[bool, typer.Option(help="BatchNorm1d after each mlp hidden layer.")]
DropoutOpt = Annotated[float, typer.Option(help="Dropout probability after each hidden layer, in [0, 1).")]
MomentumOpt = Annotated[float | None, typer.Option(
    help="SGD/RMSProp momentum.", show_default="optimizer's default: 0, momentum/nesterov 0.9")]
BetasOpt = Annotated[str | None, typer.Option(help="Adam/AdamW betas 'b1,b2'.", show_default="0.9,0.999")]
AlphaOpt = Annotated[float | None, typer.Option(help="RMSProp smoothing constant.", show_default="0.99")]
EpsOpt = Annotated[float | None, typer.Option(
    help="Term added to the denominator (adaptive optimizers).", show_default="1e-8, adagrad 1e-10")]
WeightDecayOpt = Annotated[float | None, typer.Option(
    help="L2 penalty (decoupled for adamw).", show_default="0, adamw 0.01")]
EpochsOpt = Annotated[int, typer.Option(help="Passes over the training set.")]
SeedOpt = Annotated[int, typer.Option(help="Random seed (weights, batch order, dropout).")]
NOpt = Annotated[int | None, typer.Option("--n", help="Examples in the synthetic dataset.", show_default="5000")]
DataDirOpt = Annotated[Path | None, typer.Option(
    help="Folder for torchvision datasets (mnist, fashion-mnist, cifar10).", show_default="~/.cache/nncmp/data")]
DownloadOpt = Annotated[bool, typer.Option(help="Download a missing torchvision dataset into --data-dir.")]
OutOpt = Annotated[Path | None, typer.Option(
    help="Results folder.", show_default="results/<timestamp>-<command>")]
QuietOpt = Annotated[bool, typer.Option("--quiet", "-q", help="No progress or per-epoch lines.", show_default="off")]
ThreadsOpt = Annotated[int | None, typer.Option(
    help="torch threads for training (matrix products split across them).",
    show_default="torch's choice: the cores this process may use")]
GroupSizeOpt = Annotated[int, typer.Option(
    help="At most this many runs train together as one stacked model (runs that differ only in init, seed, "
         "and for batch-1 SGD the rate). 1: every run alone. Results are the same either way.")]
VerboseOpt = Annotated[bool, typer.Option("--verbose", "-v", help="Say how the runs are grouped.",
                                          show_default="off")]


def set_threads(threads: int | None) -> int:
    """Apply --threads (after validation) and return the number torch will use."""
    import torch

    if threads is not None:
        torch.set_num_threads(threads)
    return torch.get_num_threads()


def _check_threads(threads: int | None) -> None:
    if threads is not None and threads < 1:
        raise UsageFailure(f"--threads must be >= 1, got {threads}")


def _hyper(momentum: float | None, betas: str | None, alpha: float | None, eps: float | None,
           weight_decay: float | None) -> dict[str, Any]:
    values = {"momentum": momentum, "alpha": alpha, "eps": eps, "weight_decay": weight_decay,
              "betas": parse_list("--betas", betas, float, "numbers") if betas is not None else None}
    if values["betas"] is not None and len(values["betas"]) != 2:
        raise UsageFailure(f"--betas needs exactly two numbers 'b1,b2', got {betas!r}")
    return {k: v for k, v in values.items() if v is not None}


def _load_data(spec: RunSpec, data_dir: Path | None, download: bool) -> Any:
    from nncmp.data import load

    with user_errors():
        return load(spec.dataset, n=spec.n, data_dir=data_dir, download=download)


@app.command()
def train(
    dataset: DatasetOpt = "mnist5k",
    model: ModelOpt = "mlp",
    hidden: HiddenOpt = "256,128",
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
    quiet: QuietOpt = False,
) -> None:
    """Train one run and print one row per epoch (epoch 0 is the untrained model)."""
    from nncmp import engine, stats, store
    from nncmp.report import epoch_header, epoch_line, make_console

    _check_threads(threads)
    with user_errors():
        spec = RunSpec(dataset=dataset, model=model, hidden=parse_list("--hidden", hidden, int, "integers"),
                       act=act, batchnorm=batchnorm, dropout=dropout, init=init, optimizer=opt, lr=lr,
                       batch_size=batch_size, epochs=epochs, seed=seed, n=n,
                       **_hyper(momentum, betas, alpha, eps, weight_decay))
    data = _load_data(spec, data_dir, download)
    set_threads(threads)
    with user_errors():
        folder = store.new_results_dir(out, "train")
    console = make_console()
    resolved = spec.resolved(data.n_train)
    store.write_config(folder, "train", {"spec": resolved.to_dict(), "target": DEFAULT_TARGET})
    if not quiet:
        console.print(f"{resolved.run_id} on {dataset} ({data.n_train} train / {len(data.x_val)} val)")
        console.print(epoch_header())
    try:
        from nncmp.execute import train_one

        records = train_one(spec, data, on_epoch=None if quiet else lambda r: console.print(epoch_line(r)))
    except KeyboardInterrupt:
        console.print(f"interrupted before the run finished; nothing to save beyond {folder / 'config.json'}")
        raise typer.Exit(130) from None
    metrics = engine.records_frame(records)
    store.write_csv(folder / "metrics.csv", metrics)
    summary = stats.summarize(metrics, DEFAULT_TARGET)
    store.write_csv(folder / "summary.csv", summary)
    if plot:
        from nncmp.plots import write_plots

        write_plots(metrics, summary, folder)
    if quiet:
        console.print(epoch_line(records[-1]))
    if records[-1]["status"] == "diverged":
        console.print(f"diverged at epoch {records[-1]['epoch']}: the loss is not finite (try a smaller --lr)")
    console.print(f"results: {folder}")


X_CHOICES = ("epochs", "examples", "seconds")
FORMATS = ("table", "csv", "markdown", "json")
BY_CHOICES = ("init", "optimizer")

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
JsonOpt = Annotated[bool, typer.Option("--json", help="Print only machine-readable JSON on stdout.",
                                       show_default="off")]


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
    target: TargetOpt = None,
    metric: MetricOpt = None,
    baseline: BaselineOpt = None,
    dataset: DatasetOpt = "mnist5k",
    model: ModelOpt = "mlp",
    hidden: HiddenOpt = "256,128",
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
    quiet: QuietOpt = False,
) -> None:
    """Train every optimizer × init × lr × batch size × seed and print a ranked summary."""
    from nncmp.stats import RANKABLE

    _check_threads(threads)
    if group_size < 1:
        raise UsageFailure(f"--group-size must be >= 1, got {group_size}")

    target = DEFAULT_TARGET if target is None else target
    auto = lrs is not None and lrs.strip() == "auto"
    with user_errors():
        base = RunSpec(dataset=dataset, model=model, hidden=parse_list("--hidden", hidden, int, "integers"),
                       act=act, batchnorm=batchnorm, dropout=dropout, epochs=epochs, seed=seed, n=n)
        grid = Grid(
            base=base,
            optimizers=parse_list("--opts", opts, str, "optimizer names"),
            inits=parse_list("--inits", inits, str, "init names"),
            lrs=parse_list("--lrs", lrs, float, "numbers (or 'auto')") if lrs and not auto else None,
            batch_sizes=parse_list("--batch-sizes", batch_sizes, int, "integers") if batch_sizes else None,
            seeds=seeds,
            hyper=_hyper(momentum, betas, alpha, eps, weight_decay),
        )
        if not 0.0 <= target <= 1.0:
            raise SpecError(f"--target must be a val accuracy in [0, 1], got {target:g}")
    _check_choice("--metric", metric, RANKABLE)
    _check_choice("--x", x, X_CHOICES)
    specs = grid.runs()
    data = _load_data(base, data_dir, download)
    set_threads(threads)
    if baseline is not None and not auto:
        _find_baseline([s.resolved(data.n_train).config_id for s in specs], baseline)
    from nncmp import store

    with user_errors():
        folder = store.new_results_dir(out, "compare")
    config = {"grid": {"optimizers": grid.optimizers, "inits": grid.inits, "lrs": "auto" if auto else grid.lrs,
                       "batch_sizes": grid.batch_sizes, "seeds": grid.seeds, "hyper": grid.hyper},
              "base": base.to_dict(), "target": target, "metric": metric, "baseline": baseline}
    from nncmp.session import Execution

    _run_grid(specs, data, folder, config, auto=auto, quiet=quiet or json_out, json_out=json_out,
              plot=plot, x=x, execution=Execution(group_size, verbose))


def _find_baseline(configs: list[str], baseline: str) -> str:
    from nncmp.stats import find_config

    with user_errors():
        return find_config(configs, baseline)


def _run_grid(specs: list[RunSpec], data: Any, folder: Path, config: dict[str, Any], auto: bool, quiet: bool,
              json_out: bool, plot: bool, x: str, execution: Any) -> None:
    from nncmp import session
    from nncmp.report import make_console

    # With --json, stdout carries the JSON document only; anything else goes to stderr.
    console = make_console(stderr=json_out)
    session.write_config(folder, config, specs, data)
    try:
        if auto:
            specs = session.tune_rates(specs, data, folder, console, quiet, execution)
            session.write_config(folder, config, specs, data)
            if config["baseline"] is not None:
                _find_baseline([s.resolved(data.n_train).config_id for s in specs], config["baseline"])
        session.run_grid(specs, data, folder, console, quiet, execution)
    except session.Interrupted as stop:
        if stop.phase == "tuning":
            console.print(f"interrupted while tuning learning rates ({stop.finished} of {stop.total} tuning runs "
                          f"finished, saved in {folder / 'tuning_metrics.csv'})")
        else:
            if stop.finished:
                _render(folder, config["target"], config["metric"], config["baseline"], None, "table", False, x,
                        console, write=True)
            console.print(f"interrupted: {stop.finished} of {stop.total} runs finished and saved in {folder}")
        raise typer.Exit(130) from None
    _render(folder, config["target"], config["metric"], config["baseline"], None,
            "json" if json_out else "table", plot, x, make_console(), write=True)
    if not json_out:
        console.print(f"results: {folder}  ({len(specs)} runs: config.json, metrics.csv, summary.csv"
                      + (", tuning.csv" if auto else "") + (", PNG plots" if plot else "") + ")")


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
def bench(
    opts: Annotated[str | None, typer.Option(
        "--opts", "--opt", help=f"Time these optimizers instead of the standard suite: {_names(OPTIMIZERS)}.",
        show_default="the standard suite")] = None,
    batch_sizes: Annotated[str | None, typer.Option(
        "--batch-sizes", "--batch-size", help="With --opts: batch sizes, comma-separated; each optimizer runs at each.",
        show_default="each optimizer's default")] = None,
    reference: Annotated[bool, typer.Option(
        help="With --opts: also time the course-style loop (torchvision dataset + per-sample transforms + "
             "DataLoader) and print the engine's speed-up over it. The suite always does.")] = False,
    quick: Annotated[bool, typer.Option(help="Suite on 10,000 examples (2,000 at batch size 1): under a minute.",
                                        show_default="off")] = False,
    n_bs1: Annotated[int | None, typer.Option(
        "--n-bs1", help="Suite: training examples for the batch-size-1 cases (one step each).",
        show_default="10000, --quick 2000")] = None,
    repeats: Annotated[int, typer.Option(
        help="Suite: rounds over all cases; each case keeps its fastest round (the least disturbed by other "
             "processes).")] = 3,
    dataset: DatasetOpt = "mnist5k",
    model: ModelOpt = "mlp",
    hidden: HiddenOpt = "256,128",
    act: ActOpt = "relu",
    batchnorm: BatchnormOpt = False,
    epochs: Annotated[int, typer.Option(help="With --opts: epochs timed per case.")] = 1,
    seed: SeedOpt = 0,
    n: Annotated[int | None, typer.Option(
        "--n", help="Suite: training examples (synthetic, MNIST-shaped); with --opts: the synthetic dataset's size.",
        show_default="suite 60000, --quick 10000")] = None,
    data_dir: DataDirOpt = None,
    download: DownloadOpt = False,
    out: OutOpt = None,
    json_out: JsonOpt = False,
    threads: ThreadsOpt = None,
    quiet: QuietOpt = False,
) -> None:
    """Measure speed. Without --opts: the standard suite (matmul ceiling, one run and 8-run grids at batch
    sizes 64 and 1, the course-style loop) and the ratios between them. With --opts: samples/s, seconds per
    epoch and peak memory per optimizer (and batch size)."""
    _check_threads(threads)
    if opts is None:
        if n is not None and n < 100:
            raise UsageFailure(f"--n must be >= 100 for the suite, got {n}")
        n = n or (10_000 if quick else 60_000)
        n_bs1 = n_bs1 or min(n, 2_000 if quick else 10_000)
        if not 1 <= n_bs1 <= n:
            raise UsageFailure(f"--n-bs1 must be between 1 and --n ({n}), got {n_bs1}")
        if repeats < 1:
            raise UsageFailure(f"--repeats must be >= 1, got {repeats}")
        _bench_suite(n, n_bs1, repeats, out, json_out, threads, quiet)
        return
    with user_errors():
        base = RunSpec(dataset=dataset, model=model, hidden=parse_list("--hidden", hidden, int, "integers"),
                       act=act, batchnorm=batchnorm, epochs=epochs, seed=seed, n=n)
        grid = Grid(base=base, optimizers=parse_list("--opts", opts, str, "optimizer names"),
                    inits=(base.init,), seeds=1,
                    batch_sizes=parse_list("--batch-sizes", batch_sizes, int, "integers") if batch_sizes else None)
    specs = grid.runs()
    data = _load_data(base, data_dir, download)
    set_threads(threads)
    from nncmp import engine, store
    from nncmp.bench import run_bench
    from nncmp.report import make_console, simple_table

    with user_errors():
        folder = store.new_results_dir(out, "bench")
    console = make_console(stderr=json_out)
    store.write_config(folder, "bench", {"base": base.to_dict(), "reference": reference,
                                         "runs": [s.resolved(data.n_train).to_dict() for s in specs]})

    def show(row: dict[str, Any]) -> None:
        if not quiet and not json_out:
            console.print(f"{row['optimizer']} bs={row['batch_size']}: {row['samples/s']:.0f} samples/s"
                          + (f", course loop {row['ref samples/s']:.0f} samples/s" if reference else ""))

    try:
        with user_errors():
            rows, records = run_bench(specs, data, reference, data_dir, on_case=show)
    except KeyboardInterrupt:
        console.print("interrupted: no benchmark table written")
        raise typer.Exit(130) from None
    import pandas as pd

    store.write_csv(folder / "bench.csv", pd.DataFrame(rows))
    store.write_csv(folder / "metrics.csv", engine.records_frame(records))
    if json_out:
        _print_json({"cases": rows, "threads": _threads()})
        return
    caption = (f"{data.name}, {model}, {epochs} epoch(s) per case, {_threads()} threads. Seconds exclude "
               "evaluation. peak MB: the process's peak resident memory during the case (torch alone holds "
               "most of it); peak rise MB: how far it rose above the case's start.")
    if reference:
        caption += " speed-up = engine samples/s ÷ course-loop samples/s."
    console.print(simple_table("Engine speed", rows, caption))
    console.print(f"results: {folder}")


def _print_json(doc: Any) -> None:
    import json

    typer.echo(json.dumps(doc, indent=2, default=float))


def _bench_suite(n: int, n_bs1: int, repeats: int, out: Path | None, json_out: bool, threads: int | None, quiet: bool) -> None:
    import pandas as pd

    from nncmp import store
    from nncmp.bench import run_suite
    from nncmp.report import make_console, simple_table

    set_threads(threads)
    with user_errors():
        folder = store.new_results_dir(out, "bench")
    console = make_console(stderr=json_out)
    store.write_config(folder, "bench", {"suite": True, "n": n, "n_bs1": n_bs1, "repeats": repeats})

    def show(case: dict[str, Any]) -> None:
        if quiet or json_out:
            return
        if case["case"] == "ceiling":
            console.print(f"round {case['round']} matmul ceiling (best so far): {case['GFLOP/s']:.0f} GFLOP/s")
        else:
            console.print(f"round {case['round']} {case['case']}: {case['samples/s']:.0f} samples/s ({case['what']})")

    try:
        with user_errors():
            result = run_suite(n, n_bs1, repeats, on_case=show)
    except KeyboardInterrupt:
        console.print("interrupted: no benchmark table written")
        raise typer.Exit(130) from None
    figures = [{"figure": k, "value": v, "target": result["targets"][k], "met": v >= result["targets"][k]}
               for k, v in result["figures"].items()]
    store.write_csv(folder / "bench.csv", pd.DataFrame(result["cases"]))
    store.write_csv(folder / "figures.csv", pd.DataFrame(figures))
    store.atomic_write_text(folder / "bench.json", __import__("json").dumps(result, indent=2) + "\n")
    if json_out:
        _print_json(result)
        return
    console.print(simple_table("Speed per case", result["cases"], (
        f"MLP 784-256-128-10 on synthetic MNIST-shaped data, {n} examples ({n_bs1} at batch size 1), "
        f"{result['threads']} threads, matmul ceiling {result['ceiling_gflops']:.0f} GFLOP/s, fastest of "
        f"{repeats} round(s) per case. samples/s counts "
        "every model's examples (model-samples/s); GFLOP/s at "
        f"{result['flops_per_example'] / 1e6:.2f} MFLOP per training example; seconds exclude evaluation.")))
    console.print(simple_table("Figures", figures, "Ratios of the cases above, measured in this run."))
    console.print(f"results: {folder}")


def _threads() -> int:
    import torch

    return torch.get_num_threads()


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


def main() -> None:
    app(prog_name="nncmp")
