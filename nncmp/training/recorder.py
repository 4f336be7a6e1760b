"""The record of a run, for every engine: epoch 0, one row per epoch, divergence, the outcome.

An engine trains one run or several at once and knows only two things: how to train one epoch and how
to evaluate. Everything a run's records mean — the untrained model evaluated as epoch 0, one tidy row
per epoch, a non-finite loss ending the run as "diverged", a finished classification run whose final
predictions are all one class marked "collapsed", `seconds` shared among the runs training together — is
decided here, once, so the engines cannot disagree about it.

An engine (engines/: single.SingleRun, stacked.StackedRun, func_stacked.FuncStackedRun) provides:

    specs                 the resolved specs of the runs still training, in order
    data                  the data.Data it trains on
    evaluate(split)       "train" or "val": each run's mean loss and accuracy (None for regression),
                          eval mode, no gradients
    train_epoch(steps)    one round for every run: an epoch (steps None), or that many optimizer steps
                          carrying on from the last round (a step budget); returns ((train losses,
                          accuracies, first non-finite step of the round or 0), examples seen)
    drop(keep)            keep only the runs at these positions of `specs` (the others diverged)
    member(j)             run j as an ordinary nn.Module, for --track-layers and --track-weights
    crit                  the runs' loss and accuracy (registry/losses.Criterion), and --metric-fn
    step_hook             set by the recorder: None, or a callable the engine calls after every optimizer
                          step with the number of steps taken so far (--track-every); if it has an `every`
                          attribute, only the steps that are multiples of it need the call

and optionally, for what a run costs (costs.py; runs.csv): `device`, `sizes()` (each run's parameters and
optimizer state bytes, asked once after the first round), `timer` (a costs.StepTimer its steps report to)
and `fused` (True: its steps cannot be split, so only their whole time is known, from the rounds').
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol

import torch

from nncmp.config.budget import round_steps, rounds, steps_per_epoch, total_steps
from nncmp.config.run import RunSpec
from nncmp.registry.data import IGNORE_INDEX
from nncmp.registry.losses import Criterion, first, metric_value
from nncmp.registry.schedules import factor
from nncmp.results.schema import COLLAPSED, OK, RUN_COLUMNS
from nncmp.training.costs import PeakMemory, Recorded, run_costs

if TYPE_CHECKING:
    from torch import nn

    from nncmp.registry.datasets import Data

Record = dict[str, Any]
OnEpoch = Callable[[Record], None]
# --track-layers: called with (resolved spec, model, epoch) after each epoch's record, epoch 0 included.
# Quoted: torch is not imported at run time.
Probe = Callable[[RunSpec, "nn.Sequential", int], None]
# Per run: train loss, train accuracy (None: regression), first step of the epoch whose loss was not finite (0: none)
EpochMetrics = tuple[list[float], list[float | None], list[int]]


class Engine(Protocol):
    specs: list[RunSpec]
    data: Data
    crit: Criterion
    step_hook: Callable[[int], None] | None

    def evaluate(self, split: str) -> tuple[list[float], list[float | None]]: ...

    def train_epoch(self, steps: int | None = None) -> tuple[EpochMetrics, int]: ...

    def drop(self, keep: list[int]) -> None: ...

    def member(self, j: int) -> nn.Sequential: ...


def record_runs(engine: Engine, on_epoch: OnEpoch | None = None, probe: Probe | None = None) -> list[list[Record]]:
    """Train `engine`'s runs to the end; returns each run's records, in the order of engine.specs (each a
    costs.Recorded: the list of its records, with what the run cost)."""
    specs = list(engine.specs)
    memory = PeakMemory(getattr(engine, "device", "cpu"))
    timer = getattr(engine, "timer", None)
    sizes: list[tuple[int | None, int | None]] = [(None, None)] * len(specs)
    bases = [record_base(s) for s in specs]
    # --track-every: the probe may want the weights between epochs too; the engine calls this after each step.
    engine.step_hook = probe.step_hook(engine) if probe is not None and hasattr(probe, "step_hook") else None
    # The learning rate in force at the end of each epoch, as the schedule sets it (epoch 0: the initial one).
    n_train = engine.data.n_train
    per_epoch, total = steps_per_epoch(specs[0], n_train), total_steps(specs[0], n_train)
    records: list[list[Record]] = [[] for _ in specs]
    members = list(range(len(specs)))  # positions in `specs` of the runs still training
    metric = getattr(engine, "crit", None) is not None and engine.crit.metric is not None  # --metric-fn

    def record(epoch: int, train: EpochMetrics, examples: int, seconds: float, step: int) -> list[int]:
        """One row per run still training; returns the positions (in `members`) of those that diverged."""
        val_loss, val_acc = engine.evaluate("val")
        diverged = []
        for j, m in enumerate(members):
            finite = math.isfinite(train[0][j]) and math.isfinite(val_loss[j])
            spec = specs[m]
            lr_end = spec.lr * factor(spec.schedule, step, total, spec.warmup)
            records[m].append({**bases[m], "epoch": epoch, "train_loss": train[0][j], "train_acc": train[1][j],
                               "val_loss": val_loss[j], "val_acc": val_acc[j], "examples": examples,
                               "seconds": seconds, "status": OK if finite else "diverged",
                               "diverged_step": train[2][j] or None, "lr_end": lr_end, "step": step,
                               "val_metric": metric_of(engine, j) if metric else None})
            if on_epoch:
                on_epoch(records[m][-1])
            if probe:
                probe(specs[m], engine.member(j), epoch)
            if not finite:
                diverged.append(j)
        return diverged

    # Epoch 0: the untrained model, with train metrics evaluated over the whole training set.
    diverged = record(0, (*engine.evaluate("train"), [0] * len(specs)), 0, 0.0, 0)
    examples, seconds, step = 0, 0.0, 0
    for epoch in range(1, rounds(specs[0]) + 1):
        if diverged:  # a diverged run stops; the others carry on without it
            keep = [j for j in range(len(members)) if j not in diverged]
            members = [members[j] for j in keep]
            if not members:
                break
            engine.drop(keep)
        start = time.perf_counter()
        steps = round_steps(specs[0], epoch)
        if timer is not None:
            timer.new_round()
        metrics, seen = engine.train_epoch(steps)
        # Runs trained together share their time equally.
        seconds += (time.perf_counter() - start) / len(members)
        if epoch == 1 and hasattr(engine, "sizes"):  # the optimizer's state exists after its first step
            sizes = engine.sizes()
        examples += seen
        step += per_epoch if steps is None else steps
        diverged = record(epoch, metrics, examples, seconds, step)
    crit = getattr(engine, "crit", None)
    if crit is not None and crit.classification and crit.name != "bce":  # one class per example or position
        for j, m in enumerate(members):  # the runs that trained to the end (the last round's diverged too)
            if records[m][-1]["status"] == OK and one_class(engine.member(j), engine.data.x_val, engine.data.y_val):
                records[m][-1]["status"] = COLLAPSED
    for run in records:  # the run's outcome on each of its rows, so any row can be grouped by it
        for r in run:
            r["status"] = run[-1]["status"]
    return with_costs(engine, records, sizes, memory.increase(), step and 1000 * seconds / step)


def with_costs(engine: Engine, records: list[list[Record]], sizes: list[tuple[int | None, int | None]],
               peak: int | None, ms_per_step: float) -> list[list[Record]]:
    """Each run's records as a costs.Recorded carrying its costs; `peak`: the group's, `ms_per_step`: a run's
    share of the rounds' time per step (what a fused engine's steps are known by)."""
    timer = getattr(engine, "timer", None)
    times = timer.costs() if timer is not None else {"ms_fwd_bwd": None, "ms_opt_step": None, "ms_step": None}
    if getattr(engine, "fused", False) and ms_per_step:
        times["ms_step"] = ms_per_step
    out = []
    for run, (params, state) in zip(records, sizes):
        kept = Recorded(run)
        kept.costs = run_costs(params, state, peak, len(records), times)
        out.append(kept)
    return out


CHUNK = 1000  # examples per forward pass of one_class: bounded memory, as the engines' evaluation


def one_class(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> bool:
    """Whether `model` (a finished run, as its last evaluation saw it) predicts one class for every example (every
    position with a target) of (x, y) while the labels there hold several: the run collapsed to at most the
    majority class. Its predictions are argmax of its output, as accuracy counts them (registry/losses.py)."""
    labels = y[y != IGNORE_INDEX]
    if labels.numel() == 0 or bool((labels == labels[0]).all()):
        return False  # one class in the labels: one predicted class may be right
    model.eval()
    device = next((p.device for p in model.parameters()), x.device)
    seen: torch.Tensor | None = None
    with torch.no_grad():
        for i in range(0, len(x), CHUNK):
            guess = first(model(x[i:i + CHUNK].to(device))).argmax(-1).to(y.device)
            guess = guess[y[i:i + CHUNK] != IGNORE_INDEX]
            if guess.numel() == 0:
                continue
            seen = guess[0] if seen is None else seen
            if bool((guess != seen).any()):
                return False  # usually in the first chunk: a run that learned costs one forward pass of it
    return seen is not None


def metric_of(engine: Engine, j: int) -> float:
    """--metric-fn of run j on the validation split: the user's function on each chunk of it (a number, or one
    per example), averaged weighting each chunk by its examples; eval mode, no gradients."""
    data = engine.data
    model = engine.member(j)
    was_training = model.training
    model.eval()
    try:
        return metric_value(model, engine.crit, data.x_val, data.y_val)
    finally:
        model.train(was_training)


def record_base(spec: RunSpec) -> Record:
    """The columns every record of a (resolved) run shares: its ids and its declared identity columns."""
    columns = spec.columns()
    return {"run_id": spec.run_id, "config": spec.config_id, **{c: columns[c] for c in RUN_COLUMNS}}


def first_bad_step(bad: torch.Tensor, loss: torch.Tensor, step: int) -> torch.Tensor:
    """`bad` (0 = none yet) becomes `step` where `loss` is not finite for the first time; elementwise, as
    tensors, so the training loop never waits on a .item() per step."""
    return torch.where((bad == 0) & ~torch.isfinite(loss), step, bad)
