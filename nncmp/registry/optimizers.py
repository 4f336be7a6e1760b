"""Optimizer registry: the nine built-ins, and every torch.optim and pytorch-optimizer optimizer by name.

A name resolves built-in → torch.optim → pytorch-optimizer (the libraries share names such as `asgd` for
different algorithms); `torch:NAME` and `pytorch-optimizer:NAME` force a library. A resolved name is
canonical: the bare name when the bare name resolves to the same optimizer, else the prefixed one, so
results name every optimizer unambiguously. The built-ins need no import; any other name imports the
libraries (about 2 s) to look it up. Building an optimizer, with the special handling some need, is
in training/stepping.py.
"""

from __future__ import annotations

import functools
import importlib
import importlib.metadata
import inspect
import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from nncmp.errors import SpecError
from nncmp.registry import hyperparameters as hp
from nncmp.registry.closest import closest, hint
from nncmp.registry.optimizer_names import SNAPSHOT

if TYPE_CHECKING:
    import torch.optim

OPT_HELP = ("or any torch.optim or pytorch-optimizer optimizer by name (nadam, lion, prodigy, muon, ...; "
            "torch:NAME or pytorch-optimizer:NAME picks a library; `nncmp optimizers` lists them)")
DEFAULT_BATCH = 64  # every optimizer outside the built-ins: mini-batches, as adam/rmsprop/minibatch

# Special handling (stepping.py); `nncmp optimizers` shows these words.
CLOSURE = "closure"  # step(closure) re-evaluates the batch
HESSIAN = "hessian"  # backward(create_graph=True) for Hessian-vector products
MUON = "muon-groups"  # hidden matrices in the Muon group, everything else in its AdamW group
MATRICES = "matrices+adamw"  # takes 2-D parameters only: hidden matrices; a torch AdamW takes the rest
SCHEDULE_FREE = "schedule-free"  # optimizer.train()/.eval() with the model; BatchNorm statistics refreshed
AUTO_ARGS = "auto-args"  # a required argument nncmp fills in (training-set size, number of steps)
NO_LR = "ignores-lr"  # computes its own step size: the learning rate does not change the run
NS_FLOAT32 = "ns-float32-cpu"  # Newton–Schulz in float32, not bfloat16, on a CPU without native bf16 (muon_cpu.py)

# pytorch-optimizer classes whose `lr` default is None, or that have no `lr`: the rate nncmp starts from.
DEFAULT_LRS = {"a2grad": 1.0, "sara": 7.05e-4, "alig": 0.1, "sam": 0.01, "friendlysam": 0.01, "looksam": 0.01}
# Arguments nncmp fills in: name → what it is ("examples": training-set size, "steps": all optimizer steps).
AUTO = {"num_data": "examples", "num_iterations": "steps"}
# Arguments no user sets: the parameters, the rate (--lr), and switches of the implementation.
NOT_SETTABLE = {"self", "params", "lr", "maximize", "foreach", "fused", "capturable", "differentiable", "kwargs",
                "base_optimizer", *AUTO}
CLOSURE_NAMES = {"torch:lbfgs", "lbfgs", "alig", "sam", "friendlysam", "looksam", "bsam"}
HESSIAN_NAMES = {"adahessian", "sophiah"}
# Sharpness-aware wrappers of pytorch-optimizer (not in its name list): around torch's SGD.
SAM_WRAPPERS = {"sam": "SAM", "friendlysam": "FriendlySAM", "looksam": "LookSAM"}
# What cannot run here, and why (a test checks that every other optimizer trains).
UNAVAILABLE = {
    "pytorch-optimizer:distributedmuon": "needs torch.distributed with an initialised process group",
    "pytorch-optimizer:demo": "needs torch.distributed and the einops package (distributed training only)",
    "pytorch-optimizer:gsam": "needs the model and a rho scheduler, not only parameters",
    "pytorch-optimizer:wsam": "needs the model, not only parameters",
    "torch:sparseadam": "for sparse gradients (embeddings) only; nncmp's models have dense gradients",
}
TORCH_ONLY_2D = {"muon"}  # torch.optim classes that take 2-D parameters only

@dataclass(frozen=True)
class OptimizerEntry:
    torch_class: str  # the class's name in `module`
    lr: float
    batch_size: int | None  # None: the whole training set (one step per epoch)
    # Its hyperparameters with options of their own (hyperparameters.optimizer_own()), their defaults.
    defaults: dict[str, Any]
    fixed: dict[str, Any] = field(default_factory=dict)  # set by the entry, not the user
    summary: str = ""
    source: str = "nncmp"
    module: str = "torch.optim"
    handling: tuple[str, ...] = ()
    unavailable: str = ""  # why it cannot run here; empty: it can
    lr_key: str = "lr"  # the parameter-group key a schedule scales ("": the optimizer has no rate to scale)


