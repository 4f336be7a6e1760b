"""How torch's OpenMP threads wait for work: the one place nncmp chooses it, for the command line and the
Python API alike (`nncmp` calls it first thing; `import nncmp` calls it, so a notebook that imports nncmp
before torch gets it too).

OpenMP reads OMP_WAIT_POLICY once, when torch loads its runtime (`import torch`); nothing changes it for
that process afterwards. Threads that spin while they wait (the default) are faster on an idle machine and
ruinous on a busy one: with one of two cores busy (a browser, another job) they wait for a descheduled
thread. `make run` took 3.3x its idle time spinning against 1.5x passive; the quickstart notebook's
comparison took 25 s idle and 39 minutes with a core busy spinning, 44 s and 41 s passive. So passive
waiting costs speed on an idle machine (`make run` 1.09x, the quickstart 1.7x, Muon's many small products
1.8x) and saves it many times over on a busy one; short spinning (GOMP_SPINCOUNT) was worse than both under
load (docs: Performance, "A busy core"). The rule, for now, is passive waiting unless the user chose; a later
measured choice replaces `choose_wait_policy`'s rule here and nowhere else.

Only the standard library is imported: `nncmp --help` and `import nncmp` stay instant.
"""

from __future__ import annotations

import os
import sys
import warnings

VARIABLE = "OMP_WAIT_POLICY"
POLICY = "PASSIVE"

# Measured on 2 cores (docs: From Python, "In a notebook"): the quickstart notebook's comparison in a kernel,
# 24 runs of 10 epochs, took 41 s with passive threads and 39 minutes with spinning ones while another process
# kept one core busy; idle, spinning took 25 s against 44 s.
WARNING = (
    "torch was imported before nncmp with OMP_WAIT_POLICY unset, so its OpenMP threads spin while they wait, "
    "and training slows down many times over whenever another program keeps a core busy (the quickstart "
    "notebook's comparison took 39 minutes instead of 41 seconds with one of two cores busy). To fix it, import "
    "nncmp before torch (in a notebook: restart the kernel and import nncmp first), or set "
    "OMP_WAIT_POLICY=PASSIVE in the environment before Python starts. OMP_WAIT_POLICY=ACTIVE keeps spinning "
    "(faster on an idle machine: 25 s) and silences this.")

_warned = False


def choose_wait_policy() -> None:
    """Set OMP_WAIT_POLICY=PASSIVE before torch loads OpenMP; a value the user set is kept. Torch already
    loaded without one: its threads spin for the rest of the process, which nncmp can no longer change, so
    say so once (a RuntimeWarning with the cost and the fix)."""
    global _warned
    if VARIABLE in os.environ:  # the user's choice, or ours made earlier
        return
    if "torch" not in sys.modules:
        os.environ[VARIABLE] = POLICY
        return
    # The variable stays unset: setting it now would tell whoever reads the environment a policy this process
    # does not run with.
    if not _warned:
        _warned = True
        warnings.warn(WARNING, RuntimeWarning, stacklevel=2)
