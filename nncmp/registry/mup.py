"""The maximal-update parametrisation (μP; Yang et al. 2022, "Tensor Programs V"), for width transfer: a model
trained under μP at any width takes the hyperparameters tuned at a small base width.

What microsoft/mup 1.0.0 does, without its classes (MuReadout, the `infshape` attribute on every parameter,
MuAdam/MuSGD), so a model of nncmp's stays an ordinary module whose parameters torch.func can stack:

- infer_shapes: which dimensions grow with width (set_base_shapes with a delta model): a dimension that
  differs between the base and the delta model is "infinite"; its multiplier is width / base width.
- apply: the output layer's input divided by its width multiplier (MuReadout, output_mult 1), its weight
  and bias times sqrt(multiplier), every other Linear's and Conv's bias times sqrt(fan-in multiplier)
  (set_base_shapes' rescale_params), and the transformer's attention scores scaled by 1/d_head.
- lr_multipliers / decay_multipliers: the per-parameter factors of MuAdam ("adam") and MuSGD ("sgd").
- rule_for: which of the two an optimizer follows, from a few of its steps.

torch is imported at the top: this module is read only when a run uses μP.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn
from torch.nn.modules.conv import _ConvNd

from nncmp.registry.sequence_models import CausalSelfAttention

RULES = ("adam", "sgd")
# rule_for's verdict per optimizer name: one step on a tiny tensor decides it once per process
_RULES: dict[str, str] = {}
# rule_for: how close an update must be to the gradient-scale-free (adam) or proportional (sgd) one, relative to
# its size. Adam's eps (1e-8) against gradients of at least 0.08 moves it by 1e-7; float32 rounding by 1e-7.
_RULE_RTOL = 1e-3
_STEPS = 8  # rule_for's steps: past RAdam's SGD-like warm-up (its first 5 steps at beta2 = 0.999)


@dataclass(frozen=True)
class Dims:
    """How one parameter's shape grows with width (mup's InfShape, reduced to what the rules read).

    grows: per dimension, whether it follows the width (it differs between the base and the delta model).
    mults: per dimension, width / base width where it grows, 1 where it does not.
    """

    grows: tuple[bool, ...]
    mults: tuple[float, ...]

    @property
    def ninf(self) -> int:
        """How many dimensions grow: 0 scalar-like (fixed: an output bias), 1 vector-like (input weights,
        embeddings, biases, norm gains, the output weight), 2 matrix-like (hidden weights)."""
        return sum(self.grows)

    @property
    def fan_in_mult(self) -> float:
        """Dimension 1's multiplier: mup's fan-in for every tensor of 2 or more dimensions, so a Linear's weight
        [out, in] and an Embedding's [vocab, d] alike (the embedding's fan-in is d). 1 for a 1-D tensor."""
        return self.mults[1] if len(self.mults) > 1 else 1.0

    @property
    def fan_out_mult(self) -> float:
        """Dimension 0's multiplier (mup's fan-out); 1 for a scalar."""
        return self.mults[0] if self.mults else 1.0

    @property
    def width_mult(self) -> float:
        """The last growing dimension's multiplier (mup's InfShape.width_mult: a hidden matrix's fan-in, a
        vector-like tensor's one growing dimension), 1 if none grows."""
        grown = [m for m, g in zip(self.mults, self.grows) if g]
        return grown[-1] if grown else 1.0


Shapes = Mapping[str, Sequence[int]]


def _shapes(x: nn.Module | Shapes) -> dict[str, tuple[int, ...]]:
    if isinstance(x, nn.Module):
        return {name: tuple(p.shape) for name, p in x.named_parameters()}
    return {name: tuple(s) for name, s in x.items()}


