"""Token-sequence problems generated or read offline: modular addition (grokking), multi-query associative
recall (MQAR), and a character-level language model on any UTF-8 text file (`--dataset text:FILE`).

Each becomes the four tensors every dataset is (registry/data.py): inputs are int64 token ids in [0, vocab),
targets int64 of the inputs' shape, one class per position, IGNORE_INDEX where a position has nothing to
predict; classes == vocab, so a language-model head over the vocabulary fits every one of them. Everything
random is drawn from its own generator seeded 0: the data is part of the problem's definition, never of a
run's seed. Bad arguments are a DataError of one line, before anything trains.
"""

from __future__ import annotations

import hashlib
import numbers
from pathlib import Path
from typing import TYPE_CHECKING, Any

from nncmp.errors import DataError
from nncmp.registry.data import IGNORE_INDEX, Data

if TYPE_CHECKING:
    import torch

MODADD_MAX_P = 1000  # p² examples of 3 tokens: a million pairs at most
MQAR_MAX_TOKENS = 20_000_000  # (n_train + n_val) · seq_len: 160 MB for the inputs, as much for the targets
TEXT_BLOCK_SIZE = 128
TEXT_TRAIN_SHARE = (9, 10)  # the first 9/10 of the characters train, the rest validates
# Rows of uniform draws made at once when sampling without replacement, so a large vocabulary stays in memory.
_DRAW_CELLS = 1 << 22


def _integer(dataset: str, key: str, value: Any, low: int, high: int | None = None) -> int:
    # bool is an int to Python, but p=true is a mistake, not 1.
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < low or \
            (high is not None and value > high):
        span = f"from {low} to {high}" if high is not None else f">= {low}"
        raise DataError(f"{dataset}: --data-arg {key} must be an integer {span}, got {value!r}")
    return int(value)


def load_modadd(p: int = 113, train_fraction: float = 0.3, **_: Any) -> Data:
    """Modular addition, the grokking problem (Power et al. 2022; Nanda et al. 2023's setting is the default,
    Power et al.'s is p=97, train_fraction=0.5).

    Every pair (a, b), 0 <= a, b < p, is one example: x = [a, b, p] (token p is "="), y = [-100, -100,
    (a + b) mod p]. vocab = classes = p + 1. Split: a permutation of the p² pairs drawn from seed 0 (pair
    index a·p + b), the first round(train_fraction · p²) train and the rest validate.
    """
    import torch

    p = _integer("modadd", "p", p, 2, MODADD_MAX_P)
    if isinstance(train_fraction, bool) or not isinstance(train_fraction, numbers.Real) \
            or not 0 < train_fraction < 1:
        raise DataError(f"modadd: --data-arg train_fraction must be a number between 0 and 1 (exclusive), "
                        f"got {train_fraction!r}")
    total = p * p
    n_train = round(float(train_fraction) * total)
    if not 0 < n_train < total:
        raise DataError(f"modadd: train_fraction={train_fraction:g} of the {total} pairs of p={p} leaves "
                        f"{n_train} for training and {total - n_train} for validation; both need at least one")
    pair = torch.arange(total)
    a, b = pair // p, pair % p
    x = torch.stack([a, b, torch.full_like(a, p)], dim=1)
    y = torch.full_like(x, IGNORE_INDEX)
    y[:, 2] = (a + b) % p
    perm = torch.randperm(total, generator=torch.Generator().manual_seed(0))
    tr, va = perm[:n_train], perm[n_train:]
    info = (("p", p), ("train_fraction", float(train_fraction)))
    return Data("modadd", "classification", (3,), p + 1, x[tr], y[tr], x[va], y[va], vocab=p + 1, info=info)


