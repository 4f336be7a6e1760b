"""Search spaces: what --tune samples for each optimizer, derived from what its constructor takes.

A space maps names to `Param`s. The names are AlgoPerf's (`tuning_search_space.json`) where it has one:
`learning_rate` (here also `lr`), `one_minus_beta1`, `beta1`, `one_minus_beta2`, `beta2`, `weight_decay`,
`warmup_factor` (here also `warmup`); and `momentum`, `one_minus_momentum`, `alpha`, `one_minus_alpha`,
`eps`. Each sets one hyperparameter of a run (TARGETS), and an optimizer is only ever given the ones it
has (conditional spaces: lion has no momentum, sgd has no betas).

The default space of an optimizer (`default_space`):

- learning rate: log-uniform over 3 decades centred on its default (the span of `--lrs auto`);
- `1 − momentum`: log-uniform 1e-3…1, where its default momentum is above 0 (momentum, nesterov; sgd,
  minibatch, gd and rmsprop keep momentum 0: searching it would make them `momentum`, which has its own
  name in the comparison);
- `1 − β1`: log-uniform 1e-3…1 and `1 − β2`: log-uniform 1e-4…1e-1, where it has betas;
- weight decay: log-uniform 1e-5…1e-1 where it takes one (1e-5 is the documented stand-in for "none");
- warm-up fraction: uniform 0…0.1 with a warm-up schedule (--schedule warmup-cosine or wsd);
- eps and alpha stay at their defaults unless a space file names them.

Sampled numbers are rounded to 3 significant digits (ids stay readable; nothing finer matters here). A space
file (`load_space`) is JSON or TOML: name → {min, max, scaling: log|linear} or a list of values, at the top
level for every optimizer that has the hyperparameter, or in a section named after an optimizer for it
alone; what it names replaces the default of that name (and of its other spelling: `beta1` replaces
`one_minus_beta1`).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nncmp.config.tuning import DEFAULT_TRIALS, Tuning
from nncmp.errors import SpecError
from nncmp.registry import optimizers as optim
from nncmp.registry import schedules

# Space name → (the hyperparameter it sets, whether the value is 1 − the hyperparameter).
TARGETS: dict[str, tuple[str, bool]] = {
    "lr": ("lr", False), "learning_rate": ("lr", False),
    "momentum": ("momentum", False), "one_minus_momentum": ("momentum", True),
    "beta1": ("beta1", False), "one_minus_beta1": ("beta1", True),
    "beta2": ("beta2", False), "one_minus_beta2": ("beta2", True),
    "alpha": ("alpha", False), "one_minus_alpha": ("alpha", True),
    "eps": ("eps", False), "weight_decay": ("weight_decay", False),
    "warmup": ("warmup", False), "warmup_factor": ("warmup", False),
}
# The hyperparameters a trial can set, in the order tuning.csv lists them.
HYPER_COLUMNS = ("lr", "momentum", "beta1", "beta2", "alpha", "eps", "weight_decay", "warmup")
SCALINGS = ("log", "linear")
LR_DECADES = 3.0
DIGITS = 3  # significant digits of a sampled number


@dataclass(frozen=True)
class Param:
    """One searched hyperparameter: a range (min, max, scaling) or a list of values."""

    name: str  # a TARGETS name
    low: float | None = None
    high: float | None = None
    scaling: str = "log"
    values: tuple[Any, ...] | None = None

    @property
    def target(self) -> str:
        return TARGETS[self.name][0]

    def distribution(self) -> Any:
        from optuna.distributions import CategoricalDistribution, FloatDistribution

        if self.values is not None:
            return CategoricalDistribution(list(self.values))
        return FloatDistribution(self.low, self.high, log=self.scaling == "log")

    def value(self, sampled: Any) -> Any:
        """The hyperparameter's value from a sampled one (rounded; 1 − x for the one_minus_ names)."""
        if self.values is not None:
            x = sampled
        else:
            x = float(f"{float(sampled):.{DIGITS}g}")
        if TARGETS[self.name][1]:
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


def lr_grid(default: float, points: int = POINTS, decades: float = LR_DECADES) -> list[float]:
    """Log-spaced rates from default·10^(-decades/2) to default·10^(+decades/2), 3 significant digits."""
    step = decades / (points - 1)
    return [float(f"{default * 10 ** (-decades / 2 + i * step):.3g}") for i in range(points)]


def has(optimizer: str, target: str, schedule: str = "constant") -> bool:
    """Whether a run of `optimizer` (with `schedule`) has the hyperparameter `target` to tune."""
    entry = optim.entry(optimizer)
    if target == "lr":
        return bool(entry.lr_key)
    if target in ("beta1", "beta2"):
        return "betas" in entry.defaults
    if target == "warmup":
        return schedule in schedules.WARMUP_SCHEDULES
    return target in entry.defaults


