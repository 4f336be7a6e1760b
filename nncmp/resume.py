"""Resuming a comparison: what a results folder's config.json says, and whether a command agrees with it.

config.json records the grid (optimizers, inits, rates, batch sizes, seeds, hyperparameters) and the base
run spec; a resume must describe the same runs, so it is compared field by field and refused with the
first difference, named as the option a user would change.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from nncmp import store
from nncmp.spec import Grid, RunSpec, SpecError

GRID_OPTIONS = {"optimizers": "--opts", "inits": "--inits", "lrs": "--lrs", "batch_sizes": "--batch-sizes",
                "seeds": "--seeds", "hyper": "the optimizer hyperparameters (--momentum, --betas, ...)",
                "acts": "--acts", "norms": "--norms"}


def _show(value: Any) -> str:
    if isinstance(value, list):
        return ",".join(map(str, value)) or "(none)"
    if isinstance(value, dict):
        return ", ".join(f"{k}={_show(v)}" for k, v in value.items()) or "(none)"
    return "(default)" if value is None else str(value)


def _json(value: Any) -> Any:
    return json.loads(json.dumps(value, default=str))


def saved_compare(folder: Path) -> dict[str, Any]:
    """config.json of a compare folder, or StoreError naming the file and what is wrong."""
    saved = store.read_config(folder)
    if saved.get("command") != "compare":
        raise store.StoreError(f"{Path(folder)} holds the results of nncmp {saved.get('command')}, not of compare; "
                               "only a comparison can be resumed")
    if not isinstance(saved.get("grid"), dict) or not isinstance(saved.get("base"), dict):
        raise store.StoreError(f"{Path(folder) / 'config.json'}: no grid or base spec recorded")
    return saved


def check_same_runs(folder: Path, config: dict[str, Any]) -> dict[str, Any]:
    """The folder's saved config if `config` (this command's) describes the same runs; else StoreError."""
    saved = saved_compare(folder)
    new = _json(config)
    for section, names in (("grid", GRID_OPTIONS), ("base", None)):
        old_part, new_part = saved[section], new[section]
        for key in list(new_part) + [k for k in old_part if k not in new_part]:
            if old_part.get(key) != new_part.get(key):
                option = names[key] if names else "--" + key.replace("_", "-")
                raise store.StoreError(
                    f"--resume: {folder} was run with {option} {_show(old_part.get(key))}, this command has "
                    f"{_show(new_part.get(key))}; give the same options, or use: nncmp resume {folder}")
    return saved


def grid_from_config(folder: Path, saved: dict[str, Any]) -> tuple[Grid, bool]:
    """The grid a folder was run with (and whether its rates were tuned), rebuilt from config.json."""
    g = saved["grid"]
    try:
        auto = g.get("lrs") == "auto"
        grid = Grid(base=RunSpec(**saved["base"]), optimizers=tuple(g["optimizers"]), inits=tuple(g["inits"]),
                    lrs=None if auto or g.get("lrs") is None else tuple(float(v) for v in g["lrs"]),
                    batch_sizes=None if g.get("batch_sizes") is None else tuple(int(v) for v in g["batch_sizes"]),
                    seeds=int(g["seeds"]), hyper=dict(g.get("hyper") or {}),
                    acts=None if g.get("acts") is None else tuple(g["acts"]),
                    norms=None if g.get("norms") is None else tuple(g["norms"]))
    except (KeyError, TypeError, ValueError, SpecError) as e:
        raise store.StoreError(f"{Path(folder) / 'config.json'}: cannot rebuild the grid ({e})") from None
    return grid, auto
