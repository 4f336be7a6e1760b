"""How much of the cores nncmp runs on other programs keep busy, and what that leaves for torch's threads.

A measurement is two readings of the kernel's CPU counters (/proc/stat; psutil's where there is none, if it is
installed): the busy share of this process's cores (its affinity) between them, less this process's own CPU
time, is the work of other programs, in cores (1.0: one core's worth). openmp.py measures once, just before
torch loads, to choose how its threads wait; between groups the local backend asks again, without waiting
(the counters since the last reading), and moves torch's thread count (Threads).

The rule, in one place: a core counts as taken by other work from half a core's worth (BUSY) — the load a
spinning thread notices, as the table in docs Performance "A busy core" shows. No core taken: threads that
spin, on every core. A core taken: passive waiting, and one thread fewer per taken core (with one of two cores
busy one thread was the fastest on every engine measured there). An engine that runs fastest on fewer threads
than that whatever the load (plan.fewest_threads) gets its fewer for its groups.

Only the standard library is imported: `import nncmp` takes the first reading, and `nncmp --help` stays instant.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable

BUSY = 0.5  # cores' worth of other work from which one core counts as taken
WINDOW = 0.1  # seconds: the shortest span openmp.py measures over (it sleeps the rest)
STALE = 2.0  # seconds: a first reading older than this is not the machine torch starts on (a notebook)
BETWEEN_GROUPS = 0.25  # seconds: a shorter span since the last reading is noise (the counters tick at 100 Hz)


class Reading:
    """The kernel's CPU counters over this process's cores, at one moment. (A plain class: dataclasses and
    pathlib would double what `import nncmp` costs.)"""

    __slots__ = ("wall", "busy", "total", "own", "cores")

    def __init__(self, wall: float, busy: float, total: float, own: float, cores: int):
        self.wall = wall  # time.monotonic()
        self.busy = busy  # busy time of the cores (any unit: only ratios to `total` are used)
        self.total = total  # busy and idle time of the cores
        self.own = own  # this process's CPU seconds, every thread (time.process_time)
        self.cores = cores


def cores() -> set[int] | None:
    """The cores this process may run on (None where the platform does not say)."""
    try:
        return os.sched_getaffinity(0)
    except (AttributeError, OSError):
        return None


def core_count() -> int:
    found = cores()
    return len(found) if found else os.cpu_count() or 1


def proc_stat() -> str | None:
    """/proc/stat's text (None off Linux). Tests stand in for it."""
    try:
        with open("/proc/stat") as f:
            return f.read()
    except OSError:
        return None


def reading() -> Reading | None:
    """The counters now: /proc/stat's per-core lines, else psutil's per-core times, else None."""
    wall, own = time.monotonic(), time.process_time()
    text = proc_stat()
    mine = cores()
    if text is None:
        return _psutil_reading(wall, own, mine)
    busy = total = 0.0
    n = 0
    for line in text.splitlines():
        name, *fields = line.split()
        if not (name.startswith("cpu") and name[3:].isdigit()) or (mine is not None and int(name[3:]) not in mine):
            continue
        # user nice system idle iowait irq softirq steal (guest time is counted in user already); time stolen by
        # the hypervisor is a core nncmp does not get.
        ticks = [float(v) for v in fields[:8]]
        busy += sum(ticks) - ticks[3] - ticks[4]
        total += sum(ticks)
        n += 1
    return Reading(wall, busy, total, own, n) if n else None


def _psutil_reading(wall: float, own: float, mine: set[int] | None) -> Reading | None:
    try:
        import psutil  # an optional package: macOS and Windows have no /proc/stat
    except ImportError:
        return None
    times = psutil.cpu_times(percpu=True)
    chosen = [t for i, t in enumerate(times) if mine is None or i in mine]
    total = sum(sum(t) - getattr(t, "guest", 0.0) - getattr(t, "guest_nice", 0.0) for t in chosen)
    idle = sum(t.idle + getattr(t, "iowait", 0.0) for t in chosen)
    return Reading(wall, total - idle, total, own, len(chosen)) if chosen else None


def others(before: Reading, after: Reading) -> float:
    """The work of other programs between two readings, in cores: the cores' busy share less this process's own."""
    ticks = after.total - before.total
    if ticks <= 0:
        return 0.0
    busy = after.cores * (after.busy - before.busy) / ticks
    own = (after.own - before.own) / max(after.wall - before.wall, 1e-9)
    return max(0.0, busy - own)


def taken(busy: float) -> int:
    """Cores other work takes: one per whole core's worth, and one for a remainder from BUSY."""
    return int(busy + 1 - BUSY)


