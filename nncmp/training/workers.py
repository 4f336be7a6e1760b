"""What runs in a worker process or a Ray task: how it gets the data by itself (DataRecipe, once per
process), how it runs torch (Setup), and `work`, one group in, its records and probes' results out. The
driver side, which sends groups here and takes them back, is backends.py; fault-injection tests stand in
for `work` (tests/faults.py).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

import torch

from nncmp.registry.datasets import Data, holdout, load
from nncmp.training import execute
from nncmp.training.devices import deterministic
from nncmp.training.plan import Group
from nncmp.training.probes import Probes, Tracking

if TYPE_CHECKING:
    from nncmp.config.run import RunSpec
    from nncmp.training.recorder import Record

T = TypeVar("T")


@dataclass(frozen=True)
class DataRecipe:
    """How a worker gets the data by itself: the registry entry, and whether it is the holdout split that
    tuning runs train on."""

    name: str
    data_dir: str | None
    holdout: bool = False
    kwargs: tuple[tuple[str, Any], ...] = ()  # RunSpec.data_kwargs(): --n, the CSV's column, --task, --data-arg ...

    @classmethod
    def of(cls, spec: RunSpec, data_dir: str | None, holdout: bool = False) -> DataRecipe:
        return cls(spec.dataset, data_dir, holdout, tuple(spec.data_kwargs().items()))

    def load(self) -> Data:
        """The data on the CPU (execute.train_with moves it to each group's device)."""
        data = load(self.name, data_dir=self.data_dir, **dict(self.kwargs))
        return holdout(data) if self.holdout else data


_WORKER_DATA: dict[DataRecipe, Data] = {}


def _worker_data(source: DataRecipe | Data) -> Data:
    if isinstance(source, DataRecipe):
        if source not in _WORKER_DATA:  # once per worker process
            _WORKER_DATA[source] = source.load()
        return _WORKER_DATA[source]
    return source  # Ray: already the Data, from the object store


@dataclass(frozen=True)
class Setup:
    """How a worker runs torch: its threads and --deterministic (where: each group says)."""

    threads: int
    deterministic: bool = False


def work(source: DataRecipe | Data, group: Group, tracking: Tracking,
         setup: Setup) -> tuple[list[list[Record]], dict[str, Any]]:
    """One group in a worker: its runs' records, and what `tracking` asked for (probes.Probes.results)."""
    torch.set_num_threads(setup.threads)
    deterministic(setup.deterministic)
    data = _worker_data(source)
    probes = Probes(data, tracking) if tracking else None
    results = execute.train_with(group, data, probe=probes)
    return results, (probes.results() if probes else {})


def call(task: Callable[..., T], *args: Any) -> T:
    """Ray's remote function: runs `task` (the driver's `work`, looked up when the backend starts) on a worker."""
    return task(*args)
