"""Each argument of compare, train and suite, declared once for the command line and Python.

A command's arguments are a list: a grid dimension of RunSpec (`Dim`: compare's --opts is `opts`), a
declared field of RunSpec, Options or CompareConfig (`Field`: --epochs is `epochs`), or an argument of the
request itself (`Arg`: --seeds, --tune, --out, --resume…). cli/declared.py turns a list into Typer options;
`signature` here into the Python API's signature; both with the same names and defaults (tests/test_request.py
walks the Typer app and the API's signatures to prove it). config/request.py builds the request from the
values either face gives. A new grid option is a field in RunSpec (compare's list takes every grid field).
"""

from __future__ import annotations

import dataclasses
import inspect
import os
import typing
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nncmp.config import typed
from nncmp.config.comparison import CompareConfig, Options
from nncmp.config.fields import NONE, Declared, declared, dimensions
from nncmp.config.grid import DEFAULT_SEEDS
from nncmp.config.run import RunSpec
from nncmp.config.tuning import DEFAULT_TRIALS
from nncmp.errors import SpecError
from nncmp.registry import hyperparameters as hp
from nncmp.registry.closest import closest


@dataclass(frozen=True)
class Dim:
    """compare's option varying a RunSpec field: `--opts sgd,adam`, `opts=["sgd", "adam"]`."""

    field: str
    given: str | None = None  # a command's own default (transfer's --widths), over the declaration's

    @property
    def declared(self) -> Declared:
        return declared(RunSpec)[self.field]

    @property
    def name(self) -> str:
        return self.declared.grid_name

    @property
    def default(self) -> Any:
        d = self.declared
        if self.given is not None:
            return self.given
        if d.grid_default is not None:
            return d.grid_default
        value = field_default(RunSpec, self.field)
        hint = typing.get_type_hints(RunSpec)[self.field]
        return None if value is None or hint is bool or is_tuple(hint) else str(value)


@dataclass(frozen=True)
class Field:
    """A declared field of RunSpec, Options or CompareConfig, one value: `--epochs 5`, `epochs=5`."""

    cls: type
    field: str
    given: Any = None  # a command's own default (transfer's --epochs), over the field's

    @property
    def declared(self) -> Declared:
        return declared(self.cls)[self.field]

    @property
    def name(self) -> str:
        return self.field

    @property
    def default(self) -> Any:
        if self.given is not None:
            return self.given
        return None if is_tuple(typing.get_type_hints(self.cls)[self.field]) else field_default(self.cls, self.field)


@dataclass(frozen=True)
class Arg:
    """An argument of the request itself (where results go, the seeds, the tuning…)."""

    name: str
    default: Any
    help: str
    type: Any = str  # one value's type on the command line (list[str]: a repeatable option)
    api: Any = None  # its annotation in Python (None: `type`, or `type | None` when the default is None)
    flags: tuple[str, ...] = ()  # the command line's names (empty: --name with dashes)
    show_default: str | bool = True
    metavar: str | None = None
    argument: bool = False  # a positional argument on the command line


Item = Dim | Field | Arg


def is_tuple(annotation: Any) -> bool:
    return any(typing.get_origin(a) is tuple for a in (annotation, *typing.get_args(annotation)))


def field_default(cls: type, name: str) -> Any:
    f = next(f for f in dataclasses.fields(cls) if f.name == name)
    d = f.metadata["nncmp"]
    if d.cli_default is not None:
        return None if d.cli_default is NONE else d.cli_default
    return None if f.default is dataclasses.MISSING else f.default


def _fields(cls: type, *names: str) -> list[Item]:
    return [Field(cls, n) for n in names]


def _dims(*names: str) -> list[Item]:
    return [Dim(n) for n in names]


_KV = "KEY=VALUE"
SEEDS = Arg("seeds", DEFAULT_SEEDS, "Seeds per configuration: --seed, --seed+1, ...", int)
DEPTHS = Arg("depths", None, "mlp depths to compare, comma-separated: each that many hidden layers, all --width wide.",
             api=str | Sequence[int] | None, show_default="off")
DEPTH = Arg("depth", None, "mlp with this many hidden layers, all --width wide (instead of --hidden).", int,
            show_default="off")
