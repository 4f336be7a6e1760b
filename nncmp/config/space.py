"""Search spaces: what --tune samples for each optimizer, derived from what its constructor takes.

A space maps names to `Param`s. The names are AlgoPerf's (`tuning_search_space.json`) where it has one:
`learning_rate` (here also `lr`), `one_minus_beta1`, `beta1`, `one_minus_beta2`, `beta2`, `weight_decay`,
`warmup_factor` (here also `warmup`); and `momentum`, `one_minus_momentum`, `alpha`, `one_minus_alpha`,
`eps`. Each sets one number of a run's hyperparameter (the spellings of the hyperparameter table,
registry/hyperparameters.py), and an optimizer is only ever given the ones it has (conditional spaces:
lion has no momentum, sgd has no betas).

The default space of an optimizer (`default_space`) is the table's search entries of the hyperparameters
it has: the rate over three decades around its default, 1 − momentum where its default momentum is above
0, 1 − β1 and 1 − β2, the weight decay, the warm-up fraction with a warm-up schedule; eps and alpha only
from a space file. The table gives each range and why.

Sampled numbers are rounded to 3 significant digits (ids stay readable; nothing finer matters here). A space
file (`load_space`) is JSON or TOML: name → {min, max, scaling: log|linear} or a list of values, at the top
level for every optimizer that has the hyperparameter, or in a section named after an optimizer for it
alone; what it names replaces the default of that name (and of its other spelling: `beta1` replaces
`one_minus_beta1`). Names and numbers only: Optuna's distributions are made in tuning/study.py.
"""

from __future__ import annotations

import json
import math
import tomllib
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from nncmp.config.tuning import DEFAULT_TRIALS, Tuning
from nncmp.errors import SpecError
from nncmp.registry import hyperparameters as hp
from nncmp.registry import optimizers as optim
from nncmp.registry import schedules
from nncmp.registry.closest import unknown

# Every name a space may give a hyperparameter's number (the table's spellings), in the table's order.
SCALINGS = ("log", "linear")
LR_DECADES = hp.row("lr").search[0].decades  # --lrs auto's grid spans the default space's decades
DIGITS = 3  # significant digits of a sampled number


@dataclass(frozen=True)
class Param:
    """One searched number of a hyperparameter: a range (min, max, scaling) or a list of values."""

    name: str  # a space name (one of the hyperparameter table's spellings)
    low: float | None = None
    high: float | None = None
    scaling: str = "log"
    values: tuple[Any, ...] | None = None

    @property
    def target(self) -> str:
        """The number it sets, as tuning.csv names the column (lr, momentum, beta1, …)."""
        return hp.spellings()[self.name][1]

    def value(self, sampled: Any) -> Any:
        """The hyperparameter's value from a sampled one (rounded; 1 − x for the one_minus_ names)."""
        if self.values is not None:
            x = sampled
        else:
            x = float(f"{float(sampled):.{DIGITS}g}")
        if hp.spellings()[self.name][2]:
            x = float(f"{1.0 - x:.12g}")  # without the binary noise of 1 − x
        return x

    def text(self) -> str:
        """The bounds as the reporting checklist writes them."""
        if self.values is not None:
            return "{" + ", ".join(map(str, self.values)) + "}"
        return f"{self.scaling} [{self.low:g}, {self.high:g}]"

    def to_json(self) -> Any:
        if self.values is not None:
            return list(self.values)
        return {"min": self.low, "max": self.high, "scaling": self.scaling}


POINTS = 7  # --lrs auto: half-decade steps over three decades, centred on the default
# --lrs auto's rates after the grid: that many more steps of the same size, beyond the edge where the grid's best
# rate lies (one each side when it lies inside). Every configuration trains POINTS + WIDEN rates, whichever way its
# grid widens, so the budget stays equal in trials (and in examples: every trial trains the same epochs on the same
# split). Why widen rather than only flag the edge: a best rate at the grid's edge says the best may lie beyond it,
# and the default the grid is centred on is where the optimizer's authors aimed, not where this problem's best rate
# is (Google's Deep Learning Tuning Playbook, "Identifying bad search space boundaries": expand the range until the
# best point is no longer close to its boundary). Two steps: a decade further; a best rate still at the widened
# edge is flagged (edge!) in every table that shows the tuned rate.
WIDEN = 2


def lr_grid(default: float, points: int = POINTS, decades: float = LR_DECADES, beyond: int = 0) -> list[float]:
    """Log-spaced rates from default·10^(-decades/2) to default·10^(+decades/2), 3 significant digits; `beyond`:
    that many more steps of the same size past each end (the rates --lrs auto may widen its grid to)."""
    step = decades / (points - 1)
    return [float(f"{default * 10 ** (-decades / 2 + i * step):.3g}") for i in range(-beyond, points + beyond)]


