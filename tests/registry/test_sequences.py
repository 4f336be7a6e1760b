"""Token-sequence datasets: modular addition, multi-query associative recall, and text:FILE."""

import hashlib

import pytest
import torch

from nncmp.errors import DataError
from nncmp.registry.data import IGNORE_INDEX
from nncmp.registry.datasets import DATASETS, load
from nncmp.registry.sequences import load_modadd, load_mqar, load_text

# --- modadd ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("p", "fraction", "n_train"), [(113, 0.3, 3831), (97, 0.5, 4704), (7, 0.3, 15)])
def test_modadd_splits_partition_every_pair_once(p, fraction, n_train):
    data = load_modadd(p=p, train_fraction=fraction)
    assert (data.n_train, len(data.x_val)) == (n_train, p * p - n_train)
    assert (data.shape, data.classes, data.vocab, data.task) == ((3,), p + 1, p + 1, "classification")
    x = torch.cat([data.x_train, data.x_val])
    assert x.dtype == torch.long and data.y_train.dtype == torch.long
    pairs = sorted((a * p + b) for a, b in x[:, :2].tolist())
    assert pairs == list(range(p * p))
    assert (x[:, 2] == p).all() and x.min() >= 0 and x.max() < data.vocab
    assert dict(data.info) == {"p": p, "train_fraction": fraction}


def test_modadd_targets_the_sum_at_the_last_position_only():
    data = load_modadd(p=97, train_fraction=0.5)
    for x, y in ((data.x_train, data.y_train), (data.x_val, data.y_val)):
        assert y.shape == x.shape
        assert (y[:, :2] == IGNORE_INDEX).all()
        assert torch.equal(y[:, 2], (x[:, 0] + x[:, 1]) % 97)


def test_modadd_is_deterministic():
    a, b = load_modadd(), load_modadd()
    assert torch.equal(a.x_train, b.x_train) and torch.equal(a.y_val, b.y_val)


def test_modadd_entry_matches_the_data():
    entry, data = DATASETS["modadd"], load_modadd(**DATASETS["modadd"].args)
    assert entry.args == {"p": 113, "train_fraction": 0.3} and entry.inputs == "tokens" and entry.cite
    assert (entry.shape, entry.classes) == (data.shape, data.classes)
    assert entry.sizes == f"{data.n_train} / {len(data.x_val)}"


@pytest.mark.parametrize(("args", "problem"), [
    ({"p": 1}, "p must be an integer from 2 to 1000"),
    ({"p": 1001}, "p must be an integer"),
    ({"p": 7.5}, "p must be an integer"),
    ({"p": True}, "p must be an integer"),
    ({"train_fraction": 0.0}, "train_fraction must be a number between 0 and 1"),
    ({"train_fraction": 1}, "train_fraction must be a number between 0 and 1"),
    ({"train_fraction": "half"}, "train_fraction must be"),
    ({"p": 2, "train_fraction": 0.1}, "both need at least one"),
    ({"p": 2, "train_fraction": 0.9}, "both need at least one"),
])
def test_modadd_refuses_bad_arguments(args, problem):
    with pytest.raises(DataError, match=problem) as e:
        load_modadd(**args)
    assert "\n" not in str(e.value)


def test_modadd_loads_through_the_registry():
    data = load("modadd", args=(("p", 7),))
    assert (data.name, data.classes, data.n_train + len(data.x_val)) == ("modadd", 8, 49)
    assert load("modadd", args=(("p", 7),)) is data


# --- mqar -----------------------------------------------------------------------------------------------


