"""models: the networks nncmp can train — its own, and those installed packages register."""

from __future__ import annotations

from typing import Any


def models() -> list[dict[str, Any]]:
    """One row per model: name, what it is, the options that apply, where it comes from."""
    from nncmp.registry.models import HAS, MODELS, WHAT
    from nncmp.registry.user import entry_points

    flags = {"hidden": "--hidden/--depth/--width", "act": "--act", "batchnorm": "--batchnorm", "dropout": "--dropout"}
    rows = [{"name": name, "what": WHAT[name], "options": ", ".join(flags[o] for o in flags if o in HAS[name]) or "—",
             "source": "built in"} for name in MODELS]
    for name, (ref, dist) in sorted(entry_points("models").items()):
        rows.append({"name": name, "what": ref, "options": "--model-arg", "source": f"entry point of {dist}"})
    rows.append({"name": "FILE.py:NAME, module:NAME", "what": "your own nn.Module class or a function returning one",
                 "options": "--model-arg", "source": "your code (docs: Your model and data)"})
    return rows
