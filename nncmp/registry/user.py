"""A user's code as a registry entry: `--model net.py:Net`, `--model package.module:build`, `--dataset
data.py:load`, and objects handed over from Python (`python:Net`, in this process only).

A reference names where the object lives and what it is called. A file reference is kept with its absolute
path, so a worker process (or a resume from another directory) imports the same file; config.json records
that path and a hash of the file's contents (`code_record`), and a resume refuses a file that changed.
Nothing here imports torch at import time.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib
import importlib.util
import signal
import sys
import sysconfig
import traceback
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from nncmp.errors import NncmpError, Signalled, SpecError, UserCodeStopped

DATA_FILES = (".npz", ".csv")
PYTHON = "python"  # where objects handed over from Python live: LOCAL, in this process
LOCAL: dict[str, Any] = {}


def is_ref(text: str) -> bool:
    """A reference to a user's object ('where:name'); built-in names have no colon."""
    where, sep, name = text.rpartition(":")
    return bool(sep and where and name)


def split_ref(text: str) -> tuple[str, str]:
    where, _, name = text.rpartition(":")
    return where, name


def is_file(where: str) -> bool:
    return where.endswith(".py")


def canonical(text: str) -> str:
    """The reference as runs record it: a file's path made absolute (workers and resumes may start
    elsewhere); modules and `python:` names as given."""
    if not is_ref(text):
        return str(Path(text).expanduser().resolve()) if text.endswith(DATA_FILES) else text
    where, name = split_ref(text)
    if is_file(where):
        return f"{Path(where).expanduser().resolve()}:{name}"
    return text


def register(obj: Any, kind: str) -> str:
    """A reference to `obj` for runs in this process: 'module:Name' when the object can be imported by
    that name (so workers and resumes can import it too), else 'python:Name' (this process only)."""
    name = getattr(obj, "__qualname__", None) or getattr(obj, "__name__", None) or kind
    module = getattr(obj, "__module__", None)
    if module and module != "__main__" and "<" not in name and "." not in name:
        try:
            if getattr(importlib.import_module(module), name, None) is obj:
                return f"{module}:{name}"
        except Exception:  # noqa: BLE001 -- not importable by name: it stays in this process
            pass
    # A class or function by its own name: redefining it in a notebook cell and running again (or resuming)
    # uses the new definition, as re-running a cell does. Data by a hash of its contents: the same arrays
    # handed over again (a resume) are the same dataset, other arrays another.
    key = getattr(obj, "__name__", None) if callable(obj) else None
    if not key:
        key = f"{kind}-{content_hash(obj)}"
    LOCAL[key] = obj
    return f"{PYTHON}:{key}"


def content_hash(obj: Any) -> str:
    """A short hash of arrays, tensors and containers of them (what `data=` hands over)."""
    import numpy as np

    digest = hashlib.sha256()

    def feed(value: Any) -> None:
        if isinstance(value, dict):
            for k in sorted(value):
                digest.update(str(k).encode())
                feed(value[k])
        elif isinstance(value, (list, tuple)) and not (value and isinstance(value[0], (int, float))):
            digest.update(f"{type(value).__name__}{len(value)}".encode())
            for v in value:
                feed(v)
        elif hasattr(value, "__len__") and hasattr(value, "__getitem__") and not hasattr(value, "shape") \
                and not isinstance(value, (list, tuple, str)):
            digest.update(f"{type(value).__name__}{len(value)}{id(value)}".encode())  # a Dataset: by identity
        else:
            a = value.detach().cpu().numpy() if hasattr(value, "detach") else np.asarray(value)
            digest.update(f"{a.dtype}{a.shape}".encode())
            digest.update(np.ascontiguousarray(a).tobytes())

    feed(obj)
    return digest.hexdigest()[:12]


def in_process_only(ref: str) -> bool:
    return is_ref(ref) and split_ref(ref)[0] == PYTHON


def _file_module(path: Path, what: str) -> Any:
    if not path.is_file():
        raise SpecError(f"{what}: no such file {path}")
    digest = hashlib.sha256(path.read_bytes()).hexdigest()[:16]
    module_name = f"nncmp_user_{path.stem}_{digest}"  # a changed file is a new module
    if module_name in sys.modules:
        return sys.modules[module_name]
    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None:
        raise SpecError(f"{what}: {path} cannot be imported as Python")
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module  # pickling (process backend) and dataclasses look classes up here
    sys.path.insert(0, str(path.parent))  # the file may import its neighbours
    try:
        with guarded(what, f"importing {path}", SpecError):  # whatever the file raises: one line
            spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[module_name]
        raise
    finally:
        sys.path.remove(str(path.parent))
    return module


def resolve(ref: str, what: str) -> Any:
    """The object a reference names. `what` starts the error messages (e.g. '--model net.py:Net')."""
    where, name = split_ref(ref)
    if where == PYTHON:
        if name not in LOCAL:
            raise SpecError(f"{what} was handed over from Python in another process; pass an importable "
                            "'file.py:Name' or 'module:Name' instead")
        return LOCAL[name]
    if is_file(where):
        module = _file_module(Path(where), what)
        source = str(where)
    else:
        # As `python -m` does: a module in the folder nncmp runs in is importable (the console script does not
        # put it on sys.path by itself).
        cwd = str(Path.cwd())
        if cwd not in sys.path:
            sys.path.append(cwd)
        with guarded(what, f"importing {where}", SpecError):
            try:
                module = importlib.import_module(where)
            except ModuleNotFoundError as e:
                raise SpecError(f"{what}: no module named {e.name!r}") from None
        source = where
    if not hasattr(module, name):
        public = sorted(n for n in vars(module) if not n.startswith("_") and callable(getattr(module, n)))
        listed = f" (it defines: {', '.join(public[:12])})" if public else ""
        raise SpecError(f"{what}: {source} has no {name!r}{listed}")
    return getattr(module, name)


