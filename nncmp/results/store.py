"""The results folder on disk: creating and locking it, writing its files atomically, and reading them
back with errors that name the file (what the files are called and hold: schema.py).

Files are replaced atomically (write a temporary file, fsync, rename), so a command killed at any
moment leaves every file either as it was or complete, and metrics.csv is rewritten after every
finished group of runs.
"""

from __future__ import annotations

import contextlib
import json
import os
import platform
import shutil
import sys
import tempfile
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from nncmp.config.comparison import CompareConfig
from nncmp.errors import LockedError, StoreError, WriteError
from nncmp.results import checked, schema
from nncmp.results.schema import CONFIG, LOCK

if TYPE_CHECKING:
    import pandas as pd

DEFAULT_ROOT = Path("results")


def new_results_dir(out: Path | None, command: str, root: Path = DEFAULT_ROOT, resume: bool = False,
                    overwrite: bool = False) -> Path:
    """`out`, or a new `results/<timestamp>-<command>/`; checked writable before any training starts.

    An existing non-empty `out` is refused unless `resume` (continue it) or `overwrite` (replace the
    results of an nncmp folder — one with config.json; anything else in it is left alone). `resume` on a
    folder that is missing or still empty (a job killed before it wrote config.json) starts it there, so
    one command line serves the first attempt and every retry; is_started() tells which it is.
    """
    if resume:
        if out is None:
            raise StoreError("--resume needs the results folder to continue")
        if not is_started(Path(out)) and Path(out).is_dir() and has_content(Path(out)):
            raise StoreError(f"--resume: {out} is not an nncmp results folder (no config.json), and not empty")
    elif out is not None and Path(out).is_dir() and has_content(Path(out)):
        if not overwrite:
            raise StoreError(f"results folder {out} is not empty; add --resume to continue it or --overwrite "
                             "to replace its results")
        if not is_started(Path(out)):
            raise StoreError(f"--overwrite: {out} is not an nncmp results folder (no config.json); "
                             "choose another --out")
    if out is not None and (resume or overwrite) and is_started(Path(out)):
        check_kind(Path(out), command, resume)
    if out is None:
        stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
        out = root / f"{stamp}-{command}"
        k = 2
        while out.exists():  # two commands in the same second
            out = root / f"{stamp}-{command}-{k}"
            k += 1
    out = Path(out)
    try:
        out.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=out):
            pass
    except OSError as e:
        raise StoreError(f"cannot write results to {out}: {e.strerror or e}") from None
    return out


# What each command continues (--resume): a comparison's folder, as compare or as train (a one-run comparison).
CONTINUES = {"compare": ("compare", "train"), "train": ("compare", "train")}
# Folders with a sub-folder per problem: only their own command replaces them (--overwrite) whole; another
# would leave the problems' folders beside its results.
NESTED = ("suite", "calibrate")


def check_kind(out: Path, command: str, resume: bool) -> None:
    """StoreError unless `command` may continue (`resume`) or replace (--overwrite) the started folder `out`:
    checked before anything is written there, so a command cannot leave a folder of another kind half
    rewritten (the commands check first too, with more to say)."""
    kind = read_config(out).get("command") if resume else command_of(out)  # resume: a corrupt one says so
    if resume and kind not in CONTINUES.get(command, (command,)):
        raise StoreError(f"--resume: {out} holds an nncmp {kind}, not a {command}; nothing was changed")
    if not resume and kind in NESTED and kind != command:
        raise StoreError(f"--overwrite: {out} holds an nncmp {kind}, with a folder per problem that {command} would "
                         "leave behind; choose another --out (or remove it yourself)")


def is_started(folder: Path) -> bool:
    """Whether an nncmp command has begun writing into `folder` (it has config.json)."""
    return (Path(folder) / CONFIG).is_file()


def _temporary(path: Path) -> bool:
    """A temporary file of an atomic write that was cut short (it never became a result)."""
    return path.name.startswith(".") and (path.name.endswith(".tmp") or ".tmp." in path.name)


