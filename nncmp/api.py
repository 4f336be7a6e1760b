"""nncmp from Python: the same commands the command line runs, with Python objects welcome.

    import nncmp
    result = nncmp.compare(opts=["sgd", "adam"], inits=["xavier", "he"], seeds=3, epochs=10)
    result.summary            # pandas DataFrame, ranked (summary.csv)
    nncmp.compare(model=MyNet, data=(x_train, y_train, x_val, y_val), opts=["adam", "sgd"])

Every argument of compare, train and compare_suite is the command line's option of the same name with the
same default (`--batch-sizes 32,64` is `batch_sizes=[32, 64]` or `batch_sizes="32,64"`): both faces hand
their values to one request builder (config/request.py). Grid dimensions take a list (or the command line's
comma-separated text), the others one value. Errors raise
nncmp's exceptions (nncmp.errors; a NncmpError's message is the one line the command line prints), never
exit the process. The same arguments give the same numbers as the command line (a test checks it).
"""

from __future__ import annotations

import inspect as inspect_
import typing
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from nncmp.config import arguments, request, typed
from nncmp.errors import SpecError

if TYPE_CHECKING:
    import pandas as pd
    from matplotlib.figure import Figure

    from nncmp.commands.compare import CompareResult
    from nncmp.commands.inspect import InspectResult
    from nncmp.commands.suite import CalibrateResult, SuiteResult
    from nncmp.training.progress import Reporter



@dataclass
class Comparison:
    """A finished comparison: its folder and tables, as compare wrote them.

    `summary` (one row per configuration, ranked), `metrics` (one row per run × epoch, epoch 0 included)
    and `runs` (one row per run: its status) are pandas DataFrames of summary.csv, metrics.csv and runs.csv.
    In a notebook the object shows as its summary table.
    """

    folder: Path
    summary: pd.DataFrame
    metrics: pd.DataFrame
    metric: str  # what the summary is ranked by
    target: float  # the val accuracy "reach" columns count to
    failed: dict[str, str]  # run id → error, for runs that failed on every attempt

    @property
    def runs(self) -> pd.DataFrame:
        from nncmp.results import schema, store

        path = self.folder / schema.RUNS
        if path.exists():
            return store.read_csv(path, text=("run_id", "error"))
        import pandas as pd

        return pd.DataFrame(columns=schema.RUN_STATUS_COLUMNS)

    @property
    def transfer(self) -> pd.DataFrame | None:
        """transfer.csv: with --widths and --lrs, the best rate per series and width and the slope of the best rate
        against the width (results/transfer.py); None for a comparison that is no such sweep."""
        from nncmp.results import schema, store

        path = self.folder / schema.TRANSFER
        return store.read_csv(path, text=("series", "opt_args", "hyper", "model_args")) if path.exists() else None

    def plot(self, kind: str = "curves", x: str = "epochs") -> Figure:
        """A figure as compare draws it: 'curves' (losses and accuracy per epoch, or per steps, examples or
        seconds with `x`), 'final' (the ranked metric with its 95% interval) or 'transfer' (with --widths and
        --lrs: the metric against the rate per width, and the best rate against the width). Also saved in the
        folder.

        A matplotlib Figure made without pyplot: a notebook shows it when it is a cell's value, whether or not
        pyplot was imported; `.savefig(path)` saves it elsewhere. nncmp never changes the matplotlib backend
        and leaves pyplot's figures alone."""
        from nncmp.output import plots

        if x not in plots.X_AXES:
            raise SpecError(f"plot x must be one of {', '.join(plots.X_AXES)}, got {x!r}")
        if kind == "curves":
            return plots.curves(self.metrics, self.summary, self.folder / f"curves_{x}.png", x)
        if kind == "final":
            # A ranking metric without a mean per configuration (a time to target) shows the final accuracy,
            # or for regression the final loss, as compare's own bar chart.
            metric = next(m for m in (self.metric, "final_val_acc", "final_val_loss")
                          if f"{m}_mean" in self.summary.columns and self.summary[f"{m}_mean"].notna().any())
            return plots.final_bars(self.summary, metric, self.folder / f"{metric}.png")
        if kind == "transfer":
            table = self.transfer
            if table is None:
                raise SpecError("plot('transfer') needs a comparison over --widths (two or more) and --lrs")
            from nncmp.output.transfer_plots import transfer_figure
            from nncmp.results import schema

            return transfer_figure(self.metrics, table, self.metric, self.folder / schema.TRANSFER_PNG)
        raise SpecError(f"plot kind must be 'curves', 'final' or 'transfer', got {kind!r}")

    def html(self, path: str | Path | None = None) -> Path:
        """The one-file HTML report (report.html in the folder, or `path`); returns where it is."""
        from nncmp.output.html import build
        from nncmp.results import schema, store

        try:
            path = typed.conform(path, str | Path | None)
        except typed.Mismatch:
            raise SpecError(f"html: the path must be a string, a Path or None, got {typed.shown(path)}") from None
        where = Path(path) if path is not None else self.folder / schema.REPORT_HTML
        store.atomic_write_text(where, build(self.folder, self.target, self.metric))
        return where

    def _repr_html_(self) -> str:
        """The notebook's view: the ranked table the terminal prints (mean ± CI texts, its columns and
        caption), scrolling sideways when wide; `summary` is the DataFrame behind it."""
        from nncmp.output.html import summary_table

        return summary_table(self.summary, self.metric, self.target,
                             title=f"Summary of {self.folder}, ranked by {self.metric.replace('_', ' ')}")

    def __repr__(self) -> str:
        return f"Comparison({str(self.folder)!r}, {len(self.summary)} configurations, ranked by {self.metric})"


