"""Ctrl-C and SIGTERM: both unwind a command the same way, so whatever finished is saved and said.

SIGTERM (a cluster's scheduler, `kill`) raises errors.Terminated, a KeyboardInterrupt, in the main
thread; the command exits 143 instead of Ctrl-C's 130. While the last files are written after an
interruption, further signals are ignored.
"""

from __future__ import annotations

import contextlib
import signal
from collections.abc import Iterator
from typing import TYPE_CHECKING

from nncmp.errors import Terminated

if TYPE_CHECKING:
    from types import FrameType

# True when nncmp is the whole process (the console script, python -m nncmp): after an interruption it is
# only exiting, and a further Ctrl-C must not cut that short either. In-process callers (tests) get their
# signal handlers back.
EXITING_AFTER_INTERRUPT = False


@contextlib.contextmanager
def termination_as_interrupt() -> Iterator[None]:
    """SIGTERM raises Terminated in the main thread, so it unwinds exactly like Ctrl-C."""

    def handler(signum: int, frame: FrameType | None) -> None:
        raise Terminated()

    try:
        previous = signal.signal(signal.SIGTERM, handler)
    except ValueError:  # not the main thread: leave signals alone
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def ignore_interrupts() -> None:
    """While the last files are written after an interruption: a second Ctrl-C must not cut that short.
    restore_interrupts() undoes it once they are written."""
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(ValueError):
            signal.signal(sig, signal.SIG_IGN)


def restore_interrupts() -> None:
    if EXITING_AFTER_INTERRUPT:
        return
    with contextlib.suppress(ValueError):
        signal.signal(signal.SIGINT, signal.default_int_handler)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)


def exit_code(interrupt: BaseException) -> int:
    """130 for Ctrl-C, 143 for SIGTERM (128 + the signal's number, as shells report them)."""
    return 143 if isinstance(interrupt, Terminated) else 130
