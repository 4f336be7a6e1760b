"""Datasets: the offline ones, and torchvision's loaders on small files written in their on-disk format."""

import pickle

import numpy as np
import pytest
import torch

from nncmp.registry.datasets import DATASETS, DataError, load, load_mnist5k, load_synthetic, write_mnist_files
from nncmp.registry.datasets import holdout as tuning_split


def test_mnist5k_split_is_stratified_and_fixed():
    data = load_mnist5k()
    assert (data.n_train, len(data.x_val)) == (4000, 1000)
    assert data.x_train.shape[1:] == (1, 28, 28) and data.x_train.dtype == torch.float32
    assert torch.bincount(data.y_val).tolist() == [100] * 10
    assert torch.bincount(data.y_train).tolist() == [400] * 10
    assert data.x_train.min() == -1.0 and data.x_train.max() == 1.0  # (x/255 - 0.5) / 0.5
    again = load_mnist5k()
    assert torch.equal(data.x_val, again.x_val) and torch.equal(data.y_train, again.y_train)


def test_load_is_cached():
    assert load("digits") is load("digits")


def test_digits():
    data = load("digits")
    assert (data.n_train, len(data.x_val), data.shape, data.classes) == (1437, 360, (1, 8, 8), 10)
    assert data.x_train.min() >= -1 and data.x_train.max() <= 1


def test_synthetic_size_and_determinism():
    a, b = load_synthetic(n=500), load_synthetic(n=500)
    assert (a.n_train, len(a.x_val), a.shape) == (400, 100, (1, 28, 28))
    assert torch.equal(a.x_train, b.x_train)


def test_toy_regression_is_the_course_data():
    data = load("toy-regression")
    assert data.task == "regression" and data.x_val is data.x_train
    assert data.x_train.tolist() == [[1, 2], [2, 3], [3, 4], [4, 5], [5, 6]]
    assert data.y_train.flatten().tolist() == [5, 7, 9, 11, 13]


def test_tuning_split_is_carved_from_training_data():
    data = load("digits")
    split = tuning_split(data)
    assert split.n_train + len(split.x_val) == data.n_train
    train_rows = {tuple(r) for r in data.x_train.flatten(1).tolist()}
    assert all(tuple(r) in train_rows for r in split.x_val.flatten(1).tolist())
    assert torch.bincount(split.y_val).min() > 0  # stratified: every class present


def random_images(n, h, w, seed):
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, size=(n, h, w), dtype=np.uint8), rng.integers(0, 10, size=n).astype(np.uint8)


@pytest.mark.parametrize("name, folder", [("mnist", "MNIST"), ("fashion-mnist", "FashionMNIST")])
def test_torchvision_mnist_format(tmp_path, name, folder):
    train_x, train_y = random_images(30, 28, 28, 0)
    test_x, test_y = random_images(12, 28, 28, 1)
    write_mnist_files(tmp_path, folder, train_x, train_y, train=True)
    write_mnist_files(tmp_path, folder, test_x, test_y, train=False)
    data = load(name, data_dir=tmp_path)
    assert (data.n_train, len(data.x_val), data.shape) == (30, 12, (1, 28, 28))
    expected = (torch.as_tensor(train_x).float() / 255 - 0.5) / 0.5
    assert torch.allclose(data.x_train[:, 0], expected)
    assert data.y_val.tolist() == test_y.tolist()


def test_torchvision_cifar10_format(tmp_path, monkeypatch):
    from torchvision.datasets import cifar

    # Generated files cannot match CIFAR-10's published MD5 sums; everything else is torchvision's own code.
    monkeypatch.setattr(cifar, "check_integrity", lambda *a, **k: True)
    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    rng = np.random.default_rng(0)
    batches = {}
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        images = rng.integers(0, 256, size=(4, 3, 32, 32), dtype=np.uint8)
        labels = rng.integers(0, 10, size=4).tolist()
        batches[name] = (images, labels)
        with open(folder / name, "wb") as f:
            pickle.dump({"data": images.reshape(4, -1), "labels": labels}, f)
    with open(folder / "batches.meta", "wb") as f:
        pickle.dump({"label_names": [f"c{i}" for i in range(10)]}, f)
    data = load("cifar10", data_dir=tmp_path)
    assert (data.n_train, len(data.x_val), data.shape) == (20, 4, (3, 32, 32))
    first = torch.as_tensor(batches["data_batch_1"][0][0]).float()
    assert torch.allclose(data.x_train[0], (first / 255 - 0.5) / 0.5)
    assert data.y_val.tolist() == batches["test_batch"][1]


@pytest.mark.parametrize("name", ["mnist", "fashion-mnist", "cifar10"])
def test_missing_torchvision_dataset_says_how_to_get_it(tmp_path, name):
    with pytest.raises(DataError, match="--download"):
        load(name, data_dir=tmp_path)


def test_registry_shapes_match_loaded_data():
    for name in ("mnist5k", "digits", "synthetic", "toy-regression"):
        data = load(name)
        assert DATASETS[name].shape == data.shape and DATASETS[name].classes == data.classes


def test_failed_download_is_one_clear_line(tmp_path, monkeypatch):
    import torchvision.datasets as tvd

    def offline(self):
        raise RuntimeError("Error downloading train-images-idx3-ubyte.gz:\nTried http://example/, got:\n"
                           "<urlopen error>\n")

    monkeypatch.setattr(tvd.MNIST, "download", offline)
    with pytest.raises(DataError) as info:
        load("mnist", data_dir=tmp_path, download=True)
    message = str(info.value)
    assert "\n" not in message and "download into" in message and "urlopen error" in message
