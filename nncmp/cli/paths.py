"""`nncmp paths`: optimizers walking across a 2-D function, drawn over its contours."""

from __future__ import annotations

import math
from typing import Annotated, Any

import typer

from nncmp.cli.common import OptArgOpt, OutOpt, OverwriteOpt, QuietOpt, console, user_errors
from nncmp.cli.declared import declares, single, values
from nncmp.config.request import key_values
from nncmp.config.run import RunSpec
from nncmp.errors import SpecError
from nncmp.explore.paths import NAMES
from nncmp.registry.schedules import SCHEDULES


@declares(single(RunSpec, ["warmup"]))
def paths(
    fn: Annotated[str, typer.Option("--fn", help=f"The function: {', '.join(NAMES)}.")] = "rosenbrock",
    opts: Annotated[str, typer.Option("--opts", "--opt", help="Optimizers, comma-separated: any nncmp knows "
                                      "(`nncmp optimizers`); on a 2-D function gd, sgd and minibatch are the same.")]
    = "gd,momentum,nesterov,rmsprop,adagrad,adam",
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
    opt_arg: OptArgOpt = None,
    gif: Annotated[bool, typer.Option("--gif", help="Also write paths.gif: the walks growing step by step.",
                                      show_default="off")] = False,
    plot: Annotated[bool, typer.Option(help="Write paths.png and paths_grid.png.")] = True,
    device: Annotated[str, typer.Option(help="Where the walks run: cpu (two numbers: a GPU only adds "
                                        "latency), cuda, cuda:N; mps has no float64.")] = "cpu",
    out: OutOpt = None,
    overwrite: OverwriteOpt = False,
    quiet: QuietOpt = False,
    **declared: Any,
) -> None:
    """Optimizers walking across a 2-D function (the course's loss-landscape picture): paths.csv, paths.png,
    a table of where each one got."""
    from nncmp.commands.paths import PathsRequest
    from nncmp.commands.paths import paths as run
    from nncmp.config.comparison import Options
    from nncmp.config.fields import parse_list

    with user_errors():
        Options(device=device)  # its form
        point = None if start is None else parse_list("--start", start, float, "numbers")
        if point is not None and (len(point) != 2 or not all(math.isfinite(v) for v in point)):
            raise SpecError(f"--start needs two finite numbers 'x,y', got {start!r}")
        rates: tuple[float, ...] | str = lrs.strip() if lrs.strip() in ("auto", "default") else \
            parse_list("--lrs", lrs, float, "numbers (or 'auto' or 'default')")
        request = PathsRequest(fn, parse_list("--opts", opts, str, "optimizer names"), rates, steps, point,
                               condition, tol, schedule, values(RunSpec, declared, ["warmup"]).get("warmup"),
                               key_values(opt_arg), gif, plot, device, out, overwrite)
        result = run(request)
    if not quiet:
        from nncmp.output.views import paths_table

        console().print(paths_table(result, request.steps, request.tol))
    console().print(f"results: {result.folder}")
