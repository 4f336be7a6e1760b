"""Learning-rate schedules: the rate of every optimizer step as a factor of the run's learning rate.

A schedule runs over all the optimizer steps of a run (epochs × steps per epoch) and is applied after
every step, so gd (one step per epoch), sgd (one per example) and minibatch see the same shape. Each
factor equals torch.optim.lr_scheduler's (or pytorch-optimizer's, for wsd) at every step; the tests
compare them step by step. nncmp computes the factor itself so the one schedule serves every engine,
the batch-1 fast path (which has no torch optimizer) and optimizers made of two (Muon + AdamW) alike:

    constant       1
    step           StepLR(step_size=ceil(T/3), gamma=0.1): ×0.1 after each third of the run
    cosine         CosineAnnealingLR(T_max=T): (1 + cos(π t/T)) / 2
    warmup-cosine  SequentialLR(LinearLR(1/(W+1) → 1 over W steps), CosineAnnealingLR(T_max=T−W)) at W
    linear         LinearLR(1 → 0 over T steps)
    onecycle       OneCycleLR(max_lr=lr, total_steps=T, cycle_momentum=False): never adds momentum
    wsd            pytorch-optimizer's warmup-stable-decay: 0 → 1 over W steps, 1 until the last 20%
                   of the steps, then 1 − sqrt(progress) down to 0

t is the number of steps taken (the factor is that of step t+1), T all steps, W the warm-up steps.
"""

from __future__ import annotations

import math
from typing import Any, Protocol

from nncmp.errors import SpecError
from nncmp.registry.closest import unknown

SCHEDULES = ("constant", "step", "cosine", "warmup-cosine", "linear", "onecycle", "wsd")
WARMUP_SCHEDULES = ("warmup-cosine", "wsd")
DEFAULT_WARMUP = 0.05  # of all steps, for the schedules with a warm-up when --warmup is not given
WSD_DECAY = 0.2  # wsd decays over the last fifth of the steps
ONECYCLE = {"pct_start": 0.3, "div_factor": 25.0, "final_div_factor": 1e4}  # torch's defaults


def warmup_steps(warmup: float, total: int) -> int:
    """--warmup: a fraction of all steps when < 1, else a number of steps."""
    return round(warmup * total) if warmup < 1 else int(warmup)


def check(name: str, warmup: float | None, total: int | None = None) -> None:
    """SpecError for a schedule that cannot run (total: the run's optimizer steps, when known)."""
    if name not in SCHEDULES:
        raise SpecError(unknown("schedule", name, SCHEDULES))
    if warmup is not None:
        if name not in WARMUP_SCHEDULES:
            raise SpecError(f"--warmup applies to the schedules {', '.join(WARMUP_SCHEDULES)}, not {name}")
        if not math.isfinite(warmup) or warmup < 0 or (warmup >= 1 and not float(warmup).is_integer()):
            raise SpecError(f"--warmup must be a fraction in [0, 1) of all steps or a whole number of steps, "
                            f"got {warmup:g}")
    if total is None or name == "constant":
        return
    if total < 2:
        raise SpecError(f"--schedule {name} needs at least 2 optimizer steps; this run takes {total} "
                        "(more --epochs, or a smaller batch)")
    w = warmup_steps(DEFAULT_WARMUP if warmup is None else warmup, total) if name in WARMUP_SCHEDULES else 0
    decay = math.ceil(WSD_DECAY * total) if name == "wsd" else 1
    if w + decay > total:
        raise SpecError(f"--warmup {warmup:g} is {w} warm-up steps; the run has {total} steps in all, which leaves "
                        f"none to {'decay' if name == 'wsd' else 'anneal'}")


def factor(name: str, t: int, total: int, warmup: float | None = None) -> float:
    """The learning-rate factor of step t+1 of `total` under schedule `name`."""
    if name == "constant":
        return 1.0
    w = warmup_steps(DEFAULT_WARMUP if warmup is None else warmup, total) if name in WARMUP_SCHEDULES else 0
    if name == "step":
        return 0.1 ** (t // math.ceil(total / 3))
    if name == "cosine":
        return (1 + math.cos(math.pi * t / total)) / 2
    if name == "warmup-cosine":
        if t < w:
            return (t + 1) / (w + 1)
        return (1 + math.cos(math.pi * (t - w) / (total - w))) / 2
    if name == "linear":
        return 1 - min(t, total) / total
    if name == "onecycle":
        return _onecycle(t, total)
    if name == "wsd":
        from pytorch_optimizer.lr_scheduler.wsd import get_wsd_scheduler_lambda

        decay = math.ceil(WSD_DECAY * total)
        return get_wsd_scheduler_lambda(t, num_warmup_steps=w, num_stable_steps=total - w - decay,
                                        num_decay_steps=decay, min_lr_ratio=0.0, num_cycles=0.5,
                                        cooldown_type="1-sqrt")
    raise SpecError(f"unknown schedule {name!r}")


def _onecycle(t: int, total: int) -> float:
    """torch's OneCycleLR, two phases, cosine annealing, as a factor of max_lr."""
    initial = 1 / ONECYCLE["div_factor"]
    # (last step of the phase, factor at its start, factor at its end)
    phases = [(ONECYCLE["pct_start"] * total - 1, initial, 1.0),
              (total - 1, 1.0, initial / ONECYCLE["final_div_factor"])]
    start = 0.0
    for i, (end, first, last) in enumerate(phases):
        if t <= end or i == len(phases) - 1:
            pct = (t - start) / (end - start)
            return last + (first - last) / 2 * (math.cos(math.pi * pct) + 1)
        start = end
    raise AssertionError("unreachable")


class HasParamGroups(Protocol):
    @property
    def param_groups(self) -> list[dict[str, Any]]: ...


class Schedule:
    """Sets every parameter group's rate to its initial rate × the factor, after each optimizer step.

    Works on anything with `param_groups` (a torch optimizer, or the pair of optimizers stepping.py makes);
    `key` is the group's rate (AliG's is its maximal step, max_lr).
    """

    def __init__(self, optimizer: HasParamGroups, name: str, total: int, warmup: float | None, key: str = "lr"):
        self.optimizer, self.name, self.total, self.warmup, self.key = optimizer, name, total, warmup, key
        self.initial = [g[key] for g in optimizer.param_groups]
        self.t = 0
        self._apply()

    def _apply(self) -> None:
        f = factor(self.name, self.t, self.total, self.warmup)
        for group, lr in zip(self.optimizer.param_groups, self.initial):
            group[self.key] = lr * f

    def step(self) -> None:
        self.t += 1
        self._apply()
