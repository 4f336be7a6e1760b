"""How hyperparameters are tuned (compare --tune / --lrs auto), as config.json's "tuning" holds it."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from nncmp.errors import SpecError
from nncmp.registry.closest import unknown

SAMPLERS = ("halton", "random", "tpe")
GRID = "grid"  # --lrs auto: every rate of a log-spaced grid, in order
DEFAULT_TRIALS = 16


@dataclass(frozen=True)
class Tuning:
    sampler: str = "halton"  # one of SAMPLERS, or GRID (--lrs auto)
    trials: int = DEFAULT_TRIALS  # per configuration and study: the same for every optimizer
    studies: int = 1  # independent studies (sampler seeds --seed, --seed+1, ...)
    space: dict[str, dict[str, Any]] = field(default_factory=dict)  # a checked --space document ({}: defaults)

    def __post_init__(self) -> None:
        if self.sampler not in (*SAMPLERS, GRID):
            raise SpecError(f"--tune: {unknown('sampler', self.sampler, SAMPLERS)}")
        if self.trials < 1:
            raise SpecError(f"--trials must be >= 1, got {self.trials}")
        if self.studies < 1:
            raise SpecError(f"--studies must be >= 1, got {self.studies}")

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> Tuning:
        return cls(doc["sampler"], int(doc["trials"]), int(doc["studies"]), doc.get("space") or {})
