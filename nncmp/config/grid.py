"""A grid: every combination of the values of its dimensions around one base run, times its seeds.

The dimensions are RunSpec's declared grid fields (optimizer, init, act, batchnorm, schedule, lr,
batch_size, in that order: the order the runs are listed, trained and saved in). A dimension not given
takes the base run's value. Hyperparameters with options of their own (--momentum, ...) and --opt-arg
values go to the optimizers that take them; --warmup to the schedules with a warm-up. config.json holds
the grid by the dimensions' declared keys (optimizers, inits, lrs, ...), values as the options spell them
(norms: none/batchnorm).
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from nncmp.config.fields import Declared, dimensions
from nncmp.config.run import MAX_SEED, NORMS, RunSpec, check_name, option_name
from nncmp.errors import SpecError
from nncmp.registry import hyperparameters as hp
from nncmp.registry import optimizers as optim
from nncmp.registry import schedules
from nncmp.registry.inits import ALIASES, INITS, canonical_init
from nncmp.registry.models import ACTIVATIONS

DIMENSIONS: dict[str, Declared] = dimensions(RunSpec)
DEFAULT_SEEDS = 3  # seeds per configuration (compare, suite, calibrate) unless --seeds says otherwise
# The values a dimension may take, where a name list is known without the dimension's own checks.
CHOICES = {"act": ("activation", ACTIVATIONS), "batchnorm": ("normalisation", NORMS)}


def field_value(name: str, value: Any, dims: dict[str, Declared] = DIMENSIONS) -> Any:
    """A grid value (as options and config.json spell it) as RunSpec's field holds it."""
    convert = dims[name].grid_value
    return convert(value) if convert else value


def grid_value(name: str, value: Any) -> Any:
    """RunSpec's field value as the grid spells it (the inverse of field_value)."""
    return {True: "batchnorm", False: "none"}[value] if name == "batchnorm" else value


