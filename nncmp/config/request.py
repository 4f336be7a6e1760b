"""One request builder for both faces: the command line's parsed options and the Python API's keyword
arguments, by the same names (config/arguments.py declares them), become the request a command runs
(CompareRequest, TrainRequest, SuiteRequest or CalibrateRequest).

`build(command, values)` is the same for both: text ("sgd,adam", "0.9,0.999") or Python values
(["sgd", "adam"], (0.9, 0.999)), "auto", --hiddens/--depth/--width/--depths, the tuning options, resume's
folder, and every check, raising SpecError.
"""

from __future__ import annotations

import math
import typing
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nncmp.config.arguments import (
    COMPARE,
    COMPARE_OPTIONS,
    DATA,
    DEFAULT_SEEDS,
    RUN_EXTRA,
    RUN_OPTIONS,
    SUITE_OPTIONS,
    TRAIN,
    Dim,
    Field,
    field_default,
    is_tuple,
)
from nncmp.config.arguments import MEASURES as SUITE_MEASURES
from nncmp.config.comparison import CompareConfig, Options
from nncmp.config.fields import declared, parse_list
from nncmp.config.grid import Grid
from nncmp.config.run import RunSpec, parse_widths
from nncmp.config.space import tuning_options
from nncmp.config.tuning import Tuning
from nncmp.errors import SpecError
from nncmp.registry import hyperparameters as hp
from nncmp.registry.closest import unknown
from nncmp.registry.optimizers import parse_value

MEASURES = tuple(SUITE_MEASURES)  # suite --by: what time to target is counted in (declared with its help)
RATIO_TO = ("best", "reference")  # suite --ratio-to: what the profiles' ratios are to


# ------------------------------------------------------------------------------------------------ requests


@dataclass(frozen=True)
class CompareRequest:
    """What compare is asked to do: the comparison, and where its results go."""

    config: CompareConfig
    out: Path | None = None  # the results folder (None: results/<timestamp>-compare)
    resume: bool = False  # continue `out` (a missing or empty one: start it there)
    overwrite: bool = False  # replace the results of an nncmp folder at `out`
    download: bool = False  # fetch a missing torchvision dataset
    share_gpu: bool = False  # --backend processes: let more workers than GPUs share them
    command: str = "compare"  # what config.json says wrote it (train: a one-run comparison)
    allow_changed_code: bool = False  # resume although the user's model or data file changed


@dataclass(frozen=True)
class TrainRequest:
    spec: RunSpec
    options: Options = field(default_factory=Options)  # plots, tracking, device, threads, TensorBoard
    out: Path | None = None
    overwrite: bool = False
    download: bool = False


@dataclass(frozen=True)
class SuiteRequest:
    """What `nncmp suite` is asked: which problems, which optimizers, how tuned, how judged, where."""

    suite: str = "default"  # a built-in suite's name or a suite file
    opts: tuple[str, ...] = ()
    problems: tuple[str, ...] = ()  # a subset of the suite's (empty: all)
    seeds: int | None = None  # None: 3 (on a resume: the suite's)
    auto: bool = False  # --lrs auto
    tuning: Tuning | None = None  # --tune
    by: str = "examples"  # the time measure of the verdict
    reference: str | None = None  # the speed-up's reference optimizer (None: the first of opts)
    ratio_to: str = "best"  # the profiles' ratios: to each problem's fastest, or to the reference
    options: Options = field(default_factory=Options)
    out: Path | None = None
    resume: bool = False
    overwrite: bool = False
    download: bool = False

    def __post_init__(self) -> None:
        if self.by not in MEASURES:
            raise SpecError(f"--by: {unknown('measure', self.by, MEASURES)}")
        if self.ratio_to not in RATIO_TO:
            raise SpecError(f"--ratio-to: {unknown('value', self.ratio_to, RATIO_TO)}")
        if self.seeds is not None and self.seeds < 1:
            raise SpecError(f"--seeds must be >= 1, got {self.seeds}")


@dataclass(frozen=True)
class CalibrateRequest:
    suite: str = "default"
    problems: tuple[str, ...] = ()
    baselines: tuple[str, ...] = ()  # empty: suite/calibrate.py's BASELINES
    seeds: int = DEFAULT_SEEDS
    slack: float = 0.99
    options: Options = field(default_factory=Options)
    out: Path | None = None
    resume: bool = False
    overwrite: bool = False
    download: bool = False


