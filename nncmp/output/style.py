"""How a configuration looks in every figure: a colour per optimizer from its name alone, so an optimizer
has one colour in every figure of a folder and across folders (not the colour of its rank, which changes
from run to run); a line style per init; a marker for the rest (rate, batch size, architecture, settings);
and never two configurations of one figure that look the same. Accuracy axes never run past 1."""

from __future__ import annotations

import math
import numbers
import zlib
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from matplotlib import colormaps
from matplotlib.colors import to_hex

from nncmp.registry.inits import INITS

if TYPE_CHECKING:
    from matplotlib.axes import Axes

# The built-in optimizers in the order users meet them (the README's and the quickstart's first comparison
# is sgd, minibatch, rmsprop, adam; then momentum and adamw; the paths' gd, nesterov, adagrad) take tab10's
# hues in its order, as matplotlib would colour them plotted in that order. Grey (tab10's 8th) is left for
# reference lines.
_TAB10 = [to_hex(c) for c in colormaps["tab10"].colors]  # type: ignore[attr-defined]
BUILT_IN = dict(zip(("sgd", "minibatch", "rmsprop", "adam", "momentum", "adamw", "gd", "nesterov", "adagrad"),
                    _TAB10[:7] + _TAB10[8:]))
# Any other optimizer: a colour of this list picked by a hash of its name (crc32: the same in every process,
# unlike Python's salted hash()). None is a built-in's, none is light (they are lines on white): black,
# tab20b's five hue families in their darkest shade, Dark2's teal, magenta, mustard and green, tab20b's
# families a shade lighter.
_TAB20B = [to_hex(c) for c in colormaps["tab20b"].colors]  # type: ignore[attr-defined]
_DARK2 = [to_hex(c) for c in colormaps["Dark2"].colors]  # type: ignore[attr-defined]
OTHERS = ["#000000"] + _TAB20B[0::4] + [_DARK2[i] for i in (0, 3, 5, 4)] + _TAB20B[1::4]

# Line styles for inits, then markers for the rest: the first ones are the easiest told apart.
LINESTYLES: list[Any] = ["-", "--", ":", "-.", (0, (5, 1, 1, 1, 1, 1)), (0, (8, 2)), (0, (1, 3)),
                         (0, (4, 1, 1, 1, 1, 1, 1, 1))]
MARKERS: list[str | None] = [None, "o", "s", "^", "D", "v", "P", "X", "*", "<", ">", "h", "p", "d", "8", "H"]


def colours(optimizers: Iterable[str]) -> dict[str, str]:
    """Optimizer name → colour for the optimizers of one figure. A built-in's is fixed; any other name's is
    its hash's pick from OTHERS, or, if another optimizer of the figure has that colour already, the next free
    one (names taken in sorted order, so the result depends on the set of names alone). Colours repeat only
    beyond len(BUILT_IN) + len(OTHERS) optimizers."""
    names = list(dict.fromkeys(optimizers))
    out = {n: BUILT_IN[n] for n in names if n in BUILT_IN}
    used = set(out.values())
    for name in sorted(n for n in names if n not in out):
        start = zlib.crc32(name.encode()) % len(OTHERS)
        ring = [OTHERS[(start + k) % len(OTHERS)] for k in range(len(OTHERS))]
        out[name] = next((c for c in ring if c not in used), ring[0])
        used.add(out[name])
    return out


def colour(optimizer: str) -> str:
    """The colour of one optimizer by itself (a figure of several: colours, which keeps them apart)."""
    return colours([optimizer])[optimizer]


def init_order(inits: Iterable[str]) -> list[str]:
    """The inits of a figure in the registry's order (default, xavier..., he..., ...), others after by name:
    the same set of inits gets the same line styles in every figure, whatever the ranking."""
    known = list(INITS)
    names = set(inits)
    return [i for i in known if i in names] + sorted(names - set(known))


def _sort_key(value: Any) -> tuple[int, float, str]:
    """Missing values first, then numbers by value, then text."""
    if _value(value) is None:
        return (0, 0.0, "")
    if isinstance(value, numbers.Real) and not isinstance(value, bool):  # numpy's numbers too
        return (1, float(value), "")
    return (2, 0.0, str(value))


def looks(rows: Sequence[Mapping[str, Any]], rest: Sequence[str]) -> list[dict[str, Any]]:
    """A look (color, linestyle, marker) per row: the colour of row["optimizer"]; the line style of
    row["init"] (in init_order; rows without one share the first); a marker for the row's values of `rest`
    among the rows of its optimizer and init (in sorted order: the default rate before the tuned one, the
    smaller batch first; the first has none). A look two rows would share gets the next unused marker, so no
    two legend entries look alike."""
    hue = colours(str(r["optimizer"]) for r in rows)
    inits = [str(_value(r.get("init")) or "") for r in rows]
    order = init_order(inits)
    keys = [tuple(_sort_key(r.get(c)) for c in rest) for r in rows]
    variants: dict[tuple[str, str], set[tuple[Any, ...]]] = {}
    for r, init, key in zip(rows, inits, keys):
        variants.setdefault((str(r["optimizer"]), init), set()).add(key)
    out, seen = [], set()
    for r, init, key in zip(rows, inits, keys):
        c = hue[str(r["optimizer"])]
        k = order.index(init) % len(LINESTYLES)
        m = sorted(variants[(str(r["optimizer"]), init)]).index(key)
        while (c, k, m % len(MARKERS)) in seen and m < 4 * len(MARKERS):
            m += 1
        seen.add((c, k, m % len(MARKERS)))
        out.append({"color": c, "linestyle": LINESTYLES[k], "marker": MARKERS[m % len(MARKERS)]})
    return out


def _value(value: Any) -> Any:
    """A cell as a key: NaN (a missing value read back) as None, so missing values group together."""
    return None if value is None or (isinstance(value, float) and math.isnan(value)) else value


def markevery(points: int, most: int = 12) -> int:
    """Every how many points a line draws its marker: at most about `most` per line, so markers stay readable
    on long curves."""
    return max(1, math.ceil(points / most))


def accuracy_axis(ax: Axes) -> None:
    """An accuracy (y) axis never runs past 1, where accuracy ends: autoscaling's margin would take a curve
    that reaches 1 to 1.05. Below 1 the data's own range stays (a budget curve at 0.9–0.97 is not squeezed)."""
    low, high = ax.get_ylim()
    if high > 1.0:
        ax.set_ylim(low, 1.0)
