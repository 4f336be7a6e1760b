"""The hyperparameter table: every hyperparameter nncmp sets, searches or records, declared once.

A row is one hyperparameter: its name (the RunSpec field, the config.json key, and the constructor
argument of the optimizers that have it), where it belongs (an optimizer's own argument, the learning
rate, or the schedule's warm-up), its option and help, the numbers it holds and the tuning.csv column of
each (betas: beta1 and beta2), the names a search space may give each number, and its default
search-space entry. Everything else is derived from this table:

- RunSpec's fields --momentum, --betas, --alpha, --eps, --weight-decay and --warmup and their checks
  (config/run.py: `hyperparameter(name)`), and their parts of a run id (RunSpec.hyper_labels);
- which of the libraries' optimizers have one (registry/optimizers.py reads their constructors for the
  `optimizer_own()` names, with values of the row's kind);
- what an optimizer is built with (`optimizer_settings()`): runs may differ in these and still train as one
  stack (training/plan.py), and a suite's problems may not set them (suite/problems.py);
- tuning.csv's columns (results/schema.py: `tuning_hyper_columns`);
- the search spaces: the names a space file may use, the default space of each optimizer, and how a
  trial's sampled numbers become a run (config/space.py).

Adding a hyperparameter: a row here and its field in RunSpec (`name: float | None = hyperparameter(...)`);
the built-in optimizers that have it list its default in their entries (registry/optimizers.py). Names
and numbers only: no torch.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

# Where a hyperparameter belongs.
OPTIMIZER = "optimizer"  # an argument of the optimizers that have it, with an option of its own (--momentum)
RATE = "rate"  # the learning rate: every optimizer that has one (--lr, --lrs; a grid dimension)
SCHEDULE = "schedule"  # the warm-up of the schedules that have one (--warmup)


@dataclass(frozen=True)
class Spelling:
    """A name a search space may give one number of a hyperparameter (AlgoPerf's where it has one)."""

    name: str
    one_minus: bool = False  # the space samples 1 − the value (momentum, betas close to 1)


@dataclass(frozen=True)
class Search:
    """A default search-space entry: a range and its scaling, over one number of a hyperparameter."""

    spelling: str  # the space name it is sampled under
    low: float = 0.0
    high: float = 0.0
    scaling: str = "log"
    decades: float = 0.0  # > 0: a log range this many decades wide, centred on the optimizer's default
    if_default_above_zero: bool = False  # only where the optimizer's default is above 0 (the reason: below)


@dataclass(frozen=True)
class Hyperparameter:
    name: str
    belongs: str  # OPTIMIZER, RATE or SCHEDULE
    help: str
    show_default: str
    columns: tuple[str, ...]  # its numbers' columns in tuning.csv: one, or a pair (betas: beta1, beta2)
    spellings: tuple[tuple[Spelling, ...], ...]  # per column, the space names that set it
    search: tuple[Search | None, ...]  # per column, its default search-space entry (None: not searched)
    low: float | None = None  # the built-in optimizers' range: at least this …
    below: float | None = None  # … and below this (betas in [0, 1))
    grid: str = ""  # compare's option varying it, a grid dimension ("": none); a pair varies its last number

    @property
    def grid_help(self) -> str:
        if self.pair:
            return (f"{self.columns[-1]} values to compare, comma-separated (the optimizers that have {self.name}; "
                    f"{self.columns[0]} stays {self.flag}'s or the optimizer's default).")
        return f"{self.name.replace('_', ' ').capitalize()} values to compare, comma-separated (the optimizers that " \
               "have it; the others run once)."

    @property
    def flag(self) -> str:
        return "--" + self.name.replace("_", "-")

    @property
    def pair(self) -> bool:
        return len(self.columns) > 1

    def accepts(self, value: Any) -> bool:
        """A value of this hyperparameter's kind (a number, or for a pair two numbers): a library optimizer's
        argument of the same name with another kind (Adan's three betas) is an --opt-arg instead."""
        def number(v: Any) -> bool:
            return isinstance(v, (int, float)) and not isinstance(v, bool)

        if self.pair:
            return isinstance(value, tuple) and len(value) == len(self.columns) and all(number(v) for v in value)
        return number(value)

    def problem(self, value: Any, builtin: bool) -> str | None:
        """What is wrong with a value given for a run (None: nothing); `builtin`: the optimizer is one of
        nncmp's nine, whose ranges are checked here (the libraries check their own)."""
        numbers = value if self.pair else (value,)
        text = ",".join(map(str, numbers)) if self.pair else f"{value:g}"
        if self.pair and not all(math.isfinite(v) for v in numbers):
            return f"{self.flag} must be finite numbers, got {text}"
        if self.pair and len(numbers) != len(self.columns):
            return f"{self.flag} needs exactly two numbers 'b1,b2', got {text}"
        if not builtin or self.low is None:
            return None
        if self.below is not None and not all(self.low <= v < self.below for v in numbers):
            return f"{self.flag} must be two numbers in [{self.low:g}, {self.below:g}), got {text}"
        if not all(v >= self.low for v in numbers):
            return f"{self.flag} must be >= {self.low:g}, got {text}"
        return None


def _one(column: str, *aliases: Spelling) -> tuple[tuple[Spelling, ...], ...]:
    return ((Spelling(column), *aliases),)


# In the order tuning.csv lists the columns and run ids name the values.
TABLE: tuple[Hyperparameter, ...] = (
    Hyperparameter(
        "lr", RATE, "Learning rate.", "optimizer's default: 0.01, adam/adamw 0.001", ("lr",),
        _one("lr", Spelling("learning_rate")),
        # The span of --lrs auto's grid: three decades around the optimizer's default.
        (Search("learning_rate", decades=3.0),)),
    Hyperparameter(
        "momentum", OPTIMIZER, "SGD/RMSProp momentum.", "optimizer's default: 0, momentum/nesterov 0.9",
        ("momentum",), _one("momentum", Spelling("one_minus_momentum", True)),
        # Only where the default is above 0: searching sgd's, minibatch's, gd's or rmsprop's would make them
        # `momentum`, which has its own name in the comparison.
        (Search("one_minus_momentum", 1e-3, 1.0, if_default_above_zero=True),), low=0.0, grid="--momenta"),
    Hyperparameter(
        "betas", OPTIMIZER, "Adam/AdamW betas 'b1,b2'.", "0.9,0.999", ("beta1", "beta2"),
        ((Spelling("beta1"), Spelling("one_minus_beta1", True)),
         (Spelling("beta2"), Spelling("one_minus_beta2", True))),
        (Search("one_minus_beta1", 1e-3, 1.0), Search("one_minus_beta2", 1e-4, 1e-1)), low=0.0, below=1.0,
        grid="--beta2s"),
    Hyperparameter(
        "alpha", OPTIMIZER, "RMSProp smoothing constant.", "0.99", ("alpha",),
        _one("alpha", Spelling("one_minus_alpha", True)), (None,), low=0.0, grid="--alphas"),
    Hyperparameter(
        "eps", OPTIMIZER, "Term added to the denominator (adaptive optimizers).", "1e-8, adagrad 1e-10", ("eps",),
        _one("eps"), (None,), low=0.0, grid="--epsilons"),
    Hyperparameter(
        "weight_decay", OPTIMIZER, "L2 penalty (decoupled for adamw).", "0, adamw 0.01", ("weight_decay",),
        # 1e-5 is the documented stand-in for "none" on a log scale.
        _one("weight_decay"), (Search("weight_decay", 1e-5, 1e-1),), low=0.0, grid="--weight-decays"),
    Hyperparameter(
        "warmup", SCHEDULE, "Warm-up of warmup-cosine and wsd: a fraction of all optimizer steps when < 1, else a "
        "number of steps.", "0.05", ("warmup",), _one("warmup", Spelling("warmup_factor")),
        (Search("warmup_factor", 0.0, 0.1, "linear"),)),
)


# What follows is derived from TABLE when asked, never stored: a test lays a row over a copy of the table
# and sees it everywhere.
def row(name: str) -> Hyperparameter:
    """The row of the hyperparameter `name` (a RunSpec field)."""
    return next(h for h in TABLE if h.name == name)


def grid_rows() -> tuple[Hyperparameter, ...]:
    """The hyperparameters compare can vary as grid dimensions (--weight-decays, --momenta, --beta2s, ...)."""
    return tuple(h for h in TABLE if h.grid)


def optimizer_own() -> tuple[str, ...]:
    """The optimizers' own hyperparameters, each with an option (--momentum, …); any other argument of an
    optimizer is an --opt-arg."""
    return tuple(h.name for h in TABLE if h.belongs == OPTIMIZER)


def optimizer_settings() -> tuple[str, ...]:
    """What an optimizer is built with: the rate and its own hyperparameters (runs that differ only in these
    still train as one stack, an optimizer per member; a suite's grid sets them, not its problems)."""
    return tuple(h.name for h in TABLE if h.belongs != SCHEDULE)


def columns() -> tuple[str, ...]:
    """Every number a trial can set, as tuning.csv names its columns, in the table's order."""
    return tuple(c for h in TABLE for c in h.columns)


def spellings() -> dict[str, tuple[Hyperparameter, str, bool]]:
    """Space name → (hyperparameter, its column, whether the space samples 1 − the value)."""
    return {s.name: (h, column, s.one_minus) for h in TABLE for column, names in zip(h.columns, h.spellings)
            for s in names}


def values_of(h: Hyperparameter, value: Any) -> dict[str, Any]:
    """A hyperparameter's value by column (betas (0.9, 0.999) → beta1 0.9, beta2 0.999); {} for None."""
    if value is None:
        return {}
    return dict(zip(h.columns, value)) if h.pair else {h.columns[0]: value}


def with_columns(h: Hyperparameter, current: Any, given: dict[str, Any]) -> Any:
    """The hyperparameter's value with the columns in `given` replaced (a pair keeps its other number)."""
    if not h.pair:
        return given[h.columns[0]]
    return tuple(given.get(c, old) for c, old in zip(h.columns, current))