WIDTH = Arg("width", None, "Width of each hidden layer with --depth.", int, show_default="256")
OPT_ARGS = Arg("opt_args", None, declared(RunSpec)["opt_args"].help, list[str], api=dict[str, Any] | list[str] | None,
               flags=("--opt-arg",), metavar=_KV, show_default="none")
MODEL_ARGS = Arg("model_args", None, declared(RunSpec)["model_args"].help, list[str],
                 api=dict[str, Any] | list[str] | None, flags=("--model-arg",), metavar=_KV, show_default="none")
DATA_ARGS = Arg("data_args", None, declared(RunSpec)["data_args"].help, list[str],
                api=dict[str, Any] | list[str] | None, flags=("--data-arg",), metavar=_KV, show_default="none")
# A run's data scaling, loss, budget and the options sequence models need (compare's base run; train's run).
RUN_EXTRA = ("standardize", "classes", "block_size", "loss", "label_smoothing", "metric_fn", "steps", "eval_every",
             "clip_grad_norm", "decay_all", "base_width", "width_arg")
TUNE = Arg("tune", None, "Tune every hyperparameter each optimizer has (rate, momentum or betas, weight decay, "
           "warm-up) with this sampler: halton, random or tpe (Optuna's), the same number of trials for every "
           "optimizer, on a split of the training data; then run each at its defaults and tuned with every seed.",
           show_default="off")
TRIALS = Arg("trials", None, "--tune: trials per configuration and study.", int, show_default=str(DEFAULT_TRIALS))
STUDIES = Arg("studies", None, "--tune: independent studies of --trials trials each (sampler seeds --seed, --seed+1, "
              "...); the winner of the median study is the tuned configuration.", int, show_default="1")
SPACE = Arg("space", None, "--tune: a search space file (JSON or TOML, AlgoPerf's shape: name → {min, max, scaling} "
            "or a list of values, per optimizer or for all) laid over nncmp's; `nncmp optimizers --space NAME` "
            "prints nncmp's. In Python also its contents as a dict.", Path, api=str | Path | dict[str, Any] | None,
            show_default="nncmp's per optimizer", metavar="FILE")
DOWNLOAD = Arg("download", False, "Download a missing torchvision dataset into --data-dir.", bool)
OUT = Arg("out", None, "Results folder.", Path, api=str | Path | None, show_default="results/<timestamp>-<command>")
OVERWRITE = Arg("overwrite", False, "Replace the results in an existing --out folder (only an nncmp results folder; "
                "other files stay).", bool, show_default="off: a non-empty --out is refused")
RESUME = Arg("resume", None, "Continue the comparison in this results folder: only its unfinished runs train (a "
             "missing or empty folder: the comparison starts there, so one command line serves every retry of a "
             "preempted job). The options must describe the same runs (or use `nncmp resume DIR`). In Python "
             "also True: continue `out`.", Path, api=str | Path | bool | None, show_default="off")
SHARE_GPU = Arg("share_gpu", False, "--backend processes: let more workers than GPUs share them.", bool,
                flags=("--share-gpu",), show_default="off")
ALLOW_CHANGED = Arg("allow_changed_code", False, "Resume although your --model or --dataset file changed since the "
                    "comparison started (its runs then mix two versions of it).", bool,
                    flags=("--allow-changed-code",), show_default="off: refused")

RUN_OPTIONS = ("data_dir", "plot", "threads", "track_layers", "track_weights", "track_every", "device",
               "deterministic", "tensorboard", "mlflow")
COMPARE_OPTIONS = ("data_dir", "plot", "html", "x", "group_size", "threads", "track_layers", "track_weights",
                   "track_every", "device", "deterministic", "tensorboard", "mlflow", "backend", "jobs", "retries",
                   "address", "gpus_per_task")
SUITE_OPTIONS = ("data_dir", "plot", "html", "group_size", "threads", "device", "deterministic", "mlflow", "backend",
                 "jobs", "retries", "address", "gpus_per_task")

