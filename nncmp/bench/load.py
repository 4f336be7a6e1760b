"""bench --load: the engine cases again with one core kept busy by another process, as on a laptop with a
browser open or a shared machine. What the ratios show is how far a busy core slows each engine down at
the thread count and OpenMP wait policy in force (docs: Performance, "A busy core")."""

from __future__ import annotations

import contextlib
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from typing import Any

# The standard benchmark's nncmp cases timed under load: one run and a stacked grid, at batch sizes 64 and 1.
LOAD_CASES = ("single_bs64", "single_bs1", "grid_bs64_batched", "grid_bs1_batched")


@contextlib.contextmanager
def busy_core() -> Iterator[None]:
    """Another process spinning on one core for the duration of the block."""
    spinner = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        time.sleep(0.3)  # running before the first case starts
        yield
    finally:
        spinner.kill()
        spinner.wait()


def under_load(plan: list[tuple[str, str, int, int, Callable[[], tuple[float, int, float]]]],
               idle: dict[str, dict[str, Any]], repeats: int,
               on_case: Callable[[dict[str, Any]], None] | None = None) -> dict[str, float]:
    """For each of LOAD_CASES: its fastest of `repeats` rounds with a core busy, over its fastest idle
    round (`idle`, the standard benchmark's best cases): 1 means the busy core costs nothing, 2 twice the time."""
    loaded: dict[str, float] = {}
    with busy_core():
        for round_ in range(repeats):
            for name, what, _, _, timed in plan:
                if name not in LOAD_CASES:
                    continue
                seconds = timed()[0]
                loaded[name] = min(seconds, loaded.get(name, seconds))
                if on_case:
                    on_case({"case": f"{name} (a core busy)", "what": what, "seconds": seconds,
                             "samples/s": idle[name]["samples/s"] * idle[name]["seconds"] / seconds,
                             "round": round_ + 1})
    return {f"{name}_under_load": loaded[name] / idle[name]["seconds"] for name in LOAD_CASES if name in loaded}
