"""`nncmp inspect`: each init's network at initialisation, layer by layer (see layers.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from nncmp.registry.inits import ALIASES, INITS
from nncmp.options import (
    DeviceOpt,
    ActOpt,
    BatchnormOpt,
    DataDirOpt,
    DatasetOpt,
    DepthOpt,
    DownloadOpt,
    HiddenOpt,
    JsonOpt,
    NOpt,
    OutOpt,
    OverwriteOpt,
    QuietOpt,
    SeedOpt,
    UsageFailure,
    check_device,
    WidthOpt,
    load_data,
    names,
    hidden_layers,
    parse_list,
    pick_device,
    results_folder,
    user_errors,
)
from nncmp.spec.run import RunSpec


def inspect(
    inits: Annotated[str, typer.Option("--inits", "--init", help=f"Inits, comma-separated: {names(INITS)}, "
                                       + ", ".join(ALIASES) + ".")] = "xavier,he,default",
    act: ActOpt = "relu",
    depth: DepthOpt = None,
    width: WidthOpt = None,
    hidden: HiddenOpt = None,
    batchnorm: BatchnormOpt = False,
    batch_size: Annotated[int, typer.Option(help="Examples in the batch passed forward and backward.")] = 256,
    dataset: DatasetOpt = "mnist5k",
    seed: SeedOpt = 0,
    n: NOpt = None,
    data_dir: DataDirOpt = None,
    download: DownloadOpt = False,
    out: OutOpt = None,
    plot: Annotated[bool, typer.Option(help="Write layers_std.png and layers_hist.png.")] = True,
    json_out: JsonOpt = False,
    device: DeviceOpt = "auto",
    overwrite: OverwriteOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """Per-layer signal statistics of each init's network at initialisation: one batch forward and
    backward; activation mean/std, dead or saturated units, gradient std at each layer's output and
    weights, weight std."""
    check_device(device)
    if batch_size < 2:
        raise UsageFailure(f"--batch-size must be >= 2 (statistics over a batch), got {batch_size}")
    with user_errors():
        base = RunSpec(dataset=dataset, model="mlp", hidden=hidden_layers(hidden, depth, width), act=act,
                       batchnorm=batchnorm, seed=seed, n=n, epochs=1)
        names = [RunSpec(init=i).init for i in parse_list("--inits", inits, str, "init names")]
        if len(set(names)) != len(names):
            raise UsageFailure(f"--inits lists an init more than once: {inits}")
    device = pick_device(device, None)
    data = load_data(base, data_dir, download)
    from nncmp.training.devices import on_device

    with results_folder(out, "inspect", overwrite=overwrite) as folder:
        _inspect_into(folder, base, names, on_device(data, device), batch_size, plot, json_out, quiet, device)


def _inspect_into(folder: Path, base: RunSpec, inits: list[str], data: Any, batch_size: int, plot: bool,
                  json_out: bool, quiet: bool, device: str = "cpu") -> None:
    import json

    import pandas as pd

    from nncmp.training import layers
    from nncmp.results import store
    from nncmp.output.terminal import layer_table, make_console

    per_init, samples = layers.inspect_inits(base, inits, data, batch_size)
    rows = [row for init, stats in per_init.items() for row in layers.tidy(stats, init=init)]
    frame = pd.DataFrame(rows)
    store.write_config(folder, "inspect", {"base": base.to_dict(), "inits": inits, "batch_size": batch_size,
                                           "device": device})
    store.write_csv(folder / "layers.csv", frame)
    shape = f"{len(base.hidden)} hidden layers of {', '.join(map(str, sorted(set(base.hidden))))}"
    title = f"{base.act}{' + batchnorm' if base.batchnorm else ''}, {shape}"
    if plot:
        from nncmp.output.plots import activation_histograms, layer_profile

        layer_profile(frame, folder / "layers_std.png", title)
        activation_histograms(samples, folder / "layers_hist.png", title)
    if json_out:
        typer.echo(json.dumps({"inits": per_init, "folder": str(folder)}, indent=2))
        return
    console = make_console()
    if not quiet:
        for init, stats in per_init.items():
            console.print(layer_table(init, stats, base.act, f"{data.name}, batch of {batch_size}, {title}"))
    for init, stats in per_init.items():
        first, last = stats[0]["act_std"], stats[-2 if len(stats) > 1 else -1]["act_std"]
        g_first, g_last = stats[0]["grad_out_std"], stats[-2 if len(stats) > 1 else -1]["grad_out_std"]
        console.print(f"{init}: activation std {first:.3g} → {last:.3g} (×{last / first:.3g}) and gradient std "
                      f"{g_first:.3g} → {g_last:.3g} (×{g_last / g_first:.3g}) from the first to the last hidden "
                      "layer")
    console.print(f"results: {folder}  (layers.csv" + (", layers_std.png, layers_hist.png" if plot else "") + ")")