def widening(scores: dict[int, float], first: int, last: int, extra: int = WIDEN) -> list[int]:
    """The positions (on lr_grid's ladder, `beyond` included) of the `extra` rates to try once the grid from
    `first` to `last` is scored (`scores`: position → score, higher is better; a diverged or collapsed trial -inf):
    beyond the edge where the best lies (ties: the smaller rate, as the choice breaks them), else alternately
    below and above the grid."""
    best = max(sorted(scores), key=lambda i: scores[i])
    if best == last:
        return [last + i for i in range(1, extra + 1)]
    if best == first:
        return [first - i for i in range(1, extra + 1)]
    return [first - (i // 2 + 1) if i % 2 == 0 else last + (i // 2 + 1) for i in range(extra)]


def has(optimizer: str, target: str, schedule: str = "constant") -> bool:
    """Whether a run of `optimizer` (with `schedule`) has the number `target` (a tuning.csv column) to tune."""
    h = next(h for h in hp.TABLE if target in h.columns)
    entry = optim.entry(optimizer)
    if h.belongs == hp.RATE:
        return bool(entry.lr_key)
    if h.belongs == hp.SCHEDULE:
        return schedule in schedules.WARMUP_SCHEDULES
    return h.name in entry.defaults


def default_space(optimizer: str, schedule: str = "constant") -> dict[str, Param]:
    """The space nncmp searches for `optimizer` without a space file: each hyperparameter it has, by its
    row's search entries (registry/hyperparameters.py says why each range)."""
    entry = optim.entry(optimizer)
    space: dict[str, Param] = {}
    for h in hp.TABLE:
        for column, search in zip(h.columns, h.search):
            if search is None or not has(optimizer, column, schedule):
                continue
            if search.if_default_above_zero and not (entry.defaults.get(h.name) or 0) > 0:
                continue
            if search.decades:
                half = 10 ** (search.decades / 2)
                space[search.spelling] = Param(search.spelling, float(f"{entry.lr / half:.3g}"),
                                               float(f"{entry.lr * half:.3g}"))
            else:
                space[search.spelling] = Param(search.spelling, search.low, search.high, search.scaling)
    return space


def space_for(optimizer: str, schedule: str, overrides: dict[str, Any] | None) -> dict[str, Param]:
    """The default space with a space file's entries (as `load_space` returns them) laid over it."""
    space = default_space(optimizer, schedule)
    if not overrides:
        return space
    mine = {**overrides.get("*", {}), **overrides.get(optim.resolve(optimizer), {})}
    for name, doc in mine.items():
        target = hp.spellings()[name][1]
        if not has(optimizer, target, schedule):
            continue  # a top-level entry goes to the optimizers that have it (a section's was checked)
        for other in [n for n, p in space.items() if p.target == target]:
            del space[other]
        space[name] = parse_param(name, doc, "")
    return space


def parse_param(name: str, doc: Any, where: str) -> Param:
    """One entry of a space file, or SpecError saying what is wrong with it."""
    at = f"{where}{name}"
    if name not in hp.spellings():
        raise SpecError(f"{where}{unknown('hyperparameter', name, hp.spellings())}")
    if isinstance(doc, list):
        if not doc:
            raise SpecError(f"{at}: an empty list of values")
        if not all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in doc):
            raise SpecError(f"{at}: the values must be finite numbers, got {doc}")
        return Param(name, values=tuple(float(v) for v in doc))
    if not isinstance(doc, dict) or not {"min", "max"} <= set(doc):
        raise SpecError(f"{at}: give {{min, max, scaling}} or a list of values")
    keys = set(doc) - {"min", "max", "scaling", "scale"}
    if keys:
        raise SpecError(f"{at}: unknown key {sorted(keys)[0]!r}; use min, max and scaling")
    scaling = doc.get("scaling", doc.get("scale", "linear"))
    if scaling not in SCALINGS:
        raise SpecError(f"{at}: scaling must be log or linear, got {scaling!r}")
    low, high = doc["min"], doc["max"]
    if not all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in (low, high)):
        raise SpecError(f"{at}: min and max must be finite numbers")
    if low >= high:
        raise SpecError(f"{at}: min {low:g} must be below max {high:g}")
    if scaling == "log" and low <= 0:
        raise SpecError(f"{at}: a log scale needs min > 0, got {low:g}")
    return Param(name, float(low), float(high), scaling)


