"""Optimizer registry: CLI name → torch.optim class, default learning rate and batch size.

torch is imported only when an optimizer is built, so the CLI can validate names instantly.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

# Hyperparameters a user may set; each optimizer lists the ones its torch class accepts.
HYPERPARAMETERS = ("momentum", "betas", "alpha", "eps", "weight_decay")


@dataclass(frozen=True)
class OptimizerEntry:
    torch_class: str
    lr: float
    batch_size: int | None  # None: the whole training set (one step per epoch)
    defaults: dict[str, Any]  # user-settable hyperparameters and their defaults
    fixed: dict[str, Any] = field(default_factory=dict)  # set by the entry, not the user
    summary: str = ""


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
        "SGD", 0.01, 64, {"momentum": 0.9, "weight_decay": 0.0}, {"nesterov": True}, summary="SGD with Nesterov momentum"
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


def build_optimizer(spec: Any, params: Any) -> Any:
    """torch.optim optimizer for a resolved RunSpec (every hyperparameter filled in)."""
    import torch.optim

    entry = OPTIMIZERS[spec.optimizer]
    kwargs = {name: getattr(spec, name) for name in entry.defaults}
    cls = getattr(torch.optim, entry.torch_class)
    # torch's fused CPU kernels do the whole update in one pass over each tensor: several times faster than
    # the per-operation path for Adam (whose sqrt and div otherwise rival the matrix products), same formula.
    if entry.torch_class in FUSED_CPU:
        kwargs["fused"] = True
    return cls(params, lr=spec.lr, **kwargs, **entry.fixed)


FUSED_CPU = ("SGD", "Adam", "AdamW", "Adagrad")
