"""--track-weights: a run's flattened weights after every epoch (and every --track-every steps), saved
compressed into the results folder's weights/ for `nncmp landscape`.

One file per tracked run, weights/<run id with / as __>.npz: `weights` [points, parameters] float32 (the
model's parameters in model order, as torch.nn.utils.parameters_to_vector flattens them), `step` (optimizer
steps taken), `epoch` (step / steps per epoch: fractional between epochs) and `meta` (JSON: run id,
config, optimizer, init, seed and the resolved spec).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from torch.nn.utils import parameters_to_vector

from nncmp.config.budget import steps_per_epoch
from nncmp.results.store import atomic_file

if TYPE_CHECKING:
    from torch import nn

    from nncmp.config.run import RunSpec
    from nncmp.training.recorder import Engine

FOLDER = "weights"


def flatten(model: nn.Module) -> np.ndarray:
    """The model's parameters as one float32 NumPy vector (a copy)."""
    return parameters_to_vector([p.detach() for p in model.parameters()]).float().cpu().numpy().copy()


class WeightTracker:
    """Collects tracked runs' weights in memory until the driver saves (and forgets) them."""

    def __init__(self, n_train: int, seed: int | None = None, every: int = 0):
        self.n_train, self.seed, self.every = n_train, seed, every
        self.runs: dict[str, dict[str, Any]] = {}

    def tracked(self, spec: RunSpec) -> bool:
        return self.seed is None or spec.seed == self.seed

    def __call__(self, spec: RunSpec, model: nn.Module, epoch: int) -> None:
        if self.tracked(spec):
            self._add(spec, model, epoch * steps_per_epoch(spec, self.n_train), float(epoch))

    def step_hook(self, engine: Engine) -> Callable[[int], None] | None:
        """--track-every K: called by the engine after every optimizer step with the steps taken."""
        if not self.every:
            return None

        def hook(step: int) -> None:
            if step % self.every == 0:
                for j, spec in enumerate(engine.specs):  # the runs still training, in the engine's order
                    if self.tracked(spec):
                        self._add(spec, engine.member(j), step, step / steps_per_epoch(spec, self.n_train))

        # The steps it takes weights at: an engine that applies updates in blocks (fast_sgd) brings the weights up
        # to those steps only, and trains exactly as untracked.
        hook.every = self.every  # type: ignore[attr-defined]
        return hook

    def _add(self, spec: RunSpec, model: nn.Module, step: int, epoch: float) -> None:
        run = self.runs.setdefault(spec.run_id, {
            "meta": {"run_id": spec.run_id, "config": spec.config_id, "optimizer": spec.optimizer,
                     "init": spec.init, "seed": spec.seed, "spec": spec.to_dict()},
            "step": [], "epoch": [], "weights": []})
        if run["step"] and run["step"][-1] == step:  # an epoch's end, already taken by --track-every
            run["epoch"][-1] = epoch
            run["weights"][-1] = flatten(model)
            return
        run["step"].append(step)
        run["epoch"].append(epoch)
        run["weights"].append(flatten(model))

    def save(self, folder: Path, run_ids: list[str]) -> None:
        """Write these runs' files (those tracked) and drop them from memory."""
        for run_id in run_ids:
            run = self.runs.pop(run_id, None)
            if run is not None:
                write(Path(folder), run)


def filename(run_id: str) -> str:
    return run_id.replace("/", "__") + ".npz"


def write(folder: Path, run: dict[str, Any]) -> Path:
    """One run's file, written atomically (a crash leaves the old file or none, never half of one)."""
    target = folder / FOLDER
    target.mkdir(exist_ok=True)
    path = target / filename(run["meta"]["run_id"])
    with atomic_file(path) as tmp, open(tmp, "wb") as f:
        np.savez_compressed(f, weights=np.stack(run["weights"]), step=np.asarray(run["step"], dtype=np.int64),
                            epoch=np.asarray(run["epoch"], dtype=np.float64), meta=np.asarray(json.dumps(run["meta"])))
    return path


def read(folder: Path) -> list[dict[str, Any]]:
    """Every tracked run of a results folder, in file-name order: meta, step, epoch, weights."""
    runs = []
    for path in sorted((Path(folder) / FOLDER).glob("*.npz")):
        with np.load(path) as f:
            runs.append({"meta": json.loads(str(f["meta"])), "step": f["step"], "epoch": f["epoch"],
                         "weights": f["weights"], "path": path})
    return runs
