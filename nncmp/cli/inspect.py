"""`nncmp inspect`: each init's network at initialisation, layer by layer."""

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
from nncmp.cli.declared import declares, extra, single, values
from nncmp.config.comparison import Options
from nncmp.config.request import hidden_layers, key_values
from nncmp.config.run import RunSpec
from nncmp.registry.inits import ALIASES, INITS


@declares(single(RunSpec, ["model"]), extra("model_arg", ModelArgOpt), single(RunSpec, ["act"]),
          extra("depth", DepthOpt), extra("width", WidthOpt),
          single(RunSpec, ["hidden", "batchnorm"]),
          extra("batch_size", Annotated[int, typer.Option(help="Examples in the batch passed forward and backward.")],
                256),
          single(RunSpec, ["dataset", "target_column", "task", "seed", "n"]), single(Options, ["data_dir", "device"]))
def inspect(
    inits: Annotated[str, typer.Option("--inits", "--init", help=f"Inits, comma-separated: {', '.join(INITS)}, "
                                       + ", ".join(ALIASES) + ".")] = "xavier,he,default",
    download: DownloadOpt = False,
    out: OutOpt = None,
    plot: Annotated[bool, typer.Option(help="Write layers_std.png and layers_hist.png.")] = True,
    json_out: JsonOpt = False,
    overwrite: OverwriteOpt = False,
    quiet: QuietOpt = False,
    **declared: Any,
) -> None:
    """Per-layer signal statistics of each init's network at initialisation: one batch forward and
    backward; activation mean/std, dead or saturated units, gradient std at each layer's output and
    weights, weight std."""
    from nncmp.commands.inspect import InspectRequest
    from nncmp.commands.inspect import inspect as run
    from nncmp.config.fields import parse_list

    with user_errors():
        device = Options(device=declared["device"]).device
        declared["hidden"] = hidden_layers(declared["hidden"], declared.pop("depth"), declared.pop("width"))
        base = RunSpec(epochs=1, model_args=key_values(declared["model_arg"], "--model-arg"),
                       **values(RunSpec, declared, ["model", "act", "hidden", "batchnorm", "dataset", "target_column",
                                                    "task", "seed", "n"]))
        request = InspectRequest(base, parse_list("--inits", inits, str, "init names"), declared["batch_size"],
                                 device, plot, out, overwrite, declared["data_dir"], download)
        result = run(request)
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
