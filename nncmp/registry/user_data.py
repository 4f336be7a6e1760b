"""A user's data as a dataset: arrays from a function (`--dataset data.py:load`), an .npz or a .csv file, or
objects handed over from Python, checked and made into the four tensors every dataset is (registry/datasets.py).

What is accepted: (x_train, y_train, x_val, y_val) as numpy arrays or tensors; a dict with those keys; a dict
or pair (x, y), split 80/20 (stratified for classification) with a fixed seed; (train_dataset, val_dataset)
torch Datasets, read once into tensors. CSV: every column but --target-column is a numeric feature. The task is
classification when the labels are integers (or text, in a CSV), else regression; --task overrides. Class labels
are numbered in sorted order. Every problem is a DataError of one line, before anything trains.

Every source gives its values as they are, split the same way ((x, y): `split`): scaling is --standardize's,
applied to every source alike by registry/datasets.load (registry/data.standardized), so the same data give the
same numbers from an npz, a CSV or Python.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from nncmp.errors import DataError, SpecError
from nncmp.registry import user
from nncmp.registry.data import IGNORE_INDEX, Data
from nncmp.registry.splits import stratified
from nncmp.registry.user import DATA_FILES, one_line

if TYPE_CHECKING:
    import numpy as np

VAL_FRACTION = 0.2
KEYS = ("x_train", "y_train", "x_val", "y_val")
# Materialised Datasets may take at most this share of the machine's memory.
MEMORY_SHARE = 0.5


def load_user(ref: str, target: str | None = None, task: str | None = None, args: dict[str, Any] | None = None,
              classes: int | None = None) -> Data:
    """The dataset a --dataset reference names (a file path or 'where:NAME'), checked. `args`: --data-arg's,
    passed to a loader function; `classes`: --classes, the number of classes (else counted)."""
    what = f"--dataset {Path(ref).name if not user.is_ref(ref) else ref}"
    if args and ref.endswith(DATA_FILES):
        raise DataError(f"{what}: --data-arg goes to a loader function (file.py:NAME), not to a data file")
    if ref.endswith(".npz"):
        arrays, stored = _npz(Path(ref), what)
        classes = classes or stored
    elif ref.endswith(".csv"):
        arrays = _csv(Path(ref), target or "", what, task)
        return make_data(Path(ref).name, *arrays, task=task, what=what)
    else:
        try:
            obj = user.resolve(ref, what)
        except SpecError as e:
            raise DataError(str(e)) from None
        if args and not callable(obj):
            raise DataError(f"{what}: --data-arg goes to a loader function; {user.split_ref(ref)[1]} is a "
                            f"{type(obj).__name__}")
        with user.guarded(what, "calling it", DataError):  # the user's loader may raise anything: one line
            value = obj(**(args or {})) if callable(obj) else obj
        arrays = from_value(value, what)
        classes = classes or _given_classes(value, what)
    name = Path(ref).name if not user.is_ref(ref) else user.split_ref(ref)[1]
    return make_data(name, *arrays, task=task, what=what, classes=classes)


def from_value(value: Any, what: str) -> tuple[Any, Any, Any, Any]:
    """The four arrays of what a loader returned (or what Python handed over)."""
    if isinstance(value, dict):
        if all(k in value for k in KEYS):
            return tuple(value[k] for k in KEYS)  # type: ignore[return-value]
        if "x" in value and "y" in value:
            return split(value["x"], value["y"], what)
        raise DataError(f"{what}: a dict needs the keys {', '.join(KEYS)} (or x and y); it has "
                        f"{', '.join(map(str, value)) or 'none'}")
    if isinstance(value, (tuple, list)):
        if len(value) == 4:
            return tuple(value)  # type: ignore[return-value]
        if len(value) == 2 and all(_is_dataset(v) for v in value):
            return (*materialise(value[0], what, "train"), *materialise(value[1], what, "val"))
        if len(value) == 2:
            return split(value[0], value[1], what)
    raise DataError(f"{what}: expected (x_train, y_train, x_val, y_val), a dict of them, (x, y) or "
                    f"(train_dataset, val_dataset); got a {type(value).__name__}"
                    + (f" of {len(value)}" if isinstance(value, (tuple, list)) else ""))


def _is_dataset(value: Any) -> bool:
    """A torch Dataset (or anything indexable into (x, y) pairs), not arrays, tensors or lists of numbers."""
    if isinstance(value, (list, tuple, str, dict)) or hasattr(value, "shape"):
        return False
    return hasattr(value, "__getitem__") and hasattr(value, "__len__")


def materialise(dataset: Any, what: str, split_name: str) -> tuple[Any, Any]:
    """A torch Dataset of (x, y) pairs read once into two tensors; DataError when an item is not such a pair, is
    shaped unlike the first or raises, or when the tensors would not fit."""
    import torch

    name = f"the {split_name} dataset"
    with user.guarded(what, f"{name}'s len()", DataError):
        n = len(dataset)
    if n == 0:
        raise DataError(f"{what}: {name} is empty")
    x0, y0 = _item(dataset, 0, what, name)
    need = n * x0.numel() * 4
    memory = _memory()
    if memory and need > MEMORY_SHARE * memory:
        raise DataError(f"{what}: {name} would take {need / 2**30:.1f} GB as tensors, more than half of this "
                        f"machine's {memory / 2**30:.1f} GB; pass a smaller dataset")
    dtype = x0.dtype if tokens(x0.dtype) else torch.float32
    xs = torch.empty((n, *x0.shape), dtype=dtype)
    ys = []
    for i in range(n):
        x, y = (x0, y0) if i == 0 else _item(dataset, i, what, name)
        for part, first, value in (("x", x0, x), ("y", y0, y)):
            if value.shape != first.shape:
                raise DataError(f"{what}: {name}'s item {i} has {part} of shape {tuple(value.shape)}, item 0 "
                                f"{tuple(first.shape)}: every item's x, and every y, need one shape")
        xs[i] = x.to(dtype)
        ys.append(y)
    return xs, torch.stack(ys)


def _item(dataset: Any, i: int, what: str, name: str) -> tuple[Any, Any]:
    """Item `i` of a user's Dataset as two tensors (x, y); DataError (one line) for anything else."""
    import torch

    with user.guarded(what, f"{name}'s item {i}", DataError):  # the user's __getitem__ may raise anything
        item = dataset[i]
    if not isinstance(item, (tuple, list)) or len(item) != 2:
        got = f"a {type(item).__name__}" + (f" of {len(item)}" if isinstance(item, (tuple, list)) else "")
        raise DataError(f"{what}: {name}'s item {i} is {got}, not an (x, y) pair")
    try:
        return torch.as_tensor(item[0]), torch.as_tensor(item[1])
    except Exception as e:  # noqa: BLE001 -- objects that are no arrays of numbers
        raise DataError(f"{what}: {name}'s item {i} is no pair of numbers or arrays ({one_line(e)})") from None


