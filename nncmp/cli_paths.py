"""`nncmp paths`: optimizers on a 2-D function (paths.py), drawn over its contours (pathplots.py)."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Annotated, Any

import typer

from nncmp.options import (
    OptArgOpt,
    OutOpt,
    OverwriteOpt,
    QuietOpt,
    UsageFailure,
    WarmupOpt,
    check_device,
    parse_list,
    parse_opt_args,
    pick_device,
    results_folder,
    user_errors,
)
from nncmp.explore.paths import NAMES
from nncmp.registry.schedules import SCHEDULES

DEFAULT_OPTS = "gd,momentum,nesterov,rmsprop,adagrad,adam"


def paths(
    fn: Annotated[str, typer.Option("--fn", help=f"The function: {', '.join(NAMES)}.")] = "rosenbrock",
    opts: Annotated[str, typer.Option("--opts", "--opt", help="Optimizers, comma-separated: any nncmp knows "
                                      "(`nncmp optimizers`); on a 2-D function gd, sgd and minibatch are the same.")]
    = DEFAULT_OPTS,
    lrs: Annotated[str, typer.Option("--lrs", "--lr", help="Learning rates, comma-separated (every optimizer at "
                                     "each), 'auto' (per optimizer, the rate of 13 over six decades around its "
                                     "default with the lowest final loss; a walk that diverges loses), or "
                                     "'default' (each optimizer's own).")] = "auto",
    steps: Annotated[int, typer.Option(help="Optimizer steps per walk.")] = 300,
    start: Annotated[str | None, typer.Option(help="Starting point 'x,y'.", show_default="the function's")] = None,
    condition: Annotated[float, typer.Option(help="quadratic: the ratio of its two curvatures.")] = 10.0,
    tol: Annotated[float, typer.Option(help="A walk has arrived once its loss is within this of the minimum's.")]
    = 1e-3,
    schedule: Annotated[str, typer.Option(help=f"Learning-rate schedule over the steps: {', '.join(SCHEDULES)}.")]
    = "constant",
    warmup: WarmupOpt = None,
    opt_arg: OptArgOpt = None,
    gif: Annotated[bool, typer.Option("--gif", help="Also write paths.gif: the walks growing step by step.",
                                      show_default="off")] = False,
    plot: Annotated[bool, typer.Option(help="Write paths.png and paths_grid.png.")] = True,
    device: Annotated[str, typer.Option(help="Where the walks run: cpu (two numbers: a GPU only adds "
                                        "latency), cuda, cuda:N; mps has no float64.")] = "cpu",
    out: OutOpt = None,
    overwrite: OverwriteOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """Optimizers walking across a 2-D function (the course's loss-landscape picture): paths.csv, paths.png,
    a table of where each one got."""
    from nncmp.explore import paths as walks

    check_device(device)
    if device.strip().lower() in ("mps", "auto"):
        raise UsageFailure("--device for paths: cpu, cuda or cuda:N (the walks are float64, which MPS lacks)")
    if steps < 1:
        raise UsageFailure(f"--steps must be >= 1, got {steps}")
    if not (math.isfinite(tol) and tol > 0):
        raise UsageFailure(f"--tol must be a finite number > 0, got {tol:g}")
    point = None
    if start is not None:
        point = parse_list("--start", start, float, "numbers")
        if len(point) != 2 or not all(math.isfinite(v) for v in point):
            raise UsageFailure(f"--start needs two finite numbers 'x,y', got {start!r}")
    rates: tuple[float, ...] | None = None
    if lrs.strip() not in ("auto", "default"):
        rates = parse_list("--lrs", lrs, float, "numbers (or 'auto' or 'default')")
        if not all(math.isfinite(r) and r > 0 for r in rates):
            raise UsageFailure(f"--lrs must be finite numbers > 0, got {lrs!r}")
    names = parse_list("--opts", opts, str, "optimizer names")
    args = parse_opt_args(opt_arg)
    with user_errors():
        function = walks.function(fn, condition)
        from nncmp.registry import optimizers as optim

        resolved = tuple(dict.fromkeys(optim.resolve(n) for n in names))
        for key in args:
            if len(resolved) == 1:  # names the keys it does take
                optim.check_args(resolved[0], {key: args[key]})
            if not any(_takes(n, key) for n in resolved):
                raise UsageFailure(f"--opt-arg {key} applies to none of the optimizers {', '.join(resolved)}")
        for name in resolved:  # every setting checked before the first step
            walks.spec_for(name, None, steps, {k: v for k, v in args.items() if _takes(name, k)}, schedule, warmup)
    device = pick_device(device, None)
    with results_folder(out, "paths", overwrite=overwrite) as folder, user_errors():
        run(folder, function, resolved, rates, lrs.strip() == "auto", steps, point or function.start, tol,
            schedule, warmup, args, gif, plot, quiet, device)


def _takes(optimizer: str, key: str) -> bool:
    from nncmp.registry import optimizers as optim

    return key in optim.entry(optimizer).defaults or key in optim.settable(optimizer)


def run(folder: Path, fn: Any, optimizers: tuple[str, ...], rates: tuple[float, ...] | None, auto: bool,
        steps: int, start: tuple[float, float], tol: float, schedule: str, warmup: float | None,
        args: dict[str, Any], gif: bool, plot: bool, quiet: bool, device: str = "cpu") -> None:
    import pandas as pd

    from nncmp.results import store
    from nncmp.registry import optimizers as optim
    from nncmp.explore import paths as walks
    from nncmp.output.terminal import make_console, simple_table

    console = make_console()
    store.write_config(folder, "paths", {"fn": fn.name, "summary": fn.summary, "optimizers": list(optimizers),
                                         "lrs": "auto" if auto else list(rates) if rates else "default",
                                         "steps": steps, "start": list(start), "tol": tol, "schedule": schedule,
                                         "warmup": warmup, "opt_args": args, "minima": [list(m) for m in fn.minima],
                                         "device": device})
    rows, summary = [], []
    for name in optimizers:
        own = {k: v for k, v in args.items() if _takes(name, k)}
        default = optim.entry(name).lr
        candidates = walks.rate_grid(default) if auto else list(rates or (default,))
        walked = [(lr, walks.walk(fn, walks.spec_for(name, lr, steps, own, schedule, warmup), start, device))
                  for lr in candidates]
        if auto:  # the lowest final loss wins; ties go to the smaller rate (first in the grid)
            walked = [min(walked, key=lambda w: walks.final_loss(w[1]))]
        for lr, points in walked:
            rows += [{"fn": fn.name, "optimizer": name, "lr": lr, **p} for p in points]
            summary.append(walks.summary_row(fn, name, lr, points, tol, auto))
    frame = pd.DataFrame(rows, columns=["fn", "optimizer", "lr", "step", "x", "y", "loss"])
    table = pd.DataFrame(summary)
    store.write_csv(folder / "paths.csv", frame)
    store.write_csv(folder / "paths_summary.csv", table)
    if plot or gif:
        from nncmp.explore import path_plots as pathplots

        if plot:
            pathplots.paths_figure(fn, frame, table, folder / "paths.png")
            pathplots.grid_figure(fn, frame, table, folder / "paths_grid.png")
        if gif:
            pathplots.animation(fn, frame, table, folder / "paths.gif")
    shown = [{"optimizer": r["optimizer"], "lr": f"{r['lr']:g}" + (" (tuned)" if r["tuned"] else ""),
              "final loss": f"{r['final_loss']:.4g}", "distance to minimum": f"{r['distance']:.4g}",
              f"steps to within {tol:g}": "never" if r["steps_to_tol"] is None or pd.isna(r["steps_to_tol"])
              else str(int(r["steps_to_tol"])), "status": r["status"]} for r in summary]
    if not quiet:
        caption = (f"{fn.name} from ({start[0]:g}, {start[1]:g}), {steps} steps; minimum loss {fn.min_loss:g} at "
                   + " and ".join(f"({a:g}, {b:g})" for a, b in fn.minima)
                   + (". lr tuned per optimizer: the lowest final loss of 13 rates." if auto else "."))
        console.print(simple_table(f"Paths on {fn.name}", shown, caption=caption))
    console.print(f"results: {folder}")
