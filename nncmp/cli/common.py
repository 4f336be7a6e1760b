"""What the command-line faces share: nncmp's errors as one line and an exit code, the options that only
the command line has (where results go, how much to print), and --opt-arg's parsing.

Imports nothing heavy, so `nncmp --help` and bad input answer at once.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import IO, TYPE_CHECKING, Annotated, Any

import typer

from nncmp.config.fields import declared
from nncmp.config.run import RunSpec
from nncmp.errors import NncmpError, SpecError

if TYPE_CHECKING:
    from rich.console import Console

    from nncmp.output.progress import ConsoleReporter


class UsageFailure(typer.BadParameter):
    """Bad input: shown as one 'Error: ...' line with exit code 2 (usage error), never a traceback."""

    def show(self, file: IO[Any] | None = None) -> None:
        typer.echo(f"Error: {self.message}", err=True)


# click's ClickException as typer vendors it (typer catches its own copy, not a separately installed click's).
_ClickException = next(c for c in typer.BadParameter.__mro__ if c.__name__ == "ClickException")


class RuntimeFailure(_ClickException):  # type: ignore[misc,valid-type]
    """A failure while running (disk full, folder locked): one 'Error: ...' line, exit code 1."""

    exit_code = 1

    def show(self, file: IO[Any] | None = None) -> None:
        typer.echo(f"Error: {self.message}", err=True)


@contextlib.contextmanager
def user_errors() -> Iterator[None]:
    """nncmp's own errors (errors.NncmpError) as one line: exit 2 for bad input, 1 for runtime failures."""
    try:
        yield
    except NncmpError as e:
        raise (UsageFailure if e.exit_code == 2 else RuntimeFailure)(str(e)) from None


def console(stderr: bool = False) -> Console:
    from nncmp.output.terminal import make_console

    return make_console(stderr=stderr)


def reporter(quiet: bool, verbose: bool = False, json_out: bool = False, epochs: bool = False) -> ConsoleReporter:
    """Progress and notes on the terminal (with --json on stderr: stdout carries the JSON document only)."""
    from nncmp.output.progress import ConsoleReporter

    return ConsoleReporter(console(stderr=json_out), quiet=quiet or json_out, verbose=verbose, epochs=epochs)


def parse_opt_args(values: list[str] | None, flag: str = "--opt-arg") -> dict[str, Any]:
    """--opt-arg (or --model-arg) KEY=VALUE, repeated: {key: value}; values parsed (checked against the
    optimizer, or the model, later)."""
    from nncmp.registry.optimizers import parse_value

    out: dict[str, Any] = {}
    for text in values or []:
        key, sep, value = text.partition("=")
        key = key.strip().replace("-", "_")
        if not sep or not key or not value.strip():
            raise SpecError(f"{flag} needs KEY=VALUE, got {text!r}")
        if key in out:
            raise SpecError(f"{flag} {key} is given more than once")
        out[key] = parse_value(value)
    return out


def hidden_layers(hidden: str | None, depth: int | None, width: int | None) -> str | None:
    """--depth × --width as --hidden's text (the mlp's hidden-layer widths), or --hidden itself."""
    if depth is None and width is None:
        return hidden
    if hidden is not None:
        raise SpecError("--hidden and --depth/--width both give the hidden layers; use one or the other")
    if depth is not None and depth < 1:
        raise SpecError(f"--depth must be >= 1, got {depth}")
    if width is not None and width < 1:
        raise SpecError(f"--width must be >= 1, got {width}")
    return ",".join([str(width or 256)] * (depth or 2))


def print_json(doc: Any) -> None:
    import json

    typer.echo(json.dumps(doc, indent=2, default=float))


# Options only the command line has: where results go and how much is printed.
OutOpt = Annotated[Path | None, typer.Option(help="Results folder.", show_default="results/<timestamp>-<command>")]
OverwriteOpt = Annotated[bool, typer.Option(
    help="Replace the results in an existing --out folder (only an nncmp results folder; other files stay).",
    show_default="off: a non-empty --out is refused")]
QuietOpt = Annotated[bool, typer.Option("--quiet", "-q", help="No progress or per-epoch lines.", show_default="off")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print only machine-readable JSON on stdout.",
                                       show_default="off")]
VerboseOpt = Annotated[bool, typer.Option("--verbose", "-v", help="Say how the runs are grouped.",
                                          show_default="off")]
DownloadOpt = Annotated[bool, typer.Option(help="Download a missing torchvision dataset into --data-dir.")]
OptArgOpt = Annotated[list[str] | None, typer.Option(
    "--opt-arg", metavar="KEY=VALUE", help=declared(RunSpec)["opt_args"].help, show_default="none")]
ModelArgOpt = Annotated[list[str] | None, typer.Option(
    "--model-arg", metavar="KEY=VALUE", help=declared(RunSpec)["model_args"].help, show_default="none")]
AllowChangedOpt = Annotated[bool, typer.Option(
    "--allow-changed-code", help="Resume although your --model or --dataset file changed since the comparison "
    "started (its runs then mix two versions of it).", show_default="off: refused")]
DepthOpt = Annotated[int | None, typer.Option(
    help="mlp with this many hidden layers, all --width wide (instead of --hidden).", show_default="off")]
WidthOpt = Annotated[int | None, typer.Option(help="Width of each hidden layer with --depth.", show_default="256")]