def tokens(dtype: Any) -> bool:
    """Whether inputs of this dtype are token ids (kept as integers, for an nn.Embedding): signed integers.
    Unsigned bytes (images) and booleans are features, made float32 like every other number."""
    import numpy as np
    import torch

    if isinstance(dtype, torch.dtype):
        return not dtype.is_floating_point and not dtype.is_complex and dtype not in (torch.uint8, torch.bool)
    return np.dtype(dtype).kind == "i"


def _memory() -> int | None:
    try:
        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def split(x: Any, y: Any, what: str = "--dataset") -> tuple[Any, Any, Any, Any]:
    """(x, y) split 80/20 with seed 0: stratified when the labels are classes (integers), else shuffled."""
    import numpy as np

    x, y = _array(x, what, "x"), _array(y, what, "y")
    if len(x) != len(y):
        raise DataError(f"{what}: x has {len(x)} examples but y has {len(y)}")
    if len(x) < 2:
        raise DataError(f"{what}: {len(x)} example(s) cannot be split into training and validation data")
    if _integer(y) and y.ndim == 1 and np.unique(y, return_counts=True)[1].min() >= 2:
        tr, va = stratified(y, VAL_FRACTION, seed=0)
    else:
        perm = np.random.RandomState(0).permutation(len(x))
        k = max(1, int(np.ceil(len(x) * VAL_FRACTION)))
        tr, va = perm[k:], perm[:k]
    return x[tr], y[tr], x[va], y[va]


