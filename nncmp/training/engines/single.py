"""The single-run engine: one run as a plain nn.Sequential, autograd and a torch.optim optimizer.

The reference every faster engine is tested against, and the engine of runs nothing can stack with
(the cnn). Like every engine it only trains epochs and evaluates; recorder.record_runs makes the records.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from torch import nn

from nncmp.config.run import RunSpec
from nncmp.registry.datasets import Data
from nncmp.registry.inits import apply_init
from nncmp.registry.losses import Criterion, criterion, detached
from nncmp.registry.models import has_batchnorm1d, model_builder
from nncmp.training.batches import Batches, rows
from nncmp.training.costs import StepTimer, state_bytes
from nncmp.training.engines.hand_grad import HandGrad
from nncmp.training.recorder import EpochMetrics, OnEpoch, Probe, Record, record_runs
from nncmp.training.stepping import Stepper

EVAL_CHUNK = 1000  # bounds evaluation memory (CIFAR-10 through the cnn), without changing results
# Bounds training memory for huge batches. Exact for models without BatchNorm; with BatchNorm each chunk
# normalises with its own statistics.
GRAD_CHUNK = 8192


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def make_model(spec: RunSpec, data: Data, device: str = "cpu") -> nn.Sequential:
    """The initial model, on `device`: depends on (seed, init, architecture) only, so seeds are paired across
    optimizers."""
    build = model_builder(spec, data.shape, data.n_out, data.task, data.vocab)  # imports a user's code before the seed
    seed_everything(spec.seed)
    model = build()
    apply_init(model, spec.init)  # drawn on the CPU from the seed: the same weights on every device
    return model.to(device)


def cpu_mask_dropout(model: nn.Module) -> nn.Module:
    """The model with each nn.Dropout drawing its masks on the CPU (the global generator, as nn.Dropout
    does there) and moving them: on a GPU, a seed's masks are then the CPU's."""
    class CpuMaskDropout(nn.Module):
        def __init__(self, p: float):
            super().__init__()
            self.p = p

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            if not self.training or self.p == 0:
                return x
            mask = torch.empty(x.shape).bernoulli_(1 - self.p).div_(1 - self.p)
            return x * mask.to(x.device)

    for name, module in list(model.named_children()):
        if isinstance(module, nn.Dropout):
            setattr(model, name, CpuMaskDropout(module.p))
        else:
            cpu_mask_dropout(module)
    return model


def criterion_of(spec: RunSpec, data: Data) -> Criterion:
    """The run's loss and accuracy (registry/losses.py): --loss, --label-smoothing and --metric-fn on the data's
    task."""
    return criterion(data, spec.loss, spec.label_smoothing, spec.metric_fn)


def evaluate(model: nn.Module, crit: Criterion, x: torch.Tensor, y: torch.Tensor) -> tuple[float, float | None]:
    """Mean loss (per example, or per token that has a target; in the targets' own units, Criterion.sum) and
    accuracy over (x, y) in eval mode without gradients (accuracy None where the task has none)."""
    model.eval()
    # Summed on the device in float64 (as Python floats would be), then read once: one host sync per split.
    total = torch.zeros((), dtype=torch.float64, device=x.device)
    correct = torch.zeros((), dtype=torch.long, device=x.device)
    # Counts stay Python numbers unless the targets are per token (then tensors: read with the sums).
    count: Any = 0
    counted: Any = 0
    with torch.no_grad():
        for i in range(0, len(x), EVAL_CHUNK):
            out = model(x[i:i + EVAL_CHUNK])
            yb = y[i:i + EVAL_CHUNK]
            part, n = crit.sum(out, yb)
            total += part.double()
            count = count + n
            if crit.classification:
                hits, m = crit.hits(out, yb)
                correct += hits
                counted = counted + m
    return total.item() / max(float(count), 1), (correct.item() / max(float(counted), 1)
                                                 if crit.classification else None)


def first_bad(step_losses: list[tuple[int, torch.Tensor]]) -> int:
    """The first step whose loss was not finite (0: none), from (step, loss) of an epoch."""
    if not step_losses:
        return 0
    finite = torch.isfinite(torch.stack([loss for _, loss in step_losses]))
    if bool(finite.all()):
        return 0
    return step_losses[int((~finite).nonzero()[0, 0])][0]


class SingleRun:
    """One run; the recorder's engine contract (see recorder.py). Trains every optimizer, with its learning-
    rate schedule and whatever special handling it needs (stepping.py). `spec`: resolved; `data`: on
    `device` already (execute.train_with puts it there)."""

    def __init__(self, spec: RunSpec, data: Data, device: str = "cpu", hand: bool = False):
        self.specs = [spec]
        self.data, self.device = data, device
        self.crit = criterion_of(spec, data)
        self.classification = self.crit.classification
        self.model = make_model(spec, data, device)
        # hand: a plain MLP's gradient by hand, without autograd (hand_grad.py), where plan.hand_backprop
        # allows it and the plan's group asks for it; else autograd (train() below, the reference).
        self.hand = HandGrad.of(self.model, spec.act) if hand and HandGrad.fits(self.crit) else None
        if device != "cpu":  # dropout masks from the seed's CPU generator, as on the CPU
            cpu_mask_dropout(self.model)
        self.stepper = Stepper(spec, self.model, data.n_train)
        self.optimizer = self.stepper.optimizer
        # The batch order depends on (seed, dataset, batch size) only: its own generator, never the optimizer;
        # drawn on the CPU from the seed (the same on every device), then moved once per pass.
        order = torch.Generator().manual_seed(spec.seed)
        self.batches = Batches(data.n_train, spec.batch_size,
                               lambda: torch.randperm(data.n_train, generator=order).to(device))
        # BatchNorm1d cannot train on a single example; a trailing batch of one is skipped.
        self.skip_single = has_batchnorm1d(spec) and data.n_train % spec.batch_size == 1
        self.step_hook: Callable[[int], None] | None = None
        self.timer = self.stepper.timer = StepTimer(device)

    def sizes(self) -> list[tuple[int, int]]:
        """The run's parameters and its optimizer's state in bytes (costs.py)."""
        return [(sum(p.numel() for p in self.model.parameters()), state_bytes(self.optimizer))]

    def evaluate(self, split: str) -> tuple[list[float], list[float | None]]:
        x, y = (self.data.x_train, self.data.y_train) if split == "train" else (self.data.x_val, self.data.y_val)
        self.stepper.eval_mode(self.data.x_train, self.specs[0].batch_size)
        loss, acc = evaluate(self.model, self.crit, x, y)
        return [loss], [acc]

    def train_epoch(self, steps: int | None = None) -> tuple[EpochMetrics, int]:
        model, crit, data = self.model, self.crit, self.data
        hand = None if self.hand is None or self.hand.watched() else self.hand
        self.stepper.train_mode()
        device = self.device
        loss_sum = torch.zeros((), device=device)
        correct = torch.zeros((), dtype=torch.long, device=device)
        # Counts stay Python numbers unless the targets are per token: no more host syncs than the sums'.
        loss_count: Any = 0
        counted: Any = 0
        # Each step's loss kept (a tensor, no sync) and checked once at the end of the epoch: a check per step
        # was a fifth of a small model's step (bench --model).
        step_losses: list[tuple[int, torch.Tensor]] = []
        seen = 0
        for step, idx in self.batches.round(steps):
            if self.skip_single and len(idx) == 1:
                continue

            def forward_backward(create_graph: bool, idx: torch.Tensor = idx) -> tuple[torch.Tensor, Any]:
                """The batch's summed loss, what it sums over, and its (correct, counted) predictions (None:
                no accuracy); its mean gradient in .grad."""
                if hand is None:
                    self.optimizer.zero_grad(set_to_none=True)
                step_loss, step_count, step_hits = None, None, None
                # A batch larger than GRAD_CHUNK (full-batch gd on big data) is backpropagated in chunks whose
                # gradients add up to the batch's mean gradient, so it fits in memory; one step either way.
                chunks = idx.split(GRAD_CHUNK) if len(idx) > GRAD_CHUNK else (idx,)
                for c, sub in enumerate(chunks):
                    xb, yb = rows(data.x_train, sub), rows(data.y_train, sub)
                    if hand is not None:  # the gradient by hand (the first chunk's replaces the last step's)
                        out, loss = hand(xb, yb, len(idx), accumulate=c > 0)
                    else:
                        out = model(xb)
                        loss = crit.mean(out, yb)
                        (loss if len(chunks) == 1 else loss * (len(sub) / len(idx))).backward(
                            create_graph=create_graph)
                    # Accumulate as tensors: no per-step .item() sync in the hot loop. The train loss as
                    # recorded: per token, or in the targets' own units where they train standardised.
                    part, many = crit.sum(detached(out), yb) if crit.per_token or crit.scale is not None \
                        else (loss.detach() * len(sub), len(sub))
                    step_loss = part if step_loss is None else step_loss + part
                    step_count = many if step_count is None else step_count + many
                    if self.classification:
                        hits = crit.hits(detached(out), yb)
                        step_hits = hits if step_hits is None else (step_hits[0] + hits[0], step_hits[1] + hits[1])
                return step_loss, (step_count, step_hits)

            step_loss, (step_count, step_hits) = self.stepper.step(forward_backward, len(idx))
            if self.step_hook:
                self.step_hook(self.stepper.steps)
            loss_sum += step_loss
            loss_count = loss_count + step_count
            if step_hits is not None:
                correct += step_hits[0]
                counted = counted + step_hits[1]
            step_losses.append((step, step_loss))
            seen += len(idx)
        if not seen:
            return ([math.nan], [None], [0]), 0
        accuracy = correct.item() / max(float(counted), 1) if self.classification else None
        return ([loss_sum.item() / float(loss_count)], [accuracy], [first_bad(step_losses)]), seen

    def drop(self, keep: list[int]) -> None:
        assert not keep, "a single run has no one to keep once it diverged"

    def member(self, j: int) -> nn.Sequential:
        return self.model


def train(spec: RunSpec, data: Data, on_epoch: OnEpoch | None = None, probe: Probe | None = None) -> list[Record]:
    """One run on the single-run engine, on the CPU: its records, epoch 0 (before any update) and one per epoch.
    The reference the other engines are tested against; `spec` is resolved on `data` here, as a convenience
    (the runs of a comparison reach the engines resolved already)."""
    return record_runs(SingleRun(spec.resolved(data.n_train), data), on_epoch, probe)[0]