@dataclass(frozen=True)
class Grid:
    base: RunSpec
    dims: Mapping[str, tuple[Any, ...]] = field(default_factory=dict)  # dimension (RunSpec field) → its values
    seeds: int = DEFAULT_SEEDS
    hyper: dict[str, Any] = field(default_factory=dict)  # --momentum, --betas, ... for the optimizers that take them
    opt_args: dict[str, Any] = field(default_factory=dict)  # --opt-arg, for the optimizers that take each key
    warmup: float | None = None  # --warmup, for the schedules with a warm-up

    @property
    def dimensions(self) -> dict[str, Declared]:
        """The dimensions the base run's class declares (RunSpec's, or a subclass's with more)."""
        return DIMENSIONS if type(self.base) is RunSpec else dimensions(type(self.base))

    def __post_init__(self) -> None:
        known = self.dimensions
        unknown = set(self.dims) - set(known)
        if unknown:
            raise SpecError(f"not grid dimensions: {', '.join(sorted(unknown))}")
        dims = {name: tuple(self.dims[name]) for name in known if self.dims.get(name) is not None}
        if "optimizer" in dims:
            dims["optimizer"] = tuple(optim.resolve(o) for o in dims["optimizer"])
        if self.seeds < 1:
            raise SpecError(f"--seeds must be >= 1, got {self.seeds}")
        for name, values in dims.items():
            if not values:
                raise SpecError(f"{known[name].grid} needs at least one value")
            if name in CHOICES:
                kind, choices = CHOICES[name]
                for value in values:
                    check_name(kind, value, choices)
            # Each run must be one row group: a value listed twice would run (and count) the same runs twice.
            same = values if name != "init" else [canonical_init(v) if v in (*INITS, *ALIASES) else v for v in values]
            twice = sorted({str(v) for v in same if list(same).count(v) > 1})
            if twice:
                raise SpecError(f"{known[name].grid} lists {', '.join(twice)} more than once")
        if len(dims.get("width", (0, 0))) < 2:
            raise SpecError("--widths needs two widths or more to compare (one width: --width with --depth, --hidden "
                            "or --model-arg)")
        if "width" in dims and "hidden" in dims:
            raise SpecError("--widths sets the mlp's hidden layers (as many as --hidden has): use it or --hiddens")
        if "width" in dims:  # the base run at a width of the grid first: --params mup alone checks that one
            base_width = self.base.base_width or min(dims["width"])  # μP's: the smallest width, unless said
            mup = "mup" in dims.get("param", (self.base.param,))
            object.__setattr__(self, "base", replace(self.base, width=dims["width"][0],
                                                     base_width=base_width if mup else self.base.base_width))
        # A dimension with one value is the base run's value (--act tanh and --acts tanh are one grid, which
        # config.json writes as it always has); the optimizers and inits are always listed.
        hyper_dims = {h.name for h in hp.grid_rows()}
        for name in hyper_dims & set(dims):
            if name in self.hyper:
                raise SpecError(f"{option_name(name)} and {known[name].grid} both give {name}; use one")
            if not any(name in optim.entry(o).defaults for o in dims.get("optimizer") or (self.base.optimizer,)):
                raise SpecError(f"{known[name].grid} applies to none of the optimizers")
        # A hyperparameter's dimension stays one (its value goes only to the optimizers that have it).
        single = {name: values[0] for name, values in dims.items() if len(values) == 1
                  and name not in ("optimizer", "init", *hyper_dims)}
        if single:
            object.__setattr__(self, "base", replace(self.base, **{n: field_value(n, v, known)
                                                                  for n, v in single.items()}))
            dims = {name: values for name, values in dims.items() if name not in single}
        object.__setattr__(self, "dims", dims)
        if self.base.seed + self.seeds - 1 > MAX_SEED:
            raise SpecError(f"--seed + --seeds - 1 must be <= {MAX_SEED}, got {self.base.seed + self.seeds - 1}")
        optimizers = self.values("optimizer")
        for name in self.hyper:
            if not any(name in optim.entry(o).defaults for o in optimizers):
                raise SpecError(f"{option_name(name)} applies to none of the optimizers {', '.join(optimizers)}")
        if self.warmup is not None and not set(self.values("schedule")) & set(schedules.WARMUP_SCHEDULES):
            raise SpecError(f"--warmup applies to the schedules {', '.join(schedules.WARMUP_SCHEDULES)}; "
                            f"the grid has {', '.join(self.values('schedule'))}")
        for name in self.opt_args:
            if name in hp.optimizer_own():
                if name in self.hyper:
                    raise SpecError(f"{option_name(name)} and --opt-arg {name} both give {name}; use one")
                if not any(name in optim.entry(o).defaults for o in optimizers):
                    raise SpecError(f"--opt-arg {name} applies to none of the optimizers {', '.join(optimizers)}")
                continue
            if not any(name in optim.settable(o) for o in optimizers):
                raise SpecError(f"--opt-arg {name} applies to none of the optimizers {', '.join(optimizers)}")
        self.runs()  # validate every run now, before any training

    def values(self, name: str) -> tuple[Any, ...]:
        """A dimension's values as the grid spells them; the base run's value if the grid does not vary it."""
        return self.dims.get(name) or (grid_value(name, getattr(self.base, name)),)

    def runs(self) -> list[RunSpec]:
        """Every run, in grid order: the dimensions in declaration order, then the seeds."""
        out = []
        seen = set()
        dims = self.dimensions
        for combo in itertools.product(*(self.values(name) for name in dims)):
            values = {name: field_value(name, v, dims) for name, v in zip(dims, combo)}
            opt = values["optimizer"]
            hyper = {k: v for k, v in self.hyper.items() if k in optim.entry(opt).defaults}
            for h in hp.grid_rows():
                if h.name not in self.dims:
                    values.pop(h.name)  # not varied: --momentum's value (hyper) or the base run's
                    continue
                if h.name not in optim.entry(opt).defaults:  # the optimizer has no such hyperparameter: once
                    values[h.name] = getattr(self.base, h.name)
                elif h.pair:  # the grid varies the pair's last number
                    current = hyper.get(h.name) or getattr(self.base, h.name) or optim.entry(opt).defaults[h.name]
                    values[h.name] = (*current[:-1], values[h.name])
            args = dict(self.base.opt_args)
            if self.opt_args:
                args.update({k: v for k, v in self.opt_args.items()
                             if k in optim.entry(opt).defaults or k in optim.settable(opt)})
            warmup = self.warmup if self.warmup is not None else self.base.warmup
            warmup = warmup if values["schedule"] in schedules.WARMUP_SCHEDULES else None
            for s in range(self.seeds):
                run = replace(self.base, **{**hyper, **values}, seed=self.base.seed + s, opt_args=args,
                              warmup=warmup)
                if run.run_id not in seen:
                    seen.add(run.run_id)
                    out.append(run)
        return out

    def to_json(self) -> dict[str, Any]:
        """config.json's grid section (the learning rates: CompareConfig writes 'auto' for a tuned grid)."""
        doc: dict[str, Any] = {}
        for name, d in self.dimensions.items():
            values = self.dims.get(name)
            if name in ("optimizer", "init"):  # always written, as a list
                values = self.values(name)
            doc[d.key] = None if values is None else [list(v) if isinstance(v, tuple) else v for v in values]
        doc.update({"seeds": self.seeds, "hyper": dict(self.hyper), "opt_args": dict(self.opt_args),
                    "warmup": self.warmup})
        return doc

    @classmethod
    def from_json(cls, base: RunSpec, doc: dict[str, Any], lrs: bool = True) -> Grid:
        """The grid config.json's section `doc` describes around `base` (lrs=False: its 'lrs' is not a list)."""
        dims = {}
        for name, d in (DIMENSIONS if type(base) is RunSpec else dimensions(type(base))).items():
            values = doc.get(d.key)
            if values is None or (name == "lr" and not lrs):
                continue
            dims[name] = tuple(tuple(v) if isinstance(v, list) else d.item(v) if d.item in (int, float) else v
                               for v in values)
        return cls(base=base, dims=dims, seeds=int(doc["seeds"]), hyper=dict(doc.get("hyper") or {}),
                   opt_args={k: tuple(v) if isinstance(v, list) else v for k, v in (doc.get("opt_args") or {}).items()},
                   warmup=doc.get("warmup"))
