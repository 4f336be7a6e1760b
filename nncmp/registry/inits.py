"""Weight-initialisation registry: CLI name → a torch.nn.init function and its arguments.

Kept as data (not closures over torch) so names validate without importing torch.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from torch import nn

INITS: dict[str, tuple[str, dict[str, Any]] | None] = {
    "default": None,  # PyTorch's own per-layer initialisation, biases included
    "xavier-uniform": ("xavier_uniform_", {}),
    "xavier-normal": ("xavier_normal_", {}),
    "he-uniform": ("kaiming_uniform_", {"mode": "fan_in", "nonlinearity": "relu"}),
    "he-normal": ("kaiming_normal_", {"mode": "fan_in", "nonlinearity": "relu"}),
    # LeCun normal is Kaiming with gain 1: std = 1/sqrt(fan_in).
    "lecun": ("kaiming_normal_", {"mode": "fan_in", "nonlinearity": "linear"}),
    "orthogonal": ("orthogonal_", {}),
    "small": ("normal_", {"mean": 0.0, "std": 0.01}),  # the course's "randn * 0.01"
    "zeros": ("zeros_", {}),
}

# The course initialises with the *normal* variants (xavier_normal_, kaiming_normal_).
ALIASES: dict[str, str] = {"xavier": "xavier-normal", "glorot": "xavier-normal", "he": "he-normal",
                           "kaiming": "he-normal"}


def canonical_init(name: str) -> str:
    return ALIASES.get(name, name)


def apply_init(model: nn.Module, name: str) -> None:
    """Initialise every Linear and Conv weight in place; zero their biases (unless `default`)."""
    import torch
    from torch import nn

    entry = INITS[canonical_init(name)]
    if entry is None:
        return
    fn_name, kwargs = entry
    fn = getattr(nn.init, fn_name)
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d)):
                fn(module.weight, **kwargs)
                if module.bias is not None:
                    nn.init.zeros_(module.bias)