_SGD = {"momentum": 0.0, "weight_decay": 0.0}
_ADAM = {"betas": (0.9, 0.999), "eps": 1e-8, "weight_decay": 0.0}

# Learning rates: the course's (SGD family 0.01, Adam 0.001), torch.optim's for the rest.
OPTIMIZERS: dict[str, OptimizerEntry] = {
    "gd": OptimizerEntry("SGD", 0.01, None, _SGD, summary="full-batch gradient descent: one step per epoch"),
    "sgd": OptimizerEntry("SGD", 0.01, 1, _SGD, summary="stochastic gradient descent, batch size 1"),
    "minibatch": OptimizerEntry("SGD", 0.01, 64, _SGD, summary="mini-batch SGD"),
    "momentum": OptimizerEntry(
        "SGD", 0.01, 64, {"momentum": 0.9, "weight_decay": 0.0}, summary="SGD with heavy-ball momentum"
    ),
    "nesterov": OptimizerEntry(
        "SGD", 0.01, 64, {"momentum": 0.9, "weight_decay": 0.0}, {"nesterov": True},
        summary="SGD with Nesterov momentum"
    ),
    "rmsprop": OptimizerEntry(
        "RMSprop", 0.01, 64, {"alpha": 0.99, "eps": 1e-8, "momentum": 0.0, "weight_decay": 0.0}, summary="RMSProp"
    ),
    "adam": OptimizerEntry("Adam", 0.001, 64, _ADAM, summary="Adam"),
    "adamw": OptimizerEntry(
        "AdamW", 0.001, 64, {**_ADAM, "weight_decay": 0.01}, summary="Adam with decoupled weight decay"
    ),
    "adagrad": OptimizerEntry("Adagrad", 0.01, 64, {"eps": 1e-10, "weight_decay": 0.0}, summary="Adagrad"),
}


# ---------------------------------------------------------------------------------------------- names


@functools.cache
def _torch_names() -> dict[str, str]:
    """torch.optim's optimizers: lower-case name → class name."""
    import torch.optim

    return {n.lower(): n for n in dir(torch.optim)
            if isinstance(getattr(torch.optim, n), type) and issubclass(getattr(torch.optim, n), torch.optim.Optimizer)
            and n != "Optimizer"}


@functools.cache
def _po_names() -> tuple[str, ...]:
    """pytorch-optimizer's optimizers, with its sharpness-aware wrappers and the ones that cannot run here."""
    import pytorch_optimizer

    return tuple(sorted({*pytorch_optimizer.get_supported_optimizers(), *SAM_WRAPPERS, "gsam", "wsam"}))


def installed_version(source: str) -> str:
    return importlib.metadata.version(source)


def _names(source: str) -> tuple[str, ...]:
    """A library's optimizer names (pytorch-optimizer's with its SAM wrappers): from SNAPSHOT when the
    installed version is the one it was taken from, else from the library itself."""
    version, names = SNAPSHOT[source]
    if source == "torch":
        return names if installed_version("torch").split("+")[0] == version else tuple(_torch_names())
    if installed_version("pytorch-optimizer") != version:
        return _po_names()
    return tuple(sorted({*names, *SAM_WRAPPERS, "gsam", "wsam"}))


def _split(name: str) -> tuple[str | None, str]:
    raw = name.strip().lower()
    if ":" not in raw:
        return None, raw
    source, key = raw.split(":", 1)
    source = {"pytorch_optimizer": "pytorch-optimizer", "torch.optim": "torch"}.get(source, source)
    if source not in ("torch", "pytorch-optimizer"):
        raise SpecError(f"unknown optimizer library {source!r} in {name!r}; use torch:NAME or pytorch-optimizer:NAME")
    return source, key


def _bare_source(key: str) -> str | None:
    """The library a bare name resolves to."""
    if key in OPTIMIZERS:
        return "nncmp"
    if key in _names("torch"):
        return "torch"
    if key in _names("pytorch-optimizer"):
        return "pytorch-optimizer"
    return None


