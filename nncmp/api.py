"""nncmp from Python: the same commands the command line runs, with Python objects welcome.

    import nncmp
    result = nncmp.compare(opts=["sgd", "adam"], inits=["xavier", "he"], seeds=3, epochs=10)
    result.summary            # pandas DataFrame, ranked (summary.csv)
    nncmp.compare(model=MyNet, data=(x_train, y_train, x_val, y_val), opts=["adam", "sgd"])

Every argument mirrors a command-line option (`--batch-sizes 32,64` is `batch_sizes=[32, 64]`); grid
dimensions take a list (or the command line's comma-separated text), the others one value. Errors raise
nncmp's exceptions (nncmp.errors; a NncmpError's message is the one line the command line prints), never
exit the process. The same arguments give the same numbers as the command line (a test checks it).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from nncmp.errors import SpecError

if TYPE_CHECKING:
    import pandas as pd
    from matplotlib.figure import Figure

    from nncmp.commands.compare import CompareResult
    from nncmp.commands.inspect import InspectResult
    from nncmp.commands.suite import SuiteResult
    from nncmp.training.progress import Reporter

# The Python names of compare's grid dimensions (the command line's options without dashes) → RunSpec field.
DIMENSION_NAMES = {"opts": "optimizer", "inits": "init", "lrs": "lr", "batch_sizes": "batch_size", "acts": "act",
                   "schedules": "schedule", "hiddens": "hidden", "dropouts": "dropout", "norms": "batchnorm"}


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

    def plot(self, kind: str = "curves", x: str = "epochs") -> Figure:
        """A figure as compare draws it: 'curves' (losses and accuracy per epoch, or per examples/seconds with
        `x`) or 'final' (the ranked metric with its 95% interval). Also saved in the folder."""
        from nncmp.output import plots

        if kind == "curves":
            return plots.curves(self.metrics, self.summary, self.folder / f"curves_{x}.png", x)
        if kind == "final":
            return plots.final_bars(self.summary, self.metric, self.folder / f"{self.metric}.png")
        raise SpecError(f"plot kind must be 'curves' or 'final', got {kind!r}")

    def html(self, path: str | Path | None = None) -> Path:
        """The one-file HTML report (report.html in the folder, or `path`); returns where it is."""
        from nncmp.output.html import build
        from nncmp.results import schema, store

        where = Path(path) if path is not None else self.folder / schema.REPORT_HTML
        store.atomic_write_text(where, build(self.folder, self.target, self.metric))
        return where

    def _repr_html_(self) -> str:
        from nncmp.output.html import frame_table

        return frame_table(self.summary, caption=f"{self.folder} — ranked by {self.metric}")

    def __repr__(self) -> str:
        return f"Comparison({str(self.folder)!r}, {len(self.summary)} configurations, ranked by {self.metric})"


def compare(opts: list[str] | str | None = None, inits: list[str] | str | None = None, *, seeds: int = 3,
            model: Any = "mlp", data: Any = None, dataset: str = "mnist5k", model_args: dict[str, Any] | None = None,
            opt_args: dict[str, Any] | None = None, out: str | Path | None = None, resume: bool = False,
            overwrite: bool = False, download: bool = False, progress: bool = True, tune: str | None = None,
            trials: int | None = None, studies: int | None = None, space: str | Path | dict[str, Any] | None = None,
            **options: Any) -> Comparison:
    """Train every optimizer × init × … × seed and return the ranked comparison (`nncmp compare`).

    `opts`, `inits` and the other grid dimensions (`lrs` — a list or "auto" —, `batch_sizes`, `acts`,
    `schedules`, `hiddens`, `dropouts`, `norms`) take lists; every other option of `nncmp compare` one value
    by its name (`epochs=10`, `target=0.95`, `backend="processes"`, `plot=False`, ...).
    `model`: a built-in name, "file.py:Name", "module:Name", or an nn.Module class or a function returning
    one. `data`: (x_train, y_train, x_val, y_val) arrays or tensors, a dict of them, (x, y), or
    (train_dataset, val_dataset); or `dataset=` a built-in name, a .npz/.csv path or "file.py:load".
    `out`: the results folder; None writes to results/<timestamp>-compare under the current directory, as
    the command line does. `resume=True` continues `out`. `tune="halton"` (or "random", "tpe") with
    `trials`, `studies` and `space` (a space file's path, or its contents as a dict) is `--tune`.
    """
    from nncmp.commands.compare import CompareRequest
    from nncmp.commands.compare import compare as run
    from nncmp.config.comparison import CompareConfig, Options
    from nncmp.config.grid import Grid
    from nncmp.config.run import RunSpec

    dims, rest = _dimensions({"opts": opts, "inits": inits, **options})
    auto = dims.get("lr") == "auto"
    if auto:
        del dims["lr"]
    run_fields, hyper, config_fields, option_fields = _split(rest)
    warmup = run_fields.pop("warmup", None)  # for the schedules with a warm-up, as --warmup
    base = RunSpec(**run_fields, dataset=_dataset(dataset, data), model=_model(model),
                   model_args=model_args or {})
    grid = Grid(base=base, dims=dims, seeds=seeds, hyper=hyper, opt_args=opt_args or {}, warmup=warmup)
    config = CompareConfig(grid=grid, auto=auto, **config_fields, options=Options(**option_fields),
                           tuning=_tuning(grid, tune, trials, studies, space))
    request = CompareRequest(config, out=Path(out) if out is not None else None, resume=resume, overwrite=overwrite,
                             download=download)
    return _comparison(run(request, _reporter(progress)))


def compare_suite(opts: list[str] | str, suite: str | Path = "default", *, problems: list[str] | str | None = None,
                  seeds: int = 3, lrs: str | None = None, tune: str | None = None, trials: int | None = None,
                  studies: int | None = None, space: str | Path | dict[str, Any] | None = None,
                  by: str = "examples", reference: str | None = None, ratio_to: str = "best",
                  out: str | Path | None = None, resume: bool = False, overwrite: bool = False, download: bool = False,
                  progress: bool = True, **options: Any) -> SuiteResult:
    """Run every optimizer on every problem of a suite and judge them together (`nncmp suite`; the name is
    not `nncmp.suite`: that is the package of its parts).

    `suite`: "default", "large" or a suite file; `lrs="auto"` or `tune=` tune each optimizer per problem.
    The result's `verdict.table` is suite.csv (score, solved, speed-up, time on each problem), its
    `verdict.profiles` profiles.csv, `times` times.csv; `folder` holds a compare folder per problem.
    `options`: how it runs, as `nncmp suite`'s (`backend="ray"`, `jobs=4`, `plot=False`, ...)."""
    from nncmp.commands.suite import SuiteRequest, run_suite
    from nncmp.config.comparison import Options
    from nncmp.config.fields import parse_list

    names = tuple(parse_list("opts", opts, str, "names") if isinstance(opts, str) else opts)
    chosen = tuple(parse_list("problems", problems, str, "names") if isinstance(problems, str) else problems or ())
    if lrs not in (None, "auto"):
        raise SpecError(f"lrs: a suite tunes the rate per problem (lrs='auto') or uses the defaults; got {lrs!r}")
    grid = _grid_of(names)
    request = SuiteRequest(str(suite), names, chosen, seeds, lrs == "auto", _tuning(grid, tune, trials, studies, space),
                           by, reference, ratio_to, Options(**options), Path(out) if out is not None else None, resume,
                           overwrite, download)
    return run_suite(request, _reporter(progress))


def _grid_of(opts: tuple[str, ...]) -> Any:
    from nncmp.config.grid import Grid
    from nncmp.config.run import RunSpec

    return Grid(base=RunSpec(), dims={"optimizer": opts})


def _tuning(grid: Any, tune: str | None, trials: int | None, studies: int | None,
            space: str | Path | dict[str, Any] | None) -> Any:
    """compare's tune=, trials=, studies=, space= as the CLI's --tune, --trials, --studies, --space."""
    from nncmp.config.space import tuning_options

    if isinstance(space, dict):
        from nncmp.config.space import check_space
        from nncmp.config.tuning import DEFAULT_TRIALS, Tuning

        if tune is None:
            from nncmp.errors import SpecError

            raise SpecError("space applies only with tune='halton', 'random' or 'tpe'")
        doc = check_space(space, list(grid.values("optimizer")), list(grid.values("schedule")))
        return Tuning(tune, trials or DEFAULT_TRIALS, studies or 1, doc)
    return tuning_options(grid, tune, trials, studies, Path(space) if space is not None else None)


def train(*, model: Any = "mlp", data: Any = None, dataset: str = "mnist5k", model_args: dict[str, Any] | None = None,
          opt_args: dict[str, Any] | None = None, out: str | Path | None = None, overwrite: bool = False,
          download: bool = False, progress: bool = True, **options: Any) -> Comparison:
    """One run (`nncmp train`): `opt="adam"`, `init="he"`, `lr=0.01`, `epochs=5`, ... by the options' names.
    Returns a one-run Comparison (its `metrics` has one row per epoch, epoch 0 the untrained model)."""
    from nncmp.commands.train import TrainRequest
    from nncmp.commands.train import train as run
    from nncmp.config.comparison import Options
    from nncmp.config.run import RunSpec

    if "opt" in options:
        options["optimizer"] = options.pop("opt")
    run_fields, hyper, config_fields, option_fields = _split(options)
    if config_fields:
        raise SpecError(f"train takes no {', '.join(config_fields)} (compare's statistics)")
    spec = RunSpec(**run_fields, **hyper, dataset=_dataset(dataset, data), model=_model(model),
                   model_args=model_args or {}, opt_args=opt_args or {})
    request = TrainRequest(spec, Options(**option_fields), out=Path(out) if out is not None else None,
                           overwrite=overwrite, download=download)
    return _comparison(run(request, _reporter(progress)))


def inspect(inits: list[str] | str = ("xavier", "he", "default"), *, model: Any = "mlp", data: Any = None,
            dataset: str = "mnist5k", model_args: dict[str, Any] | None = None, batch_size: int = 256,
            out: str | Path | None = None, overwrite: bool = False, plot: bool = True,
            **options: Any) -> InspectResult:
    """Each init's network at initialisation, layer by layer (`nncmp inspect`): `.layers` (a DataFrame of
    layers.csv) and `.per_init` (init → one dict of statistics per Linear or ConvNd layer)."""
    from nncmp.commands.inspect import InspectRequest
    from nncmp.commands.inspect import inspect as run
    from nncmp.config.run import RunSpec

    device = options.pop("device", "auto")
    data_dir = options.pop("data_dir", None)
    run_fields, hyper, config_fields, option_fields = _split(options)
    if hyper or config_fields or option_fields:
        raise SpecError(f"inspect takes no {', '.join([*hyper, *config_fields, *option_fields])}")
    base = RunSpec(epochs=1, **run_fields, dataset=_dataset(dataset, data), model=_model(model),
                   model_args=model_args or {})
    names = inits.split(",") if isinstance(inits, str) else list(inits)
    return run(InspectRequest(base, tuple(names), batch_size, device, plot, Path(out) if out else None, overwrite,
                              data_dir))


def load(folder: str | Path) -> Comparison:
    """A comparison's results folder read back (summarised as `nncmp report` does; no training, no user code)."""
    from nncmp.results import store
    from nncmp.results.summary import summarize_folder

    folder = Path(folder)
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
    from rich.console import Console

    from nncmp.output.progress import ConsoleReporter

    return ConsoleReporter(Console(stderr=True))  # Rich draws in a notebook cell too


def _model(model: Any) -> str:
    """A model argument as a RunSpec's model: names and references as they are, a class or function
    registered for this process (an importable one by its module and name, so workers can import it)."""
    if isinstance(model, str):
        return model
    from nncmp.registry.user import register

    if not callable(model):
        raise SpecError(f"model must be a name, 'file.py:Name', an nn.Module class or a function; got a "
                        f"{type(model).__name__}")
    return register(model, "model")


def _dataset(dataset: str, data: Any) -> str:
    if data is None:
        return str(dataset)
    if dataset != "mnist5k":
        raise SpecError("give the data either as data= (Python objects) or as dataset= (a name or a file), not both")
    if isinstance(data, (str, Path)):
        return str(data)
    from nncmp.registry.user import register

    return register(data, "data")


def _dimensions(given: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Grid dimensions (by field, as tuples of field values) and the other arguments."""
    from nncmp.config.fields import parse_list
    from nncmp.config.grid import DIMENSIONS
    from nncmp.config.run import parse_widths

    dims: dict[str, Any] = {}
    rest = {}
    for name, value in given.items():
        field_name = DIMENSION_NAMES.get(name)
        if field_name is None:
            rest[name] = value
            continue
        if value is None:
            continue
        if field_name == "lr" and isinstance(value, str) and value.strip() == "auto":
            dims["lr"] = "auto"
            continue
        d = DIMENSIONS[field_name]
        if isinstance(value, str):
            values = parse_list(d.grid, value, d.grid_item or d.item, d.grid_kind or d.kind, d.grid_sep)
        else:
            values = tuple(value) if isinstance(value, (list, tuple)) else (value,)
            if field_name == "hidden":
                values = tuple(parse_widths(v) if isinstance(v, str) else tuple(v) for v in values)
        if field_name == "batchnorm":
            values = tuple(v if isinstance(v, str) else ("batchnorm" if v else "none") for v in values)
        dims[field_name] = values
    return dims, rest


def _split(given: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any], dict[str, Any]]:
    """Keyword arguments as (run fields, optimizer hyperparameters, statistics, options); SpecError for a
    name no option has."""
    from nncmp.config.comparison import CompareConfig, Options
    from nncmp.config.run import RunSpec
    from nncmp.registry import hyperparameters as hp

    run_names = {f.name for f in dataclasses.fields(RunSpec)} - {"dataset", "model", "model_args", "opt_args"}
    config_names = {"target", "metric", "baseline"}
    option_names = {f.name for f in dataclasses.fields(Options)}
    out: tuple[dict[str, Any], ...] = ({}, {}, {}, {})
    for name, value in given.items():
        if value is None:
            continue
        if name in hp.optimizer_own():
            out[1][name] = tuple(value) if isinstance(value, list) else value
        elif name in run_names:
            out[0][name] = tuple(value) if isinstance(value, list) else value
        elif name in config_names and name in {f.name for f in dataclasses.fields(CompareConfig)}:
            out[2][name] = value
        elif name in option_names:
            out[3][name] = value
        else:
            known = sorted(run_names | config_names | option_names | set(DIMENSION_NAMES))
            import difflib

            close = difflib.get_close_matches(name, known, n=3)
            raise SpecError(f"unknown argument {name!r}" + (f"; did you mean: {', '.join(close)}?" if close else ""))
    return out  # type: ignore[return-value]
