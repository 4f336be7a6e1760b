"""`nncmp train`: one run, one row per epoch (epoch 0 is the untrained model)."""

from __future__ import annotations

from typing import Any

import typer

from nncmp.cli.common import (
    DepthOpt,
    DownloadOpt,
    ModelArgOpt,
    OptArgOpt,
    OutOpt,
    OverwriteOpt,
    QuietOpt,
    WidthOpt,
    hidden_layers,
    parse_opt_args,
    reporter,
    user_errors,
)
from nncmp.cli.declared import declares, extra, single, values
from nncmp.config.comparison import Options
from nncmp.config.run import RunSpec
from nncmp.registry import hyperparameters as hp

RUN = ["dataset", "target_column", "task", "model", "hidden"]
RUN_REST = ["act", "batchnorm", "dropout", "init", "optimizer", "lr", "schedule", "warmup"]
HYPER = [*hp.optimizer_own(), "batch_size", "epochs", "seed", "n"]
OPTIONS = ["data_dir", "plot", "threads", "track_layers", "track_weights", "track_every", "device", "deterministic",
           "tensorboard"]


@declares(single(RunSpec, RUN), extra("model_arg", ModelArgOpt), extra("depth", DepthOpt), extra("width", WidthOpt),
          single(RunSpec, RUN_REST),
          extra("opt_arg", OptArgOpt), single(RunSpec, HYPER), single(Options, OPTIONS))
def train(download: DownloadOpt = False, out: OutOpt = None, overwrite: OverwriteOpt = False,
          quiet: QuietOpt = False, **declared: Any) -> None:
    """Train one run and print one row per epoch (epoch 0 is the untrained model)."""
    from nncmp.commands.train import TrainRequest
    from nncmp.commands.train import train as run

    with user_errors():
        declared["hidden"] = hidden_layers(declared["hidden"], declared.pop("depth"), declared.pop("width"))
        spec = RunSpec(**values(RunSpec, declared, RUN + RUN_REST + HYPER),
                       opt_args=parse_opt_args(declared["opt_arg"]),
                       model_args=parse_opt_args(declared["model_arg"], "--model-arg"))
        options = Options(**values(Options, declared, OPTIONS))
        request = TrainRequest(spec, options, out=out, overwrite=overwrite, download=download)
    from nncmp.cli.compare import finish

    show = reporter(quiet, epochs=True)
    raise typer.Exit(finish(lambda: run(request, show), show, train=True, quiet=quiet))