def wait_policy(busy: float) -> str:
    """How torch's threads should wait with `busy` cores' worth of other work: spinning only on free cores."""
    return "ACTIVE" if taken(busy) == 0 else "PASSIVE"


def threads_for(busy: float, cores: int, most: int) -> int:
    """torch threads for `cores` cores with `busy` cores' worth of other work: the free ones, at most `most`."""
    return max(1, min(most, cores - taken(busy)))


_last: Reading | None = None  # where the next measurement starts
# torch's thread count → how many groups (bench: cases) Threads.follow saw start with it since new_tally(): what
# the groups ran with, for config.json (openmp.record), where the count at the start alone would say too little.
_ran: dict[int, int] = {}


def start() -> None:
    """Take a reading now (one file read), so that the measurement before torch loads may need no wait."""
    global _last
    _last = reading()


def measure() -> tuple[float | None, int, str]:
    """Other programs' work on this process's cores now (in cores; None: not measurable here), the number of
    cores, and how it was measured (or why not). Over the span since `start` if that is recent, at least WINDOW
    seconds (sleeping the rest); without counters, the 1-minute load average (it cannot leave out this process)."""
    global _last
    first = _last if _last is not None and time.monotonic() - _last.wall <= STALE else reading()
    if first is None:
        try:
            return min(float(os.getloadavg()[0]), core_count()), core_count(), "the 1-minute load average"
        except (AttributeError, OSError):
            return None, core_count(), "no CPU counters here"
    time.sleep(max(0.0, WINDOW - (time.monotonic() - first.wall)))
    _last = reading()
    if _last is None:
        return None, first.cores, "the CPU counters vanished"
    return others(first, _last), _last.cores, f"CPU counters over {_last.wall - first.wall:.2f} s"


def since_last() -> tuple[float, int] | None:
    """Other programs' work since the last reading (in cores) and the cores, without waiting; None if the last
    reading is too recent to tell (it is kept, so the next call measures a longer span) or there is none."""
    global _last
    now = reading() if _last is not None else None
    if _last is None or now is None or now.wall - _last.wall < BETWEEN_GROUPS:
        return None
    busy, _last = others(_last, now), now
    return busy, now.cores


def new_tally() -> None:
    """Forget the groups counted so far: a command's record counts its own groups only."""
    _ran.clear()


def groups_by_threads() -> dict[int, int]:
    """Torch's thread counts the groups started since new_tally() ran with, and how many groups at each."""
    return dict(sorted(_ran.items(), reverse=True))


class Threads:
    """torch's thread count following the load between groups: the free cores, never more than torch started
    with, and no more than a group's engine runs fastest on (plan.fewest_threads). A count someone else set (a
    notebook's torch.set_num_threads) is theirs: it is left alone. `get` and `put` are torch's get_num_threads
    and set_num_threads (this module does not import torch)."""

    def __init__(self, get: Callable[[], int], put: Callable[[int], None]):
        self.get, self.put = get, put
        self.most = get()  # torch's own choice when nncmp first sees it
        self.ours: int | None = None  # what nncmp last set
        self.free: int | None = None  # the count the last measured load leaves (None: not measured yet)
        self.capped = False  # whether nncmp's count is an engine's fewer (fewest_threads), not the load's

    def follow(self, cap: tuple[int, str] | None = None) -> str | None:
        """Before a group: the thread count the load leaves, at most `cap`'s count (the group's engine runs
        fastest on that many; its reason for --verbose), set if it changed; what changed and why (--verbose).
        The count the group then starts with is tallied (groups_by_threads), whoever set it."""
        said = self._follow(cap)
        n = self.get()
        _ran[n] = _ran.get(n, 0) + 1
        return said

    def _follow(self, cap: tuple[int, str] | None) -> str | None:
        current = self.get()
        if current != (self.most if self.ours is None else self.ours):  # another hand set it
            return None
        why = "the free cores again"
        measured = since_last()
        if measured is not None:
            busy, n_cores = measured
            self.free = threads_for(busy, n_cores, self.most)
            if not self.capped:  # else the count goes back up because the engine changed, whatever the load
                why = f"other programs keep {busy:.2f} of {n_cores} cores busy (threads follow the load between groups)"
        free = self.most if self.free is None else self.free
        capped = cap is not None and cap[0] < free
        wanted = cap[0] if capped else free
        if wanted == current:
            return None
        self.put(wanted)
        self.ours, self.capped = wanted, capped
        return f"torch threads {current} → {wanted}: {cap[1] if capped else why}"

    def restore(self) -> None:
        """After the groups: torch's count as nncmp found it (a notebook's own torch code goes on with it)."""
        if self.ours is not None and self.get() == self.ours:
            self.put(self.most)
        self.ours, self.capped, self.free = None, False, None  # the next command measures afresh
