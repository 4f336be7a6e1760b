"""Where a plan's groups train: one protocol, three backends (Lightning Fabric's strategies are the pattern).

    plan.plan → train(): every group submitted → backend.next() as each comes back → on_group (saved at once)
              → a failure: Retries → submitted again, or its runs recorded as failed

- local:     one group after another in this process (execute.run_group); its progress sees every epoch;
- processes: a pool of worker processes on this machine, each loading the data once (from the registry
             and the shared --data-dir) and keeping it;
- ray:       Ray tasks, on a local instance or a cluster, reading one copy of the data from the object store.

The unit of work is a group (plan.Group: its runs resolved, its engine, its device), so results are the
same on every backend. The driver (this process) saves each group as it comes back, so resume works after
a killed driver. On the worker backends a group whose worker dies, or which raises, is retried up to
--retries times (by the driver, so every retry is counted); after that each of its runs is tried alone (so
one bad run does not take its group down), and a run that still fails is recorded as failed (with the
error) while the rest of the grid carries on. In this process a group that raises raised for its runs' own
reasons (an optimizer's error, not a lost worker): its runs are recorded as failed at once.
"""

from __future__ import annotations

import multiprocessing
import os
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, Protocol

from nncmp.config.comparison import Options
from nncmp.errors import BackendError
from nncmp.registry.datasets import Data
from nncmp.training import devices, execute, openmp, workers
from nncmp.training.load import Threads
from nncmp.training.plan import Group, describe, fewest_threads, runs_of
from nncmp.training.probes import Probes, Tracking
from nncmp.training.workers import DataRecipe, Setup, call

if TYPE_CHECKING:
    from concurrent.futures import Future, ProcessPoolExecutor
    from types import ModuleType

    from nncmp.config.run import RunSpec
    from nncmp.training.progress import Progress
    from nncmp.training.recorder import Record

# Called once per group that came back trained, with (position in the planned run list, records) of each of
# its runs and what the worker's probes gathered: saving them in one write keeps a group whole on disk.
OnGroup = Callable[[list[tuple[int, list["Record"]]], dict[str, Any]], None]


@dataclass
class Back:
    """A group back from a backend: its runs' records and what its probes gathered, or the error it failed with."""

    group: Group
    records: list[list[Record]] | None = None
    tracked: dict[str, Any] = field(default_factory=dict)
    error: str = ""


class Backend(Protocol):
    """Where groups train. The driver submits groups, takes them back one at a time with next() (blocking until
    one is trained or failed) while busy(), and closes the backend when done or interrupted."""

    # Trains in this process: the progress sees every epoch, and a failure is the runs' own error (not retried).
    in_process: bool

    def submit(self, group: Group) -> None: ...

    def busy(self) -> bool: ...

    def next(self) -> Back: ...

    def counts(self) -> tuple[int, int] | None:
        """Groups on workers and waiting for one (None: nothing waits for a worker)."""

    def close(self) -> None: ...


@dataclass
class Outcome:
    """What training a plan reports back besides the saved groups."""

    failed: dict[int, str] = field(default_factory=dict)  # position in the planned run list → error
    retried: int = 0
    driver_seconds: float = 0.0  # time the driver spent saving results (its per-run overhead)


class Retries:
    """What happens to a group that failed: tried again up to `retries` times, then (`alone`) each of its runs
    alone, then a run that still fails is recorded as failed."""

    def __init__(self, retries: int, outcome: Outcome, alone: bool = True):
        self.retries, self.outcome, self.alone = retries, outcome, alone
        self.attempts: dict[tuple[int, ...], int] = {}

    def after_failure(self, group: Group, error: str) -> list[Group]:
        """The groups to submit next in place of `group` (none: its runs are recorded as failed)."""
        self.attempts[group.indices] = self.attempts.get(group.indices, 0) + 1
        if self.attempts[group.indices] <= self.retries:
            self.outcome.retried += 1
            return [group]
        if self.alone and len(group.indices) > 1:
            singles = [Group((i,), (spec,), group.engine, "alone after its group failed", group.device)
                       for i, spec in zip(group.indices, group.specs)]
            for single in singles:
                self.attempts[single.indices] = 0
            return singles
        self.outcome.failed.update(dict.fromkeys(group.indices, error))
        return []


