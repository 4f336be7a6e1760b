"""What the commands share: error types shown as one line, list parsing, and option definitions.

Imports nothing heavy, so `nncmp --help` and bad input answer at once.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Annotated, Any

import typer

from nncmp.registry.datasets import DATASETS
from nncmp.errors import NncmpError
from nncmp.registry.models import ACTIVATIONS, MODELS
from nncmp.spec.run import RunSpec


class UsageFailure(typer.BadParameter):
    """Bad input: shown as one 'Error: ...' line with exit code 2 (usage error), never a traceback."""

    def show(self, file: Any = None) -> None:
        typer.echo(f"Error: {self.message}", err=True)


# click's ClickException as typer vendors it (typer catches its own copy, not a separately installed click's).
_ClickException = next(c for c in typer.BadParameter.__mro__ if c.__name__ == "ClickException")


class RuntimeFailure(_ClickException):  # type: ignore[misc,valid-type]
    """A failure while running (disk full, folder locked): one 'Error: ...' line, exit code 1."""

    exit_code = 1

    def show(self, file: Any = None) -> None:
        typer.echo(f"Error: {self.message}", err=True)


@contextlib.contextmanager
def user_errors() -> Iterator[None]:
    """nncmp's own errors (errors.NncmpError) as one line: exit 2 for bad input, 1 for runtime failures."""
    try:
        yield
    except NncmpError as e:
        raise (UsageFailure if e.exit_code == 2 else RuntimeFailure)(str(e)) from None


@contextlib.contextmanager
def results_folder(out: Path | None, command: str, resume: bool = False, overwrite: bool = False) -> Iterator[Path]:
    """The checked results folder, locked against a second process for as long as the command writes."""
    from nncmp.results import store

    with user_errors():
        folder = store.new_results_dir(out, command, resume=resume, overwrite=overwrite)
        lock = store.Lock(folder).__enter__()
        if overwrite:
            store.clear_results(folder)
    try:
        yield folder
    finally:
        lock.__exit__()


def parse_list(option: str, text: str, convert: Callable[[str], Any], kind: str) -> tuple[Any, ...]:
    items = [t.strip() for t in text.split(",")]
    try:
        if not text.strip() or any(not t for t in items):
            raise ValueError
        return tuple(convert(t) for t in items)
    except ValueError:
        raise UsageFailure(f"{option}: {text!r} is not a comma-separated list of {kind}") from None


def names(registry: Any) -> str:
    return ", ".join(registry)


# Options shared by train, compare and bench (one definition, one help text).
DatasetOpt = Annotated[str, typer.Option(help=f"Dataset: {names(DATASETS)}.")]
ModelOpt = Annotated[str, typer.Option(help=f"Model: {names(MODELS)}.")]
HiddenOpt = Annotated[str | None, typer.Option(help="mlp hidden-layer widths, comma-separated.",
                                               show_default="256,128")]
DepthOpt = Annotated[int | None, typer.Option(
    help="mlp with this many hidden layers, all --width wide (instead of --hidden).", show_default="off")]
WidthOpt = Annotated[int | None, typer.Option(help="Width of each hidden layer with --depth.", show_default="256")]
ActOpt = Annotated[str, typer.Option(help=f"Activation: {names(ACTIVATIONS)}.")]
BatchnormOpt = Annotated[bool, typer.Option(help="BatchNorm1d after each mlp hidden layer.")]
DropoutOpt = Annotated[float, typer.Option(help="Dropout probability after each hidden layer, in [0, 1).")]
MomentumOpt = Annotated[float | None, typer.Option(
    help="SGD/RMSProp momentum.", show_default="optimizer's default: 0, momentum/nesterov 0.9")]
BetasOpt = Annotated[str | None, typer.Option(help="Adam/AdamW betas 'b1,b2'.", show_default="0.9,0.999")]
AlphaOpt = Annotated[float | None, typer.Option(help="RMSProp smoothing constant.", show_default="0.99")]
EpsOpt = Annotated[float | None, typer.Option(
    help="Term added to the denominator (adaptive optimizers).", show_default="1e-8, adagrad 1e-10")]
WeightDecayOpt = Annotated[float | None, typer.Option(
    help="L2 penalty (decoupled for adamw).", show_default="0, adamw 0.01")]
EpochsOpt = Annotated[int, typer.Option(help="Passes over the training set.")]
SeedOpt = Annotated[int, typer.Option(help="Random seed (weights, batch order, dropout).")]
NOpt = Annotated[int | None, typer.Option("--n", help="Examples in the synthetic dataset.", show_default="5000")]
DataDirOpt = Annotated[Path | None, typer.Option(
    help="Folder for torchvision datasets (mnist, fashion-mnist, cifar10).", show_default="~/.cache/nncmp/data")]