def infer_shapes(model: nn.Module | Shapes, base: nn.Module | Shapes, delta: nn.Module | Shapes) -> dict[str, Dims]:
    """Each named parameter's Dims (as mup's set_base_shapes(model, base, delta=delta)): a dimension grows with
    width when the base and the delta model (the same architecture at a second width) differ in it, and its
    multiplier is the model's size over the base's. Comparing two widths, rather than reading a width
    argument, finds every dimension that follows it (d_model, 4·d_model, 3·d_model, hidden sizes) and no
    other. Models or {name: shape} (a meta-device model's shapes are enough).

    ValueError: the three do not have the same parameters, a parameter grows in more than 2 dimensions (mup
    does not define that), or nothing differs between base and delta.
    """
    shapes, base_shapes, delta_shapes = _shapes(model), _shapes(base), _shapes(delta)
    if not shapes.keys() == base_shapes.keys() == delta_shapes.keys():
        extra = sorted((base_shapes.keys() | delta_shapes.keys()) ^ shapes.keys())
        raise ValueError(f"μP: the model has other parameters at other widths ({', '.join(extra[:4])})")
    dims: dict[str, Dims] = {}
    for name, shape in shapes.items():
        b, d = base_shapes[name], delta_shapes[name]
        if not len(shape) == len(b) == len(d):
            raise ValueError(f"μP: parameter {name} has {len(b)} dimensions at the base width, {len(shape)} here")
        grows = tuple(bs != ds for bs, ds in zip(b, d))
        if sum(grows) > 2:
            raise ValueError(f"μP: parameter {name} grows with width in {sum(grows)} dimensions; μP is defined for "
                             "at most 2 (matrices)")
        dims[name] = Dims(grows, tuple(s / bs if g else 1.0 for s, bs, g in zip(shape, b, grows)))
    if not any(d.ninf for d in dims.values()):
        raise ValueError("μP: the model does not change shape with its width argument")
    return dims


def readout(model: nn.Module) -> str:
    """The name of the output layer: the last nn.Linear in module order (as training/stepping.hidden_matrices
    takes it, so μP and the Muon-style split agree on which layer reads out). ValueError if there is none."""
    names = [name for name, m in model.named_modules() if isinstance(m, nn.Linear)]
    if not names:
        raise ValueError("μP needs an nn.Linear output layer; the model has no nn.Linear")
    return names[-1]


class ReadoutScale:
    """A forward pre-hook multiplying the output layer's input by `mult` (1 / its width multiplier): MuReadout's
    forward, Linear(output_mult · x / width_mult), on the unchanged nn.Linear. A hook rather than a wrapper
    keeps the parameters' names; it runs under torch.func.functional_call and vmap, registers no buffer, and
    pickles and deep-copies with the model (a plain class of this module, a float attribute)."""

    def __init__(self, mult: float):
        self.mult = mult

    def __call__(self, module: nn.Module, args: tuple[Any, ...]) -> tuple[Any, ...]:
        return (args[0] * self.mult, *args[1:])

    def __repr__(self) -> str:
        return f"ReadoutScale({self.mult})"


def _by_tensor(model: nn.Module, dims: Mapping[str, Dims]) -> dict[int, Dims]:
    """Dims by parameter identity: a shared weight (the transformer's tied head) is named once, by its first
    owner, in named_parameters."""
    missing = [name for name, _ in model.named_parameters() if name not in dims]
    if missing:
        raise ValueError(f"μP: no shape information for parameter {missing[0]}")
    return {id(p): dims[name] for name, p in model.named_parameters()}