def _choose(g: torch.Generator, rows: int, population: int, k: int) -> torch.Tensor:
    """Per row, k distinct integers of [0, population) in random order (int64, shape (rows, k))."""
    import torch

    out = torch.empty(rows, k, dtype=torch.long)
    step = max(1, _DRAW_CELLS // population)
    for start in range(0, rows, step):
        stop = min(rows, start + step)
        out[start:stop] = torch.rand(stop - start, population, generator=g).argsort(dim=1)[:, :k]
    return out


def load_mqar(vocab: int = 64, seq_len: int = 32, pairs: int = 8, n_train: int = 2000, n_val: int = 500,
              **_: Any) -> Data:
    """Multi-query associative recall (Arora et al. 2023, "Zoology"), as Zoology's `multiquery_ar` lays it
    out, simplified.

    Each sequence of `seq_len` tokens: `pairs` key-value pairs k1 v1 k2 v2 ..., keys drawn without replacement
    from [1, vocab // 2), values without replacement from [vocab // 2, vocab); then, in the seq_len - 2·pairs
    positions after them, q = min(pairs, seq_len - 2·pairs) of those keys again (all of them when there is
    room; else a random q), in random order, at q random positions; token 0 (never a key or a value) at the
    other positions. The target at a query is the value its key was paired with; -100 everywhere else.
    vocab = classes = `vocab`. One generator seeded 0 makes n_train + n_val sequences; the first n_train train.

    How it differs from Zoology's generator (zoology/data/multiquery_ar.py, num_passes=1):
    - Positions: Zoology puts queries only at even offsets after the context, each key's slot drawn by
      sequential weighted sampling from a power law (power_a=0.01: slots soon after the context, and keys
      early in the context tend to get early slots); here the q positions are a uniform random subset of all
      positions after the context, and the queried keys come in uniformly random order.
    - Non-query positions: Zoology's default (random_non_queries=True) fills them with uniform random tokens
      of the whole vocabulary, keys and values included; here they hold token 0.
    - Number of queries: Zoology queries every key once and requires seq_len >= 4·pairs, seq_len even and
      vocab > seq_len; here seq_len >= 2·pairs + 1 suffices, with fewer queries when fewer positions remain.
    - Splits: Zoology generates its training and test sets in separate calls with different seeds; here both
      come from one stream (seed 0), so a validation sequence repeats a training one only by chance.
    """
    import torch

    vocab = _integer("mqar", "vocab", vocab, 4)
    pairs = _integer("mqar", "pairs", pairs, 1)
    seq_len = _integer("mqar", "seq_len", seq_len, 3)
    n_train = _integer("mqar", "n_train", n_train, 1)
    n_val = _integer("mqar", "n_val", n_val, 1)
    key_end = vocab // 2  # keys are 1 .. key_end - 1, values key_end .. vocab - 1
    if pairs > key_end - 1:
        raise DataError(f"mqar: pairs={pairs} needs {pairs} distinct keys, but vocab={vocab} has {key_end - 1} "
                        f"(keys are 1..{key_end - 1}); use pairs <= {key_end - 1} or vocab >= {2 * (pairs + 1)}")
    if seq_len < 2 * pairs + 1:
        raise DataError(f"mqar: seq_len={seq_len} holds no query after {pairs} key-value pairs; use "
                        f"seq_len >= {2 * pairs + 1} (2·pairs + 1)")
    n = n_train + n_val
    if n * seq_len > MQAR_MAX_TOKENS:
        raise DataError(f"mqar: (n_train + n_val) · seq_len = {n * seq_len:,} tokens is more than "
                        f"{MQAR_MAX_TOKENS:,}; use fewer examples or shorter sequences")
    context, rest = 2 * pairs, seq_len - 2 * pairs
    q = min(pairs, rest)
    g = torch.Generator().manual_seed(0)
    keys = _choose(g, n, key_end - 1, pairs) + 1
    values = _choose(g, n, vocab - key_end, pairs) + key_end
    asked = _choose(g, n, pairs, q)  # which pairs are queried, in query order
    where = _choose(g, n, rest, q) + context
    x = torch.zeros(n, seq_len, dtype=torch.long)
    x[:, 0:context:2], x[:, 1:context:2] = keys, values
    x.scatter_(1, where, keys.gather(1, asked))
    y = torch.full_like(x, IGNORE_INDEX)
    y.scatter_(1, where, values.gather(1, asked))
    info = (("vocab", vocab), ("seq_len", seq_len), ("pairs", pairs), ("n_train", n_train), ("n_val", n_val),
            ("queries", q))
    return Data("mqar", "classification", (seq_len,), vocab, x[:n_train], y[:n_train], x[n_train:], y[n_train:],
                vocab=vocab, info=info)


def _read_text(path: Path, what: str) -> tuple[str, str]:
    """The file's characters and the sha256 of its bytes."""
    if not path.exists():
        raise DataError(f"{what}: no such file: {path}")
    if not path.is_file():
        raise DataError(f"{what}: {path} is not a file")
    try:
        raw = path.read_bytes()
    except OSError as e:
        raise DataError(f"{what}: cannot read {path} ({e.strerror or e})") from None
    if not raw:
        raise DataError(f"{what}: {path} is empty")
    # Valid UTF-8 can hold NUL, but no text does: such a file is binary (or UTF-16/32, which is not read).
    if b"\x00" in raw:
        raise DataError(f"{what}: {path} is a binary file (it has NUL bytes), not UTF-8 text")
    try:
        # utf-8-sig: a byte-order mark is an encoding artefact, not a character of the text to model.
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise DataError(f"{what}: {path} is binary or not UTF-8 text (byte 0x{raw[e.start]:02x} at offset "
                        f"{e.start} is not UTF-8)") from None
    if not text:
        raise DataError(f"{what}: {path} is empty")
    return text, hashlib.sha256(raw).hexdigest()


def _blocks(ids: torch.Tensor, block: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Non-overlapping blocks: x = ids[i:i+block], y = ids[i+1:i+block+1], for i = 0, block, 2·block, ..."""
    count = (len(ids) - 1) // block
    x = ids[:count * block].reshape(count, block)
    y = ids[1:count * block + 1].reshape(count, block)
    return x.contiguous(), y.contiguous()


def load_text(path: str | Path, block_size: int | None = None) -> Data:
    """A character-level language model on a UTF-8 text file (`--dataset text:FILE`).

    Vocabulary: the sorted set of the whole file's characters (so the validation part has no unknown
    character); token id = rank in it. The first 90% of the characters train, the last 10% validate; each part
    is cut into non-overlapping blocks of `block_size` (default 128) characters, x = chars[i:i+block] and
    y = chars[i+1:i+block+1] (the next character at every position; no IGNORE_INDEX), the targets staying
    inside their part. vocab = classes = the number of distinct characters; metrics are per character.
    """
    import numpy as np
    import torch

    path = Path(path)
    what = f"--dataset text:{path}"
    block = TEXT_BLOCK_SIZE if block_size is None else block_size
    if isinstance(block, bool) or not isinstance(block, numbers.Integral) or block < 1:
        raise DataError(f"{what}: --block-size must be an integer >= 1, got {block_size!r}")
    block = int(block)
    text, sha256 = _read_text(path, what)
    # Code points as an array: encoding a file of millions of characters takes milliseconds, not seconds.
    points = np.frombuffer(text.encode("utf-32-le"), dtype="<u4")
    alphabet = np.unique(points)
    if len(alphabet) < 2:
        raise DataError(f"{what}: {path} has only one distinct character ({chr(int(alphabet[0]))!r}); "
                        "a language model needs at least 2")
    ids = torch.as_tensor(np.searchsorted(alphabet, points).astype(np.int64))
    n = len(ids)
    split = n * TEXT_TRAIN_SHARE[0] // TEXT_TRAIN_SHARE[1]
    fits = min(split, n - split) - 1  # the largest block both parts hold one of (a block needs block + 1 chars)
    if fits < 1:
        raise DataError(f"{what}: {path} is too short: {n} characters leave {split} to train and {n - split} to "
                        "validate, and each part needs at least 2 (a character and the next)")
    if block > fits:
        part, size = ("validation part (the last 10%)", n - split) if n - split <= split else \
            ("training part (the first 90%)", split)
        raise DataError(f"{what}: --block-size {block} is too long for {path.name}: its {part} has {size} "
                        f"characters, one block needs {block + 1}; use --block-size {fits} or less")
    x_tr, y_tr = _blocks(ids[:split], block)
    x_va, y_va = _blocks(ids[split:], block)
    vocabulary = "".join(map(chr, alphabet.tolist()))
    info = (("vocabulary", vocabulary), ("sha256", sha256), ("characters", n), ("block_size", block))
    return Data(path.name, "classification", (block,), len(vocabulary), x_tr, y_tr, x_va, y_va,
                vocab=len(vocabulary), token="character", info=info)