_DATA = inspect_.Parameter(
    arguments.DATA, inspect_.Parameter.KEYWORD_ONLY, default=None, annotation=Any)
_PROGRESS = inspect_.Parameter("progress", inspect_.Parameter.KEYWORD_ONLY, default=True, annotation=bool)
_MODEL = "`model` also takes an nn.Module class or a function returning one; `data` (Python only) " \
    "(x_train, y_train, x_val, y_val) arrays or tensors, a dict of them, (x, y), or (train_dataset, val_dataset). " \
    "`progress` (Python only): show progress on stderr."


def compare(*args: Any, **kwargs: Any) -> Comparison:
    values = arguments.bind("compare", args, kwargs, _COMPARE)
    progress = values.pop("progress")
    from nncmp.commands.compare import compare as run
    from nncmp.training.signals import handlers_kept

    with handlers_kept():
        return _comparison(run(request.build("compare", values), _reporter(progress)))  # type: ignore[arg-type]


def transfer(*args: Any, **kwargs: Any) -> Comparison:
    values = arguments.bind("transfer", args, kwargs, _TRANSFER)
    progress = values.pop("progress")
    from nncmp.commands.compare import compare as run
    from nncmp.training.signals import handlers_kept

    with handlers_kept():
        return _comparison(run(request.build("transfer", values), _reporter(progress)))  # type: ignore[arg-type]


def compare_suite(*args: Any, **kwargs: Any) -> SuiteResult | CalibrateResult:
    values = arguments.bind("suite", args, kwargs, _SUITE)
    progress = values.pop("progress")
    from nncmp.commands.suite import calibrate, run_suite
    from nncmp.training.signals import handlers_kept

    asked = request.build("suite", values)
    with handlers_kept():
        if isinstance(asked, request.CalibrateRequest):
            return calibrate(asked, _reporter(progress))
        return run_suite(asked, _reporter(progress))  # type: ignore[arg-type]


def train(*args: Any, **kwargs: Any) -> Comparison:
    if "opt" in kwargs:  # the command line's --opt
        kwargs["optimizer"] = kwargs.pop("opt")
    values = arguments.bind("train", args, kwargs, _TRAIN)
    progress = values.pop("progress")
    from nncmp.commands.train import train as run
    from nncmp.training.signals import handlers_kept

    with handlers_kept():
        return _comparison(run(request.build("train", values), _reporter(progress)))  # type: ignore[arg-type]