# ------------------------------------------------------------------------------------------------- builders


def build(command: str, values: dict[str, Any]) -> CompareRequest | TrainRequest | SuiteRequest | CalibrateRequest:
    """The request of `command` ("compare", "transfer": a compare, "train" or "suite") from its arguments by name
    (every argument of COMMANDS[command], and the API's `data`); SpecError for anything wrong."""
    return {"compare": _compare, "transfer": _compare, "train": _train, "suite": _suite}[command](values)


def _compare(v: dict[str, Any]) -> CompareRequest:
    out, resume = where(v["out"], v["resume"], v["overwrite"])
    dims = {d.field: v[d.name] for d in COMPARE if isinstance(d, Dim)}
    dims["hidden"] = architectures(dims["hidden"], v["depth"], v["width"], v["depths"])
    lrs = dims["lr"]
    auto = isinstance(lrs, str) and lrs.strip() == "auto"
    if auto:
        dims["lr"] = None
    elif isinstance(lrs, str) and ".." in lrs:
        dims["lr"] = powers_of_two(lrs)
    one = ("target_column", "task", "batchnorm", "epochs", "seed", "n", *RUN_EXTRA)
    values = grid_dims(dims)
    # The base run has the grid's first architecture: what it is checked with (a residual mlp's one width).
    first = {"hidden": values["hidden"][0]} if values.get("hidden") else {}
    base = RunSpec(**field_values(RunSpec, {**v, **functions_of(v)}, one), **first,
                   dataset=dataset_of(v["dataset"], v.get(DATA)), model=model_of(v["model"]),
                   model_args=key_values(v["model_args"], "--model-arg"),
                   data_args=key_values(v["data_args"], "--data-arg"))
    if v["seeds"] < 1:
        raise SpecError(f"--seeds must be >= 1, got {v['seeds']}")
    grid = Grid(base=base, dims=values, seeds=v["seeds"],
                hyper=field_values(RunSpec, v, hp.optimizer_own()), opt_args=key_values(v["opt_args"]),
                warmup=v["warmup"])
    config = CompareConfig(grid=grid, auto=auto, **field_values(CompareConfig, v, ("target", "metric", "baseline")),
                           options=Options(**field_values(Options, v, COMPARE_OPTIONS)),
                           tuning=tuning_options(grid, v["tune"], v["trials"], v["studies"], v["space"]))
    return CompareRequest(config, out=out, resume=resume, overwrite=v["overwrite"], download=v["download"],
                          share_gpu=v["share_gpu"], allow_changed_code=v["allow_changed_code"])


def _train(v: dict[str, Any]) -> TrainRequest:
    hidden = hidden_layers(v["hidden"], v["depth"], v["width"])
    names = [i.name for i in TRAIN if isinstance(i, Field) and i.cls is RunSpec
             and i.name not in ("dataset", "model", "hidden")]
    spec = RunSpec(**field_values(RunSpec, {**v, **functions_of(v), "hidden": hidden}, [*names, "hidden"]),
                   dataset=dataset_of(v["dataset"], v.get(DATA)), model=model_of(v["model"]),
                   opt_args=key_values(v["opt_args"]), model_args=key_values(v["model_args"], "--model-arg"),
                   data_args=key_values(v["data_args"], "--data-arg"))
    return TrainRequest(spec, Options(**field_values(Options, v, RUN_OPTIONS)), out=_path(v["out"]),
                        overwrite=v["overwrite"], download=v["download"])