def default_space(optimizer: str, schedule: str = "constant") -> dict[str, Param]:
    """The space nncmp searches for `optimizer` without a space file (the module docstring says why)."""
    entry = optim.entry(optimizer)
    space: dict[str, Param] = {}
    if has(optimizer, "lr"):
        half = 10 ** (LR_DECADES / 2)
        space["learning_rate"] = Param("learning_rate", float(f"{entry.lr / half:.3g}"),
                                       float(f"{entry.lr * half:.3g}"))
    if has(optimizer, "momentum") and (entry.defaults.get("momentum") or 0) > 0:
        space["one_minus_momentum"] = Param("one_minus_momentum", 1e-3, 1.0)
    if has(optimizer, "beta1"):
        space["one_minus_beta1"] = Param("one_minus_beta1", 1e-3, 1.0)
        space["one_minus_beta2"] = Param("one_minus_beta2", 1e-4, 1e-1)
    if has(optimizer, "weight_decay"):
        space["weight_decay"] = Param("weight_decay", 1e-5, 1e-1)
    if has(optimizer, "warmup", schedule):
        space["warmup_factor"] = Param("warmup_factor", 0.0, 0.1, "linear")
    return space


def space_for(optimizer: str, schedule: str, overrides: dict[str, Any] | None) -> dict[str, Param]:
    """The default space with a space file's entries (as `load_space` returns them) laid over it."""
    space = default_space(optimizer, schedule)
    if not overrides:
        return space
    mine = {**overrides.get("*", {}), **overrides.get(optim.resolve(optimizer), {})}
    for name, doc in mine.items():
        target = TARGETS[name][0]
        if not has(optimizer, target, schedule):
            continue  # a top-level entry goes to the optimizers that have it (a section's was checked)
        for other in [n for n, p in space.items() if p.target == target]:
            del space[other]
        space[name] = parse_param(name, doc, "")
    return space


def parse_param(name: str, doc: Any, where: str) -> Param:
    """One entry of a space file, or SpecError saying what is wrong with it."""
    at = f"{where}{name}"
    if name not in TARGETS:
        raise SpecError(f"{at}: unknown hyperparameter; choose from: {', '.join(TARGETS)}")
    if isinstance(doc, list):
        if not doc:
            raise SpecError(f"{at}: an empty list of values")
        if not all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in doc):
            raise SpecError(f"{at}: the values must be finite numbers, got {doc}")
        return Param(name, values=tuple(float(v) for v in doc))
    if not isinstance(doc, dict) or not {"min", "max"} <= set(doc):
        raise SpecError(f"{at}: give {{min, max, scaling}} or a list of values")
    unknown = set(doc) - {"min", "max", "scaling", "scale"}
    if unknown:
        raise SpecError(f"{at}: unknown key {sorted(unknown)[0]!r}; use min, max and scaling")
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
        text = path.read_text()
    except OSError as e:
        raise SpecError(f"--space {path}: {e.strerror or e}") from None
    try:
        if path.suffix == ".toml":
            import tomllib

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
        elif key in TARGETS:
            parse_param(key, value, where)
            out["*"][key] = value
        else:
            try:
                name = optim.resolve(key)
            except SpecError:
                raise SpecError(f"{where}{key!r} is neither a hyperparameter ({', '.join(TARGETS)}) nor an "
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
        target = TARGETS[name][0]
        if not any(has(o, target, s) for o in optimizers for s in schedules_):
            raise SpecError(f"{where}{name}: none of the optimizers {', '.join(optimizers)} has {target} to tune"
                            + (" (a warm-up needs --schedule warmup-cosine or wsd)" if target == "warmup" else ""))
    return out


def apply(spec: Any, space: dict[str, Param], sampled: dict[str, Any]) -> Any:
    """The run `spec` (resolved) with the hyperparameters a trial sampled (`sampled`: space name → value)."""
    from dataclasses import replace

    values = hyper_values(space, sampled)
    changes: dict[str, Any] = {k: v for k, v in values.items() if k in ("lr", "momentum", "alpha", "eps",
                                                                       "weight_decay", "warmup")}
    if "beta1" in values or "beta2" in values:
        b1, b2 = spec.betas
        changes["betas"] = (values.get("beta1", b1), values.get("beta2", b2))
    return replace(spec, **changes)


def hyper_values(space: dict[str, Param], sampled: dict[str, Any]) -> dict[str, Any]:
    """Hyperparameter (HYPER_COLUMNS) → value, from a trial's sampled numbers."""
    return {space[name].target: space[name].value(v) for name, v in sampled.items()}


def tuning_options(the_grid: Any, tune: str | None, trials: int | None, studies: int | None,
                   space: Path | None) -> Tuning | None:
    """--tune, --trials, --studies, --space as a Tuning (None without --tune); the space file read and checked
    against the grid's optimizers and schedules."""
    if tune is None:
        options = (("--trials", trials), ("--studies", studies), ("--space", space))
        given = [name for name, v in options if v is not None]
        if given:
            raise SpecError(f"{given[0]} applies only with --tune halton|random|tpe")
        return None
    doc = {}
    if space is not None:
        doc = load_space(space, list(the_grid.values("optimizer")), list(the_grid.values("schedule")))
    return Tuning(tune, DEFAULT_TRIALS if trials is None else trials, 1 if studies is None else studies, doc)