def has_content(folder: Path) -> bool:
    """Anything in the folder but its lock and the temporary files of interrupted writes."""
    return any(p.name != LOCK and not _temporary(p) for p in folder.iterdir())


def clear_results(folder: Path) -> None:
    """--overwrite: remove nncmp's own files (call under the folder's Lock); anything else stays."""
    for p in Path(folder).iterdir():
        if p.name in schema.RESULT_FILES or p.suffix in (".png", ".gif") or _temporary(p):
            p.unlink()
        elif p.name == schema.WEIGHTS and p.is_dir():  # --track-weights
            shutil.rmtree(p)


@contextlib.contextmanager
def atomic_file(path: Path) -> Iterator[Path]:
    """A temporary path beside `path` to write to; when the block ends, the file is flushed to disk and
    renamed over `path` in one step, so `path` is always either the old file or the whole new one (a
    crash or Ctrl-C mid-write leaves no half-written result)."""
    path = Path(path)
    # The file's own extension last, for writers that go by it (Pillow's GIF).
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp" + path.suffix)
    os.close(fd)
    try:
        yield Path(tmp)
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())  # on disk before the rename makes it the file: durable, not just atomic
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; results are ordinary files
        os.replace(tmp, path)
    except BaseException as e:
        Path(tmp).unlink(missing_ok=True)
        if isinstance(e, OSError) and e.filename in (None, tmp):  # a full disk fails a write(): say which file
            e.filename = str(path)
        raise


def atomic_write_text(path: Path, text: str) -> None:
    with atomic_file(path) as tmp, open(tmp, "w", newline="") as f:
        f.write(text)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def environment() -> dict[str, str]:
    import torch

    return {
        "nncmp": __import__("nncmp").__version__,
        "torch": torch.__version__,
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "threads": str(torch.get_num_threads()),
    }


def write_config(folder: Path, command: str, config: dict[str, Any]) -> None:
    doc = {"command": command, "argv": sys.argv[1:], "created": datetime.now().isoformat(timespec="seconds"),
           **config, "environment": environment()}
    atomic_write_text(folder / CONFIG, json.dumps(doc, indent=2, default=str) + "\n")


def write_csv(path: Path, frame: pd.DataFrame) -> None:
    atomic_write_text(path, frame.to_csv(index=False))


def read_csv(path: Path, columns: list[str] | None = None, text: tuple[str, ...] = ()) -> pd.DataFrame:
    """A results CSV, or StoreError naming the file (and line) if it is missing, empty, corrupt, cut short or
    lacks columns."""
    path = Path(path)
    found = checked.read(path, {}, (), columns or [])
    if found.cut_header or found.problems:
        raise checked.refusal(checked.said(path, found.problems) or [f"{path}: empty"], "it cannot be read")
    return checked.frame(found, columns or [], text)


def read_records(path: Path) -> pd.DataFrame:
    """A metrics file (metrics.csv, tuning_metrics.csv) in the current layout, older folders' included; StoreError
    naming the line if a run in it is damaged (checked.py: what each reader keeps)."""
    frame, found = checked.records(Path(path))
    if found.problems:
        raise checked.refusal(checked.said(path, found.problems), "a resume trains its damaged runs again")
    return frame


def read_metrics(folder: Path, warnings: list[str] | None = None) -> pd.DataFrame:
    """metrics.csv, checked against runs.csv; any damage refused, or with `warnings` its runs left out and said
    there."""
    return checked.metrics(Path(folder), warnings)


def read_tuning(path: Path) -> pd.DataFrame:
    """tuning.csv, whole and consistent, or StoreError naming what is wrong (a resume rebuilds it)."""
    table, problems = checked.tuning(Path(path))
    if problems:
        raise checked.refusal(problems, "which trial was chosen depends on every row, so none is shown: nncmp "
                                        f"resume {Path(path).parent} rebuilds it from tuning_metrics.csv")
    return table