def _suite(v: dict[str, Any]) -> SuiteRequest | CalibrateRequest:
    out, resume = where(v["out"], v["resume"], v["overwrite"])
    options = Options(**field_values(Options, v, SUITE_OPTIONS))
    slack, baselines = v["slack"], v["baselines"]
    if slack is not None and not (math.isfinite(slack) and 0 < slack <= 1):
        raise SpecError(f"--slack must be in (0, 1], got {slack:g}")
    for flag, given in (("--slack", slack), ("--baselines", baselines)):
        if given is not None and not v["calibrate"]:
            raise SpecError(f"{flag} applies only with --calibrate")
    problems = names_of("--problems", v["problems"])
    if v["seeds"] is not None and v["seeds"] < 1:
        raise SpecError(f"--seeds must be >= 1, got {v['seeds']}")
    suite = str(v["suite"])
    if v["calibrate"]:
        return CalibrateRequest(suite, problems, names_of("--baselines", baselines), v["seeds"] or DEFAULT_SEEDS,
                                0.99 if slack is None else slack, options, out, resume, v["overwrite"], v["download"])
    lrs = v["lrs"]
    auto = lrs is not None and lrs.strip() == "auto"
    if lrs is not None and not auto:
        raise SpecError(f"--lrs: a suite tunes the rate per problem (--lrs auto) or uses the defaults; got {lrs!r}")
    opts = names_of("--opts", v["opts"])
    grid = Grid(base=RunSpec(), dims={"optimizer": opts} if opts else {})
    tuning = tuning_options(grid, v["tune"], v["trials"], v["studies"], v["space"])
    if tuning is not None and auto:
        raise SpecError("--tune and --lrs auto both tune the learning rate; use one (--tune also tunes the rest)")
    return SuiteRequest(suite, opts, problems, v["seeds"], auto, tuning, v["by"].strip().lower(), v["reference"],
                        v["ratio_to"].strip().lower(), options, out, resume, v["overwrite"], v["download"])


# ------------------------------------------------------------------------------------------------ values


def field_values(cls: type, given: dict[str, Any], names: Sequence[str]) -> dict[str, Any]:
    """The fields `names` of `cls` from their arguments; a tuple field's text ('256,128', '0.9,0.999') parsed, a
    list made a tuple. Those not given (None) are left out, so the field's default applies."""
    hints, decl, out = typing.get_type_hints(cls), declared(cls), {}
    for name in names:
        value = given.get(name)
        if value is None:
            continue
        d = decl[name]
        if is_tuple(hints[name]):
            value = (parse_list(d.flag or name, value, d.item, d.kind) if isinstance(value, str)
                     else (value,) if isinstance(value, int) else tuple(value))  # hidden=16: one layer
        out[name] = value
    return out


def grid_dims(given: dict[str, Any]) -> dict[str, tuple[Any, ...]]:
    """Grid dimension (RunSpec field) → values, from compare's comma-separated text or Python lists; those
    not given (None) are left out."""
    decl, out = declared(RunSpec), {}
    for name, value in given.items():
        if value is None:
            continue
        d = decl[name]
        if isinstance(value, str):
            values = parse_list(d.grid, value, d.grid_item or d.item, d.grid_kind or d.kind, d.grid_sep)
        else:
            values = tuple(value) if isinstance(value, (list, tuple)) else (value,)
            if name == "hidden":
                values = tuple(parse_widths(w) if isinstance(w, str) else (w,) if isinstance(w, int) else tuple(w)
                               for w in values)
        if name == "batchnorm":
            values = tuple(w if isinstance(w, str) else ("batchnorm" if w else "none") for w in values)
        out[name] = values
    return out


def names_of(flag: str, value: str | Sequence[str] | None) -> tuple[str, ...]:
    """A list of names: comma-separated text or a Python list; () for None."""
    if value is None:
        return ()
    if not isinstance(value, str) and not value:  # as `--opts ""` is refused: no names is not "not given"
        raise SpecError(f"{flag}: {list(value)!r} lists no names")
    return tuple(parse_list(flag, value, str, "names") if isinstance(value, str) else value)


def key_values(given: dict[str, Any] | list[str] | None, flag: str = "--opt-arg") -> dict[str, Any]:
    """--opt-arg (or --model-arg) KEY=VALUE, repeated, or a dict: {key: value}; text values parsed (checked
    against the optimizer, or the model, later)."""
    if isinstance(given, dict):
        return dict(given)
    out: dict[str, Any] = {}
    for text in given or []:
        key, sep, value = text.partition("=")
        key = key.strip().replace("-", "_")
        if not sep or not key or not value.strip():
            raise SpecError(f"{flag} needs KEY=VALUE, got {text!r}")
        if key in out:
            raise SpecError(f"{flag} {key} is given more than once")
        out[key] = parse_value(value)
    return out