def resolve(name: str) -> str:
    """The canonical name of the optimizer `name` asks for, or SpecError with the closest names."""
    source, key = _split(name)
    if source is None and key in OPTIMIZERS:  # the built-ins need no import
        return key
    known = {"torch": _names("torch"), "pytorch-optimizer": _names("pytorch-optimizer")}
    if source is None:
        source = _bare_source(key)
        if source is None:
            # One suggestion per name: torch and pytorch-optimizer both have an adam.
            every = list(dict.fromkeys([*OPTIMIZERS, *known["torch"], *known["pytorch-optimizer"]]))
            raise SpecError(f"unknown optimizer {name!r}{hint(key, every, n=5)} (nncmp optimizers lists them all)")
        return key
    if key not in known[source]:
        near = closest(key, known[source], n=5)
        hint_ = f"; closest: {', '.join(f'{source}:{c}' for c in near)}" if near else ""
        raise SpecError(f"{source} has no optimizer {key!r}{hint_}")
    return key if _bare_source(key) == source else f"{source}:{key}"


def all_names() -> list[str]:
    """Every canonical name: the built-ins, then torch.optim's, then pytorch-optimizer's."""
    names = list(OPTIMIZERS)
    for key in sorted(_names("torch")):
        names.append(resolve(f"torch:{key}"))
    for key in _names("pytorch-optimizer"):
        names.append(resolve(f"pytorch-optimizer:{key}"))
    return names


# -------------------------------------------------------------------------------------------- entries


def entry(name: str) -> OptimizerEntry:
    """The entry of a canonical optimizer name (as RunSpec holds it)."""
    if name in OPTIMIZERS:
        return OPTIMIZERS[name]
    return _external(name)


def default_lr(name: str) -> float:
    """An optimizer's default learning rate; nan for a name this installation does not know."""
    try:
        return entry(name).lr
    except Exception:  # a results folder from an installation with other optimizers  # noqa: BLE001
        return float("nan")


# torch.optim classes whose weight decay is decoupled (applied to the weights, not added to the gradient).
DECOUPLED = {"AdamW", "Muon"}


def decoupled_decay(name: str, args: dict[str, Any] | None = None) -> bool:
    """Whether optimizer `name` decays weights decoupled from the gradient (AdamW, and pytorch-optimizer's
    with weight_decouple on: Lion, Muon, AdaBelief, ...), with these --opt-arg values."""
    e = entry(name)
    if e.torch_class in DECOUPLED and e.module == "torch.optim":
        return True
    if e.module == "torch.optim" or e.unavailable:
        return False
    if (args or {}).get("weight_decouple") is not None:
        return bool((args or {})["weight_decouple"])
    param = signature(optimizer_class(e)).get("weight_decouple")
    return bool(param is not None and param.default is True)


def optimizer_class(e: OptimizerEntry) -> type[torch.optim.Optimizer]:
    return getattr(importlib.import_module(e.module), e.torch_class)


def signature(cls: type) -> dict[str, inspect.Parameter]:
    return dict(inspect.signature(cls.__init__).parameters)


@functools.cache
def _external(name: str) -> OptimizerEntry:
    source, key = _split(name)
    source = source or _bare_source(key)
    full = f"{source}:{key}"
    handling: list[str] = []
    unavailable = UNAVAILABLE.get(full, "")
    if source == "torch":
        module, cls_name = "torch.optim", _torch_names()[key]
        if key in TORCH_ONLY_2D:
            handling.append(MATRICES)
    elif key in SAM_WRAPPERS or key in ("gsam", "wsam"):
        module, cls_name = "pytorch_optimizer", SAM_WRAPPERS.get(key, key.upper())
    else:
        import pytorch_optimizer

        cls = pytorch_optimizer.load_optimizer(key)
        if key == "muon":  # its bfloat16 Newton–Schulz took 0.71 s a step on an AVX2 CPU: float32 there instead
            from nncmp.registry.muon_cpu import Muon  # lazy: torch and pytorch-optimizer, for this name only
            cls, handling = Muon, [NS_FLOAT32]
        module, cls_name = cls.__module__, cls.__name__
    cls = getattr(__import__(module, fromlist=[cls_name]), cls_name)
    params = signature(cls)
    if key in SAM_WRAPPERS:  # the wrapped SGD's arguments are the wrapper's too
        import torch.optim

        params = {**signature(torch.optim.SGD), **params}
    first = [p for p in params if p != "self"][0]
    if first != "params" and not unavailable:
        unavailable = f"takes the {first} instead of its parameters"
    if "adamw_lr" in params:
        handling.append(MUON)
    if full == "pytorch-optimizer:spectralsphere":
        handling.append(MATRICES)
    if key in CLOSURE_NAMES:
        handling.append(CLOSURE)
    if key in HESSIAN_NAMES:
        handling.append(HESSIAN)
    if hasattr(cls, "train") and hasattr(cls, "eval"):
        handling.append(SCHEDULE_FREE)
    if any(a in params and params[a].default is inspect.Parameter.empty for a in AUTO):
        handling.append(AUTO_ARGS)
    if key == "a2grad":
        handling.append(NO_LR)
    lr_param = params.get("lr") or params.get("max_lr")
    lr = DEFAULT_LRS.get(key) if key in SAM_WRAPPERS or lr_param is None \
        or lr_param.default in (None, inspect.Parameter.empty) else float(lr_param.default)
    # Only values of the kind nncmp's options give (a number; betas: two) use those options; anything else
    # of the same name (Adan's three betas, Adafactor's pair of eps) is an --opt-arg.
    defaults = {k: _plain(params[k].default) for k in hp.optimizer_own()
                if k in params and hp.row(k).accepts(_plain(params[k].default))}
    lr_key = "" if NO_LR in handling else "lr" if "lr" in params else "max_lr"
    return OptimizerEntry(cls_name, lr if lr is not None else 0.001, DEFAULT_BATCH, defaults,
                          summary=_summary(cls), source=source, module=module, handling=tuple(handling),
                          unavailable=unavailable, lr_key=lr_key)