# In the order `--help` lists them.
# compare's grid options: the first ones in this order, then every other grid field of RunSpec (in its order),
# so a new grid dimension needs no edit here.
_FIRST = ("optimizer", "init")
_NEXT = ("lr", "batch_size", "act", "schedule", "hidden", "dropout")
_OTHER = tuple(f for f in dimensions(RunSpec) if f not in _FIRST + _NEXT)
COMPARE: list[Item] = [
    *_dims(*_FIRST), SEEDS, *_dims(*_NEXT), DEPTHS, *_dims(*_OTHER), Field(RunSpec, "warmup"), OPT_ARGS,
    *_fields(CompareConfig, "target", "metric", "baseline"),
    *_fields(RunSpec, "dataset", "target_column", "task"), DATA_ARGS, *_fields(RunSpec, "model"), MODEL_ARGS, DEPTH,
    WIDTH, *_fields(RunSpec, "batchnorm", *hp.optimizer_own(), "epochs", *RUN_EXTRA, "seed", "n"), TUNE, TRIALS,
    STUDIES, SPACE,
    *_fields(Options, *COMPARE_OPTIONS), DOWNLOAD, OUT, SHARE_GPU, RESUME, OVERWRITE, ALLOW_CHANGED]
TRAIN: list[Item] = [
    *_fields(RunSpec, "dataset", "target_column", "task"), DATA_ARGS, *_fields(RunSpec, "model", "hidden"),
    MODEL_ARGS, DEPTH, WIDTH,
    *_fields(RunSpec, "act", "batchnorm", "dropout", "param", "init", "optimizer", "lr", "schedule", "warmup"),
    OPT_ARGS,
    *_fields(RunSpec, *hp.optimizer_own(), "batch_size", "epochs", *RUN_EXTRA, "seed", "n"),
    *_fields(Options, *RUN_OPTIONS),
    DOWNLOAD, OUT, OVERWRITE]
# suite --by: each measure of time to target and what it counts — the one list the choices, the help (and so the
# command reference) and the check of the value (config/request.py) are made from.
MEASURES: dict[str, str] = {
    "steps": "optimizer steps",
    "examples": "training examples: the same on any machine",
    "seconds": "wall-clock seconds of the training rounds, evaluations left out, on this machine",
    "step-time": "seconds of optimizer steps: the steps × each run's measured time per step, runs.csv's ms_step, "
                 "a sample of steps timed without evaluation or other overheads"}
SUITE: list[Item] = [
    Arg("opts", None, "Optimizers to compare, comma-separated (any of `nncmp optimizers`).",
        api=str | Sequence[str] | None, show_default="required; on --resume the suite's"),
    Arg("suite", "default", "A built-in suite, default (9 offline problems, about 17 minutes on 2 cores) or large "
        "(adds mnist5k-cnn, fashion-mnist, cifar10), or a suite file (.toml).", api=str | Path, argument=True,
        metavar="[SUITE]"),
    Arg("problems", None, "Only these problems of the suite, comma-separated.", api=str | Sequence[str] | None,
        show_default="all"),
    Arg("seeds", None, "Seeds per optimizer and problem.", int, show_default=f"{DEFAULT_SEEDS}; on --resume the "
        "suite's"),
    Arg("lrs", None, "'auto': tune each optimizer's learning rate per problem first (on a split of the training "
        "data), and judge it at its tuned rate.", show_default="each optimizer's default rate"),
    dataclasses.replace(TUNE, help="Tune every hyperparameter per problem with this sampler (halton, random, tpe), "
                        "the same trials for every optimizer, and judge each tuned."),
    dataclasses.replace(TRIALS, help="--tune: trials per optimizer, problem and study."),
    dataclasses.replace(STUDIES, help="--tune: independent studies."),
    dataclasses.replace(SPACE, help="--tune: a search space file, as compare's (in Python also a dict)."),
    Arg("by", "examples", "Time to target in " + ", ".join(f"{k} ({v})" for k, v in MEASURES.items()) + "."),
    Arg("reference", None, "The optimizer the speed-up is against (and, with --ratio-to reference, the profiles).",
        show_default="the first of --opts"),
    Arg("ratio_to", "best", "The profiles' ratio: each time over the fastest optimizer's on that problem (best, as "
        "Dolan & Moré and AlgoPerf), or over the reference's."),
    Arg("calibrate", False, "Instead of comparing: set each problem's target from tuned baselines (the median over "
        "--seeds of the best one's best holdout score × --slack) and write the targets into the suite file (a "
        "built-in suite: into suite.toml in the results folder).", bool, flags=("--calibrate",),
        show_default="off"),
    Arg("baselines", None, "--calibrate: the baseline optimizers, comma-separated.", api=str | Sequence[str] | None,
        show_default="adamw,nadam,nesterov"),
    Arg("slack", None, "--calibrate: target = slack × the baselines' median best accuracy (a loss: ÷ slack), in "
        "(0, 1].", float, show_default="0.99"),
    dataclasses.replace(RESUME, help="Continue the suite in this results folder: finished problems and runs are not "
                        "trained again (a missing or empty folder: the suite starts there). Options left out are the "
                        "suite's; --by, --reference and --ratio-to may change (the verdict is recomputed). In "
                        "Python also True: continue `out`."),
    OUT, OVERWRITE, DOWNLOAD, *_fields(Options, *SUITE_OPTIONS)]
