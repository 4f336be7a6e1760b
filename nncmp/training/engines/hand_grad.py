"""A plain MLP's mean cross-entropy gradient computed by hand, for the single-run and stacked engines
(plan.hand_backprop says when): the same matrix products autograd runs for nn.Linear (x·Wᵀ + b forward;
δᵀ·x, Σδ and δ·W backward; batched per member for a stack) and torch's own activation backward kernels,
with none of autograd's graph: no nodes recorded in the forward pass, no engine walking them, activations
applied in place. On the course MLP at batch 64 that was a fifth of a step alone and a tenth of a stack's
(measured on one thread). The optimizer then steps from .grad as after loss.backward(), whatever it is.

The one place the arithmetic differs from autograd is the output delta: (exp(log p) − one-hot) ÷ batch,
where autograd's log_softmax and nll_loss backward compute −one-hot/batch − exp(log p)·(−1/batch); the two
agree to float32 rounding, and tests hold the engines to the rounding bounds of tests/numerics.py against
the autograd path. The loss is torch's cross-entropy exactly (nll_loss of log_softmax).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from nncmp.training.engines.fast_sgd import activation


class HandGrad:
    """The gradient of a plain MLP (Flatten, Linear, activation, …, Linear, every Linear biased): one model's
    (weights [out, in], biases [out]) or a stack's (weights [K, out, in], biases [K, 1, out], each member its
    own batch), as `layers()` gives them at each call (a stack that drops a member has new tensors)."""

    def __init__(self, layers: Callable[[], list[tuple[torch.Tensor, torch.Tensor]]], act: str,
                 model: nn.Module | None = None):
        self.layers, self.model = layers, model
        self._made: dict[tuple[Any, ...], torch.Tensor] = {}  # row positions and -1 on a device, made once
        self.act, self.backward = activation(act, inplace=True)

    def _once(self, key: tuple[Any, ...], make: Callable[[], torch.Tensor]) -> torch.Tensor:
        if key not in self._made:
            self._made[key] = make()
        return self._made[key]

    @classmethod
    def of(cls, model: nn.Module, act: str) -> HandGrad:
        linears = [m for m in model.modules() if isinstance(m, nn.Linear)]
        pairs = [(m.weight, m.bias) for m in linears]
        return cls(lambda: pairs, act, model)

    @staticmethod
    def fits(crit: Any) -> bool:
        """The run's loss is the one computed here: built-in cross-entropy on one class per example."""
        return crit.fn is None and crit.name == "cross-entropy" and not crit.per_token and not crit.smoothing \
            and crit.scale is None

    def watched(self) -> bool:
        """A forward or backward hook is on the model (the coordinate check's, a user's): it sees only module
        calls, so autograd's path trains while it is there."""
        from torch.nn.modules import module as base

        hooks = ("_forward_hooks", "_forward_pre_hooks", "_backward_hooks", "_backward_pre_hooks")
        modules = list(self.model.modules()) if self.model is not None else []
        return any(getattr(m, h, None) for m in modules for h in hooks) or any(
            getattr(base, f"_global{h}", None) for h in hooks)

    def __call__(self, x: torch.Tensor, y: torch.Tensor, batch: int,
                 accumulate: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
        """The logits of x ([B, ...] for one model, [K, B, features] for a stack; no graph) and its mean
        cross-entropy (each member's, [K], for a stack: the numbers Criterion.mean and .members give), after
        adding to each parameter's .grad (or setting it, `accumulate` False) the gradient of the cross-entropy
        summed over x's examples divided by `batch`: the batch's mean gradient once every chunk of it is in."""
        pairs = self.layers()
        last = len(pairs) - 1
        stacked = pairs[0][0].dim() == 3
        # nn.Linear's products (F.linear: x·Wᵀ + b, then δᵀ·x and δ·W), one model's or batched per member.
        forward, product = (torch.baddbmm, torch.bmm) if stacked else (torch.addmm, torch.mm)
        with torch.no_grad():
            h = x if stacked else x.reshape(len(x), -1)
            inputs = []
            for j in range(last):
                inputs.append(h)
                w, b = pairs[j]
                h = self.act(forward(b, h, w.transpose(-2, -1)))
            inputs.append(h)
            w, b = pairs[last]
            logits = forward(b, h, w.transpose(-2, -1))
            # Cross-entropy as torch computes it (nll_loss of log_softmax), and its delta from the same log-
            # probabilities, as autograd's log_softmax backward takes them: exp(log p) − one-hot, ÷ batch.
            log_p = torch.log_softmax(logits, -1)
            classes = log_p.shape[-1]
            if stacked:
                k, n = y.shape
                loss = F.nll_loss(log_p.view(k * n, classes), y.reshape(-1), reduction="none").view(k, n).mean(1)
            else:
                loss = F.nll_loss(log_p, y)
            delta = log_p.exp()
            flat = delta.view(-1, classes)
            rows = self._once(("rows", len(flat), y.device), lambda: torch.arange(len(flat), device=y.device))
            minus_one = self._once(("-1", flat.dtype, flat.device),
                                   lambda: torch.tensor(-1.0, dtype=flat.dtype, device=flat.device))
            flat.index_put_((rows, y.reshape(-1)), minus_one, accumulate=True)  # one op; flat[i, y] -= 1 took 3
            delta.div_(batch)
            for j in range(last, -1, -1):
                w, b = pairs[j]
                below = self.backward(product(delta, w), inputs[j]) if j > 0 else None
                _put(w, product(delta.transpose(-2, -1), inputs[j]), accumulate)
                _put(b, delta.sum(1, keepdim=True) if stacked else delta.sum(0), accumulate)
                delta = below
        return logits, loss


def _put(p: torch.Tensor, grad: torch.Tensor, accumulate: bool) -> None:
    if accumulate and p.grad is not None:
        p.grad.add_(grad)
    else:
        p.grad = grad
