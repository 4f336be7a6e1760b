"""How torch's OpenMP threads wait for work: the one place nncmp chooses it, for the command line and the
Python API alike, from the load measured just before torch loads.

OpenMP reads OMP_WAIT_POLICY once, when torch loads its runtime (`import torch`); nothing changes it for that
process afterwards. Threads that spin while they wait are the fastest on free cores and ruinous on a busy one:
with one of two cores busy (a browser, another job) they wait for a descheduled thread. `make run` took 3.3x its
idle time spinning against 1.5x passive; the quickstart notebook's comparison took 25 s idle and 39 minutes with
a core busy spinning, 44 s and 41 s passive. Passive waiting everywhere cost every idle run 2-5x instead
(issue 31: a single SGD run at batch 1 took 1.08 s passive against 0.22 s spinning). So nncmp measures
(load.py): other programs' work on its cores below half a core's worth → ACTIVE (spinning), more → PASSIVE;
short spinning (GOMP_SPINCOUNT) was worse than both under load (docs: Performance, "A busy core"). A value the
user set is kept. The thread count follows the load between groups (load.Threads); the policy cannot.

When: `import nncmp` takes a first reading of the CPU counters (one file read) and puts a finder on
sys.meta_path that, when something first imports torch, finishes the measurement (the span since that reading,
at least 0.1 s) and sets the policy. So `nncmp --help`, bad input and `import nncmp` never pay for it (they never
import torch), and on the command line the span from start-up to `import torch` usually covers the 0.1 s with no
wait at all; a notebook that imports torch itself still gets the choice before torch loads.

Worker processes (the process pool, Ray) inherit the choice with the environment: OMP_WAIT_POLICY and the
record of why (NNCMP_OPENMP), so a worker runs with the policy config.json records and never measures again.

Only the standard library is imported: `nncmp --help` and `import nncmp` stay instant.
"""

from __future__ import annotations

import os
import sys
import warnings

from nncmp.training import load

VARIABLE = "OMP_WAIT_POLICY"
CHOSEN = "NNCMP_OPENMP"  # nncmp's choice and why, as JSON: what a worker process inherits and records
# How long a spinning thread spins before it sleeps, where nncmp chooses ACTIVE. ACTIVE alone spins for minutes
# after the last parallel region (libgomp: 30 billion spins; LLVM's and Intel's libomp: for ever), so an idle
# nncmp process (a notebook's kernel between cells, a driver waiting for its workers, bench waiting for its
# child processes) kept a core busy: a child `nncmp compare` took 6.0 s beside such a parent against 4.0 s
# alone (3.8 s beside it with the bound). About 30 ms of spinning (libgomp counts ~100,000 spins a millisecond)
# measured as fast as ACTIVE alone on every engine here, and an idle process then spins 0.04 s, not seconds
# (docs: Performance).
SPIN = {"GOMP_SPINCOUNT": "3000000", "KMP_BLOCKTIME": "30"}  # libgomp (Linux torch), libomp (macOS, Intel): ms

# Measured on 2 cores (docs: From Python, "In a notebook"): the quickstart notebook's comparison in a kernel,
# 24 runs of 10 epochs, took 41 s with passive threads and 39 minutes with spinning ones while another process
# kept one core busy; idle, spinning took 25 s against 44 s.
WARNING = (
    "torch was imported before nncmp with OMP_WAIT_POLICY unset, so its OpenMP threads spin while they wait, "
    "and training slows down many times over whenever another program keeps a core busy (the quickstart "
    "notebook's comparison took 39 minutes instead of 41 seconds with one of two cores busy). To fix it, import "
    "nncmp before torch (in a notebook: restart the kernel and import nncmp first; nncmp then measures the load "
    "and chooses), or set OMP_WAIT_POLICY=PASSIVE in the environment before Python starts. OMP_WAIT_POLICY=ACTIVE "
    "keeps spinning (faster on an idle machine: 25 s) and silences this.")


class Choice:
    """How this process's OpenMP threads wait, and why: what --verbose says and config.json records. (A plain
    class: dataclasses would double what `import nncmp` costs.)"""

    def __init__(self, wait_policy: str, why: str, busy_cores: float | None = None, cores: int | None = None,
                 measured: str | None = None, spin: dict[str, str] | None = None):
        self.wait_policy = wait_policy  # ACTIVE, PASSIVE, the user's value, or "" (OpenMP's default: torch first)
        self.why = why
        self.busy_cores = busy_cores  # other programs' work on nncmp's cores when measured, in cores
        self.cores = cores
        self.measured = measured  # over what (load.measure), if measured
        self.spin = spin  # the bound on spinning nncmp set with ACTIVE (SPIN), if it did

    def to_json(self) -> dict[str, object]:
        return {"wait_policy": self.wait_policy, "why": self.why, "busy_cores": self.busy_cores, "cores": self.cores,
                "measured": self.measured, "spin": self.spin}

    def line(self) -> str:
        return f"OpenMP threads wait {self.wait_policy or 'as OpenMP does by default'}: {self.why}"


_choice: Choice | None = None
_warned = False


