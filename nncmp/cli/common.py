"""What the command-line faces share: nncmp's errors as one line and an exit code, the options that only
the command line has (how much to print), and the request's arguments the smaller commands take as their own.

Imports nothing heavy, so `nncmp --help` and bad input answer at once.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import IO, TYPE_CHECKING, Annotated, Any

import typer

from nncmp.cli.declared import annotation
from nncmp.config import arguments
from nncmp.errors import NncmpError

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


def print_json(doc: Any) -> None:
    import json

    typer.echo(json.dumps(doc, indent=2, default=float))


# Options only the command line has: where results go and how much is printed.
OutOpt = annotation(arguments.OUT)
OverwriteOpt = annotation(arguments.OVERWRITE)
QuietOpt = Annotated[bool, typer.Option("--quiet", "-q", help="No progress or per-epoch lines.", show_default="off")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print only machine-readable JSON on stdout.",
                                       show_default="off")]
VerboseOpt = Annotated[bool, typer.Option("--verbose", "-v", help="Say how the runs are grouped.",
                                          show_default="off")]
# compare's, train's and suite's, for the commands that take them as their own parameters.
DownloadOpt = annotation(arguments.DOWNLOAD)
OptArgOpt = annotation(arguments.OPT_ARGS)
ModelArgOpt = annotation(arguments.MODEL_ARGS)
AllowChangedOpt = annotation(arguments.ALLOW_CHANGED)
DepthOpt = annotation(arguments.DEPTH)
WidthOpt = annotation(arguments.WIDTH)
