"""Command-line options derived from the declarations in config/: each option of a run or of a comparison is
declared once, as a field (config/fields.py), and each argument of compare, train and suite in their lists
(config/arguments.py); they become Typer options here — names, help, default and type. compare, train and
suite hand the parsed values to config/request.build, as the Python API does; the smaller commands parse
theirs with `values` here.

A command function takes its own parameters and `**declared`; `@declares(...)` adds the derived ones to
its signature, which is what Typer reads, so `--help` lists them and Typer parses them.
"""

from __future__ import annotations

import functools
import inspect
import typing
from collections.abc import Callable, Iterable
from typing import Annotated, Any

import typer

from nncmp.config.arguments import Arg, Dim, Field, Item, field_default, is_tuple
from nncmp.config.fields import Declared, declared, parse_list
from nncmp.config.run import RunSpec
from nncmp.registry import hyperparameters as hp

Param = inspect.Parameter


def _types(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _option(names: Iterable[str], help: str, show_default: str | bool, metavar: str | None = None) -> Any:
    return typer.Option(*names, help=help, show_default=show_default, metavar=metavar)


def single(cls: type, names: Iterable[str], defaults: dict[str, Any] | None = None) -> list[Param]:
    """One option per field `names` of `cls` that sets one value (train; the base run of compare)."""
    hints, decl, out = _types(cls), declared(cls), []
    for name in names:
        d = decl[name]
        default = (defaults or {}).get(name, field_default(cls, name))
        annotation = hints[name]
        show = d.show_default
        if is_tuple(annotation):  # given as text: '256,128', '0.9,0.999'
            annotation = str | None
            default = None
        elif default is None and type(None) not in typing.get_args(annotation):
            annotation = annotation | None
        flags = (d.flag, *d.aliases) if annotation is not bool else (f"{d.flag}/--no-{d.flag[2:]}",)
        out.append(Param(name, Param.KEYWORD_ONLY, default=default,
                         annotation=Annotated[annotation, _option(flags, d.help, show, d.metavar)]))
    return out


def grid(cls: type, names: Iterable[str], defaults: dict[str, Any] | None = None) -> list[Param]:
    """compare's grid dimensions: one comma-separated option per field `names`, the field's own option an
    alias of it (a switch such as --batchnorm keeps setting the base run); `defaults`: a command's own."""
    hints, decl, out = _types(cls), declared(cls), []
    for name in names:
        d = decl[name]
        # A hyperparameter's one-value option (--momentum) is its own: it goes to the optimizers that have it.
        flags = [d.grid] + ([d.flag] if d.flag and hints[name] is not bool and name not in hp.optimizer_own() else [])
        default = (defaults or {}).get(name) or d.grid_default
        if default is None and field_default(cls, name) is not None and not is_tuple(hints[name]):
            default = str(field_default(cls, name)) if hints[name] is not bool else None
        show: str | bool = d.show_default if default is None else True
        if hints[name] is bool:
            show = f"{d.flag}"
        out.append(Param(d.grid_name, Param.KEYWORD_ONLY, default=default,
                         annotation=Annotated[str | None, _option(flags, d.grid_help or d.help, show)]))
    return out


def declares(*groups: list[Param]) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Add the parameters of `groups` to a command function's signature, after its own (which it takes by
    name; the added ones arrive in its **kwargs)."""

    def wrap(fn: Callable[..., Any]) -> Callable[..., Any]:
        hints = typing.get_type_hints(fn, include_extras=True)
        own = [p.replace(annotation=hints.get(p.name, p.annotation), kind=Param.KEYWORD_ONLY)
               for p in inspect.signature(fn).parameters.values() if p.kind != Param.VAR_KEYWORD]
        # Arguments (no default) first, as Typer lists them; then the declared options; then the command's own.
        params = ([p for p in own if p.default is Param.empty] + [p for group in groups for p in group]
                  + [p for p in own if p.default is not Param.empty])

        @functools.wraps(fn)
        def command(**kwargs: Any) -> Any:
            return fn(**kwargs)

        del command.__wrapped__  # Typer must read this signature, not the function's own
        command.__signature__ = inspect.Signature(params)  # type: ignore[attr-defined]
        command.__annotations__ = {p.name: p.annotation for p in params}
        return command

    return wrap


def values(cls: type, given: dict[str, Any], names: Iterable[str]) -> dict[str, Any]:
    """The fields `names` of `cls` from their options' values (text of tuple fields parsed); options not
    given (None where the field has another default) are left out, so the field's default applies."""
    hints, decl, out = _types(cls), declared(cls), {}
    for name in names:
        value = given.get(name)
        if value is None:
            continue
        d: Declared = decl[name]
        out[name] = parse_list(d.flag or name, value, d.item, d.kind) if is_tuple(hints[name]) else value
    return out


def dimensions(cls: type, given: dict[str, Any], names: Iterable[str]) -> dict[str, tuple[Any, ...]]:
    """Grid dimension → values, from compare's comma-separated options (those given)."""
    decl, out = declared(cls), {}
    for name in names:
        d = decl[name]
        text = given.get(d.grid_name)
        if text is not None:
            out[name] = parse_list(d.grid, text, d.grid_item or d.item, d.grid_kind or d.kind, d.grid_sep)
    return out


def extra(name: str, annotation: Any, default: Any = None) -> list[Param]:
    """An option of the command line's own, to place among the declared ones."""
    return [Param(name, Param.KEYWORD_ONLY, default=default, annotation=annotation)]


def params(items: list[Item]) -> list[Param]:
    """The options (and arguments) of a command's declared arguments (config/arguments.py's lists)."""
    out: list[Param] = []
    for item in items:
        if isinstance(item, Dim):
            out += grid(RunSpec, [item.field], {item.field: item.given} if item.given is not None else None)
        elif isinstance(item, Field):
            out += single(item.cls, [item.field], {item.field: item.given} if item.given is not None else None)
        else:
            out.append(_arg(item))
    return out


def _arg(a: Arg) -> Param:
    return Param(a.name, Param.KEYWORD_ONLY, default=a.default, annotation=annotation(a))


def annotation(a: Arg) -> Any:
    """An argument's Typer annotation (a command's own parameter can take it: `out: annotation(OUT) = None`)."""
    if a.argument:
        info = typer.Argument(help=a.help, metavar=a.metavar, show_default=a.show_default)
    else:  # no flags: Typer's own (--name, and --name/--no-name for a switch)
        info = typer.Option(*a.flags, help=a.help, show_default=a.show_default, metavar=a.metavar)
    kind = a.type if a.default is not None or a.type is bool else a.type | None
    return Annotated[kind, info]
