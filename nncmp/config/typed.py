"""Python's values checked against the API's annotations before the request is built.

The command line's options reach config/request.py already typed (Typer parsed them); Python's arguments may be
anything, and a wrong type found later surfaces as Python's own TypeError or AttributeError deep inside nncmp, or
worse as a comparison whose every run failed (epochs=1.5). `conform` checks one value against the annotation the
API's signature declares (config/arguments.py derives both faces from the same declarations) and returns it as
the command line would have handed it over: numpy scalars as int or float, an int where a number is asked as a
float, a 1-d array or range as a list. A bool is never an integer or a number (epochs=True is a mistake).
"""

from __future__ import annotations

import collections.abc as abc
import numbers
import os
import types
import typing
from pathlib import Path
from typing import Any


class Mismatch(Exception):
    """A value is not of the annotation asked (the caller words the message: it knows the option's name)."""


def conform(value: Any, annotation: Any) -> Any:
    """`value` as `annotation` takes it (normalised as the command line's parser would), or Mismatch."""
    if annotation is Any:
        return value
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin in (typing.Union, types.UnionType):
        for member in args:
            try:
                return conform(value, member)
            except Mismatch:
                continue
        raise Mismatch
    if annotation is None or annotation is type(None):
        if value is None:
            return None
        raise Mismatch
    if value is None:
        raise Mismatch
    if annotation is bool:
        if _is_bool(value):
            return bool(value)
        raise Mismatch
    if annotation is int:
        if isinstance(value, numbers.Integral) and not _is_bool(value):
            return int(value)
        raise Mismatch
    if annotation is float:
        if isinstance(value, numbers.Real) and not _is_bool(value):
            return float(value)
        raise Mismatch
    if annotation is str:
        if isinstance(value, str):
            return value
        raise Mismatch
    if annotation is Path:
        if isinstance(value, (str, os.PathLike)):
            return value
        raise Mismatch
    if origin is dict:
        if isinstance(value, abc.Mapping) and all(isinstance(k, str) for k in value):
            return dict(value)
        raise Mismatch
    if origin is abc.Callable or annotation is abc.Callable:
        if callable(value):
            return value
        raise Mismatch
    if origin in (list, tuple, abc.Sequence):
        items = _items(value)
        if origin is tuple and args and args[-1] is not Ellipsis:
            if len(items) != len(args):
                raise Mismatch
            return tuple(conform(v, a) for v, a in zip(items, args))
        item = args[0] if args else Any
        out = [conform(v, item) for v in items]
        return tuple(out) if origin is tuple else out
    raise TypeError(f"no check for the annotation {annotation!r}")  # a declaration nncmp itself got wrong


def _is_bool(value: Any) -> bool:
    """Python's bool or numpy's (np.bool_, named `bool` since numpy 2), without importing numpy."""
    kind = type(value)
    return isinstance(value, bool) or (kind.__module__ == "numpy" and kind.__name__ in ("bool_", "bool"))


def _items(value: Any) -> list[Any]:
    """A list's, tuple's, range's or 1-d array's items; Mismatch for anything else (text, a dict or a set, whose
    order is not the user's)."""
    if isinstance(value, (list, tuple, range)):
        return list(value)
    if hasattr(value, "tolist") and getattr(value, "ndim", None) == 1:  # a numpy array or pandas Series
        return list(value.tolist())
    raise Mismatch


_WORDS = {int: "an integer", float: "a number", str: "a string", bool: "True or False", Path: "a Path",
          type(None): "None"}
_PLURAL = {int: "integers", float: "numbers", str: "strings", bool: "True or False values", Path: "Paths"}


def describe(annotation: Any) -> str:
    """What an annotation asks for, in words: 'an integer or None', 'a string, a Path or a dict'."""
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin in (typing.Union, types.UnionType):
        words = list(dict.fromkeys(describe(a) for a in args))
        return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " or " + words[-1]
    if annotation in _WORDS:
        return _WORDS[annotation]
    if annotation is None:
        return "None"
    if origin is dict:
        return "a dict with string keys"
    if origin is abc.Callable or annotation is abc.Callable:
        return "a class or function"
    if origin in (list, tuple, abc.Sequence):
        if origin is tuple and args and args[-1] is not Ellipsis:
            return f"{len(args)} {_PLURAL.get(args[0], 'values')}"
        return f"a list of {_PLURAL.get(args[0], 'values') if args else 'values'}"
    return "anything"


def shown(value: Any) -> str:
    """A value as a message quotes it: its repr when short, else its type."""
    text = repr(value)
    return text if len(text) <= 60 and "\n" not in text else f"a {type(value).__name__}"