# Each signature is the command line's options by the same names and defaults (config/arguments.py declares
# both; tests/test_api.py walks the Typer app to prove it), plus what only Python can give.
_COMPARE = arguments.signature(arguments.COMPARE, positional=2, extra=(_DATA, _PROGRESS))
_TRANSFER = arguments.signature(arguments.TRANSFER, positional=2, extra=(_DATA, _PROGRESS))
_TRAIN = arguments.signature(arguments.TRAIN, extra=(_DATA, _PROGRESS))
_SUITE = arguments.signature(arguments.SUITE, positional=2, extra=(_PROGRESS,))
compare.__signature__ = _COMPARE  # type: ignore[attr-defined]
transfer.__signature__ = _TRANSFER  # type: ignore[attr-defined]
train.__signature__ = _TRAIN  # type: ignore[attr-defined]
compare_suite.__signature__ = _SUITE  # type: ignore[attr-defined]
compare.__doc__ = f"""Train every optimizer × init × … × seed and return the ranked comparison (`nncmp compare`).

Grid dimensions (`opts`, `inits`, `lrs` — a list or "auto" —, `batch_sizes`, `acts`, `schedules`,
`hiddens`, `dropouts`, `norms`) take a list or the command line's comma-separated text; the others one
value. {_MODEL} `out`: the results folder (None: `results/<timestamp>-compare` under the current
directory); `resume=True` continues `out`.

Each argument is `nncmp compare`'s option of the same name, with the same default.

{arguments.describe(arguments.COMPARE)}
"""
transfer.__doc__ = f"""compare with a learning-rate sweep's defaults (`nncmp transfer`): Adam at widths 64 to 1024,
under the standard parametrisation and μP, at every power of two from 2^-14 to 2^-4, 2 seeds, 5 epochs. The
result's `.transfer` is the best rate per width and its slope against the width; `.plot("transfer")` draws it.

Each argument is `nncmp transfer`'s option of the same name, with the same default.

{arguments.describe(arguments.TRANSFER)}
"""
train.__doc__ = f"""One run (`nncmp train`); returns a one-run Comparison (its `metrics` has one row per epoch,
epoch 0 the untrained model). {_MODEL} `opt=` is `optimizer=`, as --opt.

Each argument is `nncmp train`'s option of the same name, with the same default.

{arguments.describe(arguments.TRAIN)}
"""
compare_suite.__doc__ = f"""Run every optimizer on every problem of a suite and judge them together (`nncmp suite`;
the name is not `nncmp.suite`: that is the package of its parts). The result's `verdict.table` is suite.csv
(score, solved, speed-up, time on each problem), its `verdict.profiles` profiles.csv, `times` times.csv;
`folder` holds a compare folder per problem. With `calibrate=True`: the calibrated targets (a
CalibrateResult). `progress` (Python only): show progress on stderr.

Each argument is `nncmp suite`'s option of the same name, with the same default.

{arguments.describe(arguments.SUITE)}
"""


