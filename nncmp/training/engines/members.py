"""Stacked runs with hyperparameters of their own (tuning trials): one torch optimizer per member."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from nncmp.spec.run import RunSpec

if TYPE_CHECKING:
    import torch


class MemberOptimizers:
    """One torch.optim optimizer per member, each with the member's own hyperparameters, over views of the
    member's slices of the stacked tensors.

    torch.optim holds one set of hyperparameters per parameter group and a group holds whole leaf tensors,
    while a stack's tensor [K, ...] holds every member: so each member gets views of its slice (leaves
    themselves: detached, sharing the stack's memory), and before a step each view's gradient is set to
    the matching slice of the stack's gradient. The update of member j is then torch's own, with its own
    rate, betas, momentum and decay: what its single run would do (the built-ins act on each element).
    """

    def __init__(self, specs: list[RunSpec], stack: Any):
        from nncmp.training.stepping import build_for

        params = stack.parameters()
        self.params = params
        self.views = [[p.detach()[j] for p in params] for j in range(len(specs))]
        self.optimizers = [build_for(spec, views) for spec, views in zip(specs, self.views)]

    @property
    def param_groups(self) -> list[dict[str, Any]]:
        """Every member's groups (a schedule scales each from its own initial rate)."""
        return [g for o in self.optimizers for g in o.param_groups]

    def zero_grad(self, set_to_none: bool = True) -> None:
        for p in self.params:
            p.grad = None

    def step(self) -> None:
        for j, (optimizer, views) in enumerate(zip(self.optimizers, self.views)):
            for view, p in zip(views, self.params):
                view.grad = None if p.grad is None else p.grad[j]
            optimizer.step()

    def keep(self, keep: list[int], params: list[torch.Tensor]) -> None:
        """Only members `keep` remain, now in the stack's new tensors `params`: their optimizers move over,
        state and all (a member's state is its own already)."""
        self.params = params
        self.optimizers = [self.optimizers[j] for j in keep]
        old_views = [self.views[j] for j in keep]
        self.views = [[p.detach()[i] for p in params] for i in range(len(keep))]
        for optimizer, old, new in zip(self.optimizers, old_views, self.views):
            mapping = {id(o): n for o, n in zip(old, new)}
            for group in optimizer.param_groups:
                group["params"] = [mapping[id(v)] for v in group["params"]]
            for o, n in zip(old, new):
                if o in optimizer.state:
                    optimizer.state[n] = optimizer.state.pop(o)