class _BeforeTorch:
    """First on sys.meta_path, finding nothing: asked for torch, it makes the choice before torch loads. It stays
    there inert afterwards (removing it while the import system walks the list would skip the next finder)."""

    armed = False

    def find_spec(self, name: str, path: object = None, target: object = None) -> None:
        if self.armed and name == "torch":
            self.armed = False
            decide()


_HOOK = _BeforeTorch()


def choose_wait_policy() -> None:
    """Make sure the policy is chosen before torch loads: a value in the environment is kept (the user's, or a
    parent nncmp process's choice); otherwise measured when torch is first imported. Torch already loaded without
    one: its threads spin for the rest of the process, which nncmp can no longer change, so say so once (a
    RuntimeWarning with the cost and the fix)."""
    global _choice, _warned
    if _choice is not None or _HOOK.armed:
        return
    if VARIABLE in os.environ:
        _choice = _kept(os.environ[VARIABLE])
        return
    if not torch_loaded():
        load.start()
        _HOOK.armed = True
        if _HOOK not in sys.meta_path:
            sys.meta_path.insert(0, _HOOK)
        return
    # The variable stays unset: setting it now would tell whoever reads the environment a policy this process
    # does not run with.
    _choice = Choice("", "torch was imported before nncmp, with OMP_WAIT_POLICY unset")
    if not _warned:
        _warned = True
        warnings.warn(WARNING, RuntimeWarning, stacklevel=2)


def torch_loaded() -> bool:
    """Whether this process has loaded torch already (tests stand in for it)."""
    return "torch" in sys.modules


def decide() -> Choice:
    """Measure the load now (load.measure: at most 0.1 s) and set OMP_WAIT_POLICY from it, with the record of why
    in NNCMP_OPENMP for worker processes. Called just before torch loads."""
    global _choice
    busy, cores, how = load.measure()
    if busy is None:
        made = Choice("PASSIVE", "the load cannot be measured here; passive waiting is never far from the best under "
                                 "load", None, cores, how)
    else:
        policy = load.wait_policy(busy)
        # A bound the user set on spinning is theirs; nncmp's (its value: inherited from a parent nncmp that chose
        # ACTIVE, say) goes with its ACTIVE only — libgomp spins for an explicit count even under PASSIVE.
        theirs = [k for k, v in SPIN.items() if os.environ.get(k, v) != v]
        spin = {k: v for k, v in SPIN.items() if k not in theirs} if policy == "ACTIVE" else {}
        for k in SPIN.keys() - theirs - spin.keys():
            os.environ.pop(k, None)
        bound = (" (for about 30 ms, then sleeping)" if not theirs else
                 f" (as long as {', '.join(f'{k}={os.environ[k]}' for k in theirs)} from the environment allows)")
        effect = ("spinning is the fastest on free cores" + bound if policy == "ACTIVE" else
                  "spinning threads would wait for the ones busy cores deschedule")
        made = Choice(policy, f"other programs kept {busy:.2f} of {cores} cores busy: {effect}", round(busy, 2), cores,
                      how, spin or None)
        os.environ.update(spin)
    import json  # here: `import nncmp` imports no more than it needs

    os.environ[VARIABLE] = made.wait_policy
    os.environ[CHOSEN] = json.dumps(made.to_json())
    _choice = made
    return made


def _kept(value: str) -> Choice:
    """The policy already in the environment: a parent nncmp process's choice (its record came with it) or the
    user's."""
    import json

    try:
        doc = json.loads(os.environ.get(CHOSEN, ""))
        if isinstance(doc, dict) and doc.get("wait_policy") == value:
            return Choice(**doc)
    except (json.JSONDecodeError, TypeError):
        pass
    return Choice(value, f"{VARIABLE}={value} was set in the environment, and nncmp keeps it")


def choice() -> Choice:
    """What this process's OpenMP threads wait with, and why (chosen now if nothing has asked yet)."""
    choose_wait_policy()
    if _HOOK.armed:  # nothing imported torch yet: choosing now is still before it loads
        _HOOK.armed = False
        decide()
    return _choice or Choice("", "not chosen")


def record(threads: int, fixed_by: str) -> dict[str, object]:
    """config.json's "openmp": the wait policy and why, torch's thread count when written, and whether it follows
    the load between groups (`fixed_by`: what keeps it, "" if it follows; backends.threads_fixed_by). Worker
    processes inherit the policy with the environment, so it holds for them too. A count that follows the load
    may differ from group to group (issue 31: 2 when written, 1 for every group under load), so the record also
    says what the groups started so far ran with: "groups_by_threads", thread count → groups (empty before the
    first group; rewritten with the record, so complete when the record is written after the groups)."""
    ran = {} if fixed_by else {str(n): groups for n, groups in load.groups_by_threads().items()}
    return {**choice().to_json(), "threads": threads, "threads_follow_load": not fixed_by,
            **({"threads_fixed_by": fixed_by} if fixed_by else {"groups_by_threads": ran})}


def line(threads: int, fixed_by: str) -> str:
    """The same for --verbose, on one line."""
    return (f"{choice().line()}; torch threads: {threads}"
            + (f", kept by {fixed_by}" if fixed_by else ", following the load between groups"))
