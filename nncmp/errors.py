"""Every error nncmp raises on purpose, in one place.

`NncmpError` subclasses carry the exit code the command line gives them: 2 for bad input (found before
anything trains), 1 for a failure while running. Their message is written for the command-line user and
is shown as one `Error: …` line, never a traceback. The other classes here are control flow of a
comparison (interrupted, some runs failed), which the session turns into its own messages and exit codes.
"""

from __future__ import annotations


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


class Terminated(KeyboardInterrupt):
    """SIGTERM, handled like Ctrl-C (exit 143 instead of 130)."""


class Interrupted(Exception):
    """Ctrl-C or SIGTERM during a comparison; says how far it got. Everything finished is already on disk."""

    def __init__(self, phase: str, finished: int, total: int, code: int = 130):
        super().__init__(phase)
        self.phase, self.finished, self.total, self.code = phase, finished, total, code


class RunsFailed(Exception):
    """Some runs failed on every attempt (parallel backends); everything else finished and is saved."""

    def __init__(self, failed: dict[str, str]):
        super().__init__(f"{len(failed)} run(s) failed")
        self.failed = failed
