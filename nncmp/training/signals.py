"""Ctrl-C and SIGTERM: both unwind a command the same way, so whatever finished is saved and said.

SIGTERM (a cluster's scheduler, `kill`) raises errors.Terminated and Ctrl-C errors.Signalled, both
KeyboardInterrupts, in the main thread; the command exits 143 instead of Ctrl-C's 130. Because Ctrl-C has
its own exception while these handlers are in place, a plain KeyboardInterrupt from a user's code is told
apart from it (registry/user.stopped). While the last files are written after an interruption, further
signals are ignored; once a command has said its last line, a signal is only noted, and the process says
so in one line as it exits (`after_last_line`, `end`).
"""

from __future__ import annotations

import atexit
import contextlib
import os
import signal
import sys
import threading
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, NoReturn

from nncmp.errors import Signalled, Terminated

if TYPE_CHECKING:
    from types import FrameType

# True when nncmp is the whole process (the console script, python -m nncmp): after an interruption it is
# only exiting, and a further Ctrl-C must not cut that short either. In-process callers (tests) get their
# signal handlers back.
EXITING_AFTER_INTERRUPT = False


def _terminated(signum: int, frame: FrameType | None) -> None:
    raise Terminated()


def _ctrl_c(signum: int, frame: FrameType | None) -> None:
    raise Signalled()


_ctrl_c.raises = Signalled  # type: ignore[attr-defined]  # how registry/user.py knows this handler is in place


@contextlib.contextmanager
def termination_as_interrupt() -> Iterator[None]:
    """SIGTERM raises Terminated and Ctrl-C Signalled in the main thread, so both unwind alike and neither is
    mistaken for a user's code raising KeyboardInterrupt. Nested blocks are fine; on leaving, the handlers
    before are put back unless ignore_interrupts() has set them aside meanwhile (an interruption is being
    written up, and a second Ctrl-C must not cut that short). Ctrl-C stays ignored where the process was
    started with it ignored (a background job)."""
    ours = {signal.SIGTERM: _terminated}
    try:
        if signal.getsignal(signal.SIGINT) in (signal.default_int_handler, _ctrl_c):
            ours[signal.SIGINT] = _ctrl_c
        previous = {sig: signal.signal(sig, handler) for sig, handler in ours.items()}
    except ValueError:  # not the main thread: leave signals alone
        yield
        return
    try:
        yield
    finally:
        for sig, before in previous.items():
            if signal.getsignal(sig) is ours[sig]:
                signal.signal(sig, before)


@contextlib.contextmanager
def handlers_kept() -> Iterator[None]:
    """The Python API's calls: Ctrl-C and SIGTERM handled afterwards as before, whatever happened inside. An
    interruption leaves them ignored while its files are written (ignore_interrupts), and the command line ends
    right after; a notebook's kernel lives on, and its interrupt button must work for the next cell."""
    try:
        before = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    except ValueError:  # pragma: no cover -- getsignal works in any thread; kept symmetric with signal()
        before = {}
    try:
        yield
    finally:
        for sig, handler in before.items():
            with contextlib.suppress(ValueError, TypeError):  # not the main thread; a handler set outside Python
                signal.signal(sig, handler)


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


# Once the command's last line is out: what a signal from then on says, and the signals that came.
_LATE: dict[str, Any] = {"line": None, "signals": []}


def _noted(signum: int, frame: FrameType | None) -> None:
    _LATE["signals"].append(signum)


def after_last_line(line: str) -> None:
    """The command has done its work and is about to say so: from now until the process ends (`end`), a Ctrl-C
    or SIGTERM only adds `line` and the exit code 130 or 143, instead of cutting the last output or the exit
    short. Only in the nncmp process itself (EXITING_AFTER_INTERRUPT); in-process callers keep their handlers."""
    if not EXITING_AFTER_INTERRUPT:
        return
    _LATE["line"] = line
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(ValueError):
            if signal.getsignal(sig) is not signal.SIG_IGN:
                signal.signal(sig, _noted)


def end(code: int | str | None) -> NoReturn:
    """The end of the nncmp process: a signal noted after the last line is said in one line (and sets the exit
    code); then the interpreter's own end — threads joined, atexit functions run, output flushed — and exit.
    The process leaves by os._exit rather than by unwinding the interpreter, which takes a second after torch
    was loaded (freeing its modules) with signal handling already switched off: a Ctrl-C then would end the
    process by signal, silently. Every result was written and closed before this point."""
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(ValueError):
            if signal.getsignal(sig) is not signal.SIG_IGN:
                signal.signal(sig, _noted)
    if isinstance(code, str):  # sys.exit("message"), as Python prints it
        sys.stderr.write(code + "\n")
        code = 1
    status = 0 if code is None else code
    try:
        shutdown = getattr(threading, "_shutdown", None)  # what the interpreter calls first at its end
        if shutdown is not None:
            shutdown()
        atexit._run_exitfuncs()
    finally:
        if _LATE["signals"]:
            late = _LATE["line"] or "interrupted while exiting: the command had finished"
            sys.stdout.flush()
            sys.stderr.write(late + "\n")
            status = 143 if signal.SIGTERM in _LATE["signals"] else 130
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(Exception):
                stream.flush()
        os._exit(status)
