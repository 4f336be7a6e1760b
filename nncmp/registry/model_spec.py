"""What a model builder reads of a run (ModelSpec) and the arguments the built-in models take (MODEL_ARGS):
names only, no torch, shared by the model registry (models.py) and the builders (sequence_models.py)."""

from __future__ import annotations

from typing import Protocol


class ModelSpec(Protocol):
    """What a builder reads of a run (RunSpec has it; the registry sits below config/ and cannot name it)."""

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

    @property
    def model_args(self) -> tuple[tuple[str, object], ...]: ...

    @property
    def param(self) -> str: ...

    def mup_base(self) -> int | None: ...

    def at_width(self, width: int) -> ModelSpec: ...


# The argument that sets a built-in's width (--widths, --param mup): the mlp's is every hidden layer (--hidden);
# the logreg and linear models have no width to change. A user's model names its own (--width-arg).
WIDTH_ARGS: dict[str, str] = {"mlp": "hidden", "cnn": "width", "transformer": "d_model", "gru": "hidden",
                              "lstm": "hidden"}
PARAMS = ("sp", "mup")  # the standard parametrisation, the maximal-update one (registry/mup.py)

# The --model-arg's a built-in model takes, with their defaults (a user's model: its own signature's).
# pool: none gives an output per position (N, T, outputs); last / mean one per sequence (N, outputs), from the
# last position or the mean over positions.
MODEL_ARGS: dict[str, dict[str, object]] = {
    "mlp": {"residual": "none"},
    "cnn": {"width": 64},
    "transformer": {"n_layer": 2, "n_head": 4, "d_model": 128, "tie": False, "pool": "none"},
    "gru": {"d_model": 64, "hidden": 128, "n_layer": 1, "pool": "none"},
    "lstm": {"d_model": 64, "hidden": 128, "n_layer": 1, "pool": "none"},
}
