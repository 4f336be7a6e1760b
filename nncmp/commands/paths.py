"""paths: optimizers walking across a 2-D function (explore/paths.py), drawn over its contours."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from nncmp.commands.common import pick_device, results_folder
from nncmp.errors import SpecError
from nncmp.explore import paths as walks
from nncmp.registry import optimizers as optim
from nncmp.results import schema, store

if TYPE_CHECKING:
    import pandas as pd

DEFAULT_OPTS = ("gd", "momentum", "nesterov", "rmsprop", "adagrad", "adam")


@dataclass(frozen=True)
class PathsRequest:
    fn: str = "rosenbrock"
    optimizers: tuple[str, ...] = DEFAULT_OPTS
    lrs: tuple[float, ...] | str = "auto"  # rates (every optimizer at each), "auto" or "default"
    steps: int = 300
    start: tuple[float, float] | None = None  # None: the function's own
    condition: float = 10.0  # quadratic: the ratio of its two curvatures
    tol: float = 1e-3
    schedule: str = "constant"
    warmup: float | None = None
    opt_args: dict[str, Any] = field(default_factory=dict)
    gif: bool = False
    plot: bool = True
    device: str = "cpu"
    out: Path | None = None
    overwrite: bool = False

    def __post_init__(self) -> None:
        if self.device.strip().lower() in ("mps", "auto"):
            raise SpecError("--device for paths: cpu, cuda or cuda:N (the walks are float64, which MPS lacks)")
        if self.steps < 1:
            raise SpecError(f"--steps must be >= 1, got {self.steps}")
        if not (math.isfinite(self.tol) and self.tol > 0):
            raise SpecError(f"--tol must be a finite number > 0, got {self.tol:g}")
        if self.start is not None and (len(self.start) != 2 or not all(math.isfinite(v) for v in self.start)):
            raise SpecError(f"--start needs two finite numbers 'x,y', got {','.join(map(str, self.start))!r}")
        if not isinstance(self.lrs, str) and not all(math.isfinite(r) and r > 0 for r in self.lrs):
            raise SpecError(f"--lrs must be finite numbers > 0, got {','.join(map(str, self.lrs))!r}")
        walks.function(self.fn, self.condition)
        resolved = tuple(dict.fromkeys(optim.resolve(n) for n in self.optimizers))
        object.__setattr__(self, "optimizers", resolved)
        for key in self.opt_args:
            if len(resolved) == 1:  # names the keys it does take
                optim.check_args(resolved[0], {key: self.opt_args[key]})
            if not any(takes(n, key) for n in resolved):
                raise SpecError(f"--opt-arg {key} applies to none of the optimizers {', '.join(resolved)}")
        for name in resolved:  # every setting checked before the first step
            walks.spec_for(name, None, self.steps, self.own_args(name), self.schedule, self.warmup)

    def own_args(self, optimizer: str) -> dict[str, Any]:
        return {k: v for k, v in self.opt_args.items() if takes(optimizer, k)}


def takes(optimizer: str, key: str) -> bool:
    return key in optim.entry(optimizer).defaults or key in optim.settable(optimizer)


@dataclass
class PathsResult:
    folder: Path
    paths: pd.DataFrame  # paths.csv: every point of every walk
    summary: pd.DataFrame  # paths_summary.csv: where each walk got
    fn: walks.Function
    start: tuple[float, float]
    auto: bool


def paths(request: PathsRequest) -> PathsResult:
    import pandas as pd

    from nncmp.training.stepping import check_settings

    fn = walks.function(request.fn, request.condition)
    start = request.start or fn.start
    auto = request.lrs == "auto"
    rates = None if isinstance(request.lrs, str) else request.lrs
    check_settings([walks.spec_for(n, None, request.steps, request.own_args(n), request.schedule, request.warmup)
                    for n in request.optimizers])
    device = pick_device(request.device)
    with results_folder(request.out, "paths", overwrite=request.overwrite) as folder:
        store.write_config(folder, "paths", {
            "fn": fn.name, "summary": fn.summary, "optimizers": list(request.optimizers),
            "lrs": "auto" if auto else list(rates) if rates else "default", "steps": request.steps,
            "start": list(start), "tol": request.tol, "schedule": request.schedule, "warmup": request.warmup,
            "opt_args": request.opt_args, "minima": [list(m) for m in fn.minima], "device": device})
        rows, summary = [], []
        for name in request.optimizers:
            default = optim.entry(name).lr
            candidates = walks.rate_grid(default) if auto else list(rates or (default,))
            walked = [(lr, walks.walk(fn, walks.spec_for(name, lr, request.steps, request.own_args(name),
                                                         request.schedule, request.warmup), start, device))
                      for lr in candidates]
            if auto:  # the lowest final loss wins; ties go to the smaller rate (first in the grid)
                walked = [min(walked, key=lambda w: walks.final_loss(w[1]))]
            for lr, points in walked:
                rows += [{"fn": fn.name, "optimizer": name, "lr": lr, **p} for p in points]
                summary.append(walks.summary_row(fn, name, lr, points, request.tol, auto))
        frame = pd.DataFrame(rows, columns=["fn", "optimizer", "lr", "step", "x", "y", "loss"])
        table = pd.DataFrame(summary)
        store.write_csv(folder / schema.PATHS, frame)
        store.write_csv(folder / schema.PATHS_SUMMARY, table)
        if request.plot or request.gif:
            from nncmp.explore import path_plots

            if request.plot:
                path_plots.paths_figure(fn, frame, table, folder / "paths.png")
                path_plots.grid_figure(fn, frame, table, folder / "paths_grid.png")
            if request.gif:
                path_plots.animation(fn, frame, table, folder / "paths.gif")
    return PathsResult(folder, frame, table, fn, start, auto)
