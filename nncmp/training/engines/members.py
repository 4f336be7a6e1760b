"""Stacked runs with optimizers of their own: tuning trials (other rates, betas, momentum, decay) and the
optimizers of pytorch-optimizer, whose update may look at a whole tensor (a norm, a sign, a trust ratio).

Each member gets a torch optimizer of its own over *views* of its slices of the stacked tensors, shaped as
its single run's parameters ([out, in] weights, [out] biases): leaves themselves (detached, sharing the
stack's memory). Before a step, each view's gradient is set to the matching slice of the stack's gradient.
Member j's update is then exactly its optimizer's, on tensors of its single run's shapes and values, with
its own hyperparameters and state: what its single run would do, whatever the optimizer computes per
tensor. (torch.optim holds one set of hyperparameters per parameter group, and a group holds whole leaf
tensors, so one optimizer over the stack cannot give members different rates.)
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from nncmp.config.run import RunSpec
from nncmp.training.direct_step import direct_step
from nncmp.training.stepping import build_for

if TYPE_CHECKING:
    import torch


class MemberOptimizers:
    """One optimizer per member of a stack; the stacked engine's optimizer contract (zero_grad, step,
    param_groups for a schedule) plus `keep` for dropping diverged members."""

    def __init__(self, specs: list[RunSpec], stack: Any, n_train: int | None = None):
        self.params = stack.parameters()
        self.shapes = stack.member_shapes()
        self.views = self._views(len(specs))
        self.optimizers = [build_for(spec, views, n_train=n_train) for spec, views in zip(specs, self.views)]
        self.steps = [direct_step(o) for o in self.optimizers]

    def _views(self, k: int) -> list[list[torch.Tensor]]:
        return [[p.detach()[j].view(shape) for p, shape in zip(self.params, self.shapes)] for j in range(k)]

    @property
    def param_groups(self) -> list[dict[str, Any]]:
        """Every member's groups (a schedule scales each from its own initial rate)."""
        return [g for o in self.optimizers for g in o.param_groups]

    def zero_grad(self, set_to_none: bool = True) -> None:
        for p in self.params:
            p.grad = None

    def step(self) -> None:
        for j, (step, views) in enumerate(zip(self.steps, self.views)):
            for view, p, shape in zip(views, self.params, self.shapes):
                view.grad = None if p.grad is None else p.grad[j].view(shape)
            step()

    def keep(self, keep: list[int], params: list[torch.Tensor]) -> None:
        """Only members `keep` remain, now in the stack's new tensors `params`: their optimizers move over,
        state and all (a member's state is its own already)."""
        self.params = params
        self.optimizers = [self.optimizers[j] for j in keep]
        self.steps = [self.steps[j] for j in keep]
        old_views = [self.views[j] for j in keep]
        self.views = self._views(len(keep))
        for optimizer, old, new in zip(self.optimizers, old_views, self.views):
            mapping = {id(o): n for o, n in zip(old, new)}
            for group in optimizer.param_groups:
                group["params"] = [mapping[id(v)] for v in group["params"]]
            for o, n in zip(old, new):
                if o in optimizer.state:
                    optimizer.state[n] = optimizer.state.pop(o)
