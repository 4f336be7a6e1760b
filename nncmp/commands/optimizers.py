"""optimizers: every optimizer nncmp can compare, where it comes from and how it is trained."""

from __future__ import annotations

from typing import Any

from nncmp.errors import SpecError


def optimizers(pattern: str | None = None) -> list[dict[str, Any]]:
    """One row per optimizer whose canonical name matches the glob `pattern`."""
    from nncmp.registry.optimizers import catalog

    rows = catalog(pattern)
    if not rows:
        raise SpecError(f"--filter {pattern!r} matches no optimizer")
    return rows
