"""The torch.func engine: K runs of any model without buffers or random layers (a user's model) trained as
one, each with the numbers it would have alone.

The K models' parameters are stacked along a leading dimension (torch.func.stack_module_state) and one
forward pass is vmap over functional_call: member k sees its own weights and its own batch. Everything
else is the stacked engine's (stacked.py), which this one extends with another stack: the epoch (each
member's own batch order, the sum of the members' mean losses backpropagated, one torch.optim step over
the stack, the built-in optimizers acting on each element by itself), evaluation, and dropping a member
that diverged with its slice of the optimizer state. Tests check the records against the single-run
engine.

What cannot be stacked this way trains on the single-run engine (plan.py decides): models with buffers
(BatchNorm's running statistics would need vmap-aware in-place updates) or random layers (Dropout's masks
under vmap are not the masks a single run draws), and optimizers that are not torch.optim's built-ins.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from torch import nn
from torch.func import functional_call, stack_module_state, vmap
from torch.nn.attention import SDPBackend, sdpa_kernel

from nncmp.config.run import RunSpec
from nncmp.registry.datasets import Data
from nncmp.registry.user import one_line, stopped
from nncmp.training.engines.stacked import StackedRun

if TYPE_CHECKING:
    import torch


def why_not(model: nn.Module) -> str | None:
    """Why this (built) model cannot train in a torch.func stack, or None."""
    if any(True for _ in model.buffers()):
        return "it has buffers (BatchNorm's running statistics, ...), which a torch.func stack cannot update"
    random = [type(m).__name__ for m in model.modules() if isinstance(m, nn.modules.dropout._DropoutNd)]
    if random:
        return f"it has random layers ({random[0]}), whose masks in a stack would not be a single run's"
    return None


class FuncStack:
    """K models of one architecture (no buffers, no random layers) as stacked parameters, the stacked
    engine's Stack contract: inputs, shared, parameters, select, member, forward."""

    layers: list[Any] = []  # no BatchNorm or Dropout layers for the epoch to look at

    def __init__(self, models: list[nn.Module]):
        reason = why_not(models[0])
        if reason:
            raise ValueError(f"this model cannot train in a torch.func stack: {reason}")
        self.k = len(models)
        self.base = copy.deepcopy(models[0]).to("meta")  # the architecture only: its weights come stacked
        params, _ = stack_module_state(models)
        self.names = list(params)
        self.params = [params[n].detach().clone().requires_grad_(True) for n in self.names]

    @staticmethod
    def inputs(x: torch.Tensor) -> torch.Tensor:
        return x  # the model takes examples as they are (signals, images)

    def shared(self, x: torch.Tensor) -> torch.Tensor:
        # One copy per member: vmap over a shared input (in_dims None) measured 3x slower for Conv1d.
        return x.unsqueeze(0).expand(self.k, *x.shape).contiguous()

    def parameters(self) -> list[torch.Tensor]:
        return self.params

    def member_shapes(self) -> list[tuple[int, ...]]:
        return [tuple(p.shape[1:]) for p in self.params]

    def select(self, keep: torch.Tensor) -> dict[int, torch.Tensor]:
        moved = {}
        new = []
        for p in self.params:
            fresh = p.detach()[keep].clone().requires_grad_(True)
            moved[id(p)] = fresh
            new.append(fresh)
        self.params = new
        self.k = len(keep)
        return moved

    def member(self, j: int, template: nn.Module) -> nn.Module:
        template.load_state_dict({n: p[j].detach() for n, p in zip(self.names, self.params)})
        return template

    def forward(self, h: torch.Tensor, training: bool,
                noise: Callable[[int, tuple[int, ...]], torch.Tensor] | None = None) -> torch.Tensor:
        """h: [K, B, ...], member k's batch at h[k] → [K, B, outputs]."""
        self.base.train(training)

        def one(params: tuple[torch.Tensor, ...], x: torch.Tensor) -> torch.Tensor:
            return functional_call(self.base, dict(zip(self.names, params)), (x,))

        # Attention's fused CPU kernel has no batching rule (vmap would loop over the members); its math
        # kernel (matrix products and a softmax) batches, and computes the same attention.
        with sdpa_kernel(SDPBackend.MATH):
            return vmap(one)(tuple(self.params), h)


class FuncStackedRun(StackedRun):
    """Runs of one user's model that share a group key (they differ in init and seed), as one torch.func
    stack; the recorder's engine contract (see recorder.py)."""

    def __init__(self, specs: list[RunSpec], data: Data, device: str = "cpu"):
        super().__init__(specs, data, device)

    @staticmethod
    def make_stack(models: list[nn.Module]) -> FuncStack:  # type: ignore[override]
        return FuncStack(models)

    def member(self, j: int) -> nn.Module:
        return super().member(j).to(self.device)


TRIAL_EXAMPLES = 4  # per member and split: enough for one step and one evaluation, in a fraction of a second


def trial(specs: list[RunSpec], data: Data) -> str | None:
    """Why these runs cannot train in a torch.func stack, found by trying: two members built, one step and one
    evaluation on a few examples (recurrent layers without a batching rule, random numbers drawn inside forward,
    control flow on the data: vmap refuses them only when it runs them). None: the stack trained."""
    import torch

    few = replace(data, x_train=data.x_train[:TRIAL_EXAMPLES], y_train=data.y_train[:TRIAL_EXAMPLES],
                  x_val=data.x_val[:TRIAL_EXAMPLES], y_val=data.y_val[:TRIAL_EXAMPLES])
    members = [replace(s, batch_size=min(s.batch_size or TRIAL_EXAMPLES, few.n_train), steps=None, eval_every=None,
                       epochs=1, schedule="constant", warmup=None) for s in specs[:2]]
    with torch.random.fork_rng(devices=[]):  # building draws weights: leave the global generator as it was
        try:
            run = FuncStackedRun(members, few)
            run.train_epoch(1)
            run.evaluate("val")
        except Exception as e:  # noqa: BLE001 -- whatever vmap or the model raise, the single engine is the answer
            return one_line(e)
        except (SystemExit, KeyboardInterrupt) as e:  # sys.exit: the single engine fails the runs, saying so
            if not stopped(e):
                raise
            return one_line(e)
    return None
