"""A run's budget in optimizer steps: steps per epoch, all steps (what a schedule runs over), and the rounds a
run is trained and evaluated in (its epochs, or --steps in pieces of --eval-every). Numbers only."""

from __future__ import annotations

from typing import TYPE_CHECKING

from nncmp.registry import schedules
from nncmp.registry.models import has_batchnorm1d

if TYPE_CHECKING:
    from nncmp.config.run import RunSpec


def steps_per_epoch(spec: RunSpec, n_train: int) -> int:
    """Optimizer steps in one epoch of a run (BatchNorm skips a trailing batch of one example)."""
    bs = min(spec.effective_batch_size() or n_train, n_train)
    skip = has_batchnorm1d(spec) and n_train % bs == 1
    return -(-n_train // bs) - skip


def total_steps(spec: RunSpec, n_train: int) -> int:
    """Every optimizer step of the run: what a learning-rate schedule runs over (--steps, or --epochs' steps)."""
    return spec.steps if spec.steps else spec.epochs * steps_per_epoch(spec, n_train)


def eval_interval(spec: RunSpec) -> int | None:
    """Steps between evaluations of a step budget (--eval-every, else a tenth of --steps); None: epochs."""
    if not spec.steps:
        return None
    return spec.eval_every or max(1, spec.steps // 10)


def rounds(spec: RunSpec) -> int:
    """How many times a run trains and is evaluated after epoch 0: its epochs, or its step budget's
    evaluations (the last may be shorter than --eval-every)."""
    every = eval_interval(spec)
    return spec.epochs if every is None else -(-spec.steps // every)  # type: ignore[operator]


def round_steps(spec: RunSpec, number: int) -> int | None:
    """Optimizer steps in evaluation round `number` (1-based) of a step budget; None: a whole epoch."""
    every = eval_interval(spec)
    if every is None:
        return None
    return min(every, spec.steps - (number - 1) * every)  # type: ignore[operator]


def check_steps(specs: list[RunSpec], n_train: int) -> None:
    """SpecError before any training if a run's schedule does not fit its number of steps."""
    seen = set()
    for spec in specs:
        key = (spec.schedule, spec.warmup, total_steps(spec, n_train))
        if key not in seen:
            seen.add(key)
            schedules.check(*key)