def _numpy(a: Any) -> np.ndarray:
    import numpy as np

    if hasattr(a, "detach"):  # a tensor
        a = a.detach().cpu().numpy()
    return np.asarray(a)


def _array(a: Any, what: str, name: str) -> np.ndarray:
    """One of the arrays a source gives (x_train, ..., or x, y) as NumPy, with one entry per example: DataError
    for a single number (a 0-d array), or what is no array at all (lists of unequal lengths)."""
    try:
        array = _numpy(a)
    except Exception as e:  # noqa: BLE001 -- NumPy's errors for ragged or odd objects
        raise DataError(f"{what}: {name} is not an array ({one_line(e)})") from None
    if array.ndim == 0:
        one = "a 0-d array (one number)" if hasattr(a, "shape") else f"a single {type(a).__name__}"
        raise DataError(f"{what}: {name} is {one}, not an array with one entry per example (expected x_train, "
                        "y_train, x_val, y_val as arrays, a dict of them, or (x, y))")
    return array


def _integer(y: np.ndarray) -> bool:
    return y.dtype.kind in "iub"


def _given_classes(value: Any, what: str) -> int | None:
    """The number of classes a loader's dict or an .npz states under `n_classes` (None: not stated)."""
    if not isinstance(value, dict) or "n_classes" not in value:
        return None
    stated = value["n_classes"]
    try:
        n = int(stated)
        if n != stated or isinstance(stated, bool):
            raise ValueError
    except (TypeError, ValueError):
        raise DataError(f"{what}: n_classes must be a whole number, got {stated!r}") from None
    return n


def _npz(path: Path, what: str) -> tuple[tuple[Any, Any, Any, Any], int | None]:
    import numpy as np

    if not path.is_file():
        raise DataError(f"{what}: no such file {path}")
    try:
        with np.load(path, allow_pickle=False) as f:
            arrays = {k: f[k] for k in f.files}
    except Exception as e:  # noqa: BLE001 -- a corrupt file raises zipfile, OSError or ValueError errors
        raise DataError(f"{what}: {path} is not a readable .npz file ({one_line(e)})") from None
    return from_value(arrays, what), _given_classes(arrays, what)


def _csv(path: Path, target: str, what: str, task: str | None) -> tuple[Any, Any, Any, Any]:
    """A CSV's features (every column but `target`, numeric) and labels, split 80/20 as (x, y) from any other
    source is."""
    import numpy as np
    import pandas as pd

    if not path.is_file():
        raise DataError(f"{what}: no such file {path}")
    try:
        frame = pd.read_csv(path)
    except Exception as e:  # noqa: BLE001
        raise DataError(f"{what}: {path} is not a readable CSV file ({one_line(e)})") from None
    if frame.empty:
        raise DataError(f"{what}: {path} has a header but no rows")
    if target not in frame.columns:
        columns = ", ".join(map(str, frame.columns))
        raise DataError(f"{what}: no column {target!r} (--target-column); its columns: {columns}")
    features = frame.drop(columns=[target])
    if features.shape[1] == 0:
        raise DataError(f"{what}: no feature columns besides {target!r}")
    text = [str(c) for c in features.columns if not pd.api.types.is_numeric_dtype(features[c])]
    if text:
        raise DataError(f"{what}: feature column(s) {', '.join(text)} are not numeric; encode them as numbers "
                        "or drop them")
    y = frame[target].to_numpy()
    if y.dtype == object:  # text labels: classes
        if task == "regression":
            raise DataError(f"{what}: --task regression needs a numeric --target-column; {target!r} holds text")
        y = y.astype(str)
    x = features.to_numpy(dtype=np.float64)
    x_tr, y_tr, x_va, y_va = split(x, y) if y.dtype.kind != "U" else _split_text(x, y)
    return x_tr, y_tr, x_va, y_va


