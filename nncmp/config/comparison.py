"""What a comparison is, as compare writes it into config.json and resume reads it back: one dataclass.

`CompareConfig` holds the grid (what trains), the statistics asked for (target, metric, baseline) and
the `Options` of how it runs (group size, backend, plots…), each option declared once as a field (its
help and option name; the command line is derived from them). config.json is its JSON form plus what
the store adds (the command line, the environment, every resolved run). A resume rebuilds the very same
CompareConfig from the file, so a key missing from an older folder takes the dataclass's default here,
in one place. A resume with options must describe the same runs: the first difference is named as the
option a user would change.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from nncmp.config.fields import NONE, at_least, check_values, one_of, option
from nncmp.config.grid import DIMENSIONS, Grid
from nncmp.config.run import RunSpec
from nncmp.config.tuning import Tuning
from nncmp.errors import SpecError, StoreError

MAX_GROUP = 16  # runs in one group at most: bounds a full-batch step's memory (K × min(n, GRAD_CHUNK) examples)
DEFAULT_TARGET = 0.9  # val accuracy for time-to-target, unless --target says otherwise
BACKENDS = ("local", "processes", "ray")
X_AXES = ("epochs", "steps", "examples", "seconds")
# What a summary can be ranked by (results/stats.py computes each).
RANKABLE = ("final_val_acc", "best_val_acc", "final_val_loss", "final_train_loss", "epochs_to_target",
            "examples_to_target", "seconds_to_target")
DEVICES = "auto, cpu, cuda, cuda:N, mps"
DEVICE = re.compile(r"^(auto|cpu|cuda|cuda:\d+|mps)$")
# Grid sections that are not dimensions → the option that sets them, for resume's "was run with …" message.
GRID_OPTIONS = {**{d.key: d.grid for d in DIMENSIONS.values()}, "seeds": "--seeds",
                "hyper": "the optimizer hyperparameters (--momentum, --betas, ...)", "opt_args": "--opt-arg",
                "warmup": "--warmup"}


@dataclass(frozen=True)
class Options:
    """How a comparison runs and is shown; never what it computes."""

    group_size: int = option(
        MAX_GROUP, flag="--group-size", check=at_least("--group-size", 1),
        help="At most this many runs train together as one stacked model (runs that differ only in init, seed, "
             "and for batch-1 SGD the rate). 1: every run alone. Results are the same either way.")
    plot: bool = option(True, flag="--plot", help="Write PNG plots into the results folder.")
    html: bool = option(False, flag="--html", show_default="off",
                        help="Also write report.html: the whole comparison as one self-contained page.")
    tensorboard: str | None = option(
        None, flag="--tensorboard", metavar="LOGDIR", show_default="off",
        help="Also write each run to this TensorBoard log folder as it finishes (needs the tensorboard package: "
             "pip install 'nncmp[tensorboard]').")
    mlflow: str | None = option(
        None, flag="--mlflow", metavar="URI", show_default="off",
        check=lambda v: None if v.strip() else "--mlflow needs a tracking URI (e.g. sqlite:///mlflow.db) or 'default'",
        help="Also log each run to MLflow as it finishes: an MLflow run per nncmp run (its configuration as params, "
             "metrics per epoch or step, the comparison as tags) under a run per comparison, in experiment 'nncmp' "
             "($MLFLOW_EXPERIMENT_NAME for another). URI: a tracking URI (sqlite:///mlflow.db, http://host:5000, "
             "databricks) or 'default' ($MLFLOW_TRACKING_URI, else MLflow's default). Needs the mlflow package: "
             "pip install 'nncmp[mlflow]'.")
    x: str = option("epochs", flag="--x", check=one_of("--x", X_AXES),
                    help="x axis of the curves: epochs, steps (optimizer steps; a --steps budget's default), "
                         "examples or seconds.")
    track_layers: bool = option(
        False, flag="--track-layers", show_default="off",
        help="After every epoch, record each layer's activation, dead/saturated units and gradient statistics "
             "(on one fixed batch, eval mode) into layers.csv.")
    track_weights: bool = option(
        False, flag="--track-weights", show_default="off",
        help="Record the flattened weights of the first seed of every configuration after every epoch into "
             "weights/ (compressed; about 1 MB per epoch and configuration for the course's MLP), for nncmp "
             "landscape.")
    track_every: int | None = option(None, flag="--track-every", show_default="each epoch only",
                                     check=at_least("--track-every", 1),
                                     help="With --track-weights: also every this many optimizer steps.")
    backend: str = option(
        "local", flag="--backend", check=one_of("--backend", BACKENDS),
        help="Where the runs train: local (this process), processes (a pool of --jobs worker processes), ray (Ray "
             "tasks: a local instance, or the cluster at --address).")
    jobs: int = option(2, flag="--jobs", check=at_least("--jobs", 1),
                       help="Worker processes (processes), or CPUs of a local Ray instance (ray).")
    retries: int = option(2, flag="--retries", check=at_least("--retries", 0),
                          help="Attempts after the first for a group of runs whose worker dies or which fails "
                               "(processes, ray).")
    address: str | None = option(None, flag="--address", show_default="start a local Ray instance",
                                 help="Ray cluster to use: auto, or ray://host:port.")
    data_dir: str | None = option(
        None, flag="--data-dir", show_default="~/.cache/nncmp/data",
        help="Folder for torchvision datasets (mnist, fashion-mnist, cifar10).")
    threads: int | None = option(
        None, flag="--threads", check=at_least("--threads", 1),
        show_default="torch's choice: the cores this process may use",
        help="torch threads for training (matrix products split across them).")
    device: str = option(
        "cpu", flag="--device", cli_default="auto",
        check=lambda v: None if DEVICE.match(v.strip().lower()) else
        f"--device: unknown value {v!r}; choose from: {DEVICES}",
        help="Where to train: auto (CUDA if there is a GPU, else Apple's MPS, else the CPU), cpu, cuda, cuda:N, mps.")
    deterministic: bool = option(
        False, flag="--deterministic", show_default="off",
        help="torch's deterministic algorithms only (on a GPU: the same numbers every time, slower).")
    gpus_per_task: float | None = option(
        None, flag="--gpus-per-task", show_default="1 on cuda, 0 on the CPU",
        check=lambda v: None if v >= 0 else f"--gpus-per-task must be a finite number >= 0, got {v:g}",
        help="--backend ray on GPUs: the GPUs each group's task reserves; a fraction packs several groups onto one "
             "GPU.")

    def __post_init__(self) -> None:
        if self.gpus_per_task is not None and not math.isfinite(self.gpus_per_task):
            raise SpecError(f"--gpus-per-task must be a finite number >= 0, got {self.gpus_per_task:g}")
        check_values(self)
        if self.track_every is not None and not self.track_weights:
            raise SpecError("--track-every applies only with --track-weights")
        if self.address is not None and self.backend != "ray":
            raise SpecError("--address applies only to --backend ray")
        if self.gpus_per_task is not None and self.backend != "ray":
            raise SpecError("--gpus-per-task applies only to --backend ray")


@dataclass(frozen=True)
class CompareConfig:
    grid: Grid
    auto: bool = False  # --lrs auto: tune each configuration's rate first
    target: float = option(
        DEFAULT_TARGET, flag="--target", cli_default=NONE, show_default="0.9; report: the compare's",
        help="Val accuracy to reach: epochs, examples and seconds until the seed-mean curve reaches it.")
    metric: str | None = option(
        None, flag="--metric", show_default="final_val_acc (regression: final_val_loss)",
        check=one_of("--metric", RANKABLE),
        help=f"Metric to rank by: {', '.join(RANKABLE)}.")
    baseline: str | None = option(
        None, flag="--baseline", show_default="none",
        help="Configuration to compare every other with: paired per-seed difference of the metric with 95% CI. "
             "A config id or its leading parts, e.g. 'sgd' or 'adam/he'.")
    options: Options = field(default_factory=Options)
    tuning: Tuning | None = None  # --tune: every hyperparameter, with a budget of trials (None: not tuned)
    defaults: bool = True  # --tune, --lrs auto: also run every configuration at its defaults (a suite: not)

    def __post_init__(self) -> None:
        check_statistics(self.target, self.metric)
        check_values(self)
        if self.auto and "lr" in self.grid.dims:
            raise SpecError("--lrs auto tunes the rate: the grid cannot list rates too")
        if self.tuning is not None and self.auto:
            raise SpecError("--tune and --lrs auto both tune the learning rate; use one (--tune also tunes the rest)")
        if self.tuning is not None and "lr" in self.grid.dims:
            raise SpecError("--tune tunes the rate: the grid cannot list rates too")
        if self.options.track_weights and any(s.norm == "batchnorm" for s in self.grid.runs()):
            raise SpecError("--track-weights: BatchNorm's running statistics are not weights, so nncmp landscape "
                            "could not evaluate these models; use an mlp without --batchnorm")

    def to_json(self) -> dict[str, Any]:
        """The sections of config.json this config owns (plain JSON values)."""
        grid = self.grid.to_json()
        if self.auto:
            grid["lrs"] = "auto"
        doc = {"grid": grid, "base": self.grid.base.to_dict(), "target": self.target, "metric": self.metric,
               "baseline": self.baseline, "options": asdict(self.options)}
        if self.tuning is not None:
            doc["tuning"] = self.tuning.to_json()
        if not self.defaults:  # written only when off: folders from before it existed read back as they were
            doc["defaults"] = False
        return json.loads(json.dumps(doc))  # tuples as lists, as they come back from the file

    @classmethod
    def from_json(cls, doc: dict[str, Any], where: Path) -> CompareConfig:
        """The config config.json describes; SpecError naming the file if it cannot be rebuilt."""
        try:
            auto = doc["grid"].get("lrs") == "auto"
            grid = Grid.from_json(RunSpec(**doc["base"]), doc["grid"], lrs=not auto)
            known = {f.name for f in fields(Options)}
            saved = {k: v for k, v in (doc.get("options") or {}).items() if k in known}
            if saved.get("track_every") == 0:  # folders written before None meant "each epoch only"
                saved["track_every"] = None
            options = Options(**saved)
            tuning = Tuning.from_json(doc["tuning"]) if doc.get("tuning") else None
            return cls(grid=grid, auto=auto, target=doc.get("target", DEFAULT_TARGET),
                       metric=doc.get("metric"), baseline=doc.get("baseline"), options=options, tuning=tuning,
                       defaults=bool(doc.get("defaults", True)))
        except (KeyError, TypeError, ValueError, AttributeError, SpecError) as e:
            raise StoreError(f"{where}: cannot rebuild the comparison ({e})") from None


def check_statistics(target: float | None = None, metric: str | None = None, baseline: str | None = None) -> None:
    """--target and --metric (also report's, whose defaults are its folder's)."""
    if target is not None and not (math.isfinite(target) and 0.0 <= target <= 1.0):
        raise SpecError(f"--target must be a val accuracy in [0, 1], got {target:g}")
    problem = one_of("--metric", RANKABLE)(metric) if metric is not None else None
    if problem:
        raise SpecError(problem)


def check_same_runs(folder: Path, saved: CompareConfig, new: CompareConfig) -> None:
    """StoreError naming the first option in which `new` (this command's) describes other runs than `saved`.

    The same runs may be spelled differently (--act tanh or --acts tanh): only the runs and whether the
    rates are tuned must agree."""
    if saved.auto == new.auto and saved.grid.runs() == new.grid.runs() and saved.tuning == new.tuning \
            and saved.defaults == new.defaults:
        return
    if saved.defaults != new.defaults:
        say = lambda d: "with" if d else "without"  # noqa: E731
        raise StoreError(f"--resume: {folder} was run {say(saved.defaults)} the runs at the defaults, this command "
                         f"{say(new.defaults)}; use: nncmp resume {folder}")
    if saved.tuning != new.tuning:
        show = lambda t: "(none)" if t is None else f"{t.sampler}, {t.trials} trials × {t.studies} studies" + (  # noqa: E731
            ", a --space file" if t.space else "")
        raise StoreError(f"--resume: {folder} was run with --tune {show(saved.tuning)}, this command has "
                         f"{show(new.tuning)}; give the same options, or use: nncmp resume {folder}")
    old_doc, new_doc = saved.to_json(), new.to_json()
    for section, names in (("grid", GRID_OPTIONS), ("base", None)):
        old_part, new_part = old_doc[section], new_doc[section]
        for key in list(new_part) + [k for k in old_part if k not in new_part]:
            if old_part.get(key) != new_part.get(key):
                option_ = names.get(key, key) if names else "--" + key.replace("_", "-")
                raise StoreError(
                    f"--resume: {folder} was run with {option_} {_show(old_part.get(key))}, this command has "
                    f"{_show(new_part.get(key))}; give the same options, or use: nncmp resume {folder}")


def _show(value: Any) -> str:
    if isinstance(value, list):
        return ",".join(map(str, value)) or "(none)"
    if isinstance(value, dict):
        return ", ".join(f"{k}={_show(v)}" for k, v in value.items()) or "(none)"
    return "(default)" if value is None else str(value)
