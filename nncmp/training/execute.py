"""Where groups of runs train: the only place that turns the plan's engine choice into an engine.

run_local trains a grid's groups one after another in this process; backends.py sends the same groups
to worker processes or Ray tasks, which call train_with too.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from nncmp.config.run import RunSpec
from nncmp.registry.datasets import Data
from nncmp.training.plan import ENGINES, MAX_GROUP, Group, describe, fast_sgd, group_key, plan
from nncmp.training.recorder import OnEpoch, Probe, Record, record_runs

if TYPE_CHECKING:
    from nncmp.training.progress import Progress

# Called once per finished group with (grid position, records) of each of its runs: saving them in one
# write keeps a group whole on disk, so a resume regroups the remaining runs exactly as before.
OnGroup = Callable[[list[tuple[int, list[Record]]]], None]


def where(data: Data) -> str:
    """The device `data` is on (devices.on_device put it there): where its runs train."""
    return str(data.x_train.device)


def train_with(engine: str, specs: list[RunSpec], data: Data, on_epoch: OnEpoch | None = None,
               probe: Probe | None = None) -> list[list[Record]]:
    """Train `specs` together on `engine` (one of plan.ENGINES); each run's records, in order."""
    if engine not in ENGINES:
        raise ValueError(f"unknown engine {engine!r}; one of {', '.join(ENGINES)}")
    if engine == "single":
        from nncmp.training.engines.single import SingleRun

        if len(specs) != 1:
            raise ValueError("the single-run engine trains one run")
        return record_runs(SingleRun(specs[0], data), on_epoch, probe)
    from nncmp.training.engines.stacked import StackedRun

    resolved = [s.resolved(data.n_train) for s in specs]
    device = where(data)
    keys = {group_key(s, data, device) for s in resolved}
    if None in keys or len(keys) != 1:
        raise ValueError("only runs with one shared group key train together")
    if engine == "stacked-func":
        from nncmp.training.engines.func_stacked import FuncStackedRun

        return record_runs(FuncStackedRun(resolved, data), on_epoch, probe)
    if engine == "fast-sgd" and not fast_sgd(resolved[0], data.task, device):
        raise ValueError("the fast-sgd engine trains plain SGD at batch size 1 on plain Linear layers, for "
                         "classification, on the CPU only")
    return record_runs(StackedRun(resolved, data, fast=engine == "fast-sgd"), on_epoch, probe)


def run_group(group: Group, specs: list[RunSpec], data: Data, on_epoch: OnEpoch | None = None,
              probe: Probe | None = None) -> list[list[Record]]:
    """The runs of one group of the plan (`specs` is the whole grid), on the group's engine."""
    return train_with(group.engine, [specs[i] for i in group.indices], data, on_epoch, probe)


def train_one(spec: RunSpec, data: Data, on_epoch: OnEpoch | None = None,
              probe: Probe | None = None) -> list[Record]:
    """One run on the engine the plan gives a run alone (nncmp train, bench)."""
    (group,) = plan([spec], data, device=where(data))
    return run_group(group, [spec], data, on_epoch, probe)[0]


def train_together(specs: list[RunSpec], data: Data) -> list[list[Record]]:
    """Runs that the plan puts into one group, trained as that one group (bench's grids)."""
    groups = plan(specs, data, max_group=len(specs), device=where(data))
    if len(groups) != 1:
        raise ValueError("these runs do not form one group")
    return run_group(groups[0], specs, data)


def failure(e: BaseException) -> str:
    """A training error as runs.csv and the failure report show it: one line."""
    return f"{type(e).__name__}: {' '.join(str(e).split())}"


def run_local(specs: list[RunSpec], data: Data, progress: Progress, on_group: OnGroup, max_group: int = MAX_GROUP,
              say: Callable[[str], None] | None = None, probe: Probe | None = None) -> dict[int, str]:
    """Train every spec in this process, group by group; returns the runs that raised (grid position →
    error), whose group is then given up while the rest of the grid carries on, as on the parallel backends.
    KeyboardInterrupt propagates after the finished groups have been handed to `on_group` (which saves
    them): an interruption loses only the group in progress."""
    groups = plan(specs, data, max_group, where(data))
    failed: dict[int, str] = {}
    for number, group in enumerate(groups, 1):
        members = [specs[i] for i in group.indices]
        if say:
            say(describe(number, len(groups), group, members[0]))
        progress.start_group(group.indices, members)
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