DownloadOpt = Annotated[bool, typer.Option(help="Download a missing torchvision dataset into --data-dir.")]
OutOpt = Annotated[Path | None, typer.Option(
    help="Results folder.", show_default="results/<timestamp>-<command>")]
QuietOpt = Annotated[bool, typer.Option("--quiet", "-q", help="No progress or per-epoch lines.", show_default="off")]
ThreadsOpt = Annotated[int | None, typer.Option(
    help="torch threads for training (matrix products split across them).",
    show_default="torch's choice: the cores this process may use")]
GroupSizeOpt = Annotated[int, typer.Option(
    help="At most this many runs train together as one stacked model (runs that differ only in init, seed, "
         "and for batch-1 SGD the rate). 1: every run alone. Results are the same either way.")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print only machine-readable JSON on stdout.",
                                       show_default="off")]
OverwriteOpt = Annotated[bool, typer.Option(
    help="Replace the results in an existing --out folder (only an nncmp results folder; other files stay).",
    show_default="off: a non-empty --out is refused")]
BackendOpt = Annotated[str, typer.Option(
    help="Where the runs train: local (this process), processes (a pool of --jobs worker processes), ray (Ray "
         "tasks: a local instance, or the cluster at --address).")]
JobsOpt = Annotated[int, typer.Option(help="Worker processes (processes), or CPUs of a local Ray instance (ray).")]
RetriesOpt = Annotated[int, typer.Option(
    help="Attempts after the first for a group of runs whose worker dies or which fails (processes, ray).")]
AddressOpt = Annotated[str | None, typer.Option(
    help="Ray cluster to use: auto, or ray://host:port.", show_default="start a local Ray instance")]
TrackLayersOpt = Annotated[bool, typer.Option(
    help="After every epoch, record each layer's activation, dead/saturated units and gradient statistics "
         "(on one fixed batch, eval mode) into layers.csv.", show_default="off")]
VerboseOpt = Annotated[bool, typer.Option("--verbose", "-v", help="Say how the runs are grouped.",
                                          show_default="off")]


TrackWeightsOpt = Annotated[bool, typer.Option(
    help="Record the flattened weights of the first seed of every configuration after every epoch into "
         "weights/ (compressed; about 1 MB per epoch and configuration for the course's MLP), for nncmp landscape.",
    show_default="off")]
TrackEveryOpt = Annotated[int | None, typer.Option(
    help="With --track-weights: also every this many optimizer steps.", show_default="each epoch only")]


def check_tracking(track_weights: bool, track_every: int | None, specs: list[Any]) -> None:
    """--track-weights/--track-every before anything trains (`specs`: the runs)."""
    if track_every is not None and not track_weights:
        raise UsageFailure("--track-every applies only with --track-weights")
    if track_every is not None and track_every < 1:
        raise UsageFailure(f"--track-every must be >= 1, got {track_every}")
    if track_weights and any(s.batchnorm or s.model == "cnn" for s in specs):
        raise UsageFailure("--track-weights: BatchNorm's running statistics are not weights, so nncmp landscape "
                           "could not evaluate these models; use an mlp without --batchnorm")


OptArgOpt = Annotated[list[str] | None, typer.Option(
    "--opt-arg", metavar="KEY=VALUE",
    help="Another argument of the optimizer, repeatable: numbers, true/false, words, tuples as 'a,b' "
         "(e.g. --opt-arg amsgrad=true --opt-arg betas=0.9,0.95 is --betas). `nncmp optimizers` lists each "
         "optimizer's arguments. On compare each goes to the optimizers that take it.", show_default="none")]
WarmupOpt = Annotated[float | None, typer.Option(
    help="Warm-up of warmup-cosine and wsd: a fraction of all optimizer steps when < 1, else a number of steps.",
    show_default="0.05")]
OPT_HELP = ("or any torch.optim or pytorch-optimizer optimizer by name (nadam, lion, prodigy, muon, ...; "
            "torch:NAME or pytorch-optimizer:NAME picks a library; `nncmp optimizers` lists them)")


def parse_opt_args(values: list[str] | None) -> dict[str, Any]:
    """--opt-arg KEY=VALUE, repeated: {key: value}; values parsed (checked against the optimizer later)."""
    from nncmp.registry.optimizers import parse_value

    out: dict[str, Any] = {}
    for text in values or []:
        key, sep, value = text.partition("=")
        key = key.strip().replace("-", "_")
        if not sep or not key or not value.strip():
            raise UsageFailure(f"--opt-arg needs KEY=VALUE, got {text!r}")
        if key in out:
            raise UsageFailure(f"--opt-arg {key} is given more than once")
        out[key] = parse_value(value)
    return out


DeviceOpt = Annotated[str, typer.Option(
    help="Where to train: auto (CUDA if there is a GPU, else Apple's MPS, else the CPU), cpu, cuda, cuda:N, mps.")]
