"""Plain SGD at batch size 1 without autograd: the "fast-sgd" engine's epoch, for one run or a stack.

Per example: the forward pass, the softmax-minus-one-hot delta at the output, then for each layer from the
top the delta for the layer below (computed with the weights before their update, through torch's own
threshold/tanh/sigmoid_backward kernels) and an in-place rank-1 update of the weights (addr_ for one model,
baddbmm_ for a stack, where each member may have its own learning rate). About twenty tensor operations
per step: their dispatch cost, not arithmetic, is the limit — but for the first layer, whose two passes over
784×256 weights were half a step: it goes in blocks of BLOCK steps (_blocked_single, _blocked_stacked), the
step-by-step path (_stepwise_single, _stepwise_stacked) staying for weight decay.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Protocol

import torch
import torch.nn.functional as F

from nncmp.config.run import RunSpec
from nncmp.registry.schedules import factor

if TYPE_CHECKING:
    from nncmp.registry.datasets import Data
    from nncmp.training.recorder import EpochMetrics


# What the epoch uses of a stacked.StackedRun (and its Stack and Layers): stacked.py imports this module, so
# it cannot be imported back here.
class _Layer(Protocol):
    @property
    def kind(self) -> str: ...

    @property
    def tensors(self) -> Sequence[torch.Tensor | None]: ...


class _Stack(Protocol):
    @property
    def k(self) -> int: ...

    @property
    def layers(self) -> Sequence[_Layer]: ...


class FastState(Protocol):
    data: Data
    x: torch.Tensor  # the training inputs, flattened
    steps_done: int
    total_steps: int
    step_hook: Callable[[int], None] | None

    @property
    def stack(self) -> _Stack: ...

    def permutations(self) -> torch.Tensor: ...


def activation(act: str, inplace: bool = False) -> tuple[Callable[[torch.Tensor], torch.Tensor],
                                                        Callable[[torch.Tensor, torch.Tensor], torch.Tensor]]:
    """The activation as a plain torch function (no nn.Module call overhead per step; `inplace`: overwriting
    its argument, for a tensor nothing else holds) and torch's own backward kernel for it, taking (gradient,
    activation output): the kernels autograd runs for nn.ReLU, nn.Tanh and nn.Sigmoid."""
    aten = torch.ops.aten
    forward = {"relu": (torch.relu, torch.relu_), "tanh": (torch.tanh, torch.tanh_),
               "sigmoid": (torch.sigmoid, torch.sigmoid_)}[act][inplace]
    return forward, {"relu": lambda g, out: aten.threshold_backward(g, out, 0), "tanh": aten.tanh_backward,
                     "sigmoid": aten.sigmoid_backward}[act]


FAST_CHUNK = 512  # steps whose inputs are gathered at once: one indexing op per chunk, not per step


class StepHook:
    """The recorder's step hook in this epoch's terms: called with the epoch's steps so far; `due(t)`: whether it
    takes the weights after step t (its `every`; every step if it does not say)."""

    def __init__(self, hook: Callable[[int], None], base: int):
        self.hook, self.base, self.every = hook, base, getattr(hook, "every", 1)

    def due(self, t: int) -> bool:
        return (self.base + t) % self.every == 0

    def __call__(self, t: int) -> None:
        self.hook(self.base + t)


def fast_sgd_epoch(state: FastState, specs: list[RunSpec]) -> tuple[EpochMetrics, int]:
    """One epoch of the stack in `state` (a stacked.StackedRun built with fast=True); returns the members'
    (train loss, accuracy, first non-finite step) and the examples seen."""
    stack = state.stack
    linears = [layer.tensors for layer in stack.layers if layer.kind == "linear"]
    k, n = stack.k, state.data.n_train
    perms = state.permutations()
    y_all = state.data.y_train[perms]  # [K, n]
    n_out = linears[-1][0].shape[1]
    onehot = F.one_hot(y_all, n_out).float()  # [K, n, classes]: softmax - onehot is the delta at the output
    logits = torch.empty(k, n, n_out)
    rates = [s.lr for s in specs]
    decays = [s.weight_decay or 0.0 for s in specs]  # torch's SGD weight_decay: grad + wd·w, on biases too
    # A learning-rate schedule: each step's factor, shared by the members (it is part of their group key).
    first = specs[0]
    factors = None
    if first.schedule != "constant":
        factors = [factor(first.schedule, state.steps_done + t, state.total_steps, first.warmup) for t in range(n)]
    base = state.steps_done
    state.steps_done += n
    # --track-every: called after each example's update with the run's steps so far (None: not tracking).
    on_step = StepHook(state.step_hook, base) if state.step_hook else None
    with torch.no_grad():
        ws = [w.detach() for w, _ in linears]
        bs = [b.detach() for _, b in linears]
        if k == 1:
            _fast_sgd_single(state, perms[0], [w[0] for w in ws], [b[0, 0] for b in bs], onehot[0], logits[0],
                             rates[0], specs[0].act, factors, on_step, decays[0])
        else:
            _fast_sgd_stacked(state, perms, ws, bs, onehot, logits, rates, specs[0].act, factors, on_step, decays)
        step_losses = F.cross_entropy(logits.transpose(1, 2), y_all, reduction="none")  # [K, n]
        bad = ~torch.isfinite(step_losses)
        bad_step = torch.where(bad.any(1), bad.int().argmax(1) + 1, 0)  # argmax: the first True
        accuracy = (logits.argmax(-1) == y_all).double().mean(1)
    return (step_losses.mean(1).tolist(), accuracy.tolist(), bad_step.tolist()), n


def _fast_sgd_single(state: FastState, perm: torch.Tensor, ws: list[torch.Tensor], bs: list[torch.Tensor],
                     onehot: torch.Tensor, logits: torch.Tensor, lr: float, act_name: str,
                     factors: list[float] | None = None, on_step: StepHook | None = None,
                     decay: float = 0.0) -> None:
    """One model: matrix-vector products (addmv) and rank-1 updates (addr_), no batch dimension at all.
    factors: the learning-rate schedule's factor of each step of the epoch (None: constant). decay: SGD's
    weight decay, w ← w·(1 − rate·decay) − rate·g (torch's w − rate·(g + decay·w), rounded once more).
    Without decay the first layer goes by blocks (_blocked_single)."""
    if not decay:
        _blocked_single(state, perm, ws, bs, onehot, logits, lr, act_name, factors, on_step)
    else:
        _stepwise_single(state, perm, ws, bs, onehot, logits, lr, act_name, factors, on_step, decay)


def _stepwise_single(state: FastState, perm: torch.Tensor, ws: list[torch.Tensor], bs: list[torch.Tensor],
                     onehot: torch.Tensor, logits: torch.Tensor, lr: float, act_name: str,
                     factors: list[float] | None = None, on_step: Callable[[int], None] | None = None,
                     decay: float = 0.0) -> None:
    """_fast_sgd_single step by step: each example's update applied before the next example's forward pass
    (weight decay shrinks every weight every step; the tests' reference for the blocks)."""
    act, backward = activation(act_name)
    last = len(ws) - 1
    wts = [w.t() for w in ws]  # views: they follow the in-place updates
    n = len(perm)
    for c in range(0, n, FAST_CHUNK):
        xs = state.x[perm[c:c + FAST_CHUNK]]
        for i in range(len(xs)):
            rate = lr if factors is None else lr * factors[c + i]
            h = xs[i]
            inputs = []
            for j in range(last):
                inputs.append(h)
                h = act(torch.addmv(bs[j], ws[j], h))
            inputs.append(h)
            out = torch.addmv(bs[last], ws[last], h, out=logits[c + i])
            delta = torch.softmax(out, 0).sub_(onehot[c + i])
            for j in range(last, -1, -1):
                below = backward(torch.mv(wts[j], delta), inputs[j]) if j > 0 else None
                if decay:
                    ws[j].mul_(1.0 - rate * decay)
                    bs[j].mul_(1.0 - rate * decay)
                ws[j].addr_(delta, inputs[j], alpha=-rate)
                bs[j].add_(delta, alpha=-rate)
                delta = below
            if on_step:
                on_step(c + i + 1)


BLOCK = 32  # steps whose first-layer products _blocked_single makes at once (16–64 measured alike)


def _blocked_single(state: FastState, perm: torch.Tensor, ws: list[torch.Tensor], bs: list[torch.Tensor],
                    onehot: torch.Tensor, logits: torch.Tensor, lr: float, act_name: str,
                    factors: list[float] | None, on_step: StepHook | None = None) -> None:
    """_fast_sgd_single's arithmetic with the first layer's work in blocks of BLOCK steps. Per step the first
    layer is two passes over its weights (784×256 for the course's mlp: the product and the rank-1 update),
    half the step's time. In a block, one matrix product gives every step's pre-activation with the weights
    as the block starts, and each step adds what the block's earlier updates changed: an update −r·d·x'
    (and −r·d on the bias) changes the pre-activation at input x by −r·d·(x'·x + 1), from a Gram matrix of the
    block's inputs made once. At the block's end its updates are applied as one product. The same sums in
    another order: the results agree with the step-by-step path to rounding (tests: engines/test_fast_sgd.py).
    The first layer never needs the delta below it, so only its forward pass reads the pending updates.
    A step hook (--track-every) gets the weights as they stand after the steps it takes, the first layer brought
    up to that step for the call and put back after it, so that tracking changes no number."""
    act, backward = activation(act_name, inplace=True)  # every activation here acts on a fresh tensor
    last = len(ws) - 1
    wts = [w.t() for w in ws]  # views: they follow the in-place updates
    pending = torch.empty(BLOCK, ws[0].shape[0])  # −rate·delta at the first layer's output, per step of the block
    rows, columns = pending.unbind(0), pending.t()
    for c in range(0, len(perm), FAST_CHUNK):
        chunk = state.x[perm[c:c + FAST_CHUNK]]
        for s in range(0, len(chunk), BLOCK):
            xs = chunk[s:s + BLOCK]
            first = c + s
            r = len(xs)
            pre = torch.addmm(bs[0], xs, wts[0])  # [r, out]: the block's pre-activations at its start
            gram = torch.mm(xs, xs.t()).add_(1.0)  # x'·x + 1: the bias is a weight on a constant input 1
            steps = zip(pre.unbind(0), gram.unbind(0), onehot[first:first + r].unbind(0),
                        logits[first:first + r].unbind(0))
            for k, (a, g, target, out) in enumerate(steps):
                rate = lr if factors is None else lr * factors[first + k]
                z = torch.addmv(a, columns[:, :k], g[:k], out=out if last == 0 else None)
                inputs = [xs[k]]
                for j in range(1, last + 1):
                    inputs.append(act(z))
                    z = torch.addmv(bs[j], ws[j], inputs[j], out=out if j == last else None)
                delta = torch.softmax(z, 0).sub_(target)
                for j in range(last, 0, -1):
                    below = backward(torch.mv(wts[j], delta), inputs[j])
                    ws[j].addr_(delta, inputs[j], alpha=-rate)
                    bs[j].add_(delta, alpha=-rate)
                    delta = below
                torch.mul(delta, -rate, out=rows[k])
                if on_step is not None and k < r - 1 and on_step.due(first + k + 1):
                    with _brought_up(ws[0], bs[0], pending[:k + 1], xs[:k + 1]):
                        on_step(first + k + 1)
            _apply(ws[0], bs[0], pending[:r], xs)
            if on_step is not None and on_step.due(first + r):
                on_step(first + r)


def _apply(w: torch.Tensor, b: torch.Tensor, done: torch.Tensor, x: torch.Tensor) -> None:
    """A block's updates to the first layer: `done` is −rate·δ of its steps ([steps, out]; a stack's [K, steps,
    out]), `x` their inputs; w += doneᵀ·x, b += Σ done, as one product."""
    if w.dim() == 2:
        w.addmm_(done.t(), x)
        b.add_(done.sum(0))
    else:
        w.baddbmm_(done.transpose(1, 2), x)
        b.add_(done.sum(1, keepdim=True))


@contextlib.contextmanager
def _brought_up(w: torch.Tensor, b: torch.Tensor, done: torch.Tensor, x: torch.Tensor) -> Iterator[None]:
    """The first layer's weights and biases with the block's updates so far applied (_apply) for the duration
    of the `with`, then exactly as they were: the block goes on from its start weights."""
    saved = w.clone(), b.clone()
    _apply(w, b, done, x)
    try:
        yield
    finally:
        w.copy_(saved[0])
        b.copy_(saved[1])


def _fast_sgd_stacked(state: FastState, perms: torch.Tensor, ws: list[torch.Tensor], bs: list[torch.Tensor],
                      onehot: torch.Tensor, logits: torch.Tensor, rates: list[float], act_name: str,
                      factors: list[float] | None = None, on_step: StepHook | None = None,
                      decays: list[float] | None = None) -> None:
    """K models: batched products (baddbmm) and batched rank-1 updates; each member may have its own rate
    and weight decay. factors: the learning-rate schedule's factor of each step of the epoch (None: constant).
    Without decay the first layer goes by blocks (_blocked_stacked)."""
    if not (decays and any(decays)):
        _blocked_stacked(state, perms, ws, bs, onehot, logits, rates, act_name, factors, on_step)
    else:
        _stepwise_stacked(state, perms, ws, bs, onehot, logits, rates, act_name, factors, on_step, decays)


def _stepwise_stacked(state: FastState, perms: torch.Tensor, ws: list[torch.Tensor], bs: list[torch.Tensor],
                      onehot: torch.Tensor, logits: torch.Tensor, rates: list[float], act_name: str,
                      factors: list[float] | None = None, on_step: Callable[[int], None] | None = None,
                      decays: list[float] | None = None) -> None:
    """_fast_sgd_stacked step by step (weight decay; the tests' reference for the blocks)."""
    act, backward = activation(act_name)
    k, n = perms.shape
    last = len(ws) - 1
    shared = all(r == rates[0] for r in rates)
    lr = torch.tensor(rates).view(k, 1, 1)
    wd = torch.tensor(decays).view(k, 1, 1) if decays and any(decays) else None
    wts = [w.transpose(1, 2) for w in ws]
    for c in range(0, n, FAST_CHUNK):
        xs = state.x[perms[:, c:c + FAST_CHUNK]]  # [K, chunk, features]
        for i in range(xs.shape[1]):
            f = 1.0 if factors is None else factors[c + i]
            h = xs[:, i:i + 1]
            inputs = []
            for j in range(last):
                inputs.append(h)
                h = act(torch.baddbmm(bs[j], h, wts[j]))
            inputs.append(h)
            out = torch.baddbmm(bs[last], h, wts[last], out=logits[:, c + i:c + i + 1])
            delta = torch.softmax(out, -1).sub_(onehot[:, c + i:c + i + 1])
            keep = None if wd is None else 1.0 - lr * f * wd  # [K,1,1]: each member's decay this step
            for j in range(last, -1, -1):
                below = backward(torch.bmm(delta, ws[j]), inputs[j]) if j > 0 else None
                if keep is not None:
                    ws[j].mul_(keep)
                    bs[j].mul_(keep)
                _step_members(ws[j], bs[j], delta, inputs[j], rates[0] * f if shared else None,
                              lr if factors is None else lr * f)
                delta = below
            if on_step:
                on_step(c + i + 1)


def _step_members(w: torch.Tensor, b: torch.Tensor, delta: torch.Tensor, x: torch.Tensor, rate: float | None,
                  rates: torch.Tensor) -> None:
    """One layer's SGD step for every member: w −= r·δᵀx, b −= r·δ, with one rate `rate` for all, or (None)
    each member its own (`rates`, [K, 1, 1])."""
    if rate is not None:
        w.baddbmm_(delta.transpose(1, 2), x, alpha=-rate)
        b.add_(delta, alpha=-rate)
    else:
        scaled = delta * rates
        w.baddbmm_(scaled.transpose(1, 2), x, alpha=-1.0)
        b.sub_(scaled)


def _blocked_stacked(state: FastState, perms: torch.Tensor, ws: list[torch.Tensor], bs: list[torch.Tensor],
                     onehot: torch.Tensor, logits: torch.Tensor, rates: list[float], act_name: str,
                     factors: list[float] | None, on_step: StepHook | None = None) -> None:
    """_fast_sgd_stacked's arithmetic with each member's first layer in blocks, as _blocked_single's: batched
    products over the members, each with its own inputs (its own order), Gram matrix and rate."""
    act, backward = activation(act_name, inplace=True)
    k, n = perms.shape
    last = len(ws) - 1
    shared = all(r == rates[0] for r in rates)
    lr = torch.tensor(rates).view(k, 1, 1)
    wts = [w.transpose(1, 2) for w in ws]
    pending = torch.empty(k, BLOCK, ws[0].shape[1])  # −rate·delta at each member's first layer, per step
    for c in range(0, n, FAST_CHUNK):
        chunk = state.x[perms[:, c:c + FAST_CHUNK]]  # [K, chunk, features]
        for s in range(0, chunk.shape[1], BLOCK):
            xs = chunk[:, s:s + BLOCK]
            first = c + s
            r = xs.shape[1]
            pre = torch.baddbmm(bs[0], xs, wts[0])  # [K, r, out]
            gram = torch.bmm(xs, xs.transpose(1, 2)).add_(1.0)  # [K, r, r]
            for i in range(r):
                f = 1.0 if factors is None else factors[first + i]
                step = first + i
                out = logits[:, step:step + 1]
                z = torch.baddbmm(pre[:, i:i + 1], gram[:, i:i + 1, :i], pending[:, :i], out=out if last == 0 else None)
                inputs = [xs[:, i:i + 1]]
                for j in range(1, last + 1):
                    inputs.append(act(z))
                    z = torch.baddbmm(bs[j], inputs[j], wts[j], out=out if j == last else None)
                delta = torch.softmax(z, -1).sub_(onehot[:, step:step + 1])
                for j in range(last, 0, -1):
                    below = backward(torch.bmm(delta, ws[j]), inputs[j])
                    _step_members(ws[j], bs[j], delta, inputs[j], rates[0] * f if shared else None,
                                  lr if factors is None else lr * f)
                    delta = below
                torch.mul(delta, -(rates[0] * f if shared else lr * f), out=pending[:, i:i + 1])
                if on_step is not None and i < r - 1 and on_step.due(step + 1):
                    with _brought_up(ws[0], bs[0], pending[:, :i + 1], xs[:, :i + 1]):
                        on_step(step + 1)
            _apply(ws[0], bs[0], pending[:, :r], xs)
            if on_step is not None and on_step.due(first + r):
                on_step(first + r)
