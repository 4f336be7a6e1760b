"""The one training loop every command uses: one RunSpec → tidy records, one per epoch (epoch 0 included)."""

from __future__ import annotations

import math
import random
import time
from collections.abc import Callable
from typing import Any

from nncmp.data import Data
from nncmp.spec import RunSpec

EVAL_CHUNK = 1000  # bounds evaluation memory (CIFAR-10 through the cnn), without changing results
# Bounds training memory for huge batches. Exact for models without BatchNorm; with BatchNorm each chunk
# normalises with its own statistics.
GRAD_CHUNK = 8192

RECORD_COLUMNS = [
    "run_id", "config", "dataset", "model", "optimizer", "init", "act", "norm", "lr", "batch_size", "seed", "epoch",
    "train_loss", "train_acc", "val_loss", "val_acc", "examples", "seconds", "status", "diverged_step",
]
# Written as integers (empty where missing), so a file read back and rewritten is byte-identical.
INTEGER_COLUMNS = ["batch_size", "seed", "epoch", "examples", "diverged_step"]

OnEpoch = Callable[[dict[str, Any]], None]
# --track-layers: called with (resolved spec, model, epoch) after each epoch's record, epoch 0 included.
Probe = Callable[[RunSpec, Any, int], None]


def records_frame(records: list[dict[str, Any]]) -> Any:
    """Records as the tidy metrics table (columns in RECORD_COLUMNS order)."""
    import pandas as pd

    frame = pd.DataFrame(records, columns=RECORD_COLUMNS)
    return frame.astype({c: "Int64" for c in INTEGER_COLUMNS})


def seed_everything(seed: int) -> None:
    import numpy as np
    import torch

    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def make_model(spec: RunSpec, data: Data) -> Any:
    """The initial model: depends on (seed, init, architecture) only, so seeds are paired across optimizers."""
    from nncmp.inits import apply_init
    from nncmp.models import build_model

    seed_everything(spec.seed)
    model = build_model(spec, data.shape, data.n_out)
    apply_init(model, spec.init)
    return model


def loss_function(data: Data) -> Any:
    from torch import nn

    return nn.CrossEntropyLoss() if data.task == "classification" else nn.MSELoss()


def evaluate(model: Any, loss_fn: Any, x: Any, y: Any, classification: bool) -> tuple[float, float | None]:
    """Mean loss and accuracy over (x, y) in eval mode without gradients."""
    import torch

    model.eval()
    total, correct = 0.0, 0
    with torch.no_grad():
        for i in range(0, len(x), EVAL_CHUNK):
            out = model(x[i:i + EVAL_CHUNK])
            yb = y[i:i + EVAL_CHUNK]
            total += loss_fn(out, yb).item() * len(yb)
            if classification:
                correct += (out.argmax(1) == yb).sum().item()
    n = len(x)
    return total / n, (correct / n if classification else None)


def train(spec: RunSpec, data: Data, on_epoch: OnEpoch | None = None,
          probe: Probe | None = None) -> list[dict[str, Any]]:
    """Train one run and return its records: epoch 0 (before any update), then one per epoch.

    A non-finite loss ends the run with status "diverged"; its records up to then are kept.
    """
    import torch

    from nncmp.models import has_batchnorm1d
    from nncmp.optim import build_optimizer

    spec = spec.resolved(data.n_train)
    classification = data.task == "classification"
    model = make_model(spec, data)
    optimizer = build_optimizer(spec, model.parameters())
    loss_fn = loss_function(data)
    # The batch order depends on (seed, dataset, batch size) only: its own generator, never the optimizer.
    order = torch.Generator().manual_seed(spec.seed)
    n, bs = data.n_train, spec.batch_size
    # BatchNorm1d cannot train on a single example; a trailing batch of one is skipped.
    skip_single = has_batchnorm1d(spec) and n % bs == 1

    base = record_base(spec)
    records: list[dict[str, Any]] = []

    def record(epoch: int, train_loss: float, train_acc: float | None, examples: int, seconds: float,
               bad_step: int = 0) -> bool:
        val_loss, val_acc = evaluate(model, loss_fn, data.x_val, data.y_val, classification)
        finite = math.isfinite(train_loss) and math.isfinite(val_loss)
        records.append({**base, "epoch": epoch, "train_loss": train_loss, "train_acc": train_acc,
                        "val_loss": val_loss, "val_acc": val_acc, "examples": examples,
                        "seconds": seconds, "status": "ok" if finite else "diverged",
                        "diverged_step": bad_step or None})
        if on_epoch:
            on_epoch(records[-1])
        if probe:
            probe(spec, model, epoch)
        return finite

    # Epoch 0: the untrained model, with train metrics evaluated over the whole training set.
    ok = record(0, *evaluate(model, loss_fn, data.x_train, data.y_train, classification), 0, 0.0)
    examples, seconds = 0, 0.0
    for epoch in range(1, spec.epochs + 1):
        if not ok:
            break
        model.train()
        perm = torch.randperm(n, generator=order)
        loss_sum = torch.zeros(())
        correct = torch.zeros((), dtype=torch.long)
        # The first step of the epoch whose loss is not finite, kept as a tensor: no sync per step.
        bad_step = torch.zeros((), dtype=torch.long)
        seen = 0
        start = time.perf_counter()
        for step, i in enumerate(range(0, n, bs), 1):
            idx = perm[i:i + bs]
            if skip_single and len(idx) == 1:
                continue
            step_loss = torch.zeros(())
            optimizer.zero_grad(set_to_none=True)
            # A batch larger than GRAD_CHUNK (full-batch gd on big data) is backpropagated in chunks whose
            # gradients add up to the batch's mean gradient, so it fits in memory; one step either way.
            chunks = idx.split(GRAD_CHUNK)
            for sub in chunks:
                xb, yb = data.x_train[sub], data.y_train[sub]
                out = model(xb)
                loss = loss_fn(out, yb)
                (loss if len(chunks) == 1 else loss * (len(sub) / len(idx))).backward()
                # Accumulate as tensors: no per-step .item() sync in the hot loop.
                step_loss += loss.detach() * len(sub)
                if classification:
                    correct += (out.detach().argmax(1) == yb).sum()
            loss_sum += step_loss
            bad_step = first_bad_step(bad_step, step_loss, step)
            optimizer.step()
            seen += len(idx)
        seconds += time.perf_counter() - start
        examples += seen
        train_loss = loss_sum.item() / seen
        ok = record(epoch, train_loss, correct.item() / seen if classification else None, examples, seconds,
                    int(bad_step))

    set_outcome(records)
    return records


def first_bad_step(bad: Any, loss: Any, step: int) -> Any:
    """`bad` (0 = none yet) becomes `step` where `loss` is not finite for the first time; elementwise."""
    import torch

    return torch.where((bad == 0) & ~torch.isfinite(loss), step, bad)


def record_base(spec: RunSpec) -> dict[str, Any]:
    """The columns every record of a (resolved) run shares."""
    return {"run_id": spec.run_id, "config": spec.config_id, "dataset": spec.dataset, "model": spec.model,
            "optimizer": spec.optimizer, "init": spec.init, "act": spec.act, "norm": spec.norm, "lr": spec.lr,
            "batch_size": spec.batch_size, "seed": spec.seed}


def set_outcome(records: list[dict[str, Any]]) -> None:
    """The run's outcome on each of its rows, so any row can be grouped by it."""
    status = records[-1]["status"]
    for r in records:
        r["status"] = status
