"""A plain MLP's mean cross-entropy gradient computed by hand, for the single-run engine (plan.hand_backprop
says when): the same matrix products autograd runs for nn.Linear (x·Wᵀ + b forward; δᵀ·x, Σδ and δ·W
backward) and torch's own activation backward kernels, with none of autograd's graph: no nodes recorded in
the forward pass, no engine walking them, no gradient buffers allocated and freed each step, activations
applied in place. On the course MLP at batch 64 that was a fifth of a step. The optimizer then steps from
.grad as after loss.backward(), whatever it is.

The one place the arithmetic differs from autograd is the output delta: softmax − one-hot, divided by the
batch size, where autograd goes through log_softmax's backward; the two agree to float32 rounding, and
tests hold the engine to the rounding bounds of tests/numerics.py against the autograd path.
"""

from __future__ import annotations

import torch
from torch import nn

from nncmp.training.engines.fast_sgd import activation


class HandGrad:
    """The gradient of a plain MLP (Flatten, Linear, activation, …, Linear, every Linear biased)."""

    def __init__(self, model: nn.Module, act: str):
        self.model = model
        linears = [m for m in model.modules() if isinstance(m, nn.Linear)]
        self.ws = [m.weight for m in linears]
        self.bs = [m.bias for m in linears]
        self.act, self.backward = activation(act, inplace=True)

    def watched(self) -> bool:
        """A forward or backward hook is on the model (the coordinate check's, a user's): it sees only module
        calls, so autograd's path trains while it is there."""
        from torch.nn.modules import module as base

        hooks = ("_forward_hooks", "_forward_pre_hooks", "_backward_hooks", "_backward_pre_hooks")
        return any(getattr(m, h, None) for m in self.model.modules() for h in hooks) or any(
            getattr(base, f"_global{h}", None) for h in hooks)

    def __call__(self, x: torch.Tensor, y: torch.Tensor, batch: int, accumulate: bool = False) -> torch.Tensor:
        """The logits of x (no graph), after adding to each parameter's .grad (or setting it, `accumulate`
        False) the gradient of the cross-entropy summed over x's examples divided by `batch`: the whole
        batch's mean gradient once every chunk of it is in."""
        ws, bs = self.ws, self.bs
        last = len(ws) - 1
        with torch.no_grad():
            h = x.reshape(len(x), -1)
            inputs = []
            for j in range(last):
                inputs.append(h)
                h = self.act(torch.addmm(bs[j], h, ws[j].t()))
            inputs.append(h)
            logits = torch.addmm(bs[last], h, ws[last].t())
            delta = torch.softmax(logits, 1)
            delta[torch.arange(len(y), device=y.device), y] -= 1.0
            delta.div_(batch)
            for j in range(last, -1, -1):
                below = self.backward(torch.mm(delta, ws[j]), inputs[j]) if j > 0 else None
                _put(ws[j], torch.mm(delta.t(), inputs[j]), accumulate)
                _put(bs[j], delta.sum(0), accumulate)
                delta = below
        return logits


def _put(p: torch.Tensor, grad: torch.Tensor, accumulate: bool) -> None:
    if accumulate and p.grad is not None:
        p.grad.add_(grad)
    else:
        p.grad = grad
