"""The stacked engine: several runs trained as one stacked model, each with the numbers it would have alone.

Runs that share architecture, data, optimizer settings and batch size (they differ in init and seed; the
plan decides which) are stacked along a leading dimension: weights [K, out, in], one batched matrix
product per layer, one torch.optim step over the stack. Every operation acts on each member's slice alone
(batched products, elementwise optimizers, BatchNorm per channel, losses per member), so a member's
numbers do not depend on its neighbours; tests check them against the single-run engine.

Each member keeps what makes it itself: its initial weights (built by single.make_model), its batch order
(its own generator, seeded like the single-run engine's), and its dropout masks (a generator carrying on
from the global RNG state the single-run engine would have had). A diverged member is dropped from the
stack. Like every engine it only trains epochs and evaluates; recorder.record_runs makes the records.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F
from torch import nn

from nncmp.config.budget import total_steps
from nncmp.config.run import RunSpec, hyper_differ
from nncmp.registry.data import IGNORE_INDEX
from nncmp.registry.datasets import Data
from nncmp.registry.losses import Criterion, detached
from nncmp.registry.models import build_model, has_batchnorm1d
from nncmp.registry.optimizers import OPTIMIZERS
from nncmp.registry.schedules import Schedule
from nncmp.training.batches import Batches, rows
from nncmp.training.costs import StepTimer, state_bytes
from nncmp.training.direct_step import direct_step
from nncmp.training.engines.fast_sgd import fast_sgd_epoch
from nncmp.training.engines.hand_grad import HandGrad
from nncmp.training.engines.linear import stacked_linear
from nncmp.training.engines.members import MemberOptimizers
from nncmp.training.engines.single import EVAL_CHUNK, GRAD_CHUNK, criterion_of, make_model
from nncmp.training.recorder import EpochMetrics, first_bad_step
from nncmp.training.stepping import build_for

if TYPE_CHECKING:
    import torch.optim

    from nncmp.training.stepping import Pair


@dataclass
class Layer:
    kind: str  # linear | batchnorm | act | dropout
    # linear: W [K,out,in], b [K,1,out] or None; batchnorm: weight, bias, mean, var [K,h]
    tensors: list[torch.Tensor | None]
    module: nn.Module | None = None  # act: the stateless torch module; batchnorm: the template (eps, momentum)
    p: float = 0.0  # dropout probability


class Stack:
    """K same-shaped nn.Sequential models as stacked tensors, and their forward pass."""

    def __init__(self, models: list[nn.Sequential]):
        self.k = len(models)
        self.layers: list[Layer] = []
        for mods in zip(*models):
            first = mods[0]
            if isinstance(first, nn.Linear):
                w = _stack([m.weight for m in mods])
                b = _stack([m.bias.unsqueeze(0) for m in mods]) if first.bias is not None else None
                self.layers.append(Layer("linear", [w, b]))
            elif isinstance(first, nn.BatchNorm1d):
                names = ("weight", "bias", "running_mean", "running_var")
                stats = [_stack([getattr(m, a) for m in mods]) for a in names]
                self.layers.append(Layer("batchnorm", stats, first))
            elif isinstance(first, nn.Dropout):
                self.layers.append(Layer("dropout", [], p=first.p))
            elif not isinstance(first, nn.Flatten):  # inputs arrive flattened
                self.layers.append(Layer("act", [], first))

    @staticmethod
    def inputs(x: torch.Tensor) -> torch.Tensor:
        """The training inputs as the stack reads them: flattened, [n, features]."""
        return x.reshape(len(x), -1)

    def shared(self, x: torch.Tensor) -> torch.Tensor:
        """A batch every member sees (evaluation), as [K, B, features]."""
        return x.reshape(1, len(x), -1).expand(self.k, -1, -1)

    def parameters(self) -> list[torch.Tensor]:
        """Trainable tensors (BatchNorm running statistics excluded)."""
        out = []
        for layer in self.layers:
            if layer.kind == "linear":
                out += [t for t in layer.tensors if t is not None]
            elif layer.kind == "batchnorm":
                out += layer.tensors[:2]
        return out

    def member_shapes(self) -> list[tuple[int, ...]]:
        """The shape of each parameter() in one member's single run (a bias is [out] there, [K, 1, out] here)."""
        shapes = []
        for layer in self.layers:
            if layer.kind == "linear":
                w, b = layer.tensors
                shapes.append(tuple(w.shape[1:]))
                if b is not None:
                    shapes.append((b.shape[2],))
            elif layer.kind == "batchnorm":
                shapes += [tuple(t.shape[1:]) for t in layer.tensors[:2]]
        return shapes

    def select(self, keep: torch.Tensor) -> dict[int, torch.Tensor]:
        """Keep only members `keep` (an index tensor); returns old tensor id → new tensor, for optimizer state."""
        moved: dict[int, torch.Tensor] = {}
        for layer in self.layers:
            new = []
            for t in layer.tensors:
                if t is None:
                    new.append(None)
                    continue
                n = t.detach()[keep].clone().requires_grad_(t.requires_grad)
                moved[id(t)] = n
                new.append(n)
            layer.tensors = new
        self.k = len(keep)
        return moved

    def member(self, j: int, template: nn.Sequential) -> nn.Sequential:
        """Member j as an ordinary nn.Sequential: `template` (the same architecture) with its weights."""
        layers = iter(layer for layer in self.layers if layer.kind in ("linear", "batchnorm"))
        with torch.no_grad():
            for module in template:
                if isinstance(module, nn.Linear):
                    w, b = next(layers).tensors
                    module.weight.copy_(w[j])
                    if b is not None:
                        module.bias.copy_(b[j, 0])
                elif isinstance(module, nn.BatchNorm1d):
                    for name, t in zip(("weight", "bias", "running_mean", "running_var"), next(layers).tensors):
                        getattr(module, name).copy_(t[j])
        return template

    def forward(self, h: torch.Tensor, training: bool,
                noise: Callable[[int, tuple[int, ...]], torch.Tensor] | None = None) -> torch.Tensor:
        """h: [K, B, features] → [K, B, outputs]. `noise(layer_index, (B, width))` gives dropout masks [K, B, width]."""
        for i, layer in enumerate(self.layers):
            if layer.kind == "linear":
                w, b = layer.tensors
                # W kept as nn.Linear lays it out ([out, in]) and used transposed, as F.linear does: the
                # products then round as in the single-run engine.
                h = stacked_linear(h, w, b)
            elif layer.kind == "batchnorm":
                # One BatchNorm over K*width channels is K independent BatchNorms: statistics are per channel.
                k, n, width = h.shape
                weight, bias, mean, var = layer.tensors
                flat = h.transpose(0, 1).reshape(n, k * width)
                out = F.batch_norm(flat, mean.view(-1), var.view(-1), weight.view(-1), bias.view(-1), training,
                                   layer.module.momentum, layer.module.eps)
                h = out.view(n, k, width).transpose(0, 1)
            elif layer.kind == "act":
                h = layer.module(h)
            elif training and layer.p > 0:
                h = h * noise(i, tuple(h.shape[1:]))
        return h


