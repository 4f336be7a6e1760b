"""The built-in sequence models: a decoder-only transformer (pre-LayerNorm GPT) and recurrent nets (GRU, LSTM).

They read token ids (int64 (N, T) in [0, vocab), through an nn.Embedding) or float sequences ((N, T, F), or
(N, T) read as F = 1, through an nn.Linear projection), and return an output per position (N, T, n_out), or
with the model arg pool=last/mean one per sequence (N, n_out), for data with one label per example.

No module registers a buffer: nncmp stacks runs of a model with torch.func, which stacks parameters only.
Imported only when one of these models is built (models.py is read by --help and must not import torch).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from nncmp.registry.model_spec import MODEL_ARGS, ModelSpec

POOLS = ("none", "last", "mean")


def merged_args(name: str, spec: ModelSpec) -> dict[str, Any]:
    """The model args of a built-in: the run's --model-arg's over MODEL_ARGS[name]'s defaults, each checked
    against its default's kind. ValueError of one line otherwise."""
    defaults = MODEL_ARGS[name]
    given = dict(spec.model_args)
    for key in given:
        if key not in defaults:
            raise ValueError(f"--model-arg {key}: {name} takes no argument {key!r} (it takes: {', '.join(defaults)})")
    args = {**defaults, **given}
    for key, default in defaults.items():
        value = args[key]
        if key == "pool":
            # parse_value reads "none" as None
            value = args[key] = "none" if value is None else value
            if value not in POOLS:
                raise ValueError(f"--model-arg pool={value}: {name} pools by one of {', '.join(POOLS)}")
        elif isinstance(default, bool):
            if not isinstance(value, bool):
                raise ValueError(f"--model-arg {key}={value}: {name} takes true or false for {key}")
        elif isinstance(default, int) and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
            raise ValueError(f"--model-arg {key}={value}: {name} takes a positive integer for {key}")
    return args


def _features(name: str, shape: tuple[int, ...], vocab: int) -> tuple[int, int]:
    """(sequence length T, features per position F: 0 for token ids) of one example of `shape`."""
    if vocab > 0:
        if len(shape) != 1:
            raise ValueError(f"{name} reads token ids as sequences of shape (T,), got {shape}")
        return shape[0], 0
    if len(shape) not in (1, 2):
        raise ValueError(f"{name} reads sequences of shape (T,) or (T, features), got {shape}")
    return shape[0], shape[1] if len(shape) == 2 else 1


def _input(vocab: int, features: int, d_model: int) -> nn.Module:
    return nn.Embedding(vocab, d_model) if vocab > 0 else nn.Linear(features, d_model)


def _dropout(p: float) -> nn.Module:
    # No Dropout module at p = 0: a random layer keeps a model out of the torch.func stack.
    return nn.Dropout(p) if p > 0 else nn.Identity()


def _pool(h: torch.Tensor, pool: str) -> torch.Tensor:
    """h (..., T, d) → per position (pool none), or the last position's / the mean over positions."""
    if pool == "last":
        return h[..., -1, :]
    if pool == "mean":
        return h.mean(dim=-2)
    return h


