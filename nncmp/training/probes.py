"""What a run measures besides its records: per-layer statistics (--track-layers, layers.py) and its
weights (--track-weights, weights.py). One Probes object per process goes to the engines through the
recorder; worker processes return what theirs gathered, and the driver merges it and writes the files."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from nncmp.training.layers import LayerTracker
from nncmp.training.weights import WeightTracker

if TYPE_CHECKING:
    from torch import nn

    from nncmp.config.run import RunSpec
    from nncmp.registry.datasets import Data
    from nncmp.training.recorder import Engine


@dataclass(frozen=True)
class Tracking:
    """What to track (picklable: it travels to worker processes and Ray tasks)."""

    layers: bool = False
    weights: bool = False
    every: int = 0  # --track-every: weights every this many optimizer steps too (0: after each epoch only)
    seed: int | None = None  # weights of the runs with this seed only (a grid's first); None: every run

    def __bool__(self) -> bool:
        return self.layers or self.weights


class Probes:
    """The recorder's probe: called with (resolved spec, model, epoch) after every epoch's record."""

    def __init__(self, data: Data, tracking: Tracking):
        self.tracking = tracking
        self.layers = LayerTracker(data) if tracking.layers else None
        self.weights = WeightTracker(data.n_train, tracking.seed, tracking.every) if tracking.weights else None

    @property
    def rows(self) -> dict[str, list[dict[str, Any]]]:
        """The layer statistics gathered so far, by run id."""
        return self.layers.rows if self.layers else {}

    def __call__(self, spec: RunSpec, model: nn.Sequential, epoch: int) -> None:
        if self.layers:
            self.layers(spec, model, epoch)
        if self.weights:
            self.weights(spec, model, epoch)

    def step_hook(self, engine: Engine) -> Callable[[int], None] | None:
        """A callable the engine calls with the run's step count after every optimizer step, or None."""
        return self.weights.step_hook(engine) if self.weights else None

    def results(self) -> dict[str, Any]:
        """What a worker sends back with its group's records."""
        return {"layers": self.rows, "weights": self.weights.runs if self.weights else {}}

    def merge(self, results: dict[str, Any]) -> None:
        if self.layers:
            self.layers.rows.update(results.get("layers", {}))
        if self.weights:
            self.weights.runs.update(results.get("weights", {}))
