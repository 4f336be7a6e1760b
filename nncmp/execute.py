"""Run a grid's groups on this process, handing each run's records back as soon as its group finishes."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from nncmp.data import Data
from nncmp.plan import MAX_GROUP, Group, plan
from nncmp.spec import RunSpec

# Called once per finished group with (grid position, records) of each of its runs: saving them in one
# write keeps a group whole on disk, so a resume regroups the remaining runs exactly as before.
OnGroup = Callable[[list[tuple[int, list[dict[str, Any]]]]], None]


def train_one(spec: RunSpec, data: Data, on_epoch: Any = None, probe: Any = None) -> list[dict[str, Any]]:
    """One run on its fastest path: the batch-1 SGD fast path where it applies, engine.train otherwise."""
    from nncmp.batched import fast_sgd, train_group
    from nncmp.engine import train

    if fast_sgd(spec.resolved(data.n_train)):
        return train_group([spec], data, on_epoch, probe)[0]
    return train(spec, data, on_epoch, probe)


def run_group(group: Group, specs: list[RunSpec], data: Data, on_epoch: Any = None,
              probe: Any = None) -> list[list[dict[str, Any]]]:
    from nncmp.batched import train_group
    from nncmp.engine import train

    members = [specs[i] for i in group.indices]
    if group.stacked:
        return train_group(members, data, on_epoch, probe)
    return [train(members[0], data, on_epoch, probe)]


def run_local(specs: list[RunSpec], data: Data, progress: Any, on_group: OnGroup, max_group: int = MAX_GROUP,
              say: Callable[[str], None] | None = None, probe: Any = None) -> None:
    """Train every spec in this process, group by group. KeyboardInterrupt propagates after the finished
    groups have been handed to `on_group` (which saves them): an interruption loses only the group in
    progress."""
    groups = plan(specs, data.n_train, max_group)
    for number, group in enumerate(groups, 1):
        if say:
            first = specs[group.indices[0]].resolved(data.n_train)
            say(f"group {number}/{len(groups)}: {first.config_id} and {len(group.indices) - 1} more, {group.why}"
                if len(group.indices) > 1 else f"group {number}/{len(groups)}: {first.run_id}, {group.why}")
        progress.start_group(group.indices, [specs[i].resolved(data.n_train) for i in group.indices])
        results = run_group(group, specs, data, on_epoch=progress.epoch, probe=probe)
        for i, records in zip(group.indices, results):
            progress.end_run(i + 1, specs[i], records)
        on_group(list(zip(group.indices, results)))
