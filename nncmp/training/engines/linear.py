"""One Linear layer for K stacked members: x [K,B,in] @ W[k]ᵀ + b[k], with nn.Linear's gradient formulas."""

from __future__ import annotations

from typing import Any

import torch

_LINEAR: type[torch.autograd.Function] | None = None


def stacked_linear(x: torch.Tensor, w: torch.Tensor, b: torch.Tensor | None) -> torch.Tensor:
    """x [K,B,in] @ W[k]ᵀ + b[k] for W [K,out,in], differentiable, with nn.Linear's gradient formulas.

    Autograd through baddbmm would return W's gradient in the transposed layout, which then costs a copy
    per step into .grad; this returns gᵀx directly in W's layout, as F.linear's backward does.
    """
    global _LINEAR
    if _LINEAR is None:
        _LINEAR = _make_linear_function()
    return _LINEAR.apply(x, w, b)


def _make_linear_function() -> type[torch.autograd.Function]:
    class StackedLinear(torch.autograd.Function):
        @staticmethod
        def forward(ctx: Any, x: torch.Tensor, w: torch.Tensor, b: torch.Tensor | None) -> torch.Tensor:
            ctx.save_for_backward(x, w)
            ctx.has_bias = b is not None
            return torch.bmm(x, w.transpose(1, 2)) if b is None else torch.baddbmm(b, x, w.transpose(1, 2))

        @staticmethod
        def backward(ctx: Any, g: torch.Tensor) -> tuple[torch.Tensor | None, ...]:
            x, w = ctx.saved_tensors
            gx = torch.bmm(g, w) if ctx.needs_input_grad[0] else None
            gw = torch.bmm(g.transpose(1, 2), x) if ctx.needs_input_grad[1] else None
            gb = g.sum(1, keepdim=True) if ctx.has_bias and ctx.needs_input_grad[2] else None
            return gx, gw, gb

    return StackedLinear