def _stack(tensors: list[torch.Tensor]) -> torch.Tensor:
    return torch.stack([t.detach() for t in tensors]).contiguous().requires_grad_(tensors[0].requires_grad)


def _counts(crit: Criterion, y: torch.Tensor) -> torch.Tensor | int:
    """What each member's mean loss is over in a stacked batch y [K, B, ...]: examples, or the tokens that have a
    target ([K])."""
    if crit.per_token and crit.fn is None:
        return (y != IGNORE_INDEX).reshape(y.shape[0], -1).sum(1)
    return y.shape[1]


def evaluate_stack(stack: Stack, x: torch.Tensor, y: torch.Tensor,
                   crit: Criterion) -> tuple[list[float], list[float | None]]:
    """Each member's mean loss (in the targets' own units) and accuracy over (x, y), in eval mode."""
    k = stack.k
    total = torch.zeros(k, dtype=torch.float64, device=x.device)
    count = torch.zeros(k, dtype=torch.float64, device=x.device)
    correct = torch.zeros(k, dtype=torch.long, device=x.device)
    counted = torch.zeros(k, dtype=torch.long, device=x.device)
    with torch.no_grad():
        for i in range(0, len(x), EVAL_CHUNK):
            xb = stack.shared(x[i:i + EVAL_CHUNK])
            yb = y[i:i + EVAL_CHUNK].unsqueeze(0).expand(k, *y[i:i + EVAL_CHUNK].shape)
            out = stack.forward(xb, training=False)
            n = _counts(crit, yb)
            total += crit.members(out, yb, reported=True).double() * n
            count += n
            if crit.classification:
                hits, m = crit.member_hits(out, yb)
                correct += hits
                counted += m
    losses = (total / count.clamp(min=1)).tolist()
    return losses, ((correct.double() / counted.clamp(min=1)).tolist() if crit.classification else [None] * k)


def clip_members(params: list[torch.Tensor], max_norm: float) -> None:
    """torch.nn.utils.clip_grad_norm_ for each member of a stack at once: each member's gradient (its slices of
    every stacked tensor) scaled by max_norm / (its total norm + 1e-6) where that is below 1, as torch does."""
    grads = [p.grad for p in params if p.grad is not None]
    if not grads:
        return
    k = grads[0].shape[0]
    norms = torch.stack([g.reshape(k, -1).pow(2).sum(1) for g in grads]).sum(0).sqrt()
    scale = (max_norm / (norms + 1e-6)).clamp(max=1.0)
    for g in grads:
        g.mul_(scale.view(k, *([1] * (g.ndim - 1))))