def _split_text(x: np.ndarray, y: np.ndarray) -> tuple[Any, Any, Any, Any]:
    import numpy as np

    _, codes = np.unique(y, return_inverse=True)
    x_tr, c_tr, x_va, c_va = split(x, codes)
    names = np.unique(y)
    return x_tr, names[c_tr], x_va, names[c_va]


def _check_finite(x: np.ndarray, what: str, split_name: str, of: str = "features") -> None:
    import numpy as np

    if x.dtype.kind in "fc" and not np.isfinite(x).all():
        bad = int((~np.isfinite(x)).any(axis=tuple(range(1, x.ndim))).sum()) if x.ndim > 1 else int(
            (~np.isfinite(x)).sum())
        raise DataError(f"{what}: {bad} {split_name} example(s) have NaN or infinite {of}")


def make_data(name: str, x_train: Any, y_train: Any, x_val: Any, y_val: Any, task: str | None = None,
              what: str = "--dataset", classes: int | None = None) -> Data:
    """Four arrays as a checked Data: lengths, empty splits, NaN/inf, the task and the class labels.

    Signed-integer inputs stay integers: token ids, for an nn.Embedding (the vocabulary is the largest id of
    either split, plus one). Labels of one class per example are numbered in sorted order of the training
    labels, unless `classes` is given; labels per position (shape (N, T, ...)) are token ids and are never
    renumbered. IGNORE_INDEX (-100) marks a position without a target.
    """
    import numpy as np
    import torch

    x_tr, y_tr, x_va, y_va = (_array(a, what, k) for a, k in zip((x_train, y_train, x_val, y_val), KEYS))
    for split_name, x, y in (("training", x_tr, y_tr), ("validation", x_va, y_va)):
        if len(x) == 0:
            raise DataError(f"{what}: the {split_name} split is empty")
        if len(x) != len(y):
            raise DataError(f"{what}: the {split_name} split has {len(x)} examples (x) but {len(y)} labels (y)")
        if x.dtype.kind not in "biuf":
            raise DataError(f"{what}: the {split_name} features are {x.dtype}, not numbers")
        _check_finite(x, what, split_name)
    if x_tr.shape[1:] != x_va.shape[1:]:
        raise DataError(f"{what}: training examples have shape {x_tr.shape[1:]}, validation examples "
                        f"{x_va.shape[1:]}")
    if x_tr.ndim < 2:
        x_tr, x_va = x_tr[:, None], x_va[:, None]  # one feature per example
    text = y_tr.dtype.kind in "US"
    if task is None:
        task = "classification" if _integer(y_tr) or text else "regression"
    if classes is not None and task != "classification":
        raise DataError(f"{what}: --classes applies to classification; these targets are a regression's")
    if task == "classification":
        if y_tr.ndim > 1 or classes is not None:
            n_classes, labels = _as_given(y_tr, y_va, classes, what)
        else:
            found, labels = _classes(y_tr, y_va, what)
            n_classes = len(found)
            if n_classes < 2:
                raise DataError(f"{what}: the training labels have one class ({found[0]}); classification needs "
                                "two")
        y_tr_t, y_va_t = (torch.as_tensor(lab, dtype=torch.long) for lab in labels)
    else:
        if text or y_tr.dtype.kind not in "biuf":
            raise DataError(f"{what}: regression needs numeric targets, got {y_tr.dtype}")
        _check_finite(y_tr.astype(float), what, "training", "targets")
        _check_finite(y_va.astype(float), what, "validation", "targets")
        y_tr_t, y_va_t = (torch.as_tensor(y.reshape(len(y), -1), dtype=torch.float32) for y in (y_tr, y_va))
        n_classes = 0
    vocab = 0
    if tokens(x_tr.dtype):
        low = min(int(x_tr.min()), int(x_va.min()))
        if low < 0:
            raise DataError(f"{what}: integer inputs are token ids and must be >= 0; the smallest is {low} (pass "
                            "floats if they are values)")
        vocab = max(int(x_tr.max()), int(x_va.max())) + 1
        x_tr_t, x_va_t = (torch.as_tensor(np.ascontiguousarray(x), dtype=torch.long) for x in (x_tr, x_va))
    else:
        x_tr_t, x_va_t = (torch.as_tensor(np.ascontiguousarray(x), dtype=torch.float32) for x in (x_tr, x_va))
    return Data(name, task, tuple(x_tr_t.shape[1:]), n_classes, x_tr_t, y_tr_t, x_va_t, y_va_t, vocab=vocab)


