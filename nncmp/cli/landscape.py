"""`nncmp landscape RESULTS_DIR`: the loss over a plane through the tracked weights, with every
configuration's path across it, the straight-line interpolations, and their figures."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from nncmp.cli.common import QuietOpt, console, user_errors
from nncmp.cli.declared import declares, single, values
from nncmp.config.comparison import Options


@declares(single(Options, ["threads", "device"]))
def landscape(
    results_dir: Annotated[Path, typer.Argument(help="A results folder of compare or train run with --track-weights.",
                                                metavar="RESULTS_DIR", show_default=False)],
    plane: Annotated[str, typer.Option(help="pca: the paths' two principal directions; random: two "
                                       "filter-normalised Gaussian directions around --center (Li et al. 2018).")]
    = "pca",
    center: Annotated[str | None, typer.Option(help="random plane: the configuration whose final weights it is "
                                               "centred on (a config id or its leading parts).",
                                               show_default="the first tracked")] = None,
    resolution: Annotated[int, typer.Option(help="Grid points along each axis of the plane.")] = 21,
    points: Annotated[int, typer.Option(help="Training examples the loss is evaluated on.")] = 2000,
    seed: Annotated[int, typer.Option(help="Seeds the random plane and the choice of examples.")] = 0,
    plot: Annotated[bool, typer.Option(help="Write landscape.png and interpolation.png.")] = True,
    quiet: QuietOpt = False,
    **declared: Any,
) -> None:
    """A real network's loss landscape on a plane, with every tracked configuration's path across it."""
    from nncmp.commands.landscape import LandscapeRequest
    from nncmp.commands.landscape import landscape as run

    with user_errors():
        options = Options(**values(Options, declared, ["threads", "device"]))
        request = LandscapeRequest(results_dir, plane, center, resolution, points, seed, options.threads,
                                   options.device, plot)
        result = run(request)
    out = console()
    if not quiet:
        from nncmp.output.views import landscape_table

        out.print(landscape_table(result))
    out.print(f"results: {result.folder}  (landscape.csv, trajectories.csv, interpolation.csv"
              + (", landscape.png, interpolation.png)" if result.plot else ")"))
