"""Fault injection for the backends' tests: stand-ins for workers.work, the function a worker runs for each
group, and for execute.run_group, the local backend's step. A test puts one in place with
monkeypatch.setattr(workers, "work", ...); the driver sends it to the workers with each group (pickled by
reference for the process pool, by value for Ray), so nothing of this lives in the shipped code.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from nncmp.training import workers


@dataclass(frozen=True)
class CrashOnce:
    """The first group to start kills its own worker (as `kill -9` would), once: `marker` records it."""

    marker: str

    def __call__(self, source, group, *args):
        # O_EXCL makes the check and the creation one step: two groups starting at the same moment
        # cannot both see no marker and both crash.
        try:
            os.close(os.open(self.marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY))
        except FileExistsError:
            return workers.work(source, group, *args)
        os._exit(1)


@dataclass(frozen=True)
class AlwaysFail:
    """A group holding the run `run_id` raises, on every attempt."""

    run_id: str

    def __call__(self, source, group, *args):
        if any(s.run_id == self.run_id for s in group.specs):  # a group carries its runs, resolved
            raise RuntimeError(f"injected failure for {self.run_id}")
        return workers.work(source, group, *args)


def task_for_ray(task):
    """Ray workers import nothing from tests/: send `task`'s class by value."""
    import sys

    import ray.cloudpickle

    ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])
    return task


@dataclass
class InterruptGroup:
    """A stand-in for execute.run_group that trains groups as usual but raises KeyboardInterrupt (Ctrl-C)
    when the `at`-th group starts: put it in place with monkeypatch.setattr(execute, "run_group", ...)."""

    at: int
    calls: int = 0

    def __post_init__(self) -> None:
        from nncmp.training import execute

        self.real = execute.run_group

    def __call__(self, group, specs, data, on_epoch=None, probe=None):
        self.calls += 1
        if self.calls == self.at:
            raise KeyboardInterrupt
        return self.real(group, specs, data, on_epoch, probe)


def report_openmp(source, group, *args):
    """In place of workers.work: how the worker's OpenMP threads wait (its environment) and the record of why
    its nncmp has, as the group's probe results."""
    from nncmp.training import openmp

    return [[] for _ in group.specs], {"policy": os.environ.get(openmp.VARIABLE), "choice": openmp.choice().to_json(),
                                       "spin": {k: os.environ.get(k) for k in openmp.SPIN}}
