"""`nncmp paths`: optimizers walking across a 2-D function, with the same torch optimizers compare runs.

Each optimizer steps a 2-element parameter (float64) on the function; every point it visits is a row of
paths.csv. The functions know their minima, so a walk is scored by its final loss, its distance to the
nearest minimum and the steps it took to come within --tol of the minimum's loss.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from nncmp.errors import SpecError
from nncmp.registry.closest import unknown

if TYPE_CHECKING:
    import torch

    from nncmp.config.run import RunSpec

# The course's five points (data.load_toy_regression): y = x·w is fitted exactly by w = (-1, 3).
TOY_X = ((1.0, 2.0), (2.0, 3.0), (3.0, 4.0), (4.0, 5.0), (5.0, 6.0))
TOY_Y = (5.0, 7.0, 9.0, 11.0, 13.0)


@dataclass(frozen=True)
class Function:
    name: str
    f: Callable[[Any, Any], Any]  # elementwise on tensors or arrays: f(x, y)
    start: tuple[float, float]
    minima: tuple[tuple[float, float], ...]
    xlim: tuple[float, float]
    ylim: tuple[float, float]
    summary: str
    axes: tuple[str, str] = ("x", "y")  # what the two coordinates are, as the figure's axes name them

    @property
    def min_loss(self) -> float:
        import torch

        x, y = self.minima[0]
        return float(self.f(torch.tensor(x, dtype=torch.float64), torch.tensor(y, dtype=torch.float64)))

    def distance(self, x: float, y: float) -> float:
        return min(math.hypot(x - a, y - b) for a, b in self.minima)


def _cos(v: Any) -> Any:
    import torch

    return torch.cos(v) if isinstance(v, torch.Tensor) else __import__("numpy").cos(v)


def rosenbrock(x: Any, y: Any) -> Any:
    return (1 - x) ** 2 + 100 * (y - x ** 2) ** 2


def beale(x: Any, y: Any) -> Any:
    return (1.5 - x + x * y) ** 2 + (2.25 - x + x * y ** 2) ** 2 + (2.625 - x + x * y ** 3) ** 2


def rastrigin(x: Any, y: Any) -> Any:
    return 20 + x ** 2 - 10 * _cos(2 * math.pi * x) + y ** 2 - 10 * _cos(2 * math.pi * y)


def saddle(x: Any, y: Any) -> Any:
    """A saddle at the origin between two minima at (0, ±1): x² + y⁴/4 − y²/2."""
    return x ** 2 + y ** 4 / 4 - y ** 2 / 2


def toy_regression(w1: Any, w2: Any) -> Any:
    """The course's mean squared error of y = x·w over its five points, as a function of the two weights."""
    return sum((a * w1 + b * w2 - t) ** 2 for (a, b), t in zip(TOY_X, TOY_Y)) / len(TOY_Y)


def quadratic(condition: float) -> Callable[[Any, Any], Any]:
    """An ill-conditioned bowl ½(x² + κ·y²): curvature 1 along x, κ along y."""
    return lambda x, y: 0.5 * (x ** 2 + condition * y ** 2)


def function(name: str, condition: float = 10.0) -> Function:
    """The 2-D function `name` (quadratic: with this condition number)."""
    if name == "quadratic":
        if not (math.isfinite(condition) and condition >= 1):
            raise SpecError(f"--condition must be a finite number >= 1, got {condition:g}")
        return Function("quadratic", quadratic(condition), (-4.0, 1.0), ((0.0, 0.0),), (-4.5, 4.5), (-1.5, 1.5),
                        f"½(x² + {condition:g}·y²), an ill-conditioned bowl")
    if name not in FUNCTIONS:
        raise SpecError(unknown("function", name, NAMES))
    return FUNCTIONS[name]


FUNCTIONS = {
    "rosenbrock": Function("rosenbrock", rosenbrock, (-1.5, 2.0), ((1.0, 1.0),), (-2.0, 2.0), (-1.0, 3.0),
                           "(1−x)² + 100(y−x²)²: a curved, narrow valley"),
    "beale": Function("beale", beale, (1.0, 1.5), ((3.0, 0.5),), (-1.0, 4.5), (-1.5, 2.0),
                      "Beale's function: flat plateaus and steep ridges"),
    "rastrigin": Function("rastrigin", rastrigin, (2.3, 2.7), ((0.0, 0.0),), (-3.5, 3.5), (-3.5, 3.5),
                          "a bowl covered with local minima"),
    "saddle": Function("saddle", saddle, (-1.5, 0.01), ((0.0, 1.0), (0.0, -1.0)), (-2.0, 2.0), (-1.6, 1.6),
                       "x² + y⁴/4 − y²/2: a saddle at the origin, minima at (0, ±1)"),
    "toy-regression": Function("toy-regression", toy_regression, (1.0, 0.0), ((-1.0, 3.0),), (-4.0, 3.0),
                               (-0.5, 5.0), "the course's five-point regression over its two weights", ("w1", "w2")),
}
NAMES = ("rosenbrock", "beale", "rastrigin", "quadratic", "saddle", "toy-regression")


