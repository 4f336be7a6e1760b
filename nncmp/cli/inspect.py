"""`nncmp inspect`: each init's network at initialisation, layer by layer; --coord-check: every layer's
mean |activation| over the first steps against width, under sp and μP."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from nncmp.cli.common import (
    DepthOpt,
    DownloadOpt,
    JsonOpt,
    ModelArgOpt,
    OutOpt,
    OverwriteOpt,
    QuietOpt,
    WidthOpt,
    console,
    user_errors,
)
from nncmp.cli.declared import declares, dimensions, extra, grid, single, values
from nncmp.config.comparison import Options
from nncmp.config.grid import DEFAULT_SEEDS
from nncmp.config.request import hidden_layers, key_values
from nncmp.config.run import RunSpec
from nncmp.errors import SpecError
from nncmp.registry.inits import ALIASES, INITS

DEFAULT_COORD_STEPS = 5  # commands/inspect.py's, which --help does not import


@declares(single(RunSpec, ["model"]), extra("model_arg", ModelArgOpt), single(RunSpec, ["act"]),
          extra("depth", DepthOpt), extra("width", WidthOpt),
          single(RunSpec, ["hidden", "batchnorm"]),
          extra("batch_size", Annotated[int, typer.Option(help="Examples in the batch passed forward and backward "
                                                              "(--coord-check: the runs' batch size).")], 256),
          single(RunSpec, ["dataset", "target_column", "task", "seed", "n"]), single(Options, ["data_dir", "device"]),
          extra("coord_check", Annotated[bool, typer.Option(
              "--coord-check", help="The coordinate check instead: train each --params × --widths × seed's run "
              "--coord-steps steps (--opt, --lr, the init of --inits) and record every layer's mean |activation| "
              "at each step (coord.csv, coord.png); flat across widths under μP.")], False),
          extra("widths", Annotated[str | None, typer.Option(
              help="--coord-check: the widths, comma-separated, two or more (the mlp's hidden layers, the "
              "transformer's d_model, your model's --width-arg); μP's base width is the smallest.",
              show_default=False)]),
          [p.replace(default="sp,mup") for p in grid(RunSpec, ["param"])],
          single(RunSpec, ["optimizer", "lr", "width_arg"], {"optimizer": "adam"}),
          extra("coord_steps", Annotated[int, typer.Option(help="--coord-check: steps each run trains.")],
                DEFAULT_COORD_STEPS),
          extra("seeds", Annotated[int, typer.Option(help="--coord-check: seeds per width and parametrisation: "
                                                          "--seed, --seed+1, ...")], DEFAULT_SEEDS))
def inspect(
    inits: Annotated[str | None, typer.Option(
        "--inits", "--init", help=f"Inits, comma-separated: {', '.join(INITS)}, " + ", ".join(ALIASES)
        + ". --coord-check: one init.", show_default="xavier,he,default; --coord-check: default")] = None,
    download: DownloadOpt = False,
    out: OutOpt = None,
    plot: Annotated[bool, typer.Option(help="Write layers_std.png and layers_hist.png (--coord-check: "
                                            "coord.png).")] = True,
    json_out: JsonOpt = False,
    overwrite: OverwriteOpt = False,
    quiet: QuietOpt = False,
    **declared: Any,
) -> None:
    """Per-layer signal statistics of each init's network at initialisation: one batch forward and
    backward; activation mean/std, dead or saturated units, gradient std at each layer's output and
    weights, weight std. --coord-check: the coordinate check instead, each layer's mean |activation| over
    the first training steps against width, under sp and μP."""
    from nncmp.commands.inspect import CoordCheck, InspectRequest
    from nncmp.commands.inspect import inspect as run
    from nncmp.config.fields import parse_list

    with user_errors():
        coord = None
        if declared["coord_check"]:
            if declared["width"] is not None:
                raise SpecError("--coord-check varies the width: give --widths, not --width")
            dims = dimensions(RunSpec, declared, ["width", "param"])
            coord = CoordCheck(dims.get("width", ()), dims["param"], declared["seeds"], declared["coord_steps"])
            inits = inits or "default"
        elif declared["widths"] is not None:
            raise SpecError("--widths applies to --coord-check (compare --widths trains and compares them)")
        device = Options(device=declared["device"]).device
        declared["hidden"] = hidden_layers(declared["hidden"], declared.pop("depth"), declared.pop("width"))
        base = RunSpec(epochs=1, model_args=key_values(declared["model_arg"], "--model-arg"),
                       **values(RunSpec, declared, ["model", "act", "hidden", "batchnorm", "dataset", "target_column",
                                                    "task", "seed", "n", "optimizer", "lr", "width_arg"]))
        request = InspectRequest(base, parse_list("--inits", inits or "xavier,he,default", str, "init names"),
                                 declared["batch_size"], device, plot, out, overwrite, declared["data_dir"], download,
                                 coord)
        result = run(request)
    if result.coord is not None:
        coord_output(result, json_out)
        return
    if json_out:
        import json

        typer.echo(json.dumps({"inits": result.per_init, "folder": str(result.folder)}, indent=2))
        return
    from nncmp.output.views import inspect_lines, layer_table

    out_console = console()
    act = request.base.columns()["act"]  # empty for a user's model, whose activations are its own
    if not quiet:
        for init, stats in result.per_init.items():
            out_console.print(layer_table(init, stats, act, f"{result.dataset}, batch of {request.batch_size}, "
                                                            f"{result.title}"))
    for line in inspect_lines(result.per_init):
        out_console.print(line)
    out_console.print(f"results: {result.folder}  ({', '.join(result.files)})")


def coord_output(result: Any, json_out: bool) -> None:
    """--coord-check's verdict, one line per parametrisation (or the growth table as JSON), and the folder."""
    if json_out:
        import json

        typer.echo(json.dumps({"growth": result.growth.to_dict("records"), "verdict": result.verdict,
                               "folder": str(result.folder)}, indent=2, default=str))
        return
    out_console = console()
    out_console.print(f"mean |activation| at step {int(result.coord['step'].max())}, from the smallest to the largest "
                      "width:")
    for line in result.verdict:
        out_console.print(f"  {line}")
    out_console.print(f"results: {result.folder}  ({', '.join(result.files)})")