def _as_given(y_tr: np.ndarray, y_va: np.ndarray, classes: int | None,
              what: str) -> tuple[int, tuple[np.ndarray, np.ndarray]]:
    """Labels used as they are (token ids, or classes numbered by the user): the number of classes (given, or
    the largest label of either split plus one) and both splits' labels; IGNORE_INDEX marks no target."""
    import numpy as np

    if y_tr.ndim != y_va.ndim:
        raise DataError(f"{what}: the training labels have shape {y_tr.shape}, the validation labels {y_va.shape}: "
                        "both one per example, or both one per position")
    for split_name, y in (("training", y_tr), ("validation", y_va)):
        if not _integer(y):
            raise DataError(f"{what}: labels per position (or with --classes) must be integers; the {split_name} "
                            f"labels are {y.dtype}")
    y_tr, y_va = y_tr.astype(np.int64), y_va.astype(np.int64)
    real = [y[y != IGNORE_INDEX] for y in (y_tr, y_va)]
    if not any(len(r) for r in real):
        raise DataError(f"{what}: every label is {IGNORE_INDEX} (no target): there is nothing to learn")
    low = min(int(r.min()) for r in real if len(r))
    if low < 0:
        raise DataError(f"{what}: label {low} is negative; labels are class numbers from 0 ({IGNORE_INDEX} "
                        "marks a position without a target)")
    top = max(int(r.max()) for r in real if len(r))
    if classes is None:
        classes = top + 1
    elif classes <= top:
        raise DataError(f"{what}: --classes {classes} is too few: the labels go up to {top}, which needs "
                        f"--classes {top + 1} or more")
    if classes < 2:
        raise DataError(f"{what}: the labels have one class (0); classification needs two")
    return classes, (y_tr, y_va)


def _classes(y_tr: np.ndarray, y_va: np.ndarray, what: str) -> tuple[np.ndarray, tuple[np.ndarray, np.ndarray]]:
    """The classes (sorted) and both splits' labels as their positions among them."""
    import numpy as np

    for split_name, y in (("training", y_tr), ("validation", y_va)):
        if y.ndim != 1:
            raise DataError(f"{what}: the {split_name} labels have shape {y.shape}, the training labels "
                            f"{y_tr.shape}: both one per example, or both one per position")
        if y.dtype.kind == "f" and (not np.isfinite(y).all() or not (y == np.round(y)).all()):
            raise DataError(f"{what}: --task classification needs integer labels; the {split_name} labels are not "
                            "whole numbers")
    if y_tr.dtype.kind == "f":
        y_tr, y_va = y_tr.astype(np.int64), y_va.astype(np.int64)
    classes = np.unique(y_tr)
    unseen = np.setdiff1d(np.unique(y_va), classes)
    if len(unseen):
        hint = "" if len(classes) <= 100 else (f"; the {len(classes)} distinct integer labels were taken as classes"
                                               ": pass --task regression if they are values")
        raise DataError(f"{what}: validation label(s) {', '.join(map(str, unseen[:5]))} never occur in the training "
                        f"data{hint}; if the labels are already class numbers 0..N-1, pass --classes N to use "
                        "them as they are")
    return classes, (np.searchsorted(classes, y_tr), np.searchsorted(classes, y_va))
