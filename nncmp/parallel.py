"""Run a grid's groups in parallel: a pool of worker processes on this machine, or Ray tasks on a cluster.

The unit of work is a group of the plan (runs trained together, or one run), so results are the same
as the local backend's. The driver (this process) hands each finished group to `on_group`, which
saves it at once, so resume works after a killed driver. Data reaches each worker once: process
workers load it themselves (the registry, from the shared --data-dir) and keep it; Ray tasks read one
copy from the object store.

A group whose worker dies, or which raises, is retried up to `retries` times; after that each of its
runs is tried alone (so one bad run does not take its group down), and a run that still fails is
reported as failed (with the error) while the rest of the grid carries on.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from nncmp.data import Data
from nncmp.plan import Group, plan
from nncmp.spec import RunSpec

BACKENDS = ("local", "processes", "ray")
# Fault injection for the tests (read by the driver, passed to the task): a group containing a run whose
# id contains $NNCMP_TEST_FAIL raises every time; with $NNCMP_TEST_CRASH_ONCE=path, the first task to
# run kills its own worker (and creates `path`, so the retry succeeds).
FAULT_VARIABLES = ("NNCMP_TEST_FAIL", "NNCMP_TEST_CRASH_ONCE")


class BackendError(Exception):
    """The backend cannot start (Ray missing, cluster unreachable): a usage error."""


@dataclass(frozen=True)
class DataRecipe:
    """How a worker gets the data by itself: the registry entry, and whether it is the tuning split."""

    name: str
    n: int | None
    data_dir: str | None
    tuning: bool = False

    def load(self) -> Data:
        from nncmp.data import load

        data = load(self.name, n=self.n, data_dir=self.data_dir)
        if self.tuning:
            from nncmp.tune import tuning_split

            data = tuning_split(data)
        return data


_WORKER_DATA: dict[DataRecipe, Data] = {}


def _worker_data(source: Any) -> Data:
    if isinstance(source, DataRecipe):
        if source not in _WORKER_DATA:  # once per worker process
            _WORKER_DATA[source] = source.load()
        return _WORKER_DATA[source]
    return source  # Ray: already the Data, from the object store


def work(source: Any, specs: list[RunSpec], stacked: bool, track_layers: bool, threads: int,
         faults: dict[str, str]) -> tuple[list[list[dict[str, Any]]], dict[str, list[dict[str, Any]]]]:
    """One group in a worker: its runs' records, and (with track_layers) their per-layer rows."""
    import torch

    from nncmp.execute import run_group

    torch.set_num_threads(threads)
    crash = faults.get("NNCMP_TEST_CRASH_ONCE")
    if crash and not os.path.exists(crash):
        open(crash, "w").close()
        os._exit(1)  # the worker dies mid-task, as if killed
    data = _worker_data(source)
    fail = faults.get("NNCMP_TEST_FAIL")
    if fail and any(fail in s.resolved(data.n_train).run_id for s in specs):
        raise RuntimeError(f"injected failure for {fail}")
    tracker = None
    if track_layers:
        from nncmp.layers import LayerTracker

        tracker = LayerTracker(data)
    results = run_group(Group(tuple(range(len(specs))), stacked, ""), specs, data, probe=tracker)
    return results, (tracker.rows if tracker else {})


@dataclass
class Outcome:
    """What a parallel run reports back besides the saved groups."""

    failed: dict[int, str] = field(default_factory=dict)  # grid position → error
    retried: int = 0
    driver_seconds: float = 0.0  # time the driver spent saving results (its per-run overhead)


