"""Where a group of runs trains: the only place that turns the plan's engine choice into an engine.

Every backend (backends.py) ends here: the local one through run_group, worker processes and Ray tasks
through train_with. A group arrives with its runs resolved, its engine and its device (plan.Group):
nothing here resolves or chooses again.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

from nncmp.config.run import RunSpec
from nncmp.errors import UserCodeStopped
from nncmp.registry.datasets import Data
from nncmp.registry.user import how_stopped, stopped
from nncmp.training.devices import on_device
from nncmp.training.engines import func_stacked, single, stacked  # by module: tests stand in for an engine
from nncmp.training.plan import Group, hand_backprop, plan
from nncmp.training.recorder import OnEpoch, Probe, Record, record_runs


def train_with(group: Group, data: Data, on_epoch: OnEpoch | None = None,
               probe: Probe | None = None) -> list[list[Record]]:
    """Train the runs of `group` together on its engine and device (`data` moves there, once per process);
    each run's records, in the group's order. An engine is an optimisation, never a risk: if a stacked engine
    fails during training, its runs train again one by one on the single-run engine (a warning says why), and
    only a failure there is a failed run. A user's model or loss that calls sys.exit (or raises a KeyboardInterrupt
    of its own) fails its group's runs with UserCodeStopped, saying where, like any error of theirs."""
    try:
        return _train_with(group, data, on_epoch, probe)
    except (SystemExit, KeyboardInterrupt) as e:
        if not stopped(e):
            raise
        raise UserCodeStopped(f"its code {how_stopped(e)}") from None


def _train_with(group: Group, data: Data, on_epoch: OnEpoch | None = None,
                probe: Probe | None = None) -> list[list[Record]]:
    data = on_device(data, group.device)
    specs = list(group.specs)
    if group.engine == "single":
        (spec,) = specs
        hand = hand_backprop(spec, data.task, group.device)
        return record_runs(single.SingleRun(spec, data, group.device, hand), on_epoch, probe)
    if group.engine not in ("stacked", "fast-sgd", "stacked-func"):
        raise ValueError(f"unknown engine {group.engine!r}")
    reported: set[tuple[str, int]] = set()

    def once(record: Record) -> None:
        """on_epoch for each run and epoch once, though a retry on the single engine records them again."""
        if on_epoch is not None and (record["run_id"], record["epoch"]) not in reported:
            reported.add((record["run_id"], record["epoch"]))
            on_epoch(record)

    try:
        if group.engine == "stacked-func":
            engine = func_stacked.FuncStackedRun(specs, data, group.device)
        else:
            engine = stacked.StackedRun(specs, data, group.device, fast=group.engine == "fast-sgd",
                                        hand=hand_backprop(specs[0], data.task, group.device))
        return record_runs(engine, once, probe)
    except Exception as e:  # noqa: BLE001 -- any failure of the stack is the single engine's to settle
        warnings.warn(f"the {group.engine} engine failed on {len(specs)} runs ({failure(e)}); training them one by "
                      "one on the single-run engine", RuntimeWarning, stacklevel=2)
    return [record_runs(single.SingleRun(spec, data, group.device), once, probe)[0] for spec in specs]


def run_group(group: Group, specs: Sequence[RunSpec], data: Data, on_epoch: OnEpoch | None = None,
              probe: Probe | None = None) -> list[list[Record]]:
    """One group of a plan, in this process (the local backend's step): its runs' records, in the group's
    order. `specs`: the run list the plan grouped (group.indices are positions in it; the group carries
    those runs)."""
    assert all(specs[i] is s for i, s in zip(group.indices, group.specs)), "a group of another run list"
    return train_with(group, data, on_epoch, probe)


def train_one(spec: RunSpec, data: Data, on_epoch: OnEpoch | None = None, probe: Probe | None = None,
              device: str = "cpu") -> list[Record]:
    """One run (resolved) on the engine the plan gives a run alone (bench)."""
    (group,) = plan([spec], data, device=device)
    return train_with(group, data, on_epoch, probe)[0]


def train_together(specs: list[RunSpec], data: Data, device: str = "cpu") -> list[list[Record]]:
    """Runs (resolved) that the plan puts into one group, trained as that one group (bench's grids)."""
    groups = plan(specs, data, max_group=len(specs), device=device)
    if len(groups) != 1:
        raise ValueError("these runs do not form one group")
    return train_with(groups[0], data)


def failure(e: BaseException) -> str:
    """A training error as runs.csv and the failure report show it: one line."""
    text = " ".join(str(e).split())
    return text if isinstance(e, UserCodeStopped) else f"{type(e).__name__}: {text}"

