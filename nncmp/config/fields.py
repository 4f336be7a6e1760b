"""Each option declared once: a dataclass field whose metadata says everything the rest of nncmp derives.

A field of RunSpec (what a run is) or of Options (how a comparison runs) carries a `Declared`: its help
text, its command-line option, whether compare varies it as a grid dimension (and that dimension's option
and config.json key), its part of the config id, its column in the results files, and the checks of a
value. The command line (cli/declared.py), config.json (Grid.to_json / from_json), run ids
(RunSpec.config_id), the tidy columns (results/schema.py) and the checks are all read from here, so a
new grid option is one field here (plus its column in the schema's file layout and wherever the model
uses it).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from nncmp.errors import SpecError
from nncmp.registry.closest import unknown

NONE = "<none>"  # a cli_default of None (no value given: the command decides)


@dataclass(frozen=True)
class Declared:
    help: str
    flag: str | None = None  # the option that sets one value (train; compare's base run), e.g. "--dropout"
    aliases: tuple[str, ...] = ()  # more names of `flag`
    grid: str | None = None  # compare's option varying it, comma-separated values, e.g. "--acts"
    key: str | None = None  # that grid dimension's name in config.json ("acts")
    grid_help: str | None = None  # the grid option's help (None: `help`)
    grid_default: str | None = None  # the grid option's default on compare (None: the field's default)
    item: Callable[[str], Any] = str  # one value from the command line's text (a list: each of its items)
    grid_item: Callable[[str], Any] | None = None  # one value of the grid option (None: `item`)
    grid_sep: str = ","  # what separates the grid option's values (--hiddens "256,128;512": ';')
    grid_kind: str | None = None  # what the grid option's values are called in an error (None: `kind`)
    kind: str = "values"  # what a list of them is called in an error: "integers", "optimizer names"
    grid_value: Callable[[Any], Any] | None = None  # a grid value (as config.json holds it) → the field's value
    show_default: str | bool = True
    column: str | None = None  # its column in metrics.csv and summary.csv
    label: Callable[[Any], str | None] | None = None  # its part of the config id (None: not in the id)
    always: bool = False  # a part of the config id even at its default (the optimizer, init, lr, batch size)
    applies: Callable[[Any], bool] | None = None  # whether it is a part of this run's id (None: always)
    check: Callable[[Any], str | None] | None = None  # what is wrong with a value (None: nothing)
    metavar: str | None = None
    cli_default: Any = None  # the option's default where it differs from the field's (--device auto; NONE: None)

    @property
    def grid_name(self) -> str:
        """The grid option's name as a Python argument (--batch-sizes: batch_sizes), on both faces."""
        return (self.grid or "").lstrip("-").replace("-", "_")


def option(default: Any = dataclasses.MISSING, *, factory: Callable[[], Any] | None = None, **meta: Any) -> Any:
    """A dataclass field declared with `Declared(**meta)`."""
    kwargs: dict[str, Any] = {"metadata": {"nncmp": Declared(**meta)}}
    if factory is not None:
        kwargs["default_factory"] = factory
    else:
        kwargs["default"] = default
    return dataclasses.field(**kwargs)


def declared(cls: type) -> dict[str, Declared]:
    """Field name → declaration, in field order, for the declared fields of a dataclass."""
    return {f.name: f.metadata["nncmp"] for f in dataclasses.fields(cls) if "nncmp" in f.metadata}


def dimensions(cls: type) -> dict[str, Declared]:
    """The fields compare can vary as grid dimensions, in the order the grid loops over them."""
    return {name: d for name, d in declared(cls).items() if d.grid}


def check_values(obj: object) -> None:
    """SpecError for the first declared field of `obj` whose value its declaration refuses. Every float:
    inf and nan are bad input, never a run that diverges at its second step."""
    for name, d in declared(type(obj)).items():
        value = getattr(obj, name)
        if isinstance(value, float) and not math.isfinite(value):
            raise SpecError(f"{d.flag or '--' + name.replace('_', '-')} must be a finite number, got {value:g}")
        problem = d.check(value) if d.check is not None and value is not None else None
        if problem:
            raise SpecError(problem)


def parse_list(option: str, text: str, convert: Callable[[str], Any], kind: str, sep: str = ",") -> tuple[Any, ...]:
    """A comma-separated (or `sep`-separated) option value, each item converted, or SpecError naming the
    option."""
    items = [t.strip() for t in text.split(sep)]
    try:
        if not text.strip() or any(not t for t in items):
            raise ValueError
        return tuple(convert(t) for t in items)
    except ValueError:
        what = "comma-separated" if sep == "," else f"{sep!r}-separated"
        raise SpecError(f"{option}: {text!r} is not a {what} list of {kind}") from None


def one_of(flag: str, choices: tuple[str, ...]) -> Callable[[Any], str | None]:
    """A check: the value is one of `choices` (an option's fixed words: --backend, --x, --format)."""
    return lambda v: None if v in choices else f"{flag}: {unknown('value', v, choices)}"


def at_least(flag: str, low: float) -> Callable[[Any], str | None]:
    return lambda v: None if v >= low else f"{flag} must be >= {low:g}, got {v:g}"
