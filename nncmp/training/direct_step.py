"""torch.optim's Adam, AdamW and SGD with fused=True stepped by calling the fused kernel step() calls
(torch._fused_adam_, _fused_adamw_, _fused_sgd_), without step()'s Python around it: hook checks, a
profiler record, lazy state checks, grouping by device and dtype. That Python cost about 100 µs a step
here, as long as the kernel itself on the course MLP at batch 64, and a stack of tuning trials pays it once
per member. The update is torch's: the same kernel with the same arguments on the optimizer's own state
tensors, read afresh each step (a resumed state_dict or a dropped member replaces them). Anything else, or
any step where step() does more (the first, which creates the state; a missing gradient; a hook; tensors on
two devices or of two dtypes), goes to step(). Tests check the two give the same numbers.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch.optim import SGD, Adam, AdamW
from torch.optim import optimizer as _base

# The group settings under which the kernel call is all step() does.
_PLAIN = {"fused": True, "capturable": False, "differentiable": False}


def direct_step(optimizer: Any) -> Callable[[], None]:
    """A function doing `optimizer.step()` (no closure): by calling the fused kernel directly where that is
    all step() would do, else step() itself."""
    if type(optimizer) not in (Adam, AdamW, SGD) or getattr(optimizer, "grad_scale", None) is not None \
            or getattr(optimizer, "found_inf", None) is not None \
            or not all(group.get("fused") for group in optimizer.param_groups):
        return optimizer.step
    kernel_call = _adam_group if isinstance(optimizer, Adam) else _sgd_group
    # The calls made for the current state, groups and parameter lists (checked by identity: loading a
    # state_dict replaces the state and groups, dropping a stack member replaces a group's parameters).
    made: dict[str, Any] = {"key": (), "calls": []}

    def step() -> None:
        if _hooked(optimizer):
            optimizer.step()
            return
        groups = optimizer.param_groups
        key = (optimizer.state, groups, *(g["params"] for g in groups))
        old = made["key"]
        if len(old) != len(key) or any(a is not b for a, b in zip(old, key)) or not made["calls"]:
            calls = []
            for group in groups:
                call = kernel_call(optimizer.state, group)
                if call is None:  # step() would create state, skip a parameter or group its tensors: it does it
                    made["calls"] = []
                    optimizer.step()
                    return
                calls.append(call)
            made["key"], made["calls"] = key, calls
        elif any(p.grad is None for g in groups for p in g["params"]):  # step() skips those: it does it
            optimizer.step()
            return
        with torch.no_grad():
            for call in made["calls"]:
                call()

    return step


def _hooked(optimizer: Any) -> bool:
    return bool(optimizer._optimizer_step_pre_hooks or optimizer._optimizer_step_post_hooks
                or _base._global_optimizer_pre_hooks or _base._global_optimizer_post_hooks)


def _plain(group: dict[str, Any], params: list[torch.Tensor]) -> bool:
    """The group's settings and tensors are ones step() hands to the kernel as they are, in one call."""
    if not params or not all(group.get(k) == v for k, v in _PLAIN.items()) or torch.is_tensor(group["lr"]):
        return False
    kinds = {(p.device, p.dtype) for p in params} | {(p.grad.device, p.grad.dtype) for p in params
                                                      if p.grad is not None}
    return len(kinds) == 1 and all(p.grad is not None and not p.grad.is_sparse and not torch.is_complex(p)
                                   for p in params)


def _adam_group(state: Any, group: dict[str, Any]) -> Callable[[], None] | None:
    params = group["params"]
    if not _plain(group, params) or any(torch.is_tensor(b) for b in group["betas"]):
        return None
    entries = [state.get(p) for p in params]
    keys = ("step", "exp_avg", "exp_avg_sq", *(("max_exp_avg_sq",) if group["amsgrad"] else ()))
    if not all(e and all(k in e for k in keys) for e in entries):
        return None
    kernel = torch._fused_adamw_ if group.get("decoupled_weight_decay") else torch._fused_adam_
    first = entries[0]["step"]
    # step() adds the number 1 to the step counts; a tensor 1 of their own dtype and device adds the same
    # in a third of the time (no conversion of the number per tensor).
    ones = [torch.ones((), dtype=first.dtype, device=first.device)] * len(entries)

    def call() -> None:  # the group's settings as they are now (a schedule sets the rate between steps)
        beta1, beta2 = group["betas"]
        steps = [e["step"] for e in entries]
        torch._foreach_add_(steps, ones)
        kernel(params, [p.grad for p in params], [e["exp_avg"] for e in entries],
               [e["exp_avg_sq"] for e in entries],
               [e["max_exp_avg_sq"] for e in entries] if group["amsgrad"] else [], steps,
               amsgrad=group["amsgrad"], lr=group["lr"], beta1=beta1, beta2=beta2,
               weight_decay=group["weight_decay"], eps=group["eps"], maximize=group["maximize"],
               grad_scale=None, found_inf=None)

    return call


def _sgd_group(state: Any, group: dict[str, Any]) -> Callable[[], None] | None:
    params = group["params"]
    if not _plain(group, params):
        return None
    buffers: list[torch.Tensor] = []
    if group["momentum"] != 0:  # the buffers exist after the first step; step() makes them
        entries = [state.get(p) for p in params]
        if not all(e and e.get("momentum_buffer") is not None for e in entries):
            return None
        buffers = [e["momentum_buffer"] for e in entries]

    def call() -> None:
        torch._fused_sgd_(params, [p.grad for p in params], buffers, weight_decay=group["weight_decay"],
                          momentum=group["momentum"], lr=group["lr"], dampening=group["dampening"],
                          nesterov=group["nesterov"], maximize=group["maximize"], is_first_step=False,
                          grad_scale=None, found_inf=None)

    return call
