"""What a comparison is, as compare writes it into config.json and resume reads it back: one dataclass.

`CompareConfig` holds the grid (what trains), the statistics asked for (target, metric, baseline) and
the options of how it ran (group size, backend, plots…). config.json is its JSON form plus what the
store adds (the command line, the environment, every resolved run). A resume rebuilds the very same
CompareConfig from the file, so a key missing from an older folder takes the dataclass's default here,
in one place. A resume with options must describe the same runs: the first difference is named as the
option a user would change.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from nncmp.results import store
from nncmp.errors import SpecError, StoreError
from nncmp.training.plan import MAX_GROUP
from nncmp.spec.run import Grid, RunSpec
from nncmp.results.stats import DEFAULT_TARGET

# Grid field → the option that sets it, for resume's "was run with …" message.
GRID_OPTIONS = {"optimizers": "--opts", "inits": "--inits", "lrs": "--lrs", "batch_sizes": "--batch-sizes",
                "seeds": "--seeds", "hyper": "the optimizer hyperparameters (--momentum, --betas, ...)",
                "acts": "--acts", "norms": "--norms", "opt_args": "--opt-arg", "schedules": "--schedules",
                "warmup": "--warmup"}


@dataclass(frozen=True)
class Options:
    """How a comparison runs and is shown; never what it computes."""

    group_size: int = MAX_GROUP
    plot: bool = True
    html: bool = False  # --html: report.html at the end
    tensorboard: str | None = None  # --tensorboard LOGDIR: each run written there as it finishes
    x: str = "epochs"
    track_layers: bool = False
    track_weights: bool = False  # the first seed's weights of every configuration, for nncmp landscape
    track_every: int = 0  # with track_weights: every this many optimizer steps too (0: each epoch only)
    backend: str = "local"  # local | processes | ray
    jobs: int = 2  # worker processes (processes) or CPUs of a local Ray instance (ray)
    retries: int = 2
    address: str | None = None  # Ray cluster
    data_dir: str | None = None  # where torchvision datasets are, for this process and the workers
    threads: int | None = None  # --threads: torch threads per run, here and in every worker (None: their share)
    device: str = "cpu"  # the resolved --device
    deterministic: bool = False  # --deterministic: torch's deterministic algorithms
    gpus_per_task: float | None = None  # ray: GPUs each task reserves (None: 1 on cuda, 0 on the CPU)


@dataclass(frozen=True)
class CompareConfig:
    grid: Grid
    auto: bool = False  # --lrs auto: tune each configuration's rate first
    target: float = DEFAULT_TARGET
    metric: str | None = None
    baseline: str | None = None
    options: Options = field(default_factory=Options)

    def to_json(self) -> dict[str, Any]:
        """The sections of config.json this config owns (plain JSON values)."""
        g = self.grid
        grid = {"optimizers": list(g.optimizers), "inits": list(g.inits),
                "lrs": "auto" if self.auto else (None if g.lrs is None else list(g.lrs)),
                "batch_sizes": None if g.batch_sizes is None else list(g.batch_sizes), "seeds": g.seeds,
                "hyper": dict(g.hyper), "acts": None if g.acts is None else list(g.acts),
                "norms": None if g.norms is None else list(g.norms), "opt_args": dict(g.opt_args),
                "schedules": None if g.schedules is None else list(g.schedules), "warmup": g.warmup}
        doc = {"grid": grid, "base": g.base.to_dict(), "target": self.target, "metric": self.metric,
               "baseline": self.baseline, "options": asdict(self.options)}
        return json.loads(json.dumps(doc))  # tuples as lists, as they come back from the file

    @classmethod
    def from_json(cls, doc: dict[str, Any], where: Path) -> CompareConfig:
        """The config a compare folder's config.json describes; StoreError naming the file if it cannot."""
        try:
            g = doc["grid"]
            auto = g.get("lrs") == "auto"
            grid = Grid(base=RunSpec(**doc["base"]), optimizers=tuple(g["optimizers"]), inits=tuple(g["inits"]),
                        lrs=None if auto or g.get("lrs") is None else tuple(float(v) for v in g["lrs"]),
                        batch_sizes=None if g.get("batch_sizes") is None else tuple(int(v) for v in g["batch_sizes"]),
                        seeds=int(g["seeds"]), hyper=dict(g.get("hyper") or {}),
                        acts=None if g.get("acts") is None else tuple(g["acts"]),
                        norms=None if g.get("norms") is None else tuple(g["norms"]),
                        opt_args={k: tuple(v) if isinstance(v, list) else v
                                  for k, v in (g.get("opt_args") or {}).items()},
                        schedules=None if g.get("schedules") is None else tuple(g["schedules"]),
                        warmup=g.get("warmup"))
            known = {f.name for f in fields(Options)}
            options = Options(**{k: v for k, v in (doc.get("options") or {}).items() if k in known})
            return cls(grid=grid, auto=auto, target=doc.get("target", DEFAULT_TARGET),
                       metric=doc.get("metric"), baseline=doc.get("baseline"), options=options)
        except (KeyError, TypeError, ValueError, SpecError) as e:
            raise StoreError(f"{where}: cannot rebuild the comparison ({e})") from None


def read(folder: Path) -> tuple[CompareConfig, dict[str, Any]]:
    """A compare folder's config, and its config.json as written (for `created` and `resumed`)."""
    doc = store.read_config(folder)
    if doc.get("command") != "compare":
        raise StoreError(f"{Path(folder)} holds the results of nncmp {doc.get('command')}, not of compare; "
                         "only a comparison can be resumed")
    if not isinstance(doc.get("grid"), dict) or not isinstance(doc.get("base"), dict):
        raise StoreError(f"{Path(folder) / 'config.json'}: no grid or base spec recorded")
    return CompareConfig.from_json(doc, Path(folder) / "config.json"), doc


def check_same_runs(folder: Path, saved: CompareConfig, new: CompareConfig) -> None:
    """StoreError naming the first option in which `new` (this command's) describes other runs than `saved`."""
    old_doc, new_doc = saved.to_json(), new.to_json()
    for section, names in (("grid", GRID_OPTIONS), ("base", None)):
        old_part, new_part = old_doc[section], new_doc[section]
        for key in list(new_part) + [k for k in old_part if k not in new_part]:
            if old_part.get(key) != new_part.get(key):
                option = names[key] if names else "--" + key.replace("_", "-")
                raise StoreError(
                    f"--resume: {folder} was run with {option} {_show(old_part.get(key))}, this command has "
                    f"{_show(new_part.get(key))}; give the same options, or use: nncmp resume {folder}")


def _show(value: Any) -> str:
    if isinstance(value, list):
        return ",".join(map(str, value)) or "(none)"
    if isinstance(value, dict):
        return ", ".join(f"{k}={_show(v)}" for k, v in value.items()) or "(none)"
    return "(default)" if value is None else str(value)
