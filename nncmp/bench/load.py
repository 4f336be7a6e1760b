"""bench --load: the engine cases again with one core kept busy by another process, as on a laptop with a
browser open or a shared machine. What the ratios show is how far a busy core slows each engine down as
nncmp runs it by default: the OpenMP wait policy this process chose when it started (openmp.py; it cannot
change), and torch's thread count following the load before each case as it does before each group
(training/load.py), unless --threads fixed it. Each case says what it ran with (docs: Performance, "A busy
core")."""

from __future__ import annotations

import contextlib
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from nncmp.training import load

if TYPE_CHECKING:
    from nncmp.config.run import RunSpec
    from nncmp.registry.data import Data

# The standard benchmark's nncmp cases timed under load: one run and a stacked grid, at batch sizes 64 and 1.
LOAD_CASES = ("single_bs64", "single_bs1", "grid_bs64_batched", "grid_bs1_batched")


@contextlib.contextmanager
def busy_core() -> Iterator[None]:
    """Another process spinning on one core for the duration of the block."""
    spinner = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    load.start()  # the next look at the load (before the first case) sees the busy core alone
    try:
        time.sleep(0.3)  # running before the first case starts
        yield
    finally:
        spinner.kill()
        spinner.wait()


def ran_with(follow: bool, cap: tuple[int, str] | None = None) -> dict[str, Any]:
    """Just before a case: torch's thread count following the load, as before each of compare's groups (`follow`:
    no --threads; `cap`: what its engine runs fastest on, plan.fewest_threads), and what the case then runs with:
    its threads and how they wait."""
    from nncmp.training import devices, openmp

    if follow:
        devices.THREADS.follow(cap)
    return {"threads": devices.THREADS.get(), "wait policy": openmp.choice().wait_policy or "default"}


def engine_threads(specs: list[RunSpec], data: Data, together: bool, device: str = "cpu") -> tuple[int, str] | None:
    """The most threads the engine of `specs` (stacked, or each alone) runs fastest on (plan.fewest_threads):
    what compare would give their groups."""
    from nncmp.training.plan import fewest_threads, plan

    specs = [s.resolved(data.n_train) for s in specs]
    return fewest_threads(plan(specs, data, max_group=len(specs) if together else 1, device=device)[0])


def stop_following() -> None:
    """After the cases: torch's thread count as nncmp found it."""
    from nncmp.training import devices

    devices.THREADS.restore()


# A case of the standard benchmark: name, what, batch size, models, the timed call (seconds, examples, peak MB),
# and the threads its engine runs fastest on (plan.fewest_threads; None: the load's count).
Case = tuple[str, str, int, int, Callable[[], tuple[float, int, float]], tuple[int, str] | None]


def under_load(plan: list[Case], idle: dict[str, dict[str, Any]], repeats: int,
               on_case: Callable[[dict[str, Any]], None] | None = None,
               follow: bool = True) -> tuple[dict[str, float], list[dict[str, Any]]]:
    """For each of LOAD_CASES: its fastest of `repeats` rounds with a core busy, over its fastest idle
    round (`idle`, the standard benchmark's best cases): 1 means the busy core costs nothing, 2 twice the time.
    And those fastest rounds, each with the threads and wait policy it ran with."""
    loaded: dict[str, dict[str, Any]] = {}
    with busy_core():
        for round_ in range(repeats):
            for name, what, _, _, timed, cap in plan:
                if name not in LOAD_CASES:
                    continue
                how = ran_with(follow, cap)
                seconds = timed()[0]
                if name not in loaded or seconds < loaded[name]["seconds"]:
                    loaded[name] = {"case": f"{name}_under_load", "what": what, "seconds": seconds, **how}
                if on_case:
                    on_case({"case": f"{name} (a core busy)", "what": what, "seconds": seconds,
                             "samples/s": idle[name]["samples/s"] * idle[name]["seconds"] / seconds,
                             "round": round_ + 1, **how})
    ratios = {f"{name}_under_load": loaded[name]["seconds"] / idle[name]["seconds"] for name in LOAD_CASES
              if name in loaded}
    return ratios, list(loaded.values())
