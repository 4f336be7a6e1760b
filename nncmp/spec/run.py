"""Run specifications: a frozen, validated description of one training run, and grids of them.

Knows names and numbers only: no torch, no files. Every check raises SpecError, which the CLI turns
into one line and exit code 2 before anything trains.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from nncmp.registry.datasets import DATASETS
from nncmp.errors import SpecError
from nncmp.registry.inits import ALIASES, INITS, canonical_init
from nncmp.registry.models import ACTIVATIONS, MODELS
from nncmp.registry import optimizers as optim
from nncmp.registry import schedules
from nncmp.registry.optimizers import HYPERPARAMETERS, OPTIMIZERS

MAX_SEED = 2**32 - 1
NORMS = ("none", "batchnorm")


def _option(name: str) -> str:
    return "--" + name.replace("_", "-")


def check_choice(kind: str, value: str, choices: Any) -> None:
    if value not in choices:
        raise SpecError(f"unknown {kind} {value!r}; choose from: {', '.join(choices)}")


@dataclass(frozen=True)
class RunSpec:
    dataset: str = "mnist5k"
    model: str = "mlp"
    hidden: tuple[int, ...] = (256, 128)
    act: str = "relu"
    batchnorm: bool = False
    dropout: float = 0.0
    init: str = "default"
    optimizer: str = "adam"
    lr: float | None = None  # None: the optimizer's default
    momentum: float | None = None
    betas: tuple[float, float] | None = None
    alpha: float | None = None
    eps: float | None = None
    weight_decay: float | None = None
    batch_size: int | None = None  # None: the optimizer's default (gd: the whole training set)
    epochs: int = 10
    seed: int = 0
    n: int | None = None  # synthetic dataset size
    # --opt-arg: the optimizer's other arguments, sorted by key; only values the user set
    opt_args: tuple[tuple[str, Any], ...] = ()
    schedule: str = "constant"
    warmup: float | None = None  # None: schedules.DEFAULT_WARMUP for the schedules with a warm-up

    def __post_init__(self) -> None:
        check_choice("dataset", self.dataset, DATASETS)
        check_choice("model", self.model, MODELS)
        check_choice("activation", self.act, ACTIVATIONS)
        check_choice("init", self.init, [*INITS, *ALIASES])
        object.__setattr__(self, "optimizer", optim.resolve(self.optimizer))
        object.__setattr__(self, "init", canonical_init(self.init))
        object.__setattr__(self, "hidden", tuple(self.hidden))
        if self.betas is not None:
            object.__setattr__(self, "betas", tuple(self.betas))
        args = dict(self.opt_args) if not isinstance(self.opt_args, dict) else self.opt_args
        # Lists from config.json become tuples again, so a spec read back equals the one written.
        args = {k: tuple(v) if isinstance(v, list) else v for k, v in args.items()}
        if args:
            args = optim.check_args(self.optimizer, args)
        # --opt-arg betas=... is --betas: the hyperparameters with options of their own live in their fields.
        for key in [k for k in args if k in HYPERPARAMETERS]:
            if getattr(self, key) is not None:
                raise SpecError(f"{_option(key)} and --opt-arg {key} both give {key}; use one")
            object.__setattr__(self, key, args.pop(key))
        object.__setattr__(self, "opt_args", tuple(sorted(args.items())))
        schedules.check(self.schedule, self.warmup)
        self._check_numbers()
        self._check_combination()

    def _check_numbers(self) -> None:
        # Every float option: inf and nan are bad input, never a run that diverges at its second step.
        for name in ("lr", "momentum", "alpha", "eps", "weight_decay", "dropout"):
            value = getattr(self, name)
            if value is not None and not math.isfinite(value):
                raise SpecError(f"{_option(name)} must be a finite number, got {value:g}")
        if self.betas is not None and not all(math.isfinite(b) for b in self.betas):
            raise SpecError(f"--betas must be finite numbers, got {','.join(map(str, self.betas))}")
        if any(h < 1 for h in self.hidden):
            raise SpecError(f"--hidden widths must be >= 1, got {','.join(map(str, self.hidden))}")
        if not 0.0 <= self.dropout < 1.0:
            raise SpecError(f"--dropout must be in [0, 1), got {self.dropout:g}")
        if self.lr is not None and not self.lr > 0:
            raise SpecError(f"--lr must be > 0, got {self.lr:g}")
        # The built-ins' ranges; the libraries' optimizers check their own (optim.check_build).
        builtin = self.optimizer in OPTIMIZERS
        for name in ("momentum", "alpha", "eps", "weight_decay"):
            value = getattr(self, name)
            if value is not None and not value >= 0 and builtin:
                raise SpecError(f"{_option(name)} must be >= 0, got {value:g}")
        if self.betas is not None and len(self.betas) != 2:
            raise SpecError(f"--betas must be two numbers, got {','.join(map(str, self.betas))}")
        if self.betas is not None and builtin and not all(0.0 <= b < 1.0 for b in self.betas):
            raise SpecError(f"--betas must be two numbers in [0, 1), got {','.join(map(str, self.betas))}")
        if self.batch_size is not None and self.batch_size < 1:
            raise SpecError(f"--batch-size must be >= 1, got {self.batch_size}")
        if self.epochs < 1:
            raise SpecError(f"--epochs must be >= 1, got {self.epochs}")
        if not 0 <= self.seed <= MAX_SEED:
            raise SpecError(f"--seed must be in [0, {MAX_SEED}] (NumPy's seed range), got {self.seed}")
        if self.n is not None and self.n < 10:
            raise SpecError(f"--n must be >= 10 (one example per class at least), got {self.n}")

    def _check_combination(self) -> None:
        entry = optim.entry(self.optimizer)
        if entry.unavailable:
            raise SpecError(f"{self.optimizer} cannot run here: {entry.unavailable}")
        if {optim.MUON, optim.MATRICES} & set(entry.handling) and self.model in ("logreg", "linear"):
            raise SpecError(f"{self.optimizer} trains hidden weight matrices; the model {self.model} has none")
        if self.schedule != "constant" and not entry.lr_key:
            raise SpecError(f"{self.optimizer} computes its own step size and has no learning rate to schedule")
        if self.schedule != "constant" and self.effective_batch_size() is None and self.epochs < 2:
            raise SpecError(f"--schedule {self.schedule} on full-batch {self.optimizer} for 1 epoch is one step: "
                            "a schedule needs at least 2 optimizer steps")
        for name in HYPERPARAMETERS:
            if getattr(self, name) is not None and name not in entry.defaults:
                other = optim.settable(self.optimizer) if self.optimizer not in OPTIMIZERS else {}
                if name in other:
                    raise SpecError(f"{self.optimizer}'s {name} (default {optim.format_value(other[name])}) is not "
                                    f"what {_option(name)} gives; use --opt-arg {name}=...")
                users = [o for o, e in OPTIMIZERS.items() if name in e.defaults]
                raise SpecError(f"{_option(name)} does not apply to {self.optimizer} (it applies to: {', '.join(users)})")
        if self.optimizer not in OPTIMIZERS and (self.opt_args or any(getattr(self, k) is not None
                                                                      for k in HYPERPARAMETERS)):
            optim.check_build(self.optimizer, self.lr, tuple((k, getattr(self, k)) for k in HYPERPARAMETERS
                                                             if getattr(self, k) is not None) + self.opt_args)
        if entry.fixed.get("nesterov") and self.momentum == 0:
            raise SpecError("nesterov needs --momentum > 0")
        if self.n is not None and self.dataset != "synthetic":
            raise SpecError("--n applies only to --dataset synthetic")
        shape = DATASETS[self.dataset].shape
        if self.model == "cnn" and len(shape) != 3:
            raise SpecError(f"cnn needs image data; {self.dataset} examples have shape {shape}")
        if self.model == "mlp" and self.batchnorm and self.effective_batch_size() == 1:
            raise SpecError("--batchnorm needs a batch size of at least 2 (BatchNorm1d cannot normalise one example)")

    def effective_batch_size(self) -> int | None:
        return self.batch_size or optim.entry(self.optimizer).batch_size

    def resolved(self, n_train: int) -> RunSpec:
        """The same run with every default filled in, as recorded in results."""
        entry = optim.entry(self.optimizer)
        batch = min(self.effective_batch_size() or n_train, n_train)
        hyper = {k: v if getattr(self, k) is None else getattr(self, k) for k, v in entry.defaults.items()}
        return replace(self, lr=self.lr or entry.lr, batch_size=batch, **hyper)

    @property
    def config_id(self) -> str:
        """The configuration a run belongs to: everything a grid varies except the seed."""
        lr = f"{self.lr:g}" if self.lr else "default"
        # Activation and normalisation appear only when not the default, so ids of plain grids stay short.
        extra = ("" if self.act == "relu" else f"/act={self.act}") + ("/norm=batchnorm" if self.batchnorm else "")
        extra += ("" if self.schedule == "constant" else f"/sched={self.schedule}")
        extra += "".join(f"/{k}={optim.format_value(v)}" for k, v in self.opt_args)
        return f"{self.optimizer}/{self.init}/lr={lr}/bs={self.batch_size or 'default'}{extra}"

    @property
    def norm(self) -> str:
        return "batchnorm" if self.batchnorm else "none"

    @property
    def run_id(self) -> str:
        return f"{self.config_id}/seed={self.seed}"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def steps_per_epoch(spec: RunSpec, n_train: int) -> int:
    """Optimizer steps in one epoch of a run (BatchNorm skips a trailing batch of one example)."""
    bs = min(spec.effective_batch_size() or n_train, n_train)
    skip = spec.model == "mlp" and spec.batchnorm and n_train % bs == 1
    return -(-n_train // bs) - skip


def total_steps(spec: RunSpec, n_train: int) -> int:
    """Every optimizer step of the run: what a learning-rate schedule runs over."""
    return spec.epochs * steps_per_epoch(spec, n_train)


def check_steps(specs: list[RunSpec], n_train: int) -> None:
    """SpecError before any training if a run's schedule does not fit its number of steps."""
    seen = set()
    for spec in specs:
        key = (spec.schedule, spec.warmup, total_steps(spec, n_train))
        if key not in seen:
            seen.add(key)
            schedules.check(*key)


