"""The stratified split written out in registry/splits.py is scikit-learn's, index for index, and the
digits read from scikit-learn's file are its load_digits()."""

from __future__ import annotations

import numpy as np
import pytest

from nncmp.registry.splits import stratified


def test_the_split_is_scikit_learns_train_test_split():
    from sklearn.model_selection import train_test_split

    rng = np.random.RandomState(1)
    checked = 0
    for trial in range(120):
        n, k = rng.randint(20, 3000), rng.randint(2, 12)
        y = rng.randint(0, k, n)
        size = [0.2, 0.25, 7][trial % 3]
        if np.bincount(y).min() < 2 or (isinstance(size, int) and size < k):
            continue
        theirs = train_test_split(range(n), test_size=size, stratify=y, random_state=0)
        ours = stratified(y, size, seed=0)
        assert list(theirs[0]) == list(ours[0]) and list(theirs[1]) == list(ours[1])
        checked += 1
    assert checked > 60


@pytest.mark.parametrize("name, size", [("digits", 0.2), ("mnist5k", 1000)])
def test_the_datasets_labels_split_as_with_scikit_learn(name, size):
    from sklearn.model_selection import train_test_split

    y = _labels_in_file_order(name)
    theirs = train_test_split(range(len(y)), test_size=size, stratify=y, random_state=0)
    ours = stratified(y, size, seed=0)
    assert list(theirs[0]) == list(ours[0]) and list(theirs[1]) == list(ours[1])


def _labels_in_file_order(name: str) -> np.ndarray:
    import pandas as pd

    from nncmp.registry.datasets import digits_path, mnist5k_path

    path = digits_path() if name == "digits" else mnist5k_path()
    return pd.read_csv(path, header=None).to_numpy()[:, -1].astype(int)


def test_digits_are_scikit_learns_load_digits():
    import torch
    from sklearn.datasets import load_digits

    from nncmp.registry.datasets import load

    d = load_digits()
    data = load("digits")
    expected = (torch.as_tensor(d.images, dtype=torch.float32).reshape(-1, 1, 8, 8) / 16.0 - 0.5) / 0.5
    ours = torch.cat([data.x_train, data.x_val])
    labels = torch.cat([data.y_train, data.y_val])
    train, val = stratified(d.target, 0.2)
    order = torch.as_tensor(np.concatenate([train, val]))
    assert torch.equal(ours, expected[order]) and torch.equal(labels, torch.as_tensor(d.target)[order])
