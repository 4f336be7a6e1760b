"""Which runs of a grid train together: groups of runs the batched engine can stack.

A group is an execution detail: a run's records do not depend on the group it trained in.
"""

from __future__ import annotations

from dataclasses import dataclass

from nncmp.batched import fast_sgd, group_key, unsupported
from nncmp.spec import RunSpec

# Bounds a group's memory: a full-batch step holds K × min(n, GRAD_CHUNK) examples' activations.
MAX_GROUP = 16


@dataclass(frozen=True)
class Group:
    indices: tuple[int, ...]  # positions in the grid's run list, in grid order
    stacked: bool  # False: one run on engine.train
    why: str  # how it trains, for --verbose


def plan(specs: list[RunSpec], n_train: int, max_group: int = MAX_GROUP) -> list[Group]:
    """Groups in order of each group's first run; runs keep grid order inside a group.

    max_group=1 trains every run alone (each on its fastest single-run path).
    """
    if max_group < 1:
        raise ValueError("max_group must be >= 1")
    resolved = [s.resolved(n_train) for s in specs]
    open_groups: dict[tuple, list[int]] = {}
    groups: list[list[int]] = []
    reasons: dict[int, str] = {}
    for i, spec in enumerate(resolved):
        key = group_key(spec) if max_group > 1 else None
        if key is None:
            groups.append([i])
            reasons[i] = unsupported(spec) or "--group-size 1"
            continue
        members = open_groups.get(key)
        if members is None or len(members) >= max_group:
            members = open_groups[key] = []
            groups.append(members)
        members.append(i)
    out = []
    for members in groups:
        first = resolved[members[0]]
        fast = " (batch-1 SGD fast path)" if fast_sgd(first) else ""
        if len(members) > 1:
            out.append(Group(tuple(members), True, f"{len(members)} runs stacked{fast}"))
        elif fast:
            out.append(Group(tuple(members), True, f"alone{fast}"))
        else:
            out.append(Group(tuple(members), False, f"alone on the single-run engine: "
                                                    f"{reasons.get(members[0], 'no other run shares its settings')}"))
    return out
