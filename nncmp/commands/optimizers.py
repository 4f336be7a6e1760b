"""optimizers: every optimizer nncmp can compare, where it comes from and how it is trained."""

from __future__ import annotations

import fnmatch
from typing import Any

from nncmp.errors import SpecError
from nncmp.registry import optimizers as optim
from nncmp.registry.closest import unknown


def optimizers(pattern: str | None = None) -> list[dict[str, Any]]:
    """One row per optimizer whose canonical name matches the glob `pattern`."""
    rows = catalog(pattern)
    if not rows:
        raise SpecError(f"--filter {pattern!r} matches no optimizer")
    return rows


def catalog(pattern: str | None = None) -> list[dict[str, Any]]:
    """`nncmp optimizers`: one row per optimizer whose canonical name matches the glob `pattern`."""
    rows = []
    for name in optim.all_names():
        if pattern and not fnmatch.fnmatch(name, pattern.lower()):
            continue
        e = optim.entry(name)
        hyper = {**e.defaults, **optim.settable(name)}
        rows.append({
            "name": name, "source": e.source, "class": f"{e.module}.{e.torch_class}",
            "lr": e.lr, "batch_size": e.batch_size, "hyperparameters": hyper,
            "handling": list(e.handling) + (["stacked"] if name in optim.OPTIMIZERS else []),
            "available": not e.unavailable, "why_not": e.unavailable, "summary": e.summary,
        })
    return rows


def search_space(name: str, schedule: str = "constant") -> dict[str, Any]:
    """The search space `compare --tune` uses for optimizer `name` (with `schedule`), in the shape of a --space
    file: {optimizer: {hyperparameter: {min, max, scaling} or [values]}}."""
    from nncmp.config.space import default_space
    from nncmp.registry import optimizers as optim
    from nncmp.registry import schedules

    resolved = optim.resolve(name)
    if optim.entry(resolved).unavailable:
        from nncmp.errors import SpecError

        raise SpecError(f"{resolved} cannot run here: {optim.entry(resolved).unavailable}")
    if schedule not in schedules.SCHEDULES:
        from nncmp.errors import SpecError

        raise SpecError(unknown("schedule", schedule, schedules.SCHEDULES))
    return {resolved: {k: p.to_json() for k, p in default_space(resolved, schedule).items()}}