# transfer: compare with the defaults of a learning-rate sweep across widths (Yang et al. 2022, Fig. 1): Adam
# at PyTorch's init, five widths, both parametrisations, every power of two from 2^-14 to 2^-4, 2 seeds, 5 epochs.
TRANSFER_DEFAULTS: dict[tuple[type, str], Any] = {
    (Dim, "optimizer"): "adam", (Dim, "init"): "default", (Dim, "width"): "64,128,256,512,1024",
    (Dim, "param"): "sp,mup", (Dim, "lr"): "2^-14..2^-4", (Arg, "seeds"): 2, (Field, "epochs"): 5}


def _transfer(item: Item) -> Item:
    key = (type(item), item.name if isinstance(item, Arg) else item.field)
    if key not in TRANSFER_DEFAULTS:
        return item
    value = TRANSFER_DEFAULTS[key]
    return dataclasses.replace(item, **({"default": value} if isinstance(item, Arg) else {"given": value}))


TRANSFER: list[Item] = [_transfer(item) for item in COMPARE]
COMMANDS: dict[str, list[Item]] = {"compare": COMPARE, "transfer": TRANSFER, "train": TRAIN, "suite": SUITE}
# Arguments of Python's faces only: objects a command line cannot carry.
DATA = "data"
# What Python takes besides the command line's text: a model, loss or metric as a class or function, a Path for
# a file or folder, one hidden layer as its width.
API_TYPES: dict[str, Any] = {
    "model": str | Callable[..., Any], "loss": str | Callable[..., Any], "metric_fn": str | Callable[..., Any],
    "dataset": str | Path, "data_dir": str | Path, "tensorboard": str | Path, "mlflow": str | Path,
    "hidden": int | tuple[int, ...]}
PYTHON_ONLY = (DATA, "progress")  # messages name them as Python does: `progress=`


def signature(items: list[Item], positional: int = 0, extra: Sequence[inspect.Parameter] = ()) -> inspect.Signature:
    """The Python signature of a command's arguments: the first `positional` by position or name, the rest by
    name; then `extra` (the API's own)."""
    params = []
    for i, item in enumerate(items):
        kind = inspect.Parameter.POSITIONAL_OR_KEYWORD if i < positional else inspect.Parameter.KEYWORD_ONLY
        params.append(inspect.Parameter(item.name, kind, default=item.default, annotation=annotation(item)))
    return inspect.Signature([*params, *extra])


def annotation(item: Item) -> Any:
    """An argument's type in Python: what the API's signature shows and `conform_all` checks."""
    if isinstance(item, Dim):
        one = dim_item(item)
        values = str | Sequence[one] | one  # type: ignore[valid-type]
        return values | None if item.default is None else values
    if isinstance(item, Field):
        hint = API_TYPES.get(item.field) or typing.get_type_hints(item.cls)[item.field]
        if is_tuple(hint):
            hint = hint | str
        return hint | None if item.default is None else hint
    return item.api or (item.type | None if item.default is None else item.type)