class StackedRun:
    """Runs that share a group key, as one stack; the recorder's engine contract (see recorder.py).

    `specs`: resolved; `data`: on `device` already (execute.train_with puts it there). fast=True trains each
    epoch on the batch-1 SGD fast path (fast_sgd.fast_sgd_epoch) instead of autograd.
    """

    def __init__(self, specs: list[RunSpec], data: Data, device: str = "cpu", fast: bool = False,
                 hand: bool = False):
        self.specs, self.data, self.device = list(specs), data, device
        self.crit = criterion_of(specs[0], data)  # the loss is part of the group key: one for every member
        self.classification = self.crit.classification
        models, self.rngs = [], []
        for spec in specs:
            models.append(make_model(spec, data, device))
            # Dropout in the single-run engine draws from the global RNG as make_model leaves it: carry it on.
            g = torch.Generator()
            g.set_state(torch.get_rng_state())
            self.rngs.append(g)
        self.stack = self.make_stack(models)
        self.x = self.stack.inputs(data.x_train)
        self.orders = [torch.Generator().manual_seed(s.seed) for s in specs]
        self.seeds = [s.seed for s in specs]
        self.batches = Batches(data.n_train, specs[0].batch_size, self.permutations)
        self.optimizer: torch.optim.Optimizer | Pair | MemberOptimizers | None = (
            None if fast else MemberOptimizers(specs, self.stack, data.n_train)
            if hyper_differ(specs) or specs[0].optimizer not in OPTIMIZERS
            else build_for(specs[0], self.stack.parameters(), dims=[len(d) for d in self.stack.member_shapes()]))
        # hand: the members' gradients by hand, without autograd (hand_grad.py; plan.hand_backprop says when).
        self.hand = HandGrad(lambda: [layer.tensors for layer in self.stack.layers if layer.kind == "linear"],
                             specs[0].act) if hand and not fast and HandGrad.fits(self.crit) else None
        self.step_optimizer = (lambda: None) if self.optimizer is None else direct_step(self.optimizer)
        # Members share their schedule (it is part of the group key); the fast path applies it itself.
        first = specs[0]
        self.total_steps = total_steps(first, data.n_train)
        self.steps_done = 0
        self.step_hook: Callable[[int], None] | None = None
        self.schedule: Schedule | None = Schedule(self.optimizer, first.schedule, self.total_steps, first.warmup) \
            if first.schedule != "constant" and not fast else None
        self._epoch = fast_sgd_epoch if fast else autograd_epoch
        self.timer, self.fused = StepTimer(device), fast  # the fast path's steps: their whole time only

    def sizes(self) -> list[tuple[int, int]]:
        """Each member's parameters and optimizer state in bytes (costs.py): its own optimizer's, or its share
        of the stack's (its slices; a step counter whole, as its single run has one); the fast path keeps none."""
        params = sum(math.prod(shape) for shape in self.stack.member_shapes())
        k, optimizer = self.stack.k, self.optimizer
        if isinstance(optimizer, MemberOptimizers):
            return [(params, state_bytes(o)) for o in optimizer.optimizers]
        return [(params, 0 if optimizer is None else state_bytes(optimizer, k))] * k

    @staticmethod
    def make_stack(models: list[nn.Module]) -> Stack:
        return Stack(models)

    def evaluate(self, split: str) -> tuple[list[float], list[float | None]]:
        if split == "train":
            return evaluate_stack(self.stack, self.x, self.data.y_train, self.crit)
        return evaluate_stack(self.stack, self.data.x_val, self.data.y_val, self.crit)

    def train_epoch(self, steps: int | None = None) -> tuple[EpochMetrics, int]:
        if self._epoch is fast_sgd_epoch:
            assert steps is None, "the batch-1 SGD fast path trains epochs (the plan gives step budgets autograd)"
            return fast_sgd_epoch(self, self.specs)
        return autograd_epoch(self, self.specs, steps)

    def member(self, j: int) -> nn.Sequential:
        return self.stack.member(j, build_model(self.specs[j], self.data.shape, self.data.n_out, self.data.task,
                                                     self.data.vocab))

    def drop(self, keep: list[int]) -> None:
        """Keep only the members at positions `keep`, with their slices of the optimizer state."""
        old = self.stack.parameters()
        moved = self.stack.select(torch.tensor(keep))
        self.specs = [self.specs[j] for j in keep]
        self.rngs = [self.rngs[j] for j in keep]
        self.orders = [self.orders[j] for j in keep]
        self.seeds = [self.seeds[j] for j in keep]

        if isinstance(self.optimizer, MemberOptimizers):
            self.optimizer.keep(keep, self.stack.parameters())
        elif self.optimizer is not None:
            state = self.optimizer.state
            for group in self.optimizer.param_groups:  # one group, or two where decay skips 1-D tensors
                group["params"] = [moved[id(p)] for p in group["params"]]
            for p in old:
                entry = state.pop(p, None)
                if entry is not None:
                    state[moved[id(p)]] = {k: v[keep] if (torch.is_tensor(v) and v.shape == p.shape) else v
                                           for k, v in entry.items()}

    def permutations(self) -> torch.Tensor:
        """This epoch's batch order for each member, [K, n]; members with one seed share one draw."""
        drawn: dict[int, torch.Tensor] = {}
        rows = []
        for seed, order in zip(self.seeds, self.orders):
            if seed not in drawn:
                drawn[seed] = torch.randperm(self.data.n_train, generator=order)
            else:
                torch.randperm(self.data.n_train, generator=order)  # keep this member's generator in step
            rows.append(drawn[seed])
        return torch.stack(rows).to(self.device)  # drawn on the CPU from the seeds, moved once per epoch