def load_space(path: str | Path, optimizers: list[str], schedules_: list[str]) -> dict[str, dict[str, Any]]:
    """A space file as {"*": {name: entry}, optimizer: {name: entry}}, every entry checked against the
    grid's optimizers (`optimizers`, resolved) and schedules; SpecError before any training."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as e:
        raise SpecError(f"--space {path}: {e.strerror or e}") from None
    except UnicodeDecodeError:  # a binary file, or another encoding: TOML and JSON are UTF-8
        raise SpecError(f"--space {path} is not a text file (TOML or JSON, UTF-8)") from None
    try:
        if path.suffix == ".toml":
            doc = tomllib.loads(text)
        else:
            doc = json.loads(text)
    except ValueError as e:
        kind = "TOML" if path.suffix == ".toml" else "JSON"
        raise SpecError(f"--space {path} is not valid {kind}: {e}") from None
    return check_space(doc, optimizers, schedules_, f"--space {path}: ")


def check_space(doc: Any, optimizers: list[str], schedules_: list[str], where: str = "") -> dict[str, dict[str, Any]]:
    """A space document (file contents, or config.json's copy) in the shape `space_for` reads, checked."""
    if not isinstance(doc, dict) or not doc:
        raise SpecError(f"{where}expected a table of hyperparameters (name → {{min, max, scaling}} or a list)")
    out: dict[str, dict[str, Any]] = {"*": {}}
    for key, value in doc.items():
        if key == "*" and isinstance(value, dict):
            for name, entry in value.items():
                parse_param(name, entry, where)
                out["*"][name] = entry
        elif key in hp.spellings():
            parse_param(key, value, where)
            out["*"][key] = value
        else:
            try:
                name = optim.resolve(key)
            except SpecError:
                raise SpecError(f"{where}{key!r} is neither a hyperparameter ({', '.join(hp.spellings())}) nor an "
                                "optimizer") from None
            if name not in optimizers:
                raise SpecError(f"{where}section {key!r}: {name} is not among the optimizers compared "
                                f"({', '.join(optimizers)})")
            if not isinstance(value, dict):
                raise SpecError(f"{where}section {key!r} must be a table of hyperparameters")
            section = out.setdefault(name, {})
            for pname, entry in value.items():
                param = parse_param(pname, entry, f"{where}{key}.")
                if not any(has(name, param.target, s) for s in schedules_):
                    raise SpecError(f"{where}{key}.{pname}: {name} has no {param.target} to tune"
                                    + (" (a warm-up needs --schedule warmup-cosine or wsd)"
                                       if param.target == "warmup" else ""))
                section[pname] = entry
    for name in out["*"]:
        target = hp.spellings()[name][1]
        if not any(has(o, target, s) for o in optimizers for s in schedules_):
            raise SpecError(f"{where}{name}: none of the optimizers {', '.join(optimizers)} has {target} to tune"
                            + (" (a warm-up needs --schedule warmup-cosine or wsd)" if target == "warmup" else ""))
    return out


def apply(spec: Any, space: dict[str, Param], sampled: dict[str, Any]) -> Any:
    """The run `spec` (resolved) with the hyperparameters a trial sampled (`sampled`: space name → value)."""
    values = hyper_values(space, sampled)
    changes = {h.name: hp.with_columns(h, getattr(spec, h.name), values) for h in hp.TABLE
               if any(c in values for c in h.columns)}
    return replace(spec, **changes)


def hyper_values(space: dict[str, Param], sampled: dict[str, Any]) -> dict[str, Any]:
    """Column (the table's columns()) → value, from a trial's sampled numbers."""
    return {space[name].target: space[name].value(v) for name, v in sampled.items()}


def columns_of(spec: Any) -> dict[str, Any]:
    """A (resolved) run's hyperparameters by tuning.csv column; nan where it has none."""
    values: dict[str, Any] = {}
    for h in hp.TABLE:
        values.update(hp.values_of(h, getattr(spec, h.name)))
    return {c: values.get(c, math.nan) for c in hp.columns()}


def with_values(spec: Any, row: dict[str, Any]) -> Any:
    """`spec` (resolved) with the hyperparameters of a tuning.csv row: the rate, and each other number the row
    gives where the run has that hyperparameter (an optimizer's own: it is set; the warm-up: always)."""
    def given(column: str) -> bool:
        value = row.get(column)
        return value is not None and not (isinstance(value, float) and math.isnan(value))

    changes: dict[str, Any] = {}
    for h in hp.TABLE:
        numbers = {c: float(row[c]) for c in h.columns if given(c)}
        if h.belongs == hp.RATE:
            numbers = {h.columns[0]: float(row[h.columns[0]])}
        if not numbers or (h.belongs == hp.OPTIMIZER and getattr(spec, h.name) is None):
            continue
        changes[h.name] = hp.with_columns(h, getattr(spec, h.name), numbers)
    return replace(spec, **changes)


def tuning_options(the_grid: Any, tune: str | None, trials: int | None, studies: int | None,
                   space: str | Path | dict[str, Any] | None) -> Tuning | None:
    """--tune, --trials, --studies, --space as a Tuning (None without --tune); the space (a file, or from Python
    its contents as a dict) read and checked against the grid's optimizers and schedules."""
    if tune is None:
        options = (("--trials", trials), ("--studies", studies), ("--space", space))
        given = [name for name, v in options if v is not None]
        if given:
            raise SpecError(f"{given[0]} applies only with --tune halton|random|tpe")
        return None
    doc = {}
    optimizers, schedules_ = list(the_grid.values("optimizer")), list(the_grid.values("schedule"))
    if isinstance(space, dict):
        doc = check_space(space, optimizers, schedules_)
    elif space is not None:
        doc = load_space(space, optimizers, schedules_)
    return Tuning(tune, DEFAULT_TRIALS if trials is None else trials, 1 if studies is None else studies, doc)