def train(groups: list[Group], data: Data, options: Options, progress: Progress, on_group: OnGroup,
          holdout: bool = False, probe: Probes | None = None, say: Callable[[str], None] | None = None) -> Outcome:
    """Train a plan's groups on the backend `options` names, the same loop for every backend: submit them all,
    save each as it comes back (`on_group`), retry or record what failed. `data`: what the plan was made on
    (`holdout`: the tuning split, which workers carve themselves); `probe`: this process's (--track-layers,
    --track-weights), whose results workers send back. KeyboardInterrupt propagates once every group that
    came back is saved: an interruption loses only the groups in progress."""
    outcome = Outcome()
    if not groups:  # a resume of a finished phase: no worker to start
        return outcome
    if say:
        for number, group in enumerate(groups, 1):
            say(describe(number, len(groups), group))
        say(f"{len(groups)} groups on {options.backend}"
            + (f" ({options.jobs} workers)" if options.backend == "processes" else ""))
    backend = open_backend(groups, data, options, progress, holdout, probe, say)
    retry = Retries(0, outcome, alone=False) if backend.in_process else Retries(options.retries, outcome)
    try:
        for group in groups:
            backend.submit(group)
        _counts(backend, progress)
        while backend.busy():
            back = backend.next()
            if back.records is None:
                again = retry.after_failure(back.group, back.error)
                for group in again:
                    backend.submit(group)
                if not again:
                    progress.group_done(back.group.indices, None, back.error)
            else:
                start = time.perf_counter()
                on_group(list(zip(back.group.indices, back.records)), back.tracked)
                outcome.driver_seconds += time.perf_counter() - start
                progress.group_done(back.group.indices, back.records)
            _counts(backend, progress)
    finally:
        backend.close()
    if say:
        n_done = sum(len(g.indices) for g in groups) - len(outcome.failed)
        say(f"driver: {outcome.driver_seconds * 1000 / max(n_done, 1):.1f} ms per finished run to save results; "
            f"{outcome.retried} retried group(s)")
    return outcome


def _counts(backend: Backend, progress: Progress) -> None:
    counts = backend.counts()
    if counts is not None:
        progress.counts(*counts)


def open_backend(groups: list[Group], data: Data, options: Options, progress: Progress, holdout: bool = False,
                 probe: Probes | None = None, say: Callable[[str], None] | None = None) -> Backend:
    """The backend `options.backend` names, ready for `groups` (`say`: --verbose, a thread count that changes)."""
    if options.backend == "local":
        threads = None if threads_fixed_by(options) else devices.THREADS
        return LocalBackend(runs_of(groups), data, progress, probe, threads, say)
    recipe = DataRecipe.of(groups[0].specs[0], options.data_dir, holdout)
    tracking = probe.tracking if probe is not None else Tracking()
    if options.backend == "processes":
        threads = options.threads or threads_per_worker(options.jobs)
        return ProcessBackend(recipe, options.jobs, Setup(threads, options.deterministic), tracking)
    # On GPUs a task reserves --gpus-per-task of one (a fraction packs several groups onto one GPU), so Ray
    # places groups on GPUs across the cluster.
    gpus = options.gpus_per_task if options.gpus_per_task is not None else \
        (1.0 if options.device.startswith("cuda") else 0.0)
    return RayBackend(recipe, options.jobs, Setup(options.threads or 1, options.deterministic), tracking,
                      options.address, gpus)


class LocalBackend:
    """Groups trained one after another in this process, through execute.run_group."""

    in_process = True

    def __init__(self, runs: list[RunSpec], data: Data, progress: Progress, probe: Probes | None = None,
                 threads: Threads | None = None, say: Callable[[str], None] | None = None):
        self.runs, self.data, self.progress, self.probe = runs, data, progress, probe
        self.threads, self.say = threads, say  # torch's thread count, following the load (None: kept as it is)
        self.queue: deque[Group] = deque()

    def submit(self, group: Group) -> None:
        self.queue.append(group)

    def busy(self) -> bool:
        return bool(self.queue)

    def next(self) -> Back:
        group = self.queue.popleft()
        # Where every group of this process starts: the cheap re-check of the load (no wait) comes here.
        changed = self.threads.follow(fewest_threads(group)) if self.threads else None
        if changed and self.say:
            self.say(changed)
        self.progress.start_group(group.indices, list(group.specs))
        try:
            # Looked up on the module at each call, so a stand-in put there (fault injection) is what runs.
            records = execute.run_group(group, self.runs, self.data, on_epoch=self.progress.epoch, probe=self.probe)
        except Exception as e:  # an optimizer that raises: recorded as failed, never the end of the grid
            return Back(group, error=execute.failure(e))
        return Back(group, records)

    def counts(self) -> None:
        return None

    def close(self) -> None:
        self.queue.clear()
        if self.threads:
            self.threads.restore()


def threads_fixed_by(options: Options) -> str:
    """What keeps torch's thread count from following the load between groups ("": nothing, it follows)."""
    if options.threads is not None:
        return f"--threads {options.threads}"
    if "OMP_NUM_THREADS" in os.environ:
        return f"OMP_NUM_THREADS={os.environ['OMP_NUM_THREADS']}"
    if options.deterministic:  # the same command, the same thread count: byte-identical records
        return "--deterministic"
    if options.backend != "local":  # each worker keeps its share of the cores; its load is nncmp's own
        return f"--backend {options.backend}"
    if options.device.startswith(("cuda", "mps")):
        return f"--device {options.device}"
    return ""


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
    if not group.device.startswith("cuda"):
        return group

    count = devices.gpus()  # by the module: tests stand in for the GPUs there
    return replace(group, device=f"cuda:{group.indices[0] % count}") if count > 1 else group


