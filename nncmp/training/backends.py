"""Run a grid's groups in parallel: a pool of worker processes on this machine, or Ray tasks on a cluster.

The unit of work is a group of the plan (runs trained together, or one run), so results are the same
as the local backend's. The driver (this process) hands each finished group to `on_group`, which
saves it at once, so resume works after a killed driver. Data reaches each worker once: process
workers load it themselves (the registry, from the shared --data-dir) and keep it; Ray tasks read one
copy from the object store.

A group whose worker dies, or which raises, is retried up to `retries` times (by the driver, for both
backends, so every retry is counted); after that each of its runs is tried alone (so one bad run does
not take its group down), and a run that still fails is reported as failed (with the error) while the
rest of the grid carries on.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

from nncmp.config.run import RunSpec
from nncmp.errors import BackendError
from nncmp.registry.datasets import Data
from nncmp.training.plan import Group, plan
from nncmp.training.probes import Tracking

if TYPE_CHECKING:
    from concurrent.futures import Future
    from types import ModuleType

    import ray

    from nncmp.training.progress import GroupProgress
    from nncmp.training.recorder import Record

T = TypeVar("T")


@dataclass(frozen=True)
class DataRecipe:
    """How a worker gets the data by itself: the registry entry, and whether it is the holdout split that
    tuning runs train on."""

    name: str
    n: int | None
    data_dir: str | None
    holdout: bool = False
    target: str | None = None  # a user's CSV: the column to predict
    task: str | None = None  # a user's dataset: the task given with --task

    def load(self) -> Data:
        """The data on the CPU (execute.train_with moves it to each group's device)."""
        from nncmp.registry.datasets import load

        data = load(self.name, n=self.n, data_dir=self.data_dir, target=self.target, task=self.task)
        if self.holdout:
            from nncmp.registry.datasets import holdout

            data = holdout(data)
        return data


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
    import torch

    from nncmp.training.devices import deterministic
    from nncmp.training.execute import train_with
    from nncmp.training.probes import Probes

    torch.set_num_threads(setup.threads)
    deterministic(setup.deterministic)
    data = _worker_data(source)
    probes = Probes(data, tracking) if tracking else None
    results = train_with(group, data, probe=probes)
    return results, (probes.results() if probes else {})


def call(task: Callable[..., T], *args: Any) -> T:
    """Ray's remote function: runs `task` (the driver's `work`, looked up when the grid starts) on a worker."""
    return task(*args)


@dataclass
class Outcome:
    """What a parallel run reports back besides the saved groups."""

    failed: dict[int, str] = field(default_factory=dict)  # grid position → error
    retried: int = 0
    driver_seconds: float = 0.0  # time the driver spent saving results (its per-run overhead)


class Retries:
    """What happens to a group that failed: tried again up to `retries` times, then each of its runs
    alone, then a run that still fails is recorded as failed."""

    def __init__(self, retries: int, outcome: Outcome, progress: GroupProgress):
        self.retries, self.outcome, self.progress = retries, outcome, progress
        self.attempts: dict[tuple[int, ...], int] = {}

    def after_failure(self, group: Group, error: str) -> list[Group]:
        """The groups to submit next in place of `group`."""
        self.attempts[group.indices] = self.attempts.get(group.indices, 0) + 1
        if self.attempts[group.indices] <= self.retries:
            self.outcome.retried += 1
            return [group]
        if len(group.indices) > 1:
            singles = [Group((i,), (spec,), group.engine, "alone after its group failed", group.device)
                       for i, spec in zip(group.indices, group.specs)]
            for single in singles:
                self.attempts[single.indices] = 0
            return singles
        self.outcome.failed[group.indices[0]] = error
        self.progress.group_done(group.indices, None)
        return []


def run_parallel(specs: list[RunSpec], recipe: DataRecipe, data: Data, device: str, progress: GroupProgress,
                 on_group: Callable[[list[tuple[int, list[Record]]], dict[str, Any]], None], max_group: int,
                 backend: str, jobs: int, retries: int, tracking: Tracking = Tracking(), address: str | None = None,
                 say: Callable[[str], None] | None = None, threads: int | None = None,
                 gpus_per_task: float = 0.0, deterministic: bool = False) -> Outcome:
    """Train every spec on `backend`; `on_group(positions and records, tracked results)` as each group finishes.
    `data`: the recipe's data, as the plan reads it (its task, its shape). `threads`: torch threads in each
    worker (None: its share of the cores, one for Ray tasks)."""
    groups = plan(specs, data, max_group, device)
    outcome = Outcome()
    if say:
        say(f"{len(groups)} groups on {backend}" + (f" ({jobs} workers)" if backend == "processes" else ""))

    def finished(group: Group, result: tuple[list[list[Record]], dict[str, Any]]) -> None:
        records, tracked = result
        start = time.perf_counter()
        on_group(list(zip(group.indices, records)), tracked)
        outcome.driver_seconds += time.perf_counter() - start
        progress.group_done(group.indices, records)

    retry = Retries(retries, outcome, progress)
    if backend == "processes":
        _run_pool(groups, recipe, jobs, Setup(threads or threads_per_worker(jobs), deterministic), tracking, finished,
                  retry, progress)
    else:
        _run_ray(groups, recipe, jobs, Setup(threads or 1, deterministic), tracking, finished, retry, progress,
                 address, gpus_per_task)
    return outcome


def threads_per_worker(jobs: int) -> int:
    """Each worker's share of this process's cores (at least one torch thread)."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:
        cores = os.cpu_count() or 1
    return max(1, cores // jobs)


def spread(group: Group) -> Group:
    """The pool's `group` on GPU (its first run's position) mod the GPUs there are: several GPUs each take a
    share of a grid planned for one."""
    from dataclasses import replace

    if not group.device.startswith("cuda"):
        return group
    from nncmp.training.devices import gpus

    count = gpus()
    return replace(group, device=f"cuda:{group.indices[0] % count}") if count > 1 else group


def _run_pool(groups: list[Group], recipe: DataRecipe, jobs: int, setup: Setup,
              tracking: Tracking, finished: Callable[[Group, tuple[list[list[Record]], dict[str, Any]]], None],
              retry: Retries, progress: GroupProgress) -> None:
    import multiprocessing
    from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
    from concurrent.futures.process import BrokenProcessPool

    task = work  # looked up now: what the driver's module holds is what the workers run
    todo = list(groups)
    # spawn, not fork: forking a process that already runs torch's thread pools can deadlock.
    context = multiprocessing.get_context("spawn")
    pool: ProcessPoolExecutor | None = None

    def submit(g: Group) -> Future[tuple[list[list[Record]], dict[str, Any]]]:
        return pool.submit(task, recipe, spread(g), tracking, setup)

    try:
        while todo:
            # A pool lives until a worker dies (that breaks every future in it); a group that merely raised is
            # tried again at once in the same pool, without starting new workers.
            if pool is None:
                pool = ProcessPoolExecutor(max_workers=jobs, mp_context=context)
            broken = False
            running = {submit(g): g for g in todo}
            todo = []
            # A pool runs `jobs` tasks at a time; the other submitted ones wait for a worker.
            progress.counts(min(len(running), jobs), max(len(running) - jobs, 0))
            while running:
                done, _ = wait(running, return_when=FIRST_COMPLETED)
                for future in done:
                    group = running.pop(future)
                    try:
                        result = future.result()
                    except BrokenProcessPool:
                        broken = True
                        todo += retry.after_failure(group, "its worker process died")
                    except Exception as e:  # noqa: BLE001 -- any failure of the task is recorded, not raised
                        again = retry.after_failure(group, f"{type(e).__name__}: {e}")
                        if broken:
                            todo += again
                        else:
                            running.update({submit(g): g for g in again})
                    else:
                        finished(group, result)
                    progress.counts(min(len(running), jobs), max(len(running) - jobs, 0) + len(todo))
            if broken:
                pool.shutdown(wait=True, cancel_futures=True)
                pool = None
    finally:
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)


def _run_ray(groups: list[Group], recipe: DataRecipe, jobs: int, setup: Setup,
             tracking: Tracking, finished: Callable[[Group, tuple[list[list[Record]], dict[str, Any]]], None],
             retry: Retries, progress: GroupProgress, address: str | None, gpus_per_task: float = 0.0) -> None:
    ray = start_ray(address, jobs)
    data_ref = ray.put(recipe.load())  # once into the object store; every task reads that copy
    # A task reserves as many CPUs as it runs torch threads (never more than the cluster has: it would wait
    # forever). Retries are the driver's (Retries), as for the process pool, so each one is counted.
    cpus = max(1, int(ray.cluster_resources().get("CPU", jobs)))
    # On GPUs a task also reserves --gpus-per-task of one (a fraction packs several groups onto one GPU), so
    # Ray places groups on GPUs across the cluster.
    remote = ray.remote(num_cpus=min(setup.threads, cpus), num_gpus=gpus_per_task, max_retries=0)(call)
    task = work  # looked up now: what the driver's module holds is what the workers run
    capacity = max(1, cpus // min(setup.threads, cpus))

    def submit(g: Group) -> ray.ObjectRef:
        return remote.remote(task, data_ref, g, tracking, setup)

    running = {submit(g): g for g in groups}
    progress.counts(min(len(running), capacity), max(len(running) - capacity, 0))
    try:
        while running:
            done, _ = ray.wait(list(running), num_returns=1)
            for ref in done:
                group = running.pop(ref)
                try:
                    result = ray.get(ref)
                except ray.exceptions.RayError as e:
                    for again in retry.after_failure(group, _ray_error(e)):
                        running[submit(again)] = again
                else:
                    finished(group, result)
            progress.counts(min(len(running), capacity), max(len(running) - capacity, 0))
    except KeyboardInterrupt:
        for ref in running:
            ray.cancel(ref, force=True)
        raise


def _ray_error(e: Exception) -> str:
    """The task's own error from a Ray error, on one line."""
    cause = getattr(e, "cause", None)
    text = f"{type(cause).__name__}: {cause}" if cause is not None else str(e)
    return " ".join(text.split())[:300]


def start_ray(address: str | None, jobs: int) -> ModuleType:
    """Connect to the cluster at `address` (auto, ray://host:port) or start a local Ray instance."""
    try:
        import ray
    except ImportError:
        raise BackendError("--backend ray needs Ray: pip install 'nncmp[ray]' (or pip install 'ray>=2.9')") from None
    if not ray.is_initialized():
        try:
            if address:
                ray.init(address=address, log_to_driver=False)
            else:
                ray.init(num_cpus=jobs, include_dashboard=False, log_to_driver=False)
        except (ConnectionError, RuntimeError, ValueError) as e:
            raise BackendError(f"cannot connect to Ray at {address or 'a new local instance'}: "
                               f"{' '.join(str(e).split())}") from None
    return ray