def autograd_epoch(state: StackedRun, specs: list[RunSpec], steps: int | None = None) -> tuple[EpochMetrics, int]:
    """One round of the stack (an epoch, or `steps` steps) with autograd and the stack's torch.optim optimizer."""
    stack, optimizer, crit, hand = state.stack, state.optimizer, state.crit, state.hand
    n, bs = state.data.n_train, specs[0].batch_size
    skip_single = has_batchnorm1d(specs[0]) and n % bs == 1
    y_train = state.data.y_train
    clip = specs[0].clip_grad_norm
    k = stack.k
    device = state.device
    loss_sum = torch.zeros(k, device=device)
    loss_count = torch.zeros(k, device=device)
    correct = torch.zeros(k, dtype=torch.long, device=device)
    counted = torch.zeros(k, dtype=torch.long, device=device)
    bad_step = torch.zeros(k, dtype=torch.long, device=device)
    seen = 0

    p = next((layer.p for layer in stack.layers if layer.kind == "dropout"), 0.0)

    def noise(_: int, shape: tuple[int, ...]) -> torch.Tensor:
        # Each member's masks come from its own CPU generator, as a single run's would; then moved.
        return torch.stack([torch.empty(shape).bernoulli_(1 - p, generator=g).div_(1 - p)
                            for g in state.rngs]).to(device)

    for step, idx in state.batches.round(steps):
        width = idx.shape[1]
        if skip_single and width == 1:
            continue
        step_loss = torch.zeros(k, device=device)
        step_count = torch.zeros(k, device=device)
        state.timer.start()
        if hand is None:
            optimizer.zero_grad(set_to_none=True)
        # The same chunk boundaries as the single-run engine, so BatchNorm and dropout see the same sub-batches.
        for start in range(0, width, GRAD_CHUNK):
            sub = idx[:, start:start + GRAD_CHUNK]
            xb, yb = rows(state.x, sub), rows(y_train, sub)
            if hand is not None:  # the gradient by hand (the first chunk's replaces the last step's)
                out, losses = hand(xb, yb, width, accumulate=start > 0)
            else:
                out = stack.forward(xb, training=True, noise=noise)
                losses = crit.members(out, yb)
                scale = 1.0 if sub.shape[1] == width else sub.shape[1] / width
                (losses.sum() * scale if scale != 1.0 else losses.sum()).backward()
            many = _counts(crit, yb)
            # The train loss as recorded: in the targets' own units where they train standardised.
            shown = losses.detach() if crit.scale is None else crit.members(detached(out), yb, reported=True)
            step_loss += shown * many
            step_count += many
            if crit.classification:
                hits, m = crit.member_hits(detached(out), yb)
                correct += hits
                counted += m
        loss_sum += step_loss
        loss_count += step_count
        bad_step = first_bad_step(bad_step, step_loss, step)
        state.timer.backward_done()
        if clip:
            clip_members(stack.parameters(), clip)
        state.step_optimizer()
        if state.schedule:
            state.schedule.step()
        state.timer.step_done(k)
        state.steps_done += 1
        if state.step_hook:
            state.step_hook(state.steps_done)
        seen += width
    accuracy = (correct.double() / counted.clamp(min=1)).tolist() if crit.classification else [None] * k
    return ((loss_sum / loss_count.clamp(min=1)).tolist(), accuracy, bad_step.tolist()), seen
