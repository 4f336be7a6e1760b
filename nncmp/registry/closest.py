"""An unknown name answered with the names meant: one message for every option that takes one of a list of
names (optimizers, inits, datasets, models, activations, normalisations, schedules, losses, samplers, the
fixed words of --backend, --metric, ...), the closest ones first.

"Closest" is difflib's similarity ratio (2·matches / total length, 0.6 or more), case ignored: the standard
library's, the same measure for every option, and no dependency. Here, in the registry, because the registry
and the config layer both refuse names and the registry may not import the config layer.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable

CUTOFF = 0.6  # difflib's default: 'xaver' → xavier (0.91), 'cosin' → cosine (0.91); 'resnet' → nothing


def closest(value: object, choices: Iterable[object], n: int = 3) -> list[str]:
    """Up to `n` of `choices` nearest `value`, nearest first (none below CUTOFF)."""
    by_lower: dict[str, str] = {}
    for c in choices:
        by_lower.setdefault(str(c).lower(), str(c))
    near = difflib.get_close_matches(str(value).lower(), list(by_lower), n=n, cutoff=CUTOFF)
    return [by_lower[c] for c in near]


def hint(value: object, choices: Iterable[object], n: int = 3) -> str:
    """'; closest: a, b' for the names nearest `value`, or '' when none is near."""
    near = closest(value, choices, n)
    return f"; closest: {', '.join(near)}" if near else ""


def unknown(kind: str, value: object, choices: Iterable[object], more: str = "") -> str:
    """The message for a name not among `choices`: "unknown init 'xaver'; closest: xavier; choose from: default,
    ..." (`more`: what else is accepted, after the list: ', or your own as file.py:NAME')."""
    choices = list(choices)
    return f"unknown {kind} {value!r}{hint(value, choices)}; choose from: {', '.join(map(str, choices))}{more}"
