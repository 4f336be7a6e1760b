"""The exceptions nncmp raises on purpose.

`NncmpError` subclasses carry the exit code the command line gives them: 2 for bad input (found before
anything trains), 1 for a failure while running. Their message is written for the user and is shown as
one `Error: …` line, never a traceback; from Python they are what nncmp's functions raise. `Interrupted`
(Ctrl-C, SIGTERM) says what was saved; `RunsFailed` is control flow between training and the commands.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pathlib import Path

    import pandas as pd


class NncmpError(Exception):
    """An error whose message is the whole story for the user."""

    exit_code = 2


class SpecError(NncmpError, ValueError):
    """Invalid run specification or grid."""


class DataError(NncmpError):
    """A dataset cannot be loaded (missing, corrupt, download failed)."""


class StoreError(NncmpError):
    """The results folder cannot be used as asked: missing, not nncmp's, corrupt, or refused."""


class BaselineError(NncmpError, ValueError):
    """--baseline names no configuration, or more than one."""


class BackendError(NncmpError):
    """The backend cannot start (Ray missing, cluster unreachable)."""


class WriteError(NncmpError):
    """Writing results failed during a run (disk full, folder removed…)."""

    exit_code = 1


class LockedError(NncmpError):
    """Another live process holds the results folder."""

    exit_code = 1


class SomeRunsFailed(NncmpError):
    """Runs that failed on every attempt (parallel backends); the rest finished and are saved."""

    exit_code = 1


class UserCodeStopped(NncmpError):
    """A user's model, loader or loss called sys.exit (or raised a KeyboardInterrupt that no Ctrl-C caused): that
    code's failure, said as one line naming where, never a silent end of nncmp (exit code 1: a scheduler must not
    take it for success)."""

    exit_code = 1


class Signalled(KeyboardInterrupt):
    """Ctrl-C as nncmp's own handler raises it while a command runs (training/signals.py): so a KeyboardInterrupt
    that is not one of these, raised inside a user's code while that handler is in place, is the code's own."""


class Terminated(Signalled):
    """SIGTERM, handled like Ctrl-C (exit 143 instead of 130)."""


class Interrupted(NncmpError):
    """Ctrl-C or SIGTERM during a comparison; says how far it got. Everything finished is already on disk.

    `code`: 130 (Ctrl-C) or 143 (SIGTERM). The command that saw it fills in `folder` and, when some runs
    had finished, the summary of those (`summary`, ranked by `metric`) before raising it on."""

    def __init__(self, phase: str, finished: int, total: int, code: int = 130):
        super().__init__(f"interrupted while {phase}: {finished} of {total} runs finished")
        self.phase, self.finished, self.total, self.code = phase, finished, total, code
        self.exit_code = code
        self.folder: Path | None = None
        self.summary: pd.DataFrame | None = None
        self.metric: str | None = None
        self.target: float | None = None
        self.tuned = "learning rates"  # what the tuning phase tunes, for the message (--tune: every hyperparameter)

    def __str__(self) -> str:  # from the fields: `finished` is recounted from the files once they are final
        return f"interrupted while {self.phase}: {self.finished} of {self.total} runs finished"


class RunsFailed(Exception):
    """Some runs failed on every attempt (parallel backends); everything else finished and is saved."""

    def __init__(self, failed: dict[str, str]):
        super().__init__(f"{len(failed)} run(s) failed")
        self.failed = failed