def _summary(cls: type) -> str:
    doc = (cls.__doc__ or "").strip().splitlines()
    return doc[0].strip().rstrip(".") if doc else cls.__name__


def _plain(value: Any) -> Any:
    return tuple(value) if isinstance(value, list) else value


def settable(name: str) -> dict[str, Any]:
    """The --opt-arg keys of an optimizer and their defaults (the table's optimizer_own() have their own options)."""
    e = entry(name)
    params = signature(optimizer_class(e))
    if name in SAM_WRAPPERS:
        import torch.optim

        params = {**signature(torch.optim.SGD), **params}
    out = {}
    for key, p in params.items():
        if key in NOT_SETTABLE or key in e.defaults or key in e.fixed or key == "max_lr" or \
                p.kind in (p.VAR_KEYWORD, p.VAR_POSITIONAL) or p.default is inspect.Parameter.empty:
            continue
        if p.default is None or isinstance(p.default, (bool, int, float, str, tuple)):
            out[key] = _plain(p.default)
    return out


# ------------------------------------------------------------------------------------------ --opt-arg


def parse_value(text: str) -> Any:
    """An --opt-arg value: true/false, a number, numbers separated by commas (a tuple), or a word."""
    text = text.strip()
    if text.lower() in ("true", "false"):
        return text.lower() == "true"
    if text.lower() == "none":
        return None
    if "," in text:
        return tuple(parse_value(t) for t in text.split(","))
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def check_value(optimizer: str, key: str, value: Any, default: Any) -> Any:
    """`value` as the kind `default` has, or SpecError."""
    def bad(kind: str) -> SpecError:
        return SpecError(f"--opt-arg {key}={format_value(value)}: {optimizer} takes {kind} for {key} "
                         f"(default {format_value(default)})")

    number = isinstance(value, (int, float)) and not isinstance(value, bool)
    if number and not math.isfinite(value):
        raise SpecError(f"--opt-arg {key} must be finite, got {format_value(value)}")
    if isinstance(default, bool):
        if not isinstance(value, bool):
            raise bad("true or false")
        return value
    if isinstance(default, int):
        if not (number and float(value).is_integer()):
            raise bad("an integer")
        return int(value)
    if isinstance(default, float):
        if not number:
            raise bad("a number")
        return float(value)
    if isinstance(default, tuple):
        if not isinstance(value, tuple) or len(value) != len(default):
            raise bad(f"{len(default)} comma-separated values")
        return tuple(check_value(optimizer, key, v, d) if d is not None else v for v, d in zip(value, default))
    if isinstance(default, str) and not isinstance(value, str):
        raise bad("a word")
    return value


def check_args(optimizer: str, args: dict[str, Any]) -> dict[str, Any]:
    """--opt-arg for one optimizer: every key one it takes, every value of the right kind. Keys with options
    of their own (hyperparameters.optimizer_own()) are checked against the optimizer's defaults for them."""
    e = entry(optimizer)
    valid = {**e.defaults, **settable(optimizer)}
    out = {}
    for key, value in args.items():
        if key not in valid:
            near = closest(key, valid, n=1)
            meant = f" (did you mean {near[0]}?)" if near else ""
            raise SpecError(f"--opt-arg {key}: {optimizer} has no such argument{meant}; it takes: "
                            f"{', '.join(valid) or 'none'}")
        out[key] = check_value(optimizer, key, value, valid[key])
    return out


def format_value(value: Any) -> str:
    if isinstance(value, tuple):
        return ",".join(format_value(v) for v in value)
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def format_args(args: tuple[tuple[str, Any], ...]) -> str:
    """The tidy opt_args column: `key=value` pairs joined by ';' ('' when none)."""
    return ";".join(f"{k}={format_value(v)}" for k, v in args)
