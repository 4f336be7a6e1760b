"""The results folder: config.json, metrics.csv (one row per run × epoch), runs.csv, summary.csv, and
the lock that keeps a second process out.

Files are replaced atomically (write a temporary file, fsync, rename), so a command killed at any
moment leaves every file either as it was or complete, and metrics.csv is rewritten after every
finished group of runs.
"""

from __future__ import annotations

import json
import os
import platform
import sys
import tempfile
from datetime import datetime
from pathlib import Path
from typing import Any

from nncmp.errors import LockedError, StoreError, WriteError

DEFAULT_ROOT = Path("results")


LOCK = ".lock"
RESULT_FILES = ("config.json", "metrics.csv", "runs.csv", "summary.csv", "summary.md", "tuning.csv",
                "tuning_metrics.csv", "bench.csv", "figures.csv", "bench.json", "layers.csv", "paths.csv",
                "paths_summary.csv", "landscape.csv", "trajectories.csv", "interpolation.csv", "landscape.json",
                "report.html")


def new_results_dir(out: Path | None, command: str, root: Path = DEFAULT_ROOT, resume: bool = False,
                    overwrite: bool = False) -> Path:
    """`out`, or a new `results/<timestamp>-<command>/`; checked writable before any training starts.

    An existing non-empty `out` is refused unless `resume` (continue it) or `overwrite` (replace the
    results of an nncmp folder — one with config.json; anything else in it is left alone).
    """
    if resume:
        if out is None or not (Path(out) / "config.json").is_file():
            raise StoreError(f"--resume: {out} is not an nncmp results folder (no config.json)")
    elif out is not None and Path(out).is_dir() and _has_content(Path(out)):
        if not overwrite:
            raise StoreError(f"results folder {out} is not empty; add --resume to continue it or --overwrite "
                             "to replace its results")
        if not (Path(out) / "config.json").is_file():
            raise StoreError(f"--overwrite: {out} is not an nncmp results folder (no config.json); "
                             "choose another --out")
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


def _has_content(folder: Path) -> bool:
    return any(p.name != LOCK for p in folder.iterdir())


def clear_results(folder: Path) -> None:
    """--overwrite: remove nncmp's own files (call under the folder's Lock); anything else stays."""
    import shutil

    for p in Path(folder).iterdir():
        temporary = p.name.startswith(".") and p.name.endswith(".tmp")
        if p.name in RESULT_FILES or p.suffix in (".png", ".gif") or temporary:
            p.unlink()
        elif p.name == "weights" and p.is_dir():  # --track-weights
            shutil.rmtree(p)


def atomic_write_text(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", newline="") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())  # on disk before the rename makes it the file: durable, not just atomic
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; results are ordinary files
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


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
    atomic_write_text(folder / "config.json", json.dumps(doc, indent=2, default=str) + "\n")


def write_csv(path: Path, frame: Any) -> None:
    atomic_write_text(path, frame.to_csv(index=False))


def read_csv(path: Path, columns: list[str] | None = None) -> Any:
    """A results CSV, or StoreError naming the file if it is missing, empty, corrupt or lacks columns."""
    import pandas as pd

    path = Path(path)
    if not path.is_file():
        raise StoreError(f"{path}: no such file")
    try:
        frame = pd.read_csv(path)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError, ValueError) as e:
        raise StoreError(f"{path}: not a readable CSV ({' '.join(str(e).split())})") from None
    missing = [c for c in columns or [] if c not in frame.columns]
    if missing:
        raise StoreError(f"{path}: not an nncmp file (missing columns: {', '.join(missing)})")
    return frame


# Columns added after the first release: a folder written before them is read with their values filled in.
LATER_COLUMNS = ("act", "norm", "diverged_step", "schedule", "opt_args", "lr_end")


def read_records(path: Path) -> Any:
    """A metrics file (metrics.csv, tuning_metrics.csv) in RECORD_COLUMNS, older folders' included."""
    from nncmp.training.recorder import RECORD_COLUMNS

    path = Path(path)
    frame = read_csv(path, [c for c in RECORD_COLUMNS if c not in LATER_COLUMNS])
    if not all(c in frame.columns for c in LATER_COLUMNS):
        try:  # an older folder: its activation and normalisation were the same for every run, in config.json
            config = read_config(path.parent)
            base = config.get("base") or config.get("spec") or {}
        except StoreError:
            base = {}
        defaults = {"act": base.get("act", "relu"), "norm": "batchnorm" if base.get("batchnorm") else "none",
                    "diverged_step": None, "schedule": "constant", "opt_args": ""}
        for column, value in defaults.items():
            if column not in frame.columns:
                frame[column] = value
        if "lr_end" not in frame.columns:  # no schedules then: the rate never changed
            frame["lr_end"] = frame["lr"]
    # An empty opt_args (no --opt-arg) reads back as NaN; it is a value of its own, grouped like any other.
    frame["opt_args"] = text_column(frame["opt_args"])
    return frame[RECORD_COLUMNS]


def text_column(column: Any) -> Any:
    """A text column read back from CSV, empty values as '' rather than NaN (which groupby would drop)."""
    column = column.astype(object)
    return column.where(column.notna(), "")


def read_metrics(folder: Path) -> Any:
    return read_records(Path(folder) / "metrics.csv")


def read_config(folder: Path) -> dict[str, Any]:
    path = Path(folder) / "config.json"
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
            with os.fdopen(fd, "w") as f:
                f.write(f"{os.getpid()}\n")
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
