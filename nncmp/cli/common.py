"""What the command-line faces share: nncmp's errors as one line and an exit code (with a hint for a list given
with spaces), the options that only the command line has (how much to print), and the request's arguments the
smaller commands take as their own.

Imports nothing heavy, so `nncmp --help` and bad input answer at once.
"""

from __future__ import annotations

import contextlib
import shlex
import typing
from collections.abc import Iterator
from typing import IO, TYPE_CHECKING, Annotated, Any

import typer
from typer.core import TyperGroup

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


_UsageError = next(c for c in typer.BadParameter.__mro__ if c.__name__ == "UsageError")
EXTRA = "Got unexpected extra argument"  # click's message for words no option or argument takes


class Commands(TyperGroup):
    """nncmp's commands, as Typer's group, with one addition: words left over after an option's value are most
    often a list given with spaces (--opts adam sgd), which click refuses as "unexpected extra argument"; the
    error then says that a list takes commas, and how this one is written."""

    def resolve_command(self, ctx: Any, args: list[str]) -> tuple[str | None, Any, list[str]]:
        name, command, rest = super().resolve_command(ctx, args)
        ctx.meta["nncmp.args"] = list(rest)  # the command's own words, for the hint
        return name, command, rest

    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except _UsageError as e:
            if e.ctx is not None and e.ctx.parent is ctx and e.message.startswith(EXTRA):
                e.message += list_hint(e.ctx.command, ctx.meta.get("nncmp.args", []), e.message)
            raise


def separators(command: Any) -> dict[str, str]:
    """A command's list options (click parameter name → what separates their items), from their declarations
    (config/arguments.py): compare's grid options, the tuple fields (--hidden, --betas), the list arguments; the
    commands declared elsewhere: the options whose help says comma-separated."""
    items = arguments.COMMANDS.get(command.name or "")
    if items is None:
        return {p.name: "," for p in command.params if p.name and "comma-separated" in (getattr(p, "help", "") or "")}
    out = {}
    for item in items:
        if isinstance(item, arguments.Dim):
            out[item.name] = item.declared.grid_sep
            continue
        tuple_field = isinstance(item, arguments.Field) and arguments.is_tuple(
            typing.get_type_hints(item.cls)[item.field])
        if tuple_field or (isinstance(item, arguments.Arg) and "Sequence" in str(item.api)):
            out[item.name] = ","
    return out


def list_hint(command: Any, args: list[str], message: str) -> str:
    """'; a list takes commas, not spaces: --opts adam,sgd' when the extra words of `message` follow the value
    of a list option in `args` (the command's words); '' otherwise."""
    extra = message[message.find(" (") + 2:message.rfind(")")].split(" ")  # "...argument(s) (sgd lion)"
    options = {opt: p for p in command.params for opt in getattr(p, "opts", []) if opt.startswith("-")}
    seps = separators(command)
    i = 0
    while i < len(args):
        name, eq, value = args[i].partition("=")
        param = options.get(name)
        if param is None or getattr(param, "is_flag", False) or getattr(param, "count", False):
            i += 1
            continue
        values = [value] if eq else args[i + 1:i + 2]
        j = i + (1 if eq else 2)
        following = []
        while j < len(args) and not args[j].startswith("--") and args[j].partition("=")[0] not in options:
            following.append(args[j])
            j += 1
        sep = seps.get(param.name or "")
        if following and following[-len(extra):] == extra:
            if sep is None:
                return ""
            what = "commas" if sep == "," else f"{sep!r} between its items"
            return f"; a list takes {what}, not spaces: {name} {shlex.quote(sep.join(values + following))}"
        i = j
    return ""


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
WideOpt = Annotated[bool, typer.Option("--wide", help="Show every column of the summary table, however wide (lines "
                                       "longer than the terminal are not cut).",
                                       show_default="off: secondary columns left out to fit the terminal")]
# compare's, train's and suite's, for the commands that take them as their own parameters.
DownloadOpt = annotation(arguments.DOWNLOAD)
OptArgOpt = annotation(arguments.OPT_ARGS)
ModelArgOpt = annotation(arguments.MODEL_ARGS)
AllowChangedOpt = annotation(arguments.ALLOW_CHANGED)
DepthOpt = annotation(arguments.DEPTH)
WidthOpt = annotation(arguments.WIDTH)