DeterministicOpt = Annotated[bool, typer.Option(
    "--deterministic", help="torch's deterministic algorithms only (on a GPU: the same numbers every time, slower).",
    show_default="off")]


TensorboardOpt = Annotated[Path | None, typer.Option(
    "--tensorboard", metavar="LOGDIR", help="Also write each run to this TensorBoard log folder as it finishes "
    "(needs the tensorboard package: pip install 'nncmp[tensorboard]').", show_default="off")]


def check_tensorboard(logdir: Path | None) -> None:
    if logdir is not None:
        from nncmp.output.tensorboard import check_installed

        with user_errors():
            check_installed()


def check_device(device: str | None) -> None:
    """--device's form, at once (which devices exist needs torch: pick_device)."""
    from nncmp.training.devices import check

    if device is not None:
        with user_errors():
            check(device)


def pick_device(device: str, threads: int | None, deterministic: bool = False) -> str:
    """The device --device names (exit 2 if it is not here); --deterministic switched on."""
    from nncmp.training import devices

    with user_errors():
        resolved = devices.resolve(device)
    if threads is not None and resolved != "cpu":
        typer.echo(f"note: --threads sets torch's CPU threads; on {resolved} the training runs on the GPU", err=True)
    devices.deterministic(deterministic)
    return resolved


def set_threads(threads: int | None) -> int:
    """Apply --threads (after validation) and return the number torch will use."""
    import torch

    if threads is not None:
        torch.set_num_threads(threads)
    return torch.get_num_threads()


def check_threads(threads: int | None) -> None:
    if threads is not None and threads < 1:
        raise UsageFailure(f"--threads must be >= 1, got {threads}")


def hyperparameters(momentum: float | None, betas: str | None, alpha: float | None, eps: float | None,
           weight_decay: float | None) -> dict[str, Any]:
    values = {"momentum": momentum, "alpha": alpha, "eps": eps, "weight_decay": weight_decay,
              "betas": parse_list("--betas", betas, float, "numbers") if betas is not None else None}
    if values["betas"] is not None and len(values["betas"]) != 2:
        raise UsageFailure(f"--betas needs exactly two numbers 'b1,b2', got {betas!r}")
    return {k: v for k, v in values.items() if v is not None}


def check_gpu_jobs(backend: str, jobs: int, device: str, share_gpu: bool) -> None:
    """--backend processes on GPUs: no more workers than GPUs, unless --share-gpu says they may share."""
    if backend != "processes" or not device.startswith("cuda"):
        return
    from nncmp.training.devices import gpus

    if jobs > gpus() and not share_gpu:
        raise UsageFailure(f"--jobs {jobs} with {gpus()} GPU(s): the workers would share a GPU; add --share-gpu "
                           f"to run them so, or use --jobs {gpus()}")
    if jobs > gpus():
        typer.echo(f"note: {jobs} workers share {gpus()} GPU(s)", err=True)


def check_backend(backend: str, jobs: int, retries: int, address: str | None) -> None:
    from nncmp.training.backends import BACKENDS

    if backend not in BACKENDS:
        raise UsageFailure(f"--backend: unknown value {backend!r}; choose from: {', '.join(BACKENDS)}")
    if jobs < 1:
        raise UsageFailure(f"--jobs must be >= 1, got {jobs}")
    if retries < 0:
        raise UsageFailure(f"--retries must be >= 0, got {retries}")
    if address is not None and backend != "ray":
        raise UsageFailure("--address applies only to --backend ray")


def check_choice(option: str, value: str | None, choices: Any) -> None:
    if value is not None and value not in choices:
        raise UsageFailure(f"{option}: unknown value {value!r}; choose from: {', '.join(choices)}")


def check_target(target: float | None) -> float | None:
    """--target: a val accuracy in [0, 1] (the comparison also refuses inf and nan)."""
    if target is not None and not 0.0 <= target <= 1.0:
        raise UsageFailure(f"--target must be a val accuracy in [0, 1], got {target:g}")
    return target


def hidden_layers(hidden: str | None, depth: int | None, width: int | None) -> tuple[int, ...]:
    """--hidden, or --depth × --width: the mlp's hidden-layer widths."""
    if depth is None and width is None:
        return parse_list("--hidden", hidden or "256,128", int, "integers")
    if hidden is not None:
        raise UsageFailure("--hidden and --depth/--width both give the hidden layers; use one or the other")
    if depth is not None and depth < 1:
        raise UsageFailure(f"--depth must be >= 1, got {depth}")
    if width is not None and width < 1:
        raise UsageFailure(f"--width must be >= 1, got {width}")
    return (width or 256,) * (depth or 2)


def load_data(spec: RunSpec, data_dir: Path | None, download: bool) -> Any:
    from nncmp.registry.datasets import load

    with user_errors():
        return load(spec.dataset, n=spec.n, data_dir=data_dir, download=download)