def apply(model: nn.Module, dims: Mapping[str, Dims], readout_name: str) -> None:
    """Make the model, as built at its width with PyTorch's fan-in initialisation, a μP model; in place, once.

    As mup's set_base_shapes(rescale_params=True) with the output layer a MuReadout (output_mult 1):
    - the output layer's input is divided by its width multiplier m (a ReadoutScale pre-hook), and its
      weight and bias multiplied by sqrt(m): PyTorch's 1/sqrt(fan-in) init becomes the base width's
      (constant in width), and the 1/m multiplier makes the logits' update, not their init, width-free.
    - every other nn.Linear's and Conv's bias is multiplied by sqrt(its fan-in multiplier) (its init is
      1/sqrt(fan-in) like the weight's, μP wants it constant); their weights keep PyTorch's init, already μP's.
    - Embeddings, norms and other parameters are left as they are (mup leaves them too).
    - nncmp's transformer attention (CausalSelfAttention): scores scaled by sqrt(base d_head) / d_head
      instead of 1/sqrt(d_head) (μP's 1/d_head, mup's attn_mult / d_head with attn_mult chosen so the base
      width keeps SP's scale); d_head's multiplier is the qkv weight's fan-in multiplier, i.e. the number of
      heads is held fixed across widths (mup's convention: heads grow wider, not more numerous). A user's
      attention is theirs to scale.
    At the base width every multiplier is 1 and the model is exactly its SP self.

    Assumes the initialisation scales with fan-in as PyTorch's default (and He's, LeCun's) do; a weight drawn
    without regard to width (gpt2's N(0, 0.02)) is rescaled all the same, as mup would.
    A weight shared with the output layer (a tied embedding) is rescaled once, as the output layer's.
    ValueError: readout_name is not an nn.Linear, another Linear reads a growing dimension into a fixed one
    (mup's assert: only the output layer may), or apply was already called on this model.
    """
    head = model.get_submodule(readout_name)
    if not isinstance(head, nn.Linear):
        raise ValueError(f"μP: the output layer {readout_name!r} is a {type(head).__name__}, not an nn.Linear")
    if getattr(model, "nncmp_mup", False):
        raise ValueError("μP: apply() was already called on this model (it rescales parameters once)")
    of = _by_tensor(model, dims)
    for name, module in model.named_modules():
        if isinstance(module, nn.Linear) and module is not head:
            d = of[id(module.weight)]
            if d.grows[1] and not d.grows[0]:
                raise ValueError(f"μP: {name} maps a dimension that grows with width to a fixed one, as only the "
                                 f"output layer ({readout_name}) may")
    m = of[id(head.weight)].width_mult
    with torch.no_grad():
        head.weight.mul_(m**0.5)
        if head.bias is not None:
            head.bias.mul_(m**0.5)
        for module in model.modules():
            if module is not head and isinstance(module, (nn.Linear, _ConvNd)) and module.bias is not None:
                module.bias.mul_(of[id(module.weight)].fan_in_mult ** 0.5)
    head.register_forward_pre_hook(ReadoutScale(1 / m))
    for module in model.modules():
        if isinstance(module, CausalSelfAttention):
            d_head = module.qkv.in_features // module.n_head
            base_d_head = d_head / of[id(module.qkv.weight)].fan_in_mult
            module.scale = math.sqrt(base_d_head) / d_head
    model.nncmp_mup = True  # a plain attribute: not a buffer


def lr_multipliers(model: nn.Module, dims: Mapping[str, Dims], rule: str) -> list[float]:
    """Each parameter's learning-rate factor under μP, in model.parameters()' order (the base width's rate
    times it is the parameter's rate at this width). mup's optimizers, read from its source:

    - "adam" (MuAdam: Adam-like updates, whose size does not follow the gradient's): matrix-like ÷ width_mult
      (its fan-in multiplier); vector-like and scalar-like unchanged.
    - "sgd" (MuSGD: updates proportional to the gradient): vector-like × width_mult; matrix-like ×
      fan_out_mult / fan_in_mult (1 for a square hidden matrix); scalar-like unchanged.
    """
    if rule not in RULES:
        raise ValueError(f"μP: no rule {rule!r} (rules: {', '.join(RULES)})")
    of = _by_tensor(model, dims)
    out = []
    for p in model.parameters():
        d = of[id(p)]
        if d.ninf == 2:
            out.append(1 / d.width_mult if rule == "adam" else d.fan_out_mult / d.fan_in_mult)
        elif d.ninf == 1 and rule == "sgd":
            out.append(d.width_mult)
        else:
            out.append(1.0)
    return out