def powers_of_two(text: str) -> tuple[float, ...]:
    """--lrs 2^-14..2^-2: every power of two from the first to the last (a log grid, as μP's sweeps use)."""
    try:
        low, high = (int(part.strip().removeprefix("2^")) for part in text.split(".."))
        if not all(part.strip().startswith("2^") for part in text.split("..")) or low > high:
            raise ValueError
    except ValueError:
        raise SpecError(f"--lrs: {text!r} is not a range of powers of two such as 2^-14..2^-2") from None
    return tuple(2.0 ** k for k in range(low, high + 1))


def hidden_layers(hidden: Any, depth: int | None, width: int | None) -> Any:
    """--depth × --width as --hidden's text (the mlp's hidden-layer widths), or --hidden itself."""
    if depth is None and width is None:
        return hidden
    if hidden is not None:
        raise SpecError("--hidden and --depth/--width both give the hidden layers; use one or the other")
    if depth is not None and depth < 1:
        raise SpecError(f"--depth must be >= 1, got {depth}")
    if width is not None and width < 1:
        raise SpecError(f"--width must be >= 1, got {width}")
    return ",".join([str(width or 256)] * (depth or 2))


def architectures(hiddens: Any, depth: int | None, width: int | None, depths: str | Sequence[int] | None) -> Any:
    """--hiddens (or --hidden), --depth × --width, or --depths with --width, as --hiddens' value."""
    if depths is None:
        return hidden_layers(hiddens, depth, width)
    if hiddens is not None or depth is not None:
        raise SpecError("--depths gives the architectures; it cannot be combined with --hidden(s) or --depth")
    if width is not None and width < 1:
        raise SpecError(f"--width must be >= 1, got {width}")
    values = parse_list("--depths", depths, int, "integers") if isinstance(depths, str) else tuple(depths)
    if any(d < 1 for d in values):
        raise SpecError(f"--depths must be >= 1, got {','.join(map(str, values))}")
    return ";".join(f"{width or 256}x{d}" for d in values)


def where(out: str | Path | None, resume: str | Path | bool | None, overwrite: bool) -> tuple[Path | None, bool]:
    """The results folder and whether to continue it: --resume DIR (or resume=True: continue `out`)."""
    if resume is None or resume is False:
        return _path(out), False
    if resume is True:
        if out is None:
            raise SpecError("resume=True continues the folder out= names: give out=")
        return _path(out), True
    if overwrite or (out is not None and Path(out) != Path(resume)):
        raise SpecError("--resume DIR continues DIR: it cannot be combined with --overwrite or another --out")
    return Path(resume), True


def _path(value: str | Path | None) -> Path | None:
    return None if value is None else Path(value)


def model_of(model: Any) -> str:
    """A model argument as a RunSpec's model: names and references as they are, a class or function
    registered for this process (an importable one by its module and name, so workers can import it)."""
    if isinstance(model, str):
        return model
    from nncmp.registry.user import register

    if not callable(model):
        raise SpecError(f"model must be a name, 'file.py:Name', an nn.Module class or a function; got a "
                        f"{type(model).__name__}")
    return register(model, "model")


def functions_of(v: dict[str, Any]) -> dict[str, Any]:
    """`loss` and `metric_fn` as RunSpec holds them: names and references as they are, a Python function
    registered for this process (an importable one by its module and name)."""
    from nncmp.registry.user import register

    out = {}
    for name in ("loss", "metric_fn"):
        value = v.get(name)
        if value is not None and not isinstance(value, str):
            if not callable(value):
                raise SpecError(f"{name} must be a name, 'file.py:NAME' or a function; got a {type(value).__name__}")
            value = register(value, name)
        out[name] = value
    return out


def dataset_of(dataset: str | Path, data: Any) -> str:
    """`dataset` (a name or a file), or Python's `data` objects registered for this process."""
    if data is None:
        return str(dataset)
    if dataset != field_default(RunSpec, "dataset"):
        raise SpecError("give the data either as data= (Python objects) or as dataset= (a name or a file), not both")
    if isinstance(data, (str, Path)):
        return str(data)
    from nncmp.registry.user import register

    return register(data, "data")
