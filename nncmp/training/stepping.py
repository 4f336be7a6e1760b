"""Building a run's optimizer, and what some optimizers need beyond `loss.backward(); optimizer.step()`.

The single-run engine trains every optimizer through a Stepper; the stacked engines build the
built-ins with build_optimizer and schedule them with schedules.Schedule. Special handling, by the
words `nncmp optimizers` shows (registry/optimizers.py decides which optimizer gets which):

    closure          step(closure): the closure zeroes the gradients, evaluates the batch again (with
                     gradients, also inside an optimizer's no_grad step) and returns its loss
    hessian          backward(create_graph=True), for the optimizer's Hessian-vector products
    muon-groups      the hidden layers' weight matrices in the Muon group (use_muon=True), everything
                     else (biases, the output layer, BatchNorm, convolutions) in the optimizer's AdamW group
    matrices+adamw   an optimizer of 2-D parameters only (torch's Muon): it takes the hidden matrices,
                     a torch AdamW at the same learning rate takes the rest
    schedule-free    optimizer.train()/.eval() wherever the model's mode changes, so evaluation sees
                     the averaged weights; with BatchNorm, its statistics are recomputed at those weights
    auto-args        num_data (training-set size) and num_iterations (all steps) filled in
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import torch
import torch.optim
from torch import nn

from nncmp.config.budget import total_steps
from nncmp.config.run import RunSpec
from nncmp.errors import SpecError
from nncmp.registry import hyperparameters as hp
from nncmp.registry import optimizers as optim
from nncmp.registry.models import MUP_SHAPES
from nncmp.registry.schedules import Schedule
from nncmp.training.direct_step import direct_step

if TYPE_CHECKING:
    from torch.optim.optimizer import ParamsT

    from nncmp.training.costs import StepTimer

FUSED_CPU = ("SGD", "Adam", "AdamW", "Adagrad")
BN_REFRESH_BATCHES = 50  # batches of the training set that re-estimate BatchNorm statistics (schedule-free)


def hidden_matrices(model: nn.Module) -> tuple[list[nn.Parameter], list[nn.Parameter]]:
    """(the hidden weight matrices: every 2-D parameter but embeddings' and the output layer's (the last
    Linear), every other parameter), in model order. What Muon-style optimizers orthogonalise; the rest
    goes to their AdamW part."""
    linears = [m for m in model.modules() if isinstance(m, nn.Linear)]
    excluded = {id(p) for m in model.modules() if isinstance(m, nn.Embedding) for p in m.parameters()}
    if linears:
        excluded |= {id(p) for p in linears[-1].parameters()}
    matrices = [p for p in model.parameters() if p.ndim == 2 and id(p) not in excluded]
    chosen = {id(p) for p in matrices}
    return matrices, [p for p in model.parameters() if id(p) not in chosen]


def decay_groups(params: list[torch.Tensor], extra: dict[str, Any] | None = None,
                 dims: list[int] | None = None) -> list[dict[str, Any]]:
    """Parameter groups that decay only weights of 2 or more dimensions: biases and normalisation gains get
    weight_decay 0 (what nanoGPT does with decoupled decay). `dims`: each parameter's dimensions in one run
    (a stack's tensors have more); empty groups left out."""
    dims = dims if dims is not None else [p.ndim for p in params]
    groups = [{"params": [p for p, d in zip(params, dims) if d >= 2], **(extra or {})},
              {"params": [p for p, d in zip(params, dims) if d < 2], **(extra or {}), "weight_decay": 0.0}]
    return [g for g in groups if g["params"]]


def decay_split(spec: RunSpec) -> bool:
    """Whether the run's weight decay skips parameters of fewer than 2 dimensions: decoupled decay (AdamW,
    Lion, Muon's AdamW part, ...) unless --decay-all."""
    return not spec.decay_all and bool(spec.weight_decay or dict(spec.opt_args).get("weight_decay")) \
        and optim.decoupled_decay(spec.optimizer, dict(spec.opt_args))


def settings(spec: RunSpec) -> dict[str, Any]:
    """A resolved run's optimizer settings: its hyperparameters and its --opt-arg values."""
    e = optim.entry(spec.optimizer)
    return {**{name: getattr(spec, name) for name in e.defaults}, **dict(spec.opt_args)}


def build_for(spec: RunSpec, params: ParamsT, model: nn.Module | None = None,
              n_train: int | None = None, dims: list[int] | None = None) -> torch.optim.Optimizer | Pair:
    """The optimizer of a resolved RunSpec (every hyperparameter filled in). `dims`: the parameters'
    dimensions in one run, where they are a stack's."""
    scales = None
    if spec.param == "mup":
        scales = mup_scales(spec, model)
        params = list(model.parameters())  # type: ignore[union-attr]  # mup_scales refused a missing model
    return build_optimizer(spec.optimizer, spec.lr, settings(spec), params, model, n_train,
                           total_steps(spec, n_train) if n_train else None,
                           split_decay=decay_split(spec), dims=dims, scales=scales)


def mup_scales(spec: RunSpec, model: nn.Module | None) -> list[tuple[float, float]]:
    """Each of the model's parameters' (learning-rate, weight-decay) factors under μP (registry/mup.py): the
    rule (Adam's or SGD's) decided from how the optimizer's update responds to the gradient's scale, the
    factors from the shapes that grow with width; decay by the inverse of the rate's factor, as mup's
    optimizers do, so that lr · weight_decay stays the base width's."""
    from nncmp.registry import mup  # lazy: torch at its top; read only by μP runs

    dims = getattr(model, MUP_SHAPES, None)
    if model is None or dims is None:
        raise ValueError("a μP run's optimizer needs its model as registry.models built it")
    try:
        rule = mup.rule_for(spec.optimizer, lambda p: build_optimizer(spec.optimizer, spec.lr, settings(spec), p))
    except ValueError as error:
        raise SpecError(f"--param mup: {str(error).removeprefix('μP: ')}") from None
    return list(zip(mup.lr_multipliers(model, dims, rule), mup.decay_multipliers(model, dims, rule)))


def build_optimizer(name: str, lr: float, values: dict[str, Any], params: ParamsT, model: nn.Module | None = None,
                    n_train: int | None = None, steps: int | None = None,
                    split_decay: bool = False, dims: list[int] | None = None,
                    scales: list[tuple[float, float]] | None = None) -> torch.optim.Optimizer | Pair:
    """Optimizer `name` at rate `lr` with these settings (hyperparameters and --opt-arg values). `model`,
    `n_train` and `steps` are needed by the optimizers that split the parameters or take the data size.
    `split_decay`: weight decay only on parameters of 2 or more dimensions (decay_groups). `scales`: each
    parameter's factors of `lr` and of the weight decay (μP's per-layer rates), one group per pair."""
    e = optim.entry(name)
    if e.unavailable:
        raise SpecError(f"{name} cannot run here: {e.unavailable}")
    cls = optim.optimizer_class(e)
    kwargs: dict[str, Any] = dict(values)
    kwargs.update(e.fixed)
    kwargs[e.lr_key or "lr"] = lr
    # torch's fused CPU kernels do the whole update in one pass over each tensor: several times faster than
    # the per-operation path for Adam (whose sqrt and div otherwise rival the matrix products), same formula.
    if e.module == "torch.optim" and e.torch_class in FUSED_CPU and "fused" not in kwargs:
        kwargs["fused"] = True
    if optim.AUTO_ARGS in e.handling:
        sizes = {"examples": n_train, "steps": steps}
        kwargs.update({a: sizes[what] for a, what in optim.AUTO.items() if a in optim.signature(cls)})
    if name in optim.SAM_WRAPPERS:
        kwargs["base_optimizer"] = torch.optim.SGD
    if optim.MUON in e.handling or optim.MATRICES in e.handling:
        if model is None:
            raise ValueError(f"{name} splits the model's parameters: pass the model")
        matrices, rest = hidden_matrices(model)
        if optim.MUON in e.handling:
            tail = decay_groups(rest, {"use_muon": False}) if split_decay else [{"params": rest, "use_muon": False}]
            return cls([{"params": matrices, "use_muon": True}, *tail], **kwargs)
        return Pair(cls(matrices, **kwargs), torch.optim.AdamW(decay_groups(rest) if split_decay else rest, lr=lr,
                                                               fused=True))
    params = list(params)
    if scales is not None:
        groups = []
        decay = kwargs.get("weight_decay") or 0.0
        for rate, shrink in sorted(set(scales)):
            members = [p for p, s in zip(params, scales) if s == (rate, shrink)]
            for group in decay_groups(members) if split_decay else [{"params": members}]:
                groups.append({**group, e.lr_key or "lr": lr * rate,
                               **({"weight_decay": group.get("weight_decay", decay) * shrink} if decay else {})})
        return cls(groups, **kwargs)
    if split_decay and params and not isinstance(params[0], dict):
        return cls(decay_groups(params, dims=dims), **kwargs)
    return cls(params, **kwargs)


@functools.cache
def check_build(name: str, lr: float | None, values: tuple[tuple[str, Any], ...]) -> None:
    """SpecError, before any training, if the optimizer's own checks refuse these settings (a library
    validates its arguments when the optimizer is made): made once on a small stand-in network."""
    e = optim.entry(name)
    model = nn.Sequential(nn.Linear(4, 4), nn.ReLU(), nn.Linear(4, 2))
    try:
        with torch.no_grad():
            build_optimizer(name, lr or e.lr, {**e.defaults, **dict(values)}, model.parameters(), model, 100, 2)
    except (ValueError, TypeError, AssertionError, KeyError) as error:
        raise SpecError(f"{name} refuses these settings: {' '.join(str(error).split())}") from None


def check_settings(specs: list[RunSpec]) -> None:
    """check_build for every run of a library's optimizer given settings of the user's (the built-ins'
    ranges RunSpec checks itself)."""
    for spec in specs:
        given = tuple((k, getattr(spec, k)) for k in hp.optimizer_own() if getattr(spec, k) is not None)
        if spec.optimizer not in optim.OPTIMIZERS and (spec.opt_args or given):
            check_build(spec.optimizer, spec.lr, given + spec.opt_args)


class Pair:
    """Two optimizers stepped as one (torch's Muon on the hidden matrices, AdamW on the rest)."""

    def __init__(self, *parts: torch.optim.Optimizer):
        self.parts = parts

    @property
    def param_groups(self) -> list[dict[str, Any]]:
        return [g for p in self.parts for g in p.param_groups]

    @property
    def state(self) -> dict[torch.Tensor, Any]:
        return {k: v for p in self.parts for k, v in p.state.items()}

    def zero_grad(self, set_to_none: bool = True) -> None:
        for p in self.parts:
            p.zero_grad(set_to_none=set_to_none)

    def step(self, closure: Callable[[], torch.Tensor] | None = None) -> None:
        for p in self.parts:
            p.step()


class Stepper:
    """A run's optimizer with its schedule and special handling, for the single-run engine."""

    def __init__(self, spec: RunSpec, model: nn.Module, n_train: int):
        self.model = model
        self.optimizer = build_for(spec, model.parameters(), model, n_train)
        self._step = direct_step(self.optimizer)
        handling = optim.entry(spec.optimizer).handling
        self.closure = optim.CLOSURE in handling
        self.hessian = optim.HESSIAN in handling
        self.schedule_free = optim.SCHEDULE_FREE in handling
        self.clip = spec.clip_grad_norm
        self.steps = 0
        self.timer: StepTimer | None = None  # the engine's, timing a sample of steps (costs.py)
        self.schedule = Schedule(self.optimizer, spec.schedule, total_steps(spec, n_train), spec.warmup,
                                 optim.entry(spec.optimizer).lr_key) if spec.schedule != "constant" else None

    def train_mode(self) -> None:
        self.model.train()
        if self.schedule_free:
            self.optimizer.train()

    def eval_mode(self, x_train: torch.Tensor, batch_size: int) -> None:
        """The model as evaluated: eval mode, and for schedule-free optimizers the averaged weights (with
        BatchNorm statistics recomputed there, as the library advises)."""
        # Before the first step the averaged weights are the weights (and some optimizers, SPlus, have no
        # average to swap in yet).
        if self.schedule_free and self.steps:
            self.optimizer.eval()
            refresh_batchnorm(self.model, x_train, batch_size)
        self.model.eval()

    def step(self, forward_backward: Callable[[bool], tuple[torch.Tensor, torch.Tensor]],
             n: int) -> tuple[torch.Tensor, torch.Tensor]:
        """One optimizer step on a batch of `n` examples. `forward_backward(create_graph)` zeroes the
        gradients, backpropagates the batch and returns (summed loss, what else the epoch records of it);
        a closure optimizer gets a closure that does it again and returns the mean loss. self.timer (the
        engine's costs.StepTimer, or None) is told when the backward pass and the step (a closure's passes
        included) are done."""
        timer = self.timer
        if timer is not None:
            timer.start()
        result = forward_backward(self.hessian)
        if timer is not None:
            timer.backward_done()
        if self.clip:
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.clip)
        if self.closure:
            def closure() -> torch.Tensor:
                with torch.enable_grad():
                    return forward_backward(self.hessian)[0] / n

            self.optimizer.step(closure)
        else:
            self._step()
        self.steps += 1
        if self.schedule:
            self.schedule.step()
        if timer is not None:
            timer.step_done()
        return result


def refresh_batchnorm(model: nn.Module, x: torch.Tensor, batch_size: int) -> None:
    """Recompute BatchNorm running statistics at the current weights: a cumulative average over the first
    BN_REFRESH_BATCHES training batches, in order (no effect on models without BatchNorm)."""
    norms = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    if not norms:
        return
    saved = [m.momentum for m in norms]
    for m in norms:
        m.reset_running_stats()
        m.momentum = None  # cumulative moving average
    model.train()
    bs = max(batch_size, 2)
    with torch.no_grad():
        for i in range(0, min(len(x), BN_REFRESH_BATCHES * bs), bs):
            if len(x[i:i + bs]) > 1:
                model(x[i:i + bs])
    for m, momentum in zip(norms, saved):
        m.momentum = momentum