def decay_multipliers(model: nn.Module, dims: Mapping[str, Dims], rule: str) -> list[float]:
    """Each parameter's weight-decay factor under μP, in model.parameters()' order: the inverse of its
    learning-rate factor, as MuAdam and MuSGD scale weight_decay (MuAdam: matrix-like × width_mult; MuSGD:
    vector-like ÷ width_mult, matrix-like × fan_in/fan_out), so that lr · weight_decay, the decoupled
    decay's per-step shrinkage, stays the base width's."""
    return [1 / f for f in lr_multipliers(model, dims, rule)]


def _last_update(build: Callable[[Iterable[nn.Parameter]], Any], grad: torch.Tensor) -> torch.Tensor:
    """The update the last of _STEPS steps of a fresh optimizer makes, from zero parameters, with this gradient at
    every step (a linear loss <grad, p>, so a closure recomputes the same gradient)."""
    p = nn.Parameter(torch.zeros_like(grad))
    opt = build([p])

    def closure() -> torch.Tensor:
        opt.zero_grad()
        loss = (p * grad).sum()
        loss.backward()
        return loss.detach()

    before = p.detach().clone()
    for _ in range(_STEPS):
        before = p.detach().clone()
        p.grad = grad.clone()
        try:
            opt.step(closure)
        except TypeError:  # a step() that takes no closure
            p.grad = grad.clone()
            opt.step()
    return p.detach() - before


def rule_for(name: str, build: Callable[[Iterable[nn.Parameter]], Any]) -> str:
    """Which μP rule the optimizer `name` follows, decided from its behaviour, not its name: `build(params)`
    makes it (at the run's settings); a few steps from zero parameters with a gradient g at each, and fresh with
    10·g. A last update the gradient's scale leaves unchanged is Adam-like ("adam": Adam, AdamW, RMSProp,
    Adagrad, Adadelta, Lion and sign methods, LAMB-style trust ratios); one that grows 10-fold is SGD-like
    ("sgd": SGD, momentum, Nesterov). Remembered by name for the process.

    Several steps, the last one compared: RAdam's first steps are SGD-like warm-up (it is Adam-like after),
    and ADOPT or SOAP take no step at first. From zero parameters, weight decay keeps the classes apart: the
    whole SGD trajectory stays proportional to g (coupled decay is linear), an Adam-like one independent of it.

    Muon-style optimizers (orthogonalised updates) are scale-invariant too and come out "adam", but μP for
    them is another rule (spectral scaling): the caller refuses them by their handling before asking.
    ValueError: anything else (an update neither invariant to nor proportional to the gradient's scale, no
    update at all, an optimizer that fails on a plain tensor): μP's rules are defined for those two only.
    """
    if name in _RULES:
        return _RULES[name]
    g = ((torch.arange(12, dtype=torch.float32) - 5.5) / 6).reshape(4, 3)  # |g| in 0.08…0.92, no zero
    try:
        one, ten = _last_update(build, g), _last_update(build, 10 * g)
    except Exception as e:  # any failure: no rule can be told
        raise ValueError(f"μP: cannot tell which μP rule {name} follows: steps on a plain tensor failed ({e})"
                         ) from e
    size = one.norm().item()
    if size > 0 and math.isfinite(size):
        if (ten - one).norm().item() <= _RULE_RTOL * size:
            _RULES[name] = "adam"
            return "adam"
        if (ten - 10 * one).norm().item() <= _RULE_RTOL * 10 * size:
            _RULES[name] = "sgd"
            return "sgd"
    raise ValueError(f"μP: {name}'s update is neither unchanged by the gradient's scale (Adam-like) nor proportional "
                     "to it (SGD-like); μP's rules are defined for SGD-like and Adam-like updates only")
