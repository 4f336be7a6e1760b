"""The stratified split a dataset's definition uses: scikit-learn's train_test_split(..., stratify=y,
random_state=seed), written out here.

Why by hand: importing scikit-learn costs about two seconds, in every process that loads a dataset (the
command and each worker), a fifth of a small comparison; and a split written here is part of nncmp's
dataset definitions, which a scikit-learn upgrade can then not change. A test checks it against
scikit-learn's own function, index for index.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt


def stratified(y: npt.ArrayLike, test_size: float | int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(train indices, test indices) of a stratified shuffle split: `test_size` a fraction of the examples
    (rounded up) or a number of them; each class's share kept; both index lists shuffled."""
    import numpy as np

    y = np.asarray(y)
    n_test = math.ceil(test_size * len(y)) if isinstance(test_size, float) else int(test_size)
    n_train = len(y) - n_test
    classes, y_indices, counts = np.unique(y, return_inverse=True, return_counts=True)
    by_class = np.split(np.argsort(y_indices, kind="stable"), np.cumsum(counts)[:-1])
    rng = np.random.RandomState(seed)
    n_i = _approximate_mode(counts, n_train, rng)
    t_i = _approximate_mode(counts - n_i, n_test, rng)
    train: list[int] = []
    test: list[int] = []
    for i in range(len(classes)):
        shuffled = by_class[i].take(rng.permutation(counts[i]), mode="clip")
        train.extend(shuffled[: n_i[i]])
        test.extend(shuffled[n_i[i]: n_i[i] + t_i[i]])
    return rng.permutation(train), rng.permutation(test)


def _approximate_mode(counts: np.ndarray, n_draws: int, rng: np.random.RandomState) -> np.ndarray:
    """How many of `n_draws` come from each class: the floor of each class's share, then one more for the
    largest remainders (ties broken by `rng`), as scikit-learn's _approximate_mode."""
    import numpy as np

    continuous = counts / counts.sum() * n_draws
    floored = np.floor(continuous)
    need = int(n_draws - floored.sum())
    if need > 0:
        remainder = continuous - floored
        for value in np.sort(np.unique(remainder))[::-1]:
            (tied,) = np.where(remainder == value)
            add = min(len(tied), need)
            floored[rng.choice(tied, size=add, replace=False)] += 1
            need -= add
            if need == 0:
                break
    return floored.astype(int)
