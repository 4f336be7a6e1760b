"""A user's token data: integer inputs stay integer (token ids for an nn.Embedding), labels per position are
used as they are, --classes (or an npz's n_classes) numbers the classes instead of counting them."""

import numpy as np
import pytest
import torch

from nncmp.errors import DataError
from nncmp.registry.data import IGNORE_INDEX
from nncmp.registry.user_data import load_user, make_data


def test_signed_integer_inputs_are_token_ids_and_bytes_are_features():
    x = np.array([[3, 1, 0], [2, 2, 7]] * 5, dtype=np.int64)
    y = np.array([0, 1] * 5)
    data = make_data("t", x, y, x, y)
    assert data.x_train.dtype == torch.long and data.vocab == 8
    images = make_data("i", x.astype(np.uint8), y, x.astype(np.uint8), y)
    assert images.x_train.dtype == torch.float32 and images.vocab == 0


def test_labels_per_position_are_never_renumbered():
    # A vocabulary of 76 characters where the training split uses only some: ids stay, classes = largest + 1.
    x = np.arange(40).reshape(10, 4) % 70
    y = (x + 1) % 70
    y_val = y.copy()
    y_val[0, 0] = 75  # a character only the validation part has
    data = make_data("chars", x, y, x, y_val)
    assert data.per_token and data.classes == 76
    assert torch.equal(data.y_train, torch.as_tensor(y)) and int(data.y_val[0, 0]) == 75


def test_classes_given_keep_one_label_per_example_as_they_are():
    y = np.array([1, 3] * 6)
    x = np.random.RandomState(0).randn(12, 2)
    counted = make_data("c", x, y, x, y)
    assert counted.classes == 2 and set(counted.y_train.tolist()) == {0, 1}
    given = make_data("c", x, y, x, y, classes=5)
    assert given.classes == 5 and set(given.y_train.tolist()) == {1, 3}
    with pytest.raises(DataError, match="--classes 3 is too few: the labels go up to 3"):
        make_data("c", x, y, x, y, classes=3)


def test_an_npz_may_state_its_classes(tmp_path):
    x = np.random.RandomState(0).randn(12, 2)
    y = np.array([0, 2] * 6)
    np.savez(tmp_path / "d.npz", x_train=x, y_train=y, x_val=x, y_val=y, n_classes=4)
    data = load_user(str(tmp_path / "d.npz"))
    assert data.classes == 4 and set(data.y_train.tolist()) == {0, 2}


def test_a_loader_takes_data_args(tmp_path):
    (tmp_path / "gen.py").write_text(
        "import numpy as np\n"
        "def make(n=10, shift=0):\n"
        "    x = np.arange(n * 2).reshape(n, 2) % 5 + shift\n"
        "    return x, x[:, 0] % 2\n")
    data = load_user(f"{tmp_path}/gen.py:make", args={"n": 20, "shift": 1})
    assert data.n_train == 16 and int(data.x_train.min()) >= 1


@pytest.mark.parametrize("x, y, y_val, message", [
    (np.array([[-1, 2]] * 4), np.array([0, 1] * 2), None, "token ids and must be >= 0; the smallest is -1"),
    (np.zeros((4, 2), np.int64), np.full((4, 2), IGNORE_INDEX), None, "every label is -100"),
    (np.zeros((4, 2), np.int64), np.zeros((4, 2), np.int64), np.zeros(4, np.int64), "both one per example, or both"),
    (np.zeros((4, 2), np.int64), np.full((4, 2), -3), None, "label -3 is negative"),
])
def test_bad_token_data_is_one_line(x, y, y_val, message):
    with pytest.raises(DataError, match=message):
        make_data("bad", x, y, x, y if y_val is None else y_val)


def test_an_unseen_validation_label_suggests_classes():
    x = np.random.RandomState(0).randn(6, 2)
    with pytest.raises(DataError, match="pass --classes N to use them as they are"):
        make_data("c", x, np.array([0, 1] * 3), x, np.array([0, 1, 2] * 2))
