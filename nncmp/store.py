"""The results folder: config.json, metrics.csv (one row per run × epoch) and summary.csv.

Files are replaced atomically (write a temporary file, then rename), so an interrupted command never
leaves a half-written CSV, and metrics.csv is rewritten after every finished run.
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

DEFAULT_ROOT = Path("results")


class StoreError(Exception):
    """The results folder cannot be created or written."""


def new_results_dir(out: Path | None, command: str, root: Path = DEFAULT_ROOT) -> Path:
    """`out`, or a new `results/<timestamp>-<command>/`; checked writable before any training starts."""
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


def atomic_write_text(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", newline="") as f:
            f.write(text)
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


def read_metrics(folder: Path) -> Any:
    import pandas as pd

    return pd.read_csv(Path(folder) / "metrics.csv")