def inspect(inits: str | Sequence[str] = ("xavier", "he", "default"), *, model: str | Callable[..., Any] = "mlp",
            data: Any = None, dataset: str | Path = "mnist5k", model_args: dict[str, Any] | list[str] | None = None,
            batch_size: int = 256, out: str | Path | None = None, overwrite: bool = False, plot: bool = True,
            device: str = "auto", data_dir: str | Path | None = None, coord_check: bool = False,
            widths: str | Sequence[int] | None = None, params: str | Sequence[str] = ("sp", "mup"),
            opt: str = "adam", lr: float | None = None, width_arg: str | None = None, coord_steps: int = 5,
            seeds: int = 3, **run: Any) -> InspectResult:
    """Each init's network at initialisation, layer by layer (`nncmp inspect`): `.layers` (a DataFrame of
    layers.csv) and `.per_init` (init → one dict of statistics per Linear or ConvNd layer). `run`: the
    network's settings by their options' names (act, hidden, batchnorm, target_column, task, seed, n).
    `coord_check=True` (`--coord-check`): the coordinate check instead, each of `params` × `widths` × `seeds`
    trained `coord_steps` steps by `opt` at `lr` from one init (PyTorch's default unless `inits` names
    one): `.coord` (coord.csv), `.growth` (each layer's change from the smallest to the largest width at the
    last step) and `.verdict` (a line per parametrisation)."""
    from nncmp.commands.inspect import CoordCheck, InspectRequest
    from nncmp.commands.inspect import inspect as run_inspect
    from nncmp.config.comparison import Options
    from nncmp.config.run import RunSpec

    allowed = ("act", "hidden", "batchnorm", "target_column", "task", "seed", "n")
    unknown = [k for k in run if k not in allowed]
    if unknown:
        raise SpecError(f"inspect: unknown argument {unknown[0]!r}; it takes {', '.join(allowed)} besides its own")
    default_inits = inits is _INSPECT_DEFAULTS["inits"]  # --coord-check's one init: PyTorch's unless named
    # The same checks of each argument's type as compare's and train's (config/arguments.conform_all).
    own = {"inits": inits, "model": model, "data": data, "dataset": dataset, "model_args": model_args,
           "batch_size": batch_size, "out": out, "overwrite": overwrite, "plot": plot, "device": device,
           "data_dir": data_dir, "coord_check": coord_check, "widths": widths, "params": params,
           "opt": opt, "lr": lr, "width_arg": width_arg, "coord_steps": coord_steps, "seeds": seeds}
    items = {**{k: arguments.Field(RunSpec, k) for k in (*allowed, "model", "dataset", "lr", "width_arg")},
             "opt": arguments.Field(RunSpec, "optimizer"),
             "device": arguments.Field(Options, "device"), "data_dir": arguments.Field(Options, "data_dir"),
             "model_args": arguments.MODEL_ARGS, "out": arguments.OUT, "widths": arguments.Dim("width"),
             "params": arguments.Dim("param"), "seeds": arguments.SEEDS}
    types = {**_INSPECT_TYPES, **{k: arguments.annotation(arguments.Field(RunSpec, k)) for k in run}}
    v = arguments.conform_all({**own, **run}, types, items)
    # Built whether or not the check runs: a wrong value is refused either way, before anything starts.
    dims = request.grid_dims({"width": v["widths"], "param": v["params"]})
    coord = CoordCheck(dims.get("width", ()), dims["param"], v["seeds"], v["coord_steps"])
    if not v["coord_check"] and v["widths"] is not None:
        raise SpecError("--widths applies to --coord-check (compare --widths trains and compares them)")
    base = RunSpec(epochs=1, **request.field_values(RunSpec, {**v, "optimizer": v["opt"]},
                                                    (*allowed, "optimizer", "lr", "width_arg")),
                   dataset=request.dataset_of(v["dataset"], v["data"]), model=request.model_of(v["model"]),
                   model_args=request.key_values(v["model_args"], "--model-arg"))
    names = ("default",) if v["coord_check"] and default_inits else request.names_of("--inits", v["inits"])
    return run_inspect(InspectRequest(base, names, v["batch_size"], v["device"],
                                      v["plot"], Path(v["out"]) if v["out"] is not None else None, v["overwrite"],
                                      v["data_dir"], coord=coord if v["coord_check"] else None))


# inspect's own arguments' types, as its signature declares them (its result's class only exists for type checkers).
_INSPECT_TYPES = {k: t for k, t in typing.get_type_hints(inspect, localns={"InspectResult": object}).items()
                  if k not in ("return", "run")}
_INSPECT_DEFAULTS = {k: p.default for k, p in inspect_.signature(inspect).parameters.items()}


def load(folder: str | Path) -> Comparison:
    """A comparison's results folder read back (summarised as `nncmp report` does; no training, no user code)."""
    from nncmp.results import store
    from nncmp.results.summary import summarize_folder

    try:
        folder = Path(typed.conform(folder, str | Path))
    except typed.Mismatch:
        raise SpecError(f"load: the folder must be a string or a Path, got {typed.shown(folder)}") from None
    store.require_results(folder, runs=False)  # a file or a missing folder: the one line `nncmp report` prints
    config, _ = store.read_compare(folder)
    if not store.has_runs(folder):
        from nncmp.errors import StoreError

        raise StoreError(f"{folder} holds no finished runs (no metrics.csv)")
    metrics, summary, metric = summarize_folder(folder, config.target, config.metric, config.baseline)
    return Comparison(folder, summary, metrics, metric, config.target, {})


def _comparison(result: CompareResult) -> Comparison:
    return Comparison(result.folder, result.summary, result.metrics, result.metric, result.target, result.failed)


def _reporter(progress: bool) -> Reporter:
    from nncmp.training.progress import Reporter

    if not progress:
        return Reporter()
    from nncmp.output.progress import ConsoleReporter
    from nncmp.output.terminal import make_console

    # The command line's console on stderr: a bar on a terminal, plain lines when piped, and in a notebook
    # one bar that updates in place (output/progress.py).
    return ConsoleReporter(make_console(stderr=True))