@dataclass(frozen=True)
class Grid:
    """Every combination of optimizers × inits × lrs × batch sizes × seeds around one base spec."""

    base: RunSpec
    optimizers: tuple[str, ...]
    inits: tuple[str, ...]
    lrs: tuple[float, ...] | None = None  # None: each optimizer's default
    batch_sizes: tuple[int, ...] | None = None
    seeds: int = 3
    hyper: dict[str, Any] = field(default_factory=dict)  # explicit --momentum/--betas/... for optimizers that take them
    acts: tuple[str, ...] | None = None  # None: the base spec's activation
    norms: tuple[str, ...] | None = None  # "none" / "batchnorm"; None: the base spec's
    opt_args: dict[str, Any] = field(default_factory=dict)  # --opt-arg, for the optimizers that take each key
    schedules: tuple[str, ...] | None = None  # None: the base spec's schedule
    warmup: float | None = None  # --warmup, for the schedules with a warm-up

    def __post_init__(self) -> None:
        object.__setattr__(self, "optimizers", tuple(optim.resolve(o) for o in self.optimizers))
        if self.seeds < 1:
            raise SpecError(f"--seeds must be >= 1, got {self.seeds}")
        if not self.optimizers:
            raise SpecError("--opts needs at least one optimizer")
        if not self.inits:
            raise SpecError("--inits needs at least one init")
        if self.base.seed + self.seeds - 1 > MAX_SEED:
            raise SpecError(f"--seed + --seeds - 1 must be <= {MAX_SEED}, got {self.base.seed + self.seeds - 1}")
        # Each run must be one row group: a value listed twice would run (and count) the same runs twice.
        for act in self.acts or ():
            check_choice("activation", act, ACTIVATIONS)
        for norm in self.norms or ():
            check_choice("normalisation", norm, NORMS)
        for option, values in (("--opts", self.optimizers), ("--lrs", self.lrs or ()),
                               ("--acts", self.acts or ()), ("--norms", self.norms or ()),
                               ("--batch-sizes", self.batch_sizes or ()), ("--schedules", self.schedules or ()),
                               ("--inits", [canonical_init(i) if i in INITS or i in ALIASES else i for i in self.inits])):
            twice = sorted({str(v) for v in values if list(values).count(v) > 1})
            if twice:
                raise SpecError(f"{option} lists {', '.join(twice)} more than once")
        for name in self.hyper:
            if not any(name in optim.entry(o).defaults for o in self.optimizers):
                raise SpecError(f"{_option(name)} applies to none of the optimizers {', '.join(self.optimizers)}")
        if self.warmup is not None and not set(self.schedules or ()) & set(schedules.WARMUP_SCHEDULES):
            raise SpecError(f"--warmup applies to the schedules {', '.join(schedules.WARMUP_SCHEDULES)}; "
                            f"the grid has {', '.join(self.schedules or (self.base.schedule,))}")
        for name in self.opt_args:
            if name in HYPERPARAMETERS:
                if name in self.hyper:
                    raise SpecError(f"{_option(name)} and --opt-arg {name} both give {name}; use one")
                if not any(name in optim.entry(o).defaults for o in self.optimizers):
                    raise SpecError(f"--opt-arg {name} applies to none of the optimizers {', '.join(self.optimizers)}")
                continue
            if not any(name in optim.settable(o) for o in self.optimizers):
                raise SpecError(f"--opt-arg {name} applies to none of the optimizers {', '.join(self.optimizers)}")
        self.runs()  # validate every run now, before any training

    def runs(self) -> list[RunSpec]:
        out = []
        for opt in self.optimizers:
            hyper = {k: v for k, v in self.hyper.items() if k in optim.entry(opt).defaults}
            args = {k: v for k, v in self.opt_args.items()
                    if k in optim.entry(opt).defaults or k in optim.settable(opt)} if self.opt_args else {}
            for init in self.inits:
                for act in self.acts or (self.base.act,):
                    for norm in self.norms or (self.base.norm,):
                        for sched in self.schedules or (self.base.schedule,):
                            for lr in self.lrs or (None,):
                                for bs in self.batch_sizes or (None,):
                                    for s in range(self.seeds):
                                        out.append(replace(
                                            self.base, optimizer=opt, init=init, act=act,
                                            batchnorm=norm == "batchnorm", lr=lr, batch_size=bs,
                                            seed=self.base.seed + s, opt_args=args, schedule=sched,
                                            warmup=self.warmup if sched in schedules.WARMUP_SCHEDULES else None,
                                            **hyper))
        return out