class ProcessBackend:
    """A pool of `jobs` worker processes. A pool lives until a worker dies (that breaks every future in it):
    the groups it had are then resubmitted to a new pool once all of them are back; a group that merely
    raised is submitted again at once, to the same pool."""

    in_process = False

    def __init__(self, recipe: DataRecipe, jobs: int, setup: Setup, tracking: Tracking):
        self.recipe, self.jobs, self.setup, self.tracking = recipe, jobs, setup, tracking
        self.task = workers.work  # looked up now: what that module holds (a test's stand-in) is what workers run
        # spawn, not fork: forking a process that already runs torch's thread pools can deadlock. A worker inherits
        # this process's environment, so its OpenMP threads wait as openmp.py chose here (and config.json says).
        self.context = multiprocessing.get_context("spawn")
        self.pool: ProcessPoolExecutor | None = None
        self.running: dict[Future[tuple[list[list[Record]], dict[str, Any]]], Group] = {}
        self.waiting: list[Group] = []  # for the next pool, after a worker died
        self.back: deque[Back] = deque()
        self.broken = False

    def submit(self, group: Group) -> None:
        if self.broken:
            self.waiting.append(group)
            return
        if self.pool is None:
            self.pool = ProcessPoolExecutor(max_workers=self.jobs, mp_context=self.context)
        self.running[self.pool.submit(self.task, self.recipe, spread(group), self.tracking, self.setup)] = group

    def busy(self) -> bool:
        return bool(self.running or self.waiting or self.back)

    def next(self) -> Back:
        while not self.back:
            if not self.running:  # every group of a broken pool is back: a new pool for those waiting
                self.close()
                self.pool, self.broken = None, False
                waiting, self.waiting = self.waiting, []
                for group in waiting:
                    self.submit(group)
            done, _ = wait(self.running, return_when=FIRST_COMPLETED)
            for future in done:
                group = self.running.pop(future)
                try:
                    records, tracked = future.result()
                except BrokenProcessPool:
                    self.broken = True
                    self.back.append(Back(group, error="its worker process died"))
                except (Exception, SystemExit) as e:  # noqa: BLE001 -- any failure of the task is recorded, not raised
                    self.back.append(Back(group, error=execute.failure(e)))
                else:
                    self.back.append(Back(group, records, tracked))
        return self.back.popleft()

    def counts(self) -> tuple[int, int]:
        # A pool runs `jobs` tasks at a time; the other submitted ones wait for a worker.
        running = len(self.running)
        return min(running, self.jobs), max(running - self.jobs, 0) + len(self.waiting)

    def close(self) -> None:
        if self.pool is not None:
            self.pool.shutdown(wait=True, cancel_futures=True)


class RayBackend:
    """Ray tasks, one per group; retries are the driver's (Retries), as for the pool, so each is counted."""

    in_process = False

    def __init__(self, recipe: DataRecipe, jobs: int, setup: Setup, tracking: Tracking, address: str | None,
                 gpus_per_task: float = 0.0):
        self.ray = start_ray(address, jobs)
        self.data_ref = self.ray.put(recipe.load())  # once into the object store; every task reads that copy
        # A task reserves as many CPUs as it runs torch threads (never more than the cluster has: it would wait
        # forever).
        cpus = max(1, int(self.ray.cluster_resources().get("CPU", jobs)))
        # A Ray worker is not this process's child (a cluster's, or an instance started before): the wait policy
        # openmp.py chose, its bound on spinning and its record go with every task, so its torch loads with them.
        chosen = {k: os.environ[k] for k in (openmp.VARIABLE, openmp.CHOSEN, *openmp.SPIN) if k in os.environ}
        self.remote = self.ray.remote(num_cpus=min(setup.threads, cpus), num_gpus=gpus_per_task, max_retries=0,
                                      **({"runtime_env": {"env_vars": chosen}} if chosen else {}))(call)
        self.capacity = max(1, cpus // min(setup.threads, cpus))
        self.task = workers.work  # looked up now: what that module holds (a test's stand-in) is what tasks run
        self.setup, self.tracking = setup, tracking
        self.running: dict[Any, Group] = {}  # ray.ObjectRef → its group
        self.back: deque[Back] = deque()

    def submit(self, group: Group) -> None:
        self.running[self.remote.remote(self.task, self.data_ref, group, self.tracking, self.setup)] = group

    def busy(self) -> bool:
        return bool(self.running or self.back)

    def next(self) -> Back:
        while not self.back:
            done, _ = self.ray.wait(list(self.running), num_returns=1)
            for ref in done:
                group = self.running.pop(ref)
                try:
                    records, tracked = self.ray.get(ref)
                except self.ray.exceptions.RayError as e:
                    self.back.append(Back(group, error=_ray_error(e)))
                else:
                    self.back.append(Back(group, records, tracked))
        return self.back.popleft()

    def counts(self) -> tuple[int, int]:
        running = len(self.running)
        return min(running, self.capacity), max(running - self.capacity, 0)

    def close(self) -> None:
        for ref in self.running:  # interrupted: the tasks still running are of no use
            self.ray.cancel(ref, force=True)


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
