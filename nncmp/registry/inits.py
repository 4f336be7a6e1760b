"""Weight-initialisation registry: CLI name → a torch.nn.init function and its arguments.

Kept as data (not closures over torch) so names validate without importing torch.

What an init touches (touches(name) gives it as a table, for the docs):

- default: nothing; every layer keeps PyTorch's own initialisation, biases included.
- every other init:
    - Linear and Conv weights (attention projections, output heads, a float sequence's input projection):
      the init's function.
    - recurrent weight matrices (nn.RNN / GRU / LSTM weight_ih_l*, weight_hh_l*, an LSTM's weight_hr_l*): the
      init's function on each gate's block by itself (a GRU's weight_hh stacks 3 (hidden, hidden) gate
      matrices: orthogonal makes each one orthogonal, xavier counts a gate's fan-out, not three).
    - the biases of those layers: zero (an LSTM's forget-gate bias too).
    - nn.Embedding weights (token and position embeddings): kept at PyTorch's N(0, 1), since a lookup table
      has no fan-in to scale by; gpt2 draws them too.
    - LayerNorm and BatchNorm: kept (weight 1, bias 0).
    - anything else (nn.MultiheadAttention's in_proj_weight, a model's own nn.Parameter's): kept.
- gpt2 (GPT-2's, as nanoGPT has it): N(0, 0.02) for every weight above, embeddings included (a padding_idx
  row stays zero); biases zero; residual output projections N(0, 0.02 / sqrt(2·n_layer)), since each of a
  block's two residual branches adds to the stream. Residual projections: modules marked nncmp_residual
  (the built-in transformer's attention output projection and second MLP Linear), and Linear modules whose
  qualified name ends in "c_proj" (nanoGPT's names, for a user's model). n_layer: the model's int attribute
  n_layer, else half the number of residual projections (two per block).

A weight shared by two layers (the transformer's tie: the head's weight is the token embedding's) is drawn
once, as the first layer that takes the init: under gpt2 the embedding, under the others the head's Linear.
"""

from __future__ import annotations

import math
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
    # GPT-2's: residual projections and embeddings are apply_init's special cases
    "gpt2": ("normal_", {"mean": 0.0, "std": 0.02}),
}

GPT2_STD = 0.02

# The course initialises with the *normal* variants (xavier_normal_, kaiming_normal_).
ALIASES: dict[str, str] = {"xavier": "xavier-normal", "glorot": "xavier-normal", "he": "he-normal",
                           "kaiming": "he-normal"}


def canonical_init(name: str) -> str:
    return ALIASES.get(name, name)


# The kinds of tensor touches() describes, in the order it lists them.
KINDS = (
    "Linear and Conv weights",
    "recurrent weight matrices",
    "residual output projections",
    "biases of those layers",
    "nn.Embedding weights",
    "LayerNorm, BatchNorm",
    "other parameters",
)


def touches(name: str) -> dict[str, str]:
    """What the init `name` (or an alias) does to each kind of tensor (KINDS), as the module docstring says."""
    name = canonical_init(name)
    if INITS[name] is None:
        return dict.fromkeys(KINDS, "kept: PyTorch's own initialisation")
    gpt2 = name == "gpt2"
    drawn = f"N(0, {GPT2_STD})" if gpt2 else name
    return {
        "Linear and Conv weights": drawn,
        "recurrent weight matrices": drawn if gpt2 else f"{name}, on each gate's block by itself",
        "residual output projections": f"N(0, {GPT2_STD}/sqrt(2·n_layer))" if gpt2 else name,
        "biases of those layers": "zero",
        "nn.Embedding weights": f"N(0, {GPT2_STD}), a padding_idx row zero" if gpt2 else "kept: PyTorch's N(0, 1)",
        "LayerNorm, BatchNorm": "kept: weight 1, bias 0",
        "other parameters": "kept",
    }


def residual_projections(model: nn.Module) -> list[nn.Module]:
    """The layers gpt2 scales down: marked nncmp_residual, or Linear named *c_proj (nanoGPT)."""
    from torch import nn

    return [m for qualname, m in model.named_modules()
            if getattr(m, "nncmp_residual", False) or (isinstance(m, nn.Linear) and qualname.endswith("c_proj"))]


def residual_std(model: nn.Module, n_residual: int) -> float:
    """gpt2's std of a residual projection: 0.02 / sqrt(2·n_layer), n_layer the model's int n_layer, else
    half the number of residual projections."""
    n_layer = getattr(model, "n_layer", None)
    if isinstance(n_layer, bool) or not isinstance(n_layer, int) or n_layer < 1:
        n_layer = n_residual / 2
    return GPT2_STD / math.sqrt(2 * n_layer)


def apply_init(model: nn.Module, name: str) -> None:
    """Initialise `model` in place as the module docstring says: Linear, Conv and recurrent weights drawn,
    their biases zero, (gpt2) embeddings and scaled residual projections; nothing under `default`."""
    import torch
    from torch import nn

    canonical = canonical_init(name)
    entry = INITS[canonical]
    if entry is None:
        return
    fn_name, kwargs = entry
    fn = getattr(nn.init, fn_name)
    gpt2 = canonical == "gpt2"
    residual = {id(m) for m in residual_projections(model)} if gpt2 else set()
    res_std = residual_std(model, len(residual)) if residual else GPT2_STD
    drawn: set[int] = set()  # a tied weight is drawn once

    def draw(weight: torch.Tensor, std: float | None = None) -> None:
        if id(weight) in drawn:
            return
        drawn.add(id(weight))
        if std is None:
            fn(weight, **kwargs)
        else:
            nn.init.normal_(weight, mean=0.0, std=std)

    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d)):
                draw(module.weight, res_std if id(module) in residual else None)
                if module.bias is not None:
                    nn.init.zeros_(module.bias)
            elif isinstance(module, nn.RNNBase):
                gates = {"LSTM": 4, "GRU": 3}.get(module.mode, 1)
                for pname, p in module.named_parameters(recurse=False):
                    if pname.startswith("weight_hr"):  # an LSTM's projection: one matrix, no gates
                        draw(p)
                    elif pname.startswith("weight"):
                        drawn.add(id(p))
                        for block in p.chunk(gates, dim=0):  # views: drawn in place into p
                            fn(block, **kwargs)
                    else:
                        nn.init.zeros_(p)
            elif gpt2 and isinstance(module, nn.Embedding):
                draw(module.weight, GPT2_STD)
                if module.padding_idx is not None:
                    module.weight[module.padding_idx].zero_()