def _check_recall(x, y, pairs, vocab):
    """Every target sits at a query, a key of the context, and is the value paired with it there."""
    context = 2 * pairs
    for seq, target in zip(x.tolist(), y.tolist()):
        keys, values = seq[0:context:2], seq[1:context:2]
        assert len(set(keys)) == pairs and all(1 <= k < vocab // 2 for k in keys)
        assert len(set(values)) == pairs and all(vocab // 2 <= v < vocab for v in values)
        paired = dict(zip(keys, values))
        assert target[:context] == [IGNORE_INDEX] * context
        queries = [(seq[t], target[t]) for t in range(context, len(seq)) if target[t] != IGNORE_INDEX]
        assert queries and all(paired[key] == value for key, value in queries)
        assert len({key for key, _ in queries}) == len(queries)  # each key is asked once at most
        others = [seq[t] for t in range(context, len(seq)) if target[t] == IGNORE_INDEX]
        assert set(others) <= {0}  # pad, never a key or a value
    return len(queries)


def test_mqar_targets_are_the_values_paired_with_the_queried_keys():
    data = load_mqar()
    assert (data.n_train, len(data.x_val), data.shape, data.classes, data.vocab) == (2000, 500, (32,), 64, 64)
    for x, y in ((data.x_train, data.y_train), (data.x_val, data.y_val)):
        assert x.dtype == y.dtype == torch.long and x.shape == y.shape
        assert x.min() >= 0 and x.max() < 64
        assert _check_recall(x, y, 8, 64) == 8  # room for all: every key is queried
    entry = DATASETS["mqar"]
    assert (entry.shape, entry.classes, entry.sizes) == (data.shape, data.classes, "2000 / 500")
    assert dict(data.info) == {**entry.args, "queries": 8}


def test_mqar_with_room_for_fewer_queries_than_pairs():
    data = load_mqar(vocab=20, seq_len=13, pairs=5, n_train=50, n_val=10)
    assert _check_recall(data.x_train, data.y_train, 5, 20) == 3


def test_mqar_is_deterministic_and_splits_differ():
    a, b = load_mqar(n_train=100, n_val=50), load_mqar(n_train=100, n_val=50)
    assert torch.equal(a.x_train, b.x_train) and torch.equal(a.y_val, b.y_val)
    assert not torch.equal(a.x_train[:50], a.x_val)


@pytest.mark.parametrize(("args", "problem"), [
    ({"pairs": 40}, "needs 40 distinct keys, but vocab=64 has 31"),
    ({"seq_len": 16}, "seq_len=16 holds no query after 8 key-value pairs; use seq_len >= 17"),
    ({"vocab": 3}, "vocab must be an integer >= 4"),
    ({"n_train": 0}, "n_train must be an integer >= 1"),
    ({"n_val": 2.5}, "n_val must be an integer"),
    ({"n_train": 10**6, "seq_len": 10**3}, "tokens is more than"),
])
def test_mqar_refuses_bad_arguments(args, problem):
    with pytest.raises(DataError, match=problem):
        load_mqar(**args)


# --- text:FILE ------------------------------------------------------------------------------------------


def test_text_vocabulary_split_and_next_character_targets(tmp_path):
    body = "hello world, " * 15  # 195 characters
    text = body + "Z" * 5  # 200: 180 train, 20 val; Z only in the validation part
    path = tmp_path / "tiny.txt"
    path.write_text(text, encoding="utf-8")
    data = load_text(path, block_size=8)
    vocabulary = sorted(set(text))
    info = dict(data.info)
    assert info["vocabulary"] == "".join(vocabulary) and "Z" in info["vocabulary"]
    assert info["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest() and info["characters"] == 200
    assert (data.name, data.shape, data.vocab, data.classes, data.token) == ("tiny.txt", (8,), len(vocabulary),
                                                                            len(vocabulary), "character")
    ids = torch.tensor([vocabulary.index(c) for c in text])
    # Blocks of 8 inside each part, targets shifted by one and never crossing the split at 180.
    assert (data.n_train, len(data.x_val)) == (179 // 8, 19 // 8)
    assert torch.equal(data.x_train[1], ids[8:16]) and torch.equal(data.y_train[1], ids[9:17])
    assert torch.equal(data.x_val[0], ids[180:188]) and torch.equal(data.y_val[0], ids[181:189])
    assert torch.equal(data.x_val[1], ids[188:196]) and torch.equal(data.y_val[1], ids[189:197])
    assert torch.equal(data.x_train[:, 1:], data.y_train[:, :-1])
    assert data.y_val[1][-2:].tolist() == [vocabulary.index("Z")] * 2  # text[195:197], encoded like the rest
    assert (data.y_train != IGNORE_INDEX).all() and data.x_train.dtype == torch.long


def test_text_default_block_and_unicode(tmp_path):
    path = tmp_path / "u.txt"
    path.write_text("αβγ δ\n" * 300, encoding="utf-8")  # 1800 characters: 180 to validate
    data = load_text(path)
    assert data.shape == (128,) and len(data.x_val) == 1
    assert dict(data.info)["vocabulary"] == "\n αβγδ"


def test_text_through_the_registry(tmp_path):
    path = tmp_path / "t.txt"
    path.write_text("abcab" * 40)
    data = load(f"text:{path}", block_size=4)
    assert data.shape == (4,) and data.vocab == 3


@pytest.mark.parametrize(("content", "block", "problem"), [
    (None, 4, "no such file"),
    (b"", 4, "is empty"),
    (b"\x00\xff\xfe", 4, "binary"),
    (b"abc\xff\xfeabc" * 10, 4, "not UTF-8 text"),
    (b"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", 4, "only one distinct character"),
    (b"ab" * 10, 4, "validation part .* has 2 characters, one block needs 5; use --block-size 1 or less"),
    (b"ab" * 100, 128, "--block-size 128 is too long .* use --block-size 19 or less"),
    (b"abc", 1, "too short"),
])
def test_text_refuses_bad_files(tmp_path, content, block, problem):
    path = tmp_path / "f.txt"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(DataError, match=problem) as e:
        load_text(path, block_size=block)
    assert "\n" not in str(e.value)