def spec_for(optimizer: str, lr: float | None, steps: int, opt_args: dict[str, Any] | None = None,
             schedule: str = "constant", warmup: float | None = None) -> RunSpec:
    """The RunSpec that names and checks an optimizer's settings for a walk of `steps` steps (its model and
    data are placeholders: a walk has a 2-element parameter and a function instead)."""
    from nncmp.config.run import RunSpec

    spec = RunSpec(dataset="toy-regression", model="linear", optimizer=optimizer, lr=lr, batch_size=1,
                   epochs=steps, opt_args=opt_args or {}, schedule=schedule, warmup=warmup)
    from nncmp.registry import schedules

    schedules.check(schedule, warmup, steps)
    return spec.resolved(1)


def walk(fn: Function, spec: RunSpec, start: tuple[float, float], device: str = "cpu") -> list[dict[str, Any]]:
    """The points an optimizer visits from `start`: step 0 and one row per step, until a loss is not finite."""
    import torch

    from nncmp.registry import optimizers as optim
    from nncmp.registry.schedules import Schedule
    from nncmp.training.stepping import build_for

    steps = spec.epochs
    p = torch.nn.Parameter(torch.tensor(start, dtype=torch.float64, device=device))
    entry = optim.entry(spec.optimizer)
    optimizer = build_for(spec, [p], None, 1)
    schedule = Schedule(optimizer, spec.schedule, steps, spec.warmup, entry.lr_key) \
        if spec.schedule != "constant" else None
    hessian, closure_step = optim.HESSIAN in entry.handling, optim.CLOSURE in entry.handling
    schedule_free = optim.SCHEDULE_FREE in entry.handling

    def closure() -> torch.Tensor:
        with torch.enable_grad():
            optimizer.zero_grad(set_to_none=True)
            loss = fn.f(p[0], p[1])
            loss.backward(create_graph=hessian)
            return loss.detach()

    points = [p.detach().clone()]
    if schedule_free:
        optimizer.train()
    for _ in range(steps):
        closure()
        optimizer.step(closure) if closure_step else optimizer.step()
        if schedule:
            schedule.step()
        if schedule_free:  # the point it would be evaluated at: its average
            optimizer.eval()
        points.append(p.detach().clone())
        if schedule_free:
            optimizer.train()
        if not bool(torch.isfinite(points[-1]).all()):
            break
    # The losses all at once, from the points (a walk's cost is its steps, not its bookkeeping).
    xy = torch.stack(points)
    with torch.no_grad():
        losses = fn.f(xy[:, 0], xy[:, 1])
    return [_row(k, (x, y), loss) for k, ((x, y), loss) in enumerate(zip(xy.tolist(), losses.tolist()))]


def _row(step: int, point: tuple[float, float], loss: float) -> dict[str, Any]:
    return {"step": step, "x": point[0], "y": point[1], "loss": loss}


def rate_grid(default: float) -> list[float]:
    """--lrs auto: 13 rates, half a decade apart, three decades either side of the optimizer's default."""
    return [float(f"{default * 10 ** (k / 2):.3g}") for k in range(-6, 7)]


def final_loss(rows: list[dict[str, Any]]) -> float:
    """A walk's score: its last loss; a walk that left the finite numbers loses to every other."""
    last = rows[-1]
    return last["loss"] if math.isfinite(last["loss"]) and len(rows) > 1 else math.inf


def summary_row(fn: Function, optimizer: str, lr: float, rows: list[dict[str, Any]], tol: float,
                tuned: bool) -> dict[str, Any]:
    last = rows[-1]
    finite = all(math.isfinite(last[c]) for c in ("x", "y", "loss"))
    reached = next((r["step"] for r in rows if math.isfinite(r["loss"]) and r["loss"] - fn.min_loss <= tol), None)
    return {"fn": fn.name, "optimizer": optimizer, "lr": lr, "tuned": tuned, "steps": last["step"],
            "final_loss": last["loss"], "distance": fn.distance(last["x"], last["y"]) if finite else math.inf,
            "steps_to_tol": reached, "status": "ok" if finite else "diverged"}