def one_line(e: BaseException) -> str:
    text = " ".join(str(e).split())
    return f"{type(e).__name__}: {text}" if text else type(e).__name__


def stopped(e: BaseException) -> bool:
    """Whether `e`, raised inside a user's code, is that code ending the process rather than the user's Ctrl-C:
    SystemExit (sys.exit, exit(), argparse's errors), or a KeyboardInterrupt while nncmp's own Ctrl-C handler is in
    place (training/signals.py), since that handler raises errors.Signalled. Without it a KeyboardInterrupt is taken
    for Ctrl-C, as it most likely is."""
    if isinstance(e, SystemExit):
        return True
    if not isinstance(e, KeyboardInterrupt) or isinstance(e, Signalled):
        return False
    try:
        handler = signal.getsignal(signal.SIGINT)
    except ValueError:
        return False
    return getattr(handler, "raises", None) is Signalled


# Where the code that stopped is looked for in a traceback: not in Python's library, installed packages or nncmp.
_NOT_USERS = tuple({sysconfig.get_paths()[k] for k in ("stdlib", "platstdlib", "purelib", "platlib")}
                   | {str(Path(__file__).resolve().parents[1])})


def how_stopped(e: BaseException) -> str:
    """What a user's code did to stop and where: 'called sys.exit(0) in forward (/home/me/net.py:12)'."""
    if isinstance(e, SystemExit):
        did = f"called sys.exit({'' if e.code is None else repr(e.code)})"
    else:
        did = "raised KeyboardInterrupt (no Ctrl-C was pressed)"
    frames = traceback.extract_tb(e.__traceback__)
    own = [f for f in frames if not f.filename.startswith(_NOT_USERS)] or frames
    return f"{did} in {own[-1].name} ({own[-1].filename}:{own[-1].lineno})" if own else did


@contextlib.contextmanager
def guarded(what: str, doing: str, error: type[NncmpError] | None = None) -> Iterator[None]:
    """Around a call into a user's code (`what`: '--model net.py:Net', `doing`: 'building it'): sys.exit, or a
    KeyboardInterrupt of its own, becomes UserCodeStopped, one line naming the code and where it stopped, so a
    user's code can never end nncmp (with exit code 0, and nothing said); with `error`, any other exception of
    that code becomes that error (one line: "... building it raised ValueError: ...")."""
    try:
        yield
    except NncmpError:
        raise
    except Exception as e:
        if error is None:
            raise
        raise error(f"{what}: {doing} raised {one_line(e)}") from None
    except (SystemExit, KeyboardInterrupt) as e:
        if not stopped(e):
            raise
        raise UserCodeStopped(f"{what}: {doing} {how_stopped(e)}, which nncmp takes as that code's error") \
            from None


def source_file(ref: str) -> Path | None:
    """The file a reference's code is in (a module's own file), or None (python: objects, built-ins)."""
    if not is_ref(ref):
        return Path(ref) if ref.endswith(DATA_FILES) else None
    where, _ = split_ref(ref)
    if where == PYTHON:
        return None
    if is_file(where):
        return Path(where)
    found = importlib.util.find_spec(where.split(".")[0]) and importlib.util.find_spec(where)
    return Path(found.origin) if found and found.origin and found.origin.endswith(".py") else None


def file_hash(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def code_record(ref: str) -> dict[str, str] | None:
    """What config.json keeps of a user's code: its reference, file and the file's sha256."""
    path = source_file(ref)
    if path is None or not path.is_file():
        return {"ref": ref} if is_ref(ref) else None
    if not is_ref(ref):
        return {"path": str(path), "sha256": file_hash(path)}
    return {"ref": ref, "path": str(path), "sha256": file_hash(path)}


def changed(record: dict[str, str]) -> str | None:
    """Why the code a record describes is not the code on disk now, or None."""
    if "sha256" not in record:
        return None
    path = Path(record["path"])
    if not path.is_file():
        return f"{path} is gone"
    if file_hash(path) != record["sha256"]:
        return f"{path} changed since the comparison started"
    return None


def entry_points(kind: str) -> dict[str, tuple[str, str]]:
    """Models or datasets that installed packages register (entry-point groups nncmp.models and
    nncmp.datasets): name → (reference 'module:NAME', the distribution it came from)."""
    from importlib.metadata import entry_points as found

    out = {}
    for ep in found(group=f"nncmp.{kind}"):
        dist = ep.dist.name if ep.dist is not None else "?"
        out[ep.name] = (ep.value.replace(" ", ""), dist)
    return out


def from_entry_point(name: str, kind: str) -> str | None:
    """The reference an entry point of that name registers, or None."""
    found = entry_points(kind).get(name)
    return found[0] if found else None
