"""Where groups of runs train: the only place that turns the plan's engine choice into an engine.

run_local trains a grid's groups one after another in this process; backends.py sends the same groups
to worker processes or Ray tasks, which call train_with too. A group arrives with its runs resolved, its
engine and its device (plan.Group): nothing here resolves or chooses again.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from nncmp.config.run import RunSpec
from nncmp.registry.datasets import Data
from nncmp.training.devices import on_device
from nncmp.training.plan import MAX_GROUP, Group, describe, plan
from nncmp.training.recorder import OnEpoch, Probe, Record, record_runs

if TYPE_CHECKING:
    from nncmp.training.progress import Progress

# Called once per finished group with (grid position, records) of each of its runs: saving them in one
# write keeps a group whole on disk, so a resume regroups the remaining runs exactly as before.
OnGroup = Callable[[list[tuple[int, list[Record]]]], None]


def train_with(group: Group, data: Data, on_epoch: OnEpoch | None = None,
               probe: Probe | None = None) -> list[list[Record]]:
    """Train the runs of `group` together on its engine and device (`data` moves there, once per process);
    each run's records, in the group's order."""
    data = on_device(data, group.device)
    specs = list(group.specs)
    if group.engine == "single":
        from nncmp.training.engines.single import SingleRun

        (spec,) = specs
        return record_runs(SingleRun(spec, data, group.device), on_epoch, probe)
    if group.engine == "stacked-func":
        from nncmp.training.engines.func_stacked import FuncStackedRun

        return record_runs(FuncStackedRun(specs, data, group.device), on_epoch, probe)
    if group.engine in ("stacked", "fast-sgd"):
        from nncmp.training.engines.stacked import StackedRun

        return record_runs(StackedRun(specs, data, group.device, fast=group.engine == "fast-sgd"), on_epoch, probe)
    raise ValueError(f"unknown engine {group.engine!r}")


def run_group(group: Group, specs: Sequence[RunSpec], data: Data, on_epoch: OnEpoch | None = None,
              probe: Probe | None = None) -> list[list[Record]]:
    """One group of a plan, in this process: its runs' records, in the group's order. `specs`: the run list
    the plan grouped (group.indices are positions in it; the group carries those runs)."""
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
    return f"{type(e).__name__}: {' '.join(str(e).split())}"


def run_local(specs: list[RunSpec], data: Data, progress: Progress, on_group: OnGroup, max_group: int = MAX_GROUP,
              say: Callable[[str], None] | None = None, probe: Probe | None = None,
              device: str = "cpu") -> dict[int, str]:
    """Train every spec in this process, group by group; returns the runs that raised (grid position →
    error), whose group is then given up while the rest of the grid carries on, as on the parallel backends.
    KeyboardInterrupt propagates after the finished groups have been handed to `on_group` (which saves
    them): an interruption loses only the group in progress."""
    groups = plan(specs, data, max_group, device)
    failed: dict[int, str] = {}
    for number, group in enumerate(groups, 1):
        if say:
            say(describe(number, len(groups), group))
        progress.start_group(group.indices, list(group.specs))
        try:
            results = run_group(group, specs, data, on_epoch=progress.epoch, probe=probe)
        except Exception as e:  # an optimizer that raises: recorded as failed, never the end of the grid
            failed.update({i: failure(e) for i in group.indices})
            progress.group_failed(group.indices, failure(e))
            continue
        for i, records in zip(group.indices, results):
            progress.end_run(i + 1, specs[i], records)
        on_group(list(zip(group.indices, results)))
    return failed
