"""optimizers: every optimizer nncmp can compare, where it comes from and how it is trained."""

from __future__ import annotations

import fnmatch
import warnings
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
            "state_bytes_per_param": None if e.unavailable else optimizer_state_per_param(name),
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


def optimizer_state_per_param(name: str) -> float | None:
    """`nncmp optimizers`: optimizer `name`'s state in bytes per parameter after one step on a tiny MLP
    (8 → 16 → 4, 212 parameters) at its defaults, step counters included; None if it cannot step here."""
    import torch
    from torch import nn

    from nncmp.config.run import RunSpec
    from nncmp.training.costs import state_bytes
    from nncmp.training.stepping import Stepper

    with torch.random.fork_rng(devices=[]), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # what a library says of its own use (create_graph's cycle): not ours
        torch.manual_seed(0)
        model = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 4))
        x, y = torch.randn(32, 8), torch.randint(0, 4, (32,))
        try:
            stepper = Stepper(RunSpec(optimizer=name, epochs=1).resolved(32), model, 32)

            def forward_backward(create_graph: bool) -> tuple[torch.Tensor, None]:
                stepper.optimizer.zero_grad(set_to_none=True)
                loss = nn.functional.cross_entropy(model(x), y)
                loss.backward(create_graph=create_graph)
                return loss.detach() * len(x), None

            stepper.step(forward_backward, len(x))
        except Exception:  # noqa: BLE001 -- an optimizer that cannot step here has no number
            return None
    state = state_bytes(stepper.optimizer)
    n = sum(p.numel() for p in model.parameters())
    return state / n