def run_parallel(specs: list[RunSpec], recipe: DataRecipe, n_train: int, progress: Any,
                 on_group: Callable[[list[tuple[int, Any]], dict[str, Any]], None], max_group: int,
                 backend: str, jobs: int, retries: int, track_layers: bool = False, address: str | None = None,
                 say: Callable[[str], None] | None = None) -> Outcome:
    """Train every spec on `backend`; `on_group(positions and records, layer rows)` as each group finishes."""
    groups = plan(specs, n_train, max_group)
    faults = {k: os.environ[k] for k in FAULT_VARIABLES if k in os.environ}
    outcome = Outcome()
    if say:
        say(f"{len(groups)} groups on {backend}" + (f" ({jobs} workers)" if backend == "processes" else ""))

    def finished(group: Group, result: Any) -> None:
        records, layer_rows = result
        start = time.perf_counter()
        on_group(list(zip(group.indices, records)), layer_rows)
        outcome.driver_seconds += time.perf_counter() - start
        progress.group_done(group.indices, records)

    def failed(group: Group, error: str) -> list[Group]:
        """A group out of attempts: its runs to try alone, or (a single run) recorded as failed."""
        if len(group.indices) > 1:
            return [Group((i,), group.stacked, "alone after its group failed") for i in group.indices]
        outcome.failed[group.indices[0]] = error
        progress.group_done(group.indices, None)
        return []

    if backend == "processes":
        _run_pool(specs, groups, recipe, jobs, retries, track_layers, faults, finished, failed, outcome, progress)
    else:
        _run_ray(specs, groups, recipe, jobs, retries, track_layers, faults, finished, failed, progress, address)
    return outcome


def threads_per_worker(jobs: int) -> int:
    """Each worker's share of this process's cores (at least one torch thread)."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:
        cores = os.cpu_count() or 1
    return max(1, cores // jobs)


def _run_pool(specs: list[RunSpec], groups: list[Group], recipe: DataRecipe, jobs: int, retries: int,
              track_layers: bool, faults: dict[str, str], finished: Any, failed: Any, outcome: Outcome,
              progress: Any) -> None:
    import multiprocessing
    from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
    from concurrent.futures.process import BrokenProcessPool

    threads = threads_per_worker(jobs)
    attempts = {g.indices: 0 for g in groups}
    todo = list(groups)
    # spawn, not fork: forking a process that already runs torch's thread pools can deadlock.
    context = multiprocessing.get_context("spawn")
    while todo:
        pool = ProcessPoolExecutor(max_workers=jobs, mp_context=context)
        try:
            running = {pool.submit(work, recipe, [specs[i] for i in g.indices], g.stacked, track_layers, threads,
                                   faults): g for g in todo}
            todo = []
            progress.counts(len(running), 0)
            while running:
                done, _ = wait(running, return_when=FIRST_COMPLETED)
                for future in done:
                    group = running.pop(future)
                    try:
                        result = future.result()
                    except BrokenProcessPool:
                        error = "its worker process died"
                    except Exception as e:  # noqa: BLE001 -- any failure of the task is recorded, not raised
                        error = f"{type(e).__name__}: {e}"
                    else:
                        finished(group, result)
                        continue
                    attempts[group.indices] += 1
                    if attempts[group.indices] <= retries:
                        outcome.retried += 1
                        todo.append(group)
                    else:
                        for single in failed(group, error):
                            attempts[single.indices] = 0
                            todo.append(single)
                progress.counts(len(running), len(todo))
        finally:
            pool.shutdown(wait=True, cancel_futures=True)


def _run_ray(specs: list[RunSpec], groups: list[Group], recipe: DataRecipe, jobs: int, retries: int,
             track_layers: bool, faults: dict[str, str], finished: Any, failed: Any, progress: Any,
             address: str | None) -> None:
    ray = start_ray(address, jobs)
    data_ref = ray.put(recipe.load())  # once into the object store; every task reads that copy
    threads = 1
    # Ray retries a task whose worker died, or which raised, up to max_retries times by itself.
    task = ray.remote(num_cpus=threads, max_retries=retries, retry_exceptions=True)(work)

    def submit(g: Group) -> Any:
        return task.remote(data_ref, [specs[i] for i in g.indices], g.stacked, track_layers, threads, faults)

    running = {submit(g): g for g in groups}
    progress.counts(len(running), 0)
    try:
        while running:
            done, _ = ray.wait(list(running), num_returns=1)
            for ref in done:
                group = running.pop(ref)
                try:
                    result = ray.get(ref)
                except ray.exceptions.RayError as e:
                    for single in failed(group, _ray_error(e)):
                        running[submit(single)] = single
                else:
                    finished(group, result)
            progress.counts(len(running), 0)
    except KeyboardInterrupt:
        for ref in running:
            ray.cancel(ref, force=True)
        raise


def _ray_error(e: Exception) -> str:
    """The task's own error from a Ray error, on one line."""
    cause = getattr(e, "cause", None)
    text = f"{type(cause).__name__}: {cause}" if cause is not None else str(e)
    return " ".join(text.split())[:300]


def start_ray(address: str | None, jobs: int) -> Any:
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