def model_of(folder: Path) -> str | None:
    """The model a results folder's runs train, from its config.json (None: no config.json says)."""
    with contextlib.suppress(StoreError):
        config = read_config(folder)
        return (config.get("base") or config.get("spec") or {}).get("model")
    return None


def read_layers(folder: Path) -> pd.DataFrame:
    return read_csv(Path(folder) / schema.LAYERS, schema.LAYER_COLUMNS)


def read_config(folder: Path) -> dict[str, Any]:
    path = Path(folder) / CONFIG
    try:
        doc = json.loads(path.read_text())
    except FileNotFoundError:
        raise StoreError(f"{path}: no such file") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise StoreError(f"{path}: not valid JSON ({e})") from None
    if not isinstance(doc, dict) or "command" not in doc:
        raise StoreError(f"{path}: not an nncmp config.json")
    return doc


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True


class Lock:
    """`folder/.lock` holding this process's pid while it writes results there.

    A lock whose process is gone (killed, crashed) is stale and taken over; a live holder is refused.
    """

    def __init__(self, folder: Path):
        self.path = Path(folder) / LOCK
        self.held = False

    def __enter__(self) -> Lock:
        for _ in range(3):
            try:
                fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            except FileExistsError:
                holder = self._holder()
                if holder is not None and holder != os.getpid() and _alive(holder):
                    raise LockedError(f"results folder {self.path.parent} is in use by process {holder} "
                                      f"(lock file {self.path}); wait for it or stop it") from None
                self.path.unlink(missing_ok=True)  # stale: its process is gone
                continue
            except OSError as e:
                raise StoreError(f"cannot write results to {self.path.parent}: {e.strerror or e}") from None
            try:
                with os.fdopen(fd, "w") as f:
                    f.write(f"{os.getpid()}\n")
            except OSError as e:  # a full disk: the empty lock would read as stale, but it is not left behind
                self.path.unlink(missing_ok=True)
                raise WriteError(f"cannot write {self.path}: {e.strerror or e}; nothing was changed in the "
                                 "folder") from None
            self.held = True
            return self
        raise LockedError(f"cannot take the lock {self.path}")

    def _holder(self) -> int | None:
        try:
            return int(self.path.read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return None  # unreadable or half-written: treated as stale

    def __exit__(self, *exc: object) -> None:
        if self.held and self._holder() == os.getpid():
            self.path.unlink(missing_ok=True)
        self.held = False


def read_compare(folder: Path) -> tuple[CompareConfig, dict[str, Any]]:
    """The comparison a folder holds (compare's, or train's one-run comparison), and its config.json as
    written (for `created` and `resumed`)."""
    doc = read_config(folder)
    if doc.get("command") not in CONTINUES["compare"]:  # even with a grid: resuming would write its kind back
        raise StoreError(f"{Path(folder)} holds the results of nncmp {doc.get('command')}, not of compare; "
                         "only a comparison can be resumed")
    if not isinstance(doc.get("grid"), dict) or not isinstance(doc.get("base"), dict):
        raise StoreError(f"{Path(folder) / CONFIG}: no grid or base spec recorded")
    return CompareConfig.from_json(doc, Path(folder) / CONFIG), doc


def has_runs(folder: Path) -> bool:
    """Whether a folder holds training runs (a compare, train or bench folder): its metrics.csv."""
    return (Path(folder) / schema.METRICS).is_file()


def command_of(folder: Path) -> str | None:
    """The nncmp command that wrote a folder, from its config.json; None without a readable one."""
    try:
        return read_config(folder).get("command")
    except StoreError:
        return None


def require_results(folder: Path, runs: bool = True) -> None:
    """StoreError unless `folder` is an nncmp results folder: with `runs`, one with metrics.csv; else any
    folder nncmp wrote (metrics.csv or config.json)."""
    if has_runs(folder) or (not runs and is_started(folder)):
        return
    what = "it has no metrics.csv" if runs else "it has neither metrics.csv nor config.json"
    raise StoreError(f"{folder} is not a results folder: {what}")