class CausalSelfAttention(nn.Module):
    def __init__(self, d_model: int, n_head: int):
        super().__init__()
        self.n_head = n_head
        self.qkv = nn.Linear(d_model, 3 * d_model)
        self.proj = nn.Linear(d_model, d_model)
        self.proj.nncmp_residual = True  # the gpt2 init scales residual projections by 1/sqrt(2·n_layer)
        # the scores' scale: None is 1/sqrt(d_head) (F.scaled_dot_product_attention's default); μP sets
        # sqrt(base d_head)/d_head (registry/mup.py). A plain float, not a buffer: torch.func stacks parameters only
        self.scale: float | None = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        d = x.shape[-1]
        # (..., T, d) → (..., heads, T, d/heads); written over leading dims so it holds under vmap
        q, k, v = (t.unflatten(-1, (self.n_head, d // self.n_head)).transpose(-3, -2)
                   for t in self.qkv(x).split(d, dim=-1))
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True, scale=self.scale)
        return self.proj(y.transpose(-3, -2).flatten(-2))


class Block(nn.Module):
    def __init__(self, d_model: int, n_head: int, dropout: float):
        super().__init__()
        self.ln1 = nn.LayerNorm(d_model)
        self.attn = CausalSelfAttention(d_model, n_head)
        self.ln2 = nn.LayerNorm(d_model)
        self.mlp = nn.Sequential(nn.Linear(d_model, 4 * d_model), nn.GELU(), nn.Linear(4 * d_model, d_model))
        self.mlp[2].nncmp_residual = True
        self.drop = _dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.drop(self.attn(self.ln1(x)))
        return x + self.drop(self.mlp(self.ln2(x)))


class Transformer(nn.Module):
    """Decoder-only, pre-LayerNorm GPT: token (or projected feature) + learned position embeddings, n_layer
    blocks of causal self-attention and a 4x GELU MLP, a final LayerNorm, a bias-free head."""

    def __init__(self, *, length: int, vocab: int, features: int, n_out: int, n_layer: int, n_head: int,
                 d_model: int, tie: bool, pool: str, dropout: float, scalar_steps: bool):
        super().__init__()
        self.n_layer = n_layer  # a plain int, read by the gpt2 init (a buffer would keep it out of torch.func)
        self.pool = pool
        self.embed = _input(vocab, features, d_model)
        self.pos = nn.Embedding(length, d_model)
        self.drop = _dropout(dropout)
        self.blocks = nn.ModuleList(Block(d_model, n_head, dropout) for _ in range(n_layer))
        self.ln_f = nn.LayerNorm(d_model)
        self.head = nn.Linear(d_model, n_out, bias=False)
        self.tie = tie
        if tie:
            self.head.weight = self.embed.weight
            # named_parameters() names a shared weight once (embed.weight), so stacked or saved states hold
            # only that name; state_dict() and a strict load_state_dict() expect both
            self.register_load_state_dict_pre_hook(_tied_head_state)
        self.scalar_steps = scalar_steps  # float sequences of shape (T,): one feature per position

    def _apply(self, fn: Callable[[torch.Tensor], torch.Tensor], recurse: bool = True) -> Transformer:
        # Module._apply gives each use of a shared parameter its own copy when it cannot convert in place
        # (.to("meta"), as the torch.func stack's architecture-only copy is made): tie again
        super()._apply(fn, recurse)
        if self.tie:
            self.head.weight = self.embed.weight
        return self

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.scalar_steps:
            x = x.unsqueeze(-1)
        h = self.embed(x)
        t = h.shape[-2]
        if t > self.pos.num_embeddings:
            raise ValueError(f"transformer: sequences of {t} positions, built for at most {self.pos.num_embeddings}")
        # positions from arange at each call, not a registered buffer: torch.func stacks parameters only
        h = self.drop(h + self.pos(torch.arange(t, device=h.device)))
        for block in self.blocks:
            h = block(h)
        return self.head(_pool(self.ln_f(h), self.pool))


def _tied_head_state(module: nn.Module, state_dict: dict[str, Any], prefix: str, *_: Any) -> None:
    if prefix + "embed.weight" in state_dict:
        state_dict.setdefault(prefix + "head.weight", state_dict[prefix + "embed.weight"])


class Recurrent(nn.Module):
    """Embedding (or a Linear projection of float features) → nn.GRU / nn.LSTM (batch first) → Linear head."""

    def __init__(self, *, kind: str, vocab: int, features: int, n_out: int, d_model: int, hidden: int,
                 n_layer: int, pool: str, scalar_steps: bool):
        super().__init__()
        self.pool = pool
        self.embed = _input(vocab, features, d_model)
        cell = {"gru": nn.GRU, "lstm": nn.LSTM}[kind]
        self.rnn = cell(d_model, hidden, num_layers=n_layer, batch_first=True)
        self.head = nn.Linear(hidden, n_out)
        self.scalar_steps = scalar_steps  # float sequences of shape (T,): one feature per position

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.scalar_steps:
            x = x.unsqueeze(-1)
        h, _ = self.rnn(self.embed(x))
        return self.head(_pool(h, self.pool))


def build_transformer(spec: ModelSpec, shape: tuple[int, ...], n_out: int, vocab: int = 0) -> Transformer:
    args = merged_args("transformer", spec)
    length, features = _features("transformer", shape, vocab)
    n_layer, n_head, d_model = args["n_layer"], args["n_head"], args["d_model"]
    if d_model % n_head:
        raise ValueError(f"transformer: d_model={d_model} must be a multiple of n_head={n_head}")
    if args["tie"] and (vocab == 0 or n_out != vocab):
        raise ValueError("transformer: tie=true shares the token embedding with the output layer, so it needs token "
                         f"inputs and as many outputs as token ids (vocab {vocab}, outputs {n_out})")
    return Transformer(length=length, vocab=vocab, features=features, n_out=n_out, n_layer=n_layer, n_head=n_head,
                       d_model=d_model, tie=args["tie"], pool=args["pool"], dropout=spec.dropout,
                       scalar_steps=len(shape) == 1 and vocab == 0)


def build_recurrent(kind: str, spec: ModelSpec, shape: tuple[int, ...], n_out: int, vocab: int = 0) -> Recurrent:
    args = merged_args(kind, spec)
    _, features = _features(kind, shape, vocab)
    return Recurrent(kind=kind, vocab=vocab, features=features, n_out=n_out, d_model=args["d_model"],
                     hidden=args["hidden"], n_layer=args["n_layer"], pool=args["pool"],
                     scalar_steps=len(shape) == 1 and vocab == 0)


def build_gru(spec: ModelSpec, shape: tuple[int, ...], n_out: int, vocab: int = 0) -> Recurrent:
    return build_recurrent("gru", spec, shape, n_out, vocab)


def build_lstm(spec: ModelSpec, shape: tuple[int, ...], n_out: int, vocab: int = 0) -> Recurrent:
    return build_recurrent("lstm", spec, shape, n_out, vocab)

