"""Per-layer signal statistics: why an initialisation works (Glorot & Bengio 2010; He et al. 2015).

One batch goes forward and backward through a network; for each Linear or ConvNd layer (with the activation
after it) we measure the activations, how many units are dead or saturated, the gradient reaching the layer's
output and its weights, and the weights' own spread. `nncmp inspect` shows them at initialisation;
`--track-layers` records them after every epoch of training.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from nncmp.training.engines.single import criterion_of, make_model

if TYPE_CHECKING:
    from nncmp.config.run import RunSpec
    from nncmp.registry.datasets import Data

STATISTICS = ("act_mean", "act_std", "dead", "saturated", "grad_out_std", "grad_w_std", "weight_std")
SATURATING = {"tanh": (-0.99, 0.99), "sigmoid": (0.01, 0.99)}
DYING = ("relu", "leaky-relu", "elu")


def dead_fraction(h: torch.Tensor) -> float:
    """Units (columns) whose activation is ≤ 0 for every example (rows): a dead ReLU passes no gradient."""
    return float((h <= 0).all(0).float().mean())


def saturated_fraction(h: torch.Tensor, act: str) -> float:
    """Activations in the flat tails of tanh or sigmoid, where the derivative is nearly 0."""
    low, high = SATURATING[act]
    return float(((h < low) | (h > high)).float().mean())


def weight_layers(model: nn.Module) -> list[nn.Module]:
    """The layers an init touches, in model order: every Linear and ConvNd (a user's model too)."""
    return [m for m in model.modules() if isinstance(m, (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d))]


# An activation module's class → the name whose dead/saturated statistics apply to it.
ACT_NAMES = {"ReLU": "relu", "LeakyReLU": "leaky-relu", "ELU": "elu", "Tanh": "tanh", "Sigmoid": "sigmoid"}


def layer_stats(model: nn.Module, x: torch.Tensor, y: torch.Tensor, act: str,
                loss_fn: Callable[[Any, torch.Tensor], torch.Tensor]) -> list[dict[str, Any]]:
    """One forward and backward pass of (x, y); one dict per Linear or ConvNd layer, with the activation
    module that runs after it (before the next such layer) as its activations. `act` names the activation
    for models whose activation modules are not torch's own; functional activations (F.relu) are not seen,
    so such a layer's statistics are of its output.

    The model stays in whatever mode it is in (train mode: BatchNorm normalises with the batch, as the
    first training step sees it) and its gradients are cleared afterwards.
    """
    layers = weight_layers(model)
    outputs: dict[int, torch.Tensor] = {}
    activations: dict[int, torch.Tensor] = {}
    acts: dict[int, str] = {}
    hooks = []
    current = {"layer": -1}

    def on_layer(module: nn.Module, _: tuple[torch.Tensor, ...], out: torch.Tensor) -> None:
        current["layer"] = layers.index(module)
        out.retain_grad()
        outputs[current["layer"]] = out
        activations[current["layer"]] = out  # until an activation follows (the output layer: logits)

    def on_activation(module: nn.Module, __: tuple[torch.Tensor, ...], out: torch.Tensor) -> None:
        if current["layer"] >= 0:
            activations[current["layer"]] = out
            acts[current["layer"]] = ACT_NAMES.get(type(module).__name__, act)

    for module in model.modules():
        if module in layers:
            hooks.append(module.register_forward_hook(on_layer))
        elif is_activation(module):
            hooks.append(module.register_forward_hook(on_activation))
    try:
        model.zero_grad(set_to_none=True)
        loss_fn(model(x), y).backward()
    finally:
        for h in hooks:
            h.remove()
    rows = []
    last = len(layers) - 1
    with torch.no_grad():
        for i, layer in enumerate(layers):
            if i not in outputs:  # a layer the forward pass never used
                continue
            h = activations[i].detach().flatten(1)
            hidden = i < last
            a = acts.get(i, act)
            rows.append({
                "layer": i + 1, "kind": "hidden" if hidden else "output",
                "units": getattr(layer, "out_features", None) or layer.out_channels,
                "act_mean": float(h.mean()), "act_std": float(h.std()),
                "dead": dead_fraction(h) if hidden and a in DYING else None,
                "saturated": saturated_fraction(h, a) if hidden and a in SATURATING else None,
                "grad_out_std": float(outputs[i].grad.std()),
                "grad_w_std": float(layer.weight.grad.std()),
                "weight_std": float(layer.weight.std()),
            })
    model.zero_grad(set_to_none=True)
    return rows


def is_activation(module: nn.Module) -> bool:
    """ReLU, Tanh, Sigmoid, LeakyReLU, ELU...: torch keeps them all in torch.nn.modules.activation."""
    return type(module).__module__ == "torch.nn.modules.activation"


def probe_batch(data: Data, size: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The same `size` training examples for every init and every epoch (a seeded draw)."""
    g = torch.Generator().manual_seed(seed)
    idx = torch.randperm(data.n_train, generator=g)[:min(size, data.n_train)]
    return data.x_train[idx], data.y_train[idx]


def tidy(rows: list[dict[str, Any]], **keys: Any) -> list[dict[str, Any]]:
    """layers.csv rows: one per (…keys, layer, statistic), value; statistics that do not apply are skipped."""
    out = []
    for r in rows:
        for stat in STATISTICS:
            if r[stat] is not None:
                out.append({**keys, "layer": r["layer"], "statistic": stat, "value": r[stat]})
    return out


def inspect_inits(base: RunSpec, inits: list[str], data: Data, batch_size: int, device: str = "cpu"
                  ) -> tuple[dict[str, list[dict[str, Any]]], list[tuple[str, list[torch.Tensor]]]]:
    """Each init's network at initialisation on `device` (where `data` is): per-layer rows, and the
    activations for the histograms."""
    x, y = probe_batch(data, batch_size, base.seed)
    per_init, samples = {}, []
    for init in inits:
        spec = base.__class__(**{**base.to_dict(), "init": init})
        model = make_model(spec, data, device)
        model.train()
        per_init[spec.init] = layer_stats(model, x, y, spec.columns()["act"], criterion_of(spec, data).mean)
        samples.append((spec.init, hidden_activations(model, x)))
    return per_init, samples


def hidden_activations(model: nn.Module, x: torch.Tensor) -> list[torch.Tensor]:
    """Each hidden layer's activations (the output of each activation module after a Linear or ConvNd),
    flattened, for histograms."""
    layers = weight_layers(model)
    outs: list[torch.Tensor] = []
    seen = {"layer": False}

    def on_layer(*_: Any) -> None:
        seen["layer"] = True

    def on_activation(_: nn.Module, __: Any, out: torch.Tensor) -> None:
        if seen["layer"]:
            outs.append(out.detach().flatten().cpu())  # for the histograms (matplotlib), from any device

    hooks = [m.register_forward_hook(on_layer if m in layers else on_activation)
             for m in model.modules() if m in layers or is_activation(m)]
    try:
        with torch.no_grad():
            model(x)
    finally:
        for h in hooks:
            h.remove()
    return outs


class LayerTracker:
    """--track-layers: the per-layer statistics of every run after every epoch, on one fixed batch.

    Measured in eval mode (BatchNorm with its running statistics, no dropout) so that tracking never
    changes training: no random numbers drawn, no running statistics updated.
    """

    def __init__(self, data: Data, size: int = 256, seed: int = 0):
        self.x, self.y = probe_batch(data, size, seed)
        self.data = data
        self.rows: dict[str, list[dict[str, Any]]] = {}

    def __call__(self, spec: RunSpec, model: nn.Sequential, epoch: int) -> None:
        was_training = model.training
        model.eval()
        device = next(model.parameters()).device  # a single run's live model may be on a GPU
        stats = layer_stats(model, self.x.to(device), self.y.to(device), spec.columns()["act"],
                            criterion_of(spec, self.data).mean)
        model.train(was_training)
        keys = {"run_id": spec.run_id, "config": spec.config_id, "optimizer": spec.optimizer, "init": spec.init,
                "act": spec.columns()["act"], "norm": spec.norm, "seed": spec.seed, "epoch": epoch}
        self.rows.setdefault(spec.run_id, []).extend(tidy(stats, **keys))