def dim_item(item: Dim) -> Any:
    """One value of a grid dimension in Python: lrs=[0.1, 0.01] are floats, norms=[True, "none"]."""
    hint = typing.get_type_hints(RunSpec)[item.field]
    args = [a for a in typing.get_args(hint) if a is not type(None)]
    hint = args[0] if len(args) == 1 else hint
    if hint is bool:
        return str | bool
    if is_tuple(hint):
        grid_item = item.declared.grid_item
        # An architecture: 16 (one layer), (256, 128), "256,128" or "256x2"; betas' grid is beta2's numbers.
        return grid_item if grid_item in (int, float) else int | tuple[int, ...] | str
    return hint


def describe(items: list[Item]) -> str:
    """The arguments as a docstring's Google-style "Args:" section: each name with its option's help (the
    defaults are the signature's)."""
    lines = ["Args:"]
    for item in items:
        d = None if isinstance(item, Arg) else item.declared
        text = item.help if d is None else (d.grid_help or d.help) if isinstance(item, Dim) else d.help
        lines.append(f"    {item.name}: {text}")
    return "\n".join(lines)


def aliases(items: list[Item]) -> dict[str, str]:
    """Each grid option's one-value name (`hidden`, `lr`) → its name (`hiddens`, `lrs`)."""
    out = {}
    for item in items:
        if isinstance(item, Dim) and item.declared.flag and typing.get_type_hints(RunSpec)[item.field] is not bool:
            out[item.declared.flag.lstrip("-").replace("-", "_")] = item.name
    return out


def bind(command: str, args: tuple[Any, ...], kwargs: dict[str, Any], sig: inspect.Signature) -> dict[str, Any]:
    """The API's arguments, defaults filled in, as `build` takes them; SpecError for a name no option has."""
    known = list(sig.parameters)
    # A grid option's one-value flag is its alias on the command line (--hidden is --hiddens), so here too: one
    # value (hidden=(16,) is one architecture), or the command line's text.
    for alias, name in aliases(COMMANDS.get(command, [])).items():
        if alias in kwargs and alias not in sig.parameters:
            if name in kwargs:
                raise SpecError(f"{command}: {alias}= and {name}= are the same argument; give one")
            value = kwargs[alias]
            kwargs = {**{k: v for k, v in kwargs.items() if k != alias},
                      name: value if isinstance(value, str) or value is None else [value]}
    for name in kwargs:
        if name not in sig.parameters:
            close = closest(name, known)
            raise SpecError(f"{command}: unknown argument {name!r}" +
                            (f"; did you mean: {', '.join(close)}?" if close else ""))
    try:
        bound = sig.bind(*args, **kwargs)
    except TypeError as e:
        raise SpecError(f"{command}: {e}") from None
    bound.apply_defaults()
    items = {i.name: i for i in COMMANDS.get(command, [])}
    return conform_all(dict(bound.arguments), {n: p.annotation for n, p in sig.parameters.items()}, items)


def conform_all(values: dict[str, Any], annotations: dict[str, Any], items: dict[str, Item]) -> dict[str, Any]:
    """Python's arguments checked against their annotations (`annotation`) and handed on as the command line's
    parser would (typed.conform); SpecError naming the option for the first of the wrong type. The ranges are
    request.build's, on both faces."""
    out = {}
    for name, value in values.items():
        item = items.get(name)
        try:
            value = typed.conform(value, annotations[name])
        except typed.Mismatch:
            if isinstance(item, Dim):
                d = item.declared
                raise SpecError(f"{d.grid}: {typed.shown(value)} is not a list of {d.grid_kind or d.kind}") from None
            raise SpecError(f"{flag_of(name, item)} must be {typed.describe(annotations[name])}, "
                            f"got {typed.shown(value)}") from None
        if isinstance(item, Field) and isinstance(value, os.PathLike):  # a run's and Options' fields hold text
            value = os.fspath(value)
        out[name] = value
    return out


def flag_of(name: str, item: Item | None) -> str:
    """The option an argument is on the command line, as messages name it (Python's own: `data=`)."""
    if isinstance(item, Dim):
        return item.declared.grid or name
    if isinstance(item, Field):
        return item.declared.flag or "--" + name.replace("_", "-")
    if isinstance(item, Arg) and item.argument:
        return name.upper()
    if isinstance(item, Arg) and item.flags:
        return item.flags[0]
    return f"{name}=" if name in PYTHON_ONLY else "--" + name.replace("_", "-")
