"""Model registry: CLI name → builder of an nn.Sequential for a given input shape and output size."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from torch import nn

ACTIVATIONS: dict[str, str] = {
    "relu": "ReLU",
    "leaky-relu": "LeakyReLU",
    "elu": "ELU",
    "tanh": "Tanh",
    "sigmoid": "Sigmoid",
}


class ModelSpec(Protocol):
    """What a builder reads of a run (RunSpec has it; the registry sits below spec/ and cannot name it)."""

    @property
    def model(self) -> str: ...

    @property
    def hidden(self) -> tuple[int, ...]: ...

    @property
    def act(self) -> str: ...

    @property
    def batchnorm(self) -> bool: ...

    @property
    def dropout(self) -> float: ...


def _act(name: str) -> nn.Module:
    from torch import nn

    return getattr(nn, ACTIVATIONS[name])()


def _flat(shape: tuple[int, ...]) -> int:
    n = 1
    for d in shape:
        n *= d
    return n


def build_mlp(spec: ModelSpec, shape: tuple[int, ...], n_out: int) -> nn.Sequential:
    from torch import nn

    layers: list[nn.Module] = [nn.Flatten()]
    width = _flat(shape)
    for h in spec.hidden:
        layers.append(nn.Linear(width, h))
        if spec.batchnorm:
            layers.append(nn.BatchNorm1d(h))
        layers.append(_act(spec.act))
        if spec.dropout > 0:
            layers.append(nn.Dropout(spec.dropout))
        width = h
    layers.append(nn.Linear(width, n_out))
    return nn.Sequential(*layers)


def build_cnn(spec: ModelSpec, shape: tuple[int, ...], n_out: int) -> nn.Sequential:
    """The course's ConvNet: conv3x3(64)-BN-act-pool, conv3x3(128)-BN-act-pool, Linear 256, Linear."""
    from torch import nn

    if len(shape) != 3:
        raise ValueError(f"cnn needs image input (channels, height, width), got shape {shape}")
    c, h, w = shape
    hp, wp = h // 4, w // 4  # two 2x2 max-pools
    if hp < 1 or wp < 1:
        raise ValueError(f"cnn needs images of at least 4x4 pixels, got {h}x{w}")
    return nn.Sequential(
        nn.Conv2d(c, 64, kernel_size=3, padding=1),
        nn.BatchNorm2d(64),
        _act(spec.act),
        nn.MaxPool2d(2),
        nn.Conv2d(64, 128, kernel_size=3, padding=1),
        nn.BatchNorm2d(128),
        _act(spec.act),
        nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(128 * hp * wp, 256),
        _act(spec.act),
        *([nn.Dropout(spec.dropout)] if spec.dropout > 0 else []),
        nn.Linear(256, n_out),
    )


def build_logreg(spec: ModelSpec, shape: tuple[int, ...], n_out: int) -> nn.Sequential:
    from torch import nn

    return nn.Sequential(nn.Flatten(), nn.Linear(_flat(shape), n_out))


def build_linear(spec: ModelSpec, shape: tuple[int, ...], n_out: int) -> nn.Sequential:
    """y = Xw with no bias, as in the course's regression examples."""
    from torch import nn

    return nn.Sequential(nn.Flatten(), nn.Linear(_flat(shape), n_out, bias=False))


MODELS: dict[str, Callable[[ModelSpec, tuple[int, ...], int], nn.Sequential]] = {
    "mlp": build_mlp,
    "cnn": build_cnn,
    "logreg": build_logreg,
    "linear": build_linear,
}


# What each built-in model has: an option it lacks is refused, so no label names what a model does not have.
HAS: dict[str, frozenset[str]] = {
    "mlp": frozenset({"hidden", "act", "batchnorm", "dropout"}),
    "cnn": frozenset({"act", "dropout"}),
    "logreg": frozenset(),
    "linear": frozenset(),
}
WHAT = {
    "mlp": "hidden layers of --hidden widths (or --depth × --width), each Linear → [BatchNorm1d] → act → [Dropout]",
    "cnn": "a fixed architecture: two 3x3 convolutions with BatchNorm2d, a Linear of 256 with the activation and "
           "dropout, the output layer",
    "logreg": "a single Linear layer: no hidden layers, activation, BatchNorm or dropout",
    "linear": "y = Xw, one Linear layer without bias: no hidden layers, activation, BatchNorm or dropout",
}
# The normalisation a model always has, whatever --batchnorm says (the cnn's BatchNorm2d).
BUILT_IN_NORM = {"cnn": "batchnorm"}


def build_model(spec: ModelSpec, shape: tuple[int, ...], n_out: int) -> nn.Sequential:
    return MODELS[spec.model](spec, shape, n_out)


def has_batchnorm1d(spec: ModelSpec) -> bool:
    return spec.model == "mlp" and spec.batchnorm
