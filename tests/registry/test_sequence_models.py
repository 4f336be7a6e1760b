"""The built-in sequence models: shapes on tokens and float sequences, causality, weight tying, model args,
determinism, and the torch.func stack their FUNC_STACK property promises (or, for the RNNs, does not)."""

import copy
import subprocess
import sys
from dataclasses import dataclass
from typing import Any

import pytest
import torch
from torch import nn
from torch.func import functional_call, stack_module_state, vmap

from nncmp.registry.model_spec import MODEL_ARGS
from nncmp.registry.models import (
    FUNC_STACK,
    HAS,
    HIDDEN_MATRICES,
    MODELS,
    PROPERTIES,
    TOKENS,
    WHAT,
    build_model,
)

SEQUENCE = ("transformer", "gru", "lstm")
VOCAB, T, N = 11, 6, 3
SMALL = {"transformer": {"d_model": 16, "n_head": 2}, "gru": {"d_model": 8, "hidden": 12},
         "lstm": {"d_model": 8, "hidden": 12}}


@dataclass(frozen=True)
class Spec:
    """What a builder reads of a run (models.ModelSpec), without RunSpec's checks of the CLI."""

    model: str
    model_args: tuple[tuple[str, Any], ...] = ()
    dropout: float = 0.0
    hidden: tuple[int, ...] = ()
    act: str = "relu"
    batchnorm: bool = False


def build(model: str, shape: tuple[int, ...] = (T,), n_out: int = VOCAB, vocab: int = VOCAB, dropout: float = 0.0,
          **args: Any) -> nn.Module:
    spec = Spec(model, tuple(sorted({**SMALL[model], **args}.items())), dropout)
    return build_model(spec, shape, n_out, vocab=vocab)


def tokens(*shape: int) -> torch.Tensor:
    return torch.randint(0, VOCAB, shape, generator=torch.Generator().manual_seed(0))


def test_tables_describe_every_sequence_model():
    for name in SEQUENCE:
        assert name in MODELS and name in HAS and WHAT[name] and name in MODEL_ARGS
        assert {TOKENS, HIDDEN_MATRICES} <= PROPERTIES[name]
    assert FUNC_STACK in PROPERTIES["transformer"]
    assert FUNC_STACK not in PROPERTIES["gru"] and FUNC_STACK not in PROPERTIES["lstm"]
    assert MODEL_ARGS["transformer"] == {"n_layer": 2, "n_head": 4, "d_model": 128, "tie": False, "pool": "none"}
    assert "dropout" in HAS["transformer"]


def test_models_table_stays_torch_free_at_import():
    code = "import sys, nncmp.registry.models; sys.exit('torch' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0


@pytest.mark.parametrize("name", SEQUENCE)
@pytest.mark.parametrize("pool, shape", [("none", (N, T, 7)), ("last", (N, 7)), ("mean", (N, 7)), (None, (N, T, 7))])
def test_output_shape_on_tokens(name, pool, shape):
    model = build(name, n_out=7, pool=pool)  # None: how --model-arg reads "none"
    assert model(tokens(N, T)).shape == shape


@pytest.mark.parametrize("name", SEQUENCE)
def test_default_size_builds(name):
    model = build_model(Spec(name), (T,), VOCAB, vocab=VOCAB)
    assert model(tokens(2, T)).shape == (2, T, VOCAB)


@pytest.mark.parametrize("name", SEQUENCE)
@pytest.mark.parametrize("shape, x", [((T, 4), torch.randn(N, T, 4)), ((T,), torch.randn(N, T)),
                                      ((T, 1), torch.randn(N, T, 1))])
def test_float_sequences_go_through_a_linear_projection(name, shape, x):
    model = build(name, shape=shape, n_out=2, vocab=0)
    assert isinstance(model.embed, nn.Linear) and model.embed.in_features == (shape[1] if len(shape) == 2 else 1)
    assert not any(isinstance(m, nn.Embedding) and m is model.embed for m in model.modules())
    assert model(x).shape == (N, T, 2)
    assert build(name, shape=shape, n_out=2, vocab=0, pool="mean")(x).shape == (N, 2)


@pytest.mark.parametrize("name", SEQUENCE)
def test_outputs_are_causal(name):
    """Changing token t+1 changes no output at positions <= t, and does change the one at t+1."""
    torch.manual_seed(0)
    model = build(name, n_layer=2).eval()
    x = tokens(N, T)
    for t in range(T - 1):
        changed = x.clone()
        changed[:, t + 1] = (changed[:, t + 1] + 1) % VOCAB
        a, b = model(x), model(changed)
        torch.testing.assert_close(a[:, : t + 1], b[:, : t + 1], rtol=0, atol=1e-6)
        assert not torch.allclose(a[:, t + 1], b[:, t + 1])


def test_transformer_architecture():
    model = build("transformer", n_layer=3)
    assert model.n_layer == 3 and isinstance(model.n_layer, int) and len(model.blocks) == 3
    assert isinstance(model.embed, nn.Embedding) and model.embed.weight.shape == (VOCAB, 16)
    assert model.pos.weight.shape == (T, 16)
    assert model.head.bias is None and model.head.weight.shape == (VOCAB, 16)
    assert len([m for m in model.modules() if isinstance(m, nn.LayerNorm)]) == 2 * 3 + 1
    residual = [m for m in model.modules() if getattr(m, "nncmp_residual", False)]
    assert len(residual) == 2 * 3 and all(isinstance(m, nn.Linear) for m in residual)
    assert {(m.in_features, m.out_features) for m in residual} == {(16, 16), (64, 16)}


def test_shorter_sequences_run_longer_ones_are_refused():
    model = build("transformer")
    assert model(tokens(N, T - 2)).shape == (N, T - 2, VOCAB)
    with pytest.raises(ValueError, match="at most 6"):
        model(tokens(N, T + 1))


def test_tie_shares_the_embedding_with_the_head():
    model = build("transformer", tie=True)
    assert model.head.weight is model.embed.weight
    untied = build("transformer")
    assert sum(p.numel() for p in untied.parameters()) - sum(p.numel() for p in model.parameters()) == VOCAB * 16
    with pytest.raises(ValueError, match="as many outputs as token ids"):
        build("transformer", n_out=VOCAB + 1, tie=True)
    with pytest.raises(ValueError, match="token inputs"):
        build("transformer", shape=(T, 3), vocab=0, tie=True)


@pytest.mark.parametrize("name, args, match", [
    ("transformer", {"d_model": 10, "n_head": 4}, "multiple of n_head"),
    ("transformer", {"heads": 2}, "takes no argument 'heads'"),
    ("transformer", {"pool": "max"}, "pool=max"),
    ("transformer", {"n_layer": 0}, "positive integer"),
    ("transformer", {"d_model": 16.0}, "positive integer"),
    ("transformer", {"n_head": True}, "positive integer"),
    ("transformer", {"tie": "yes"}, "true or false"),
    ("gru", {"hidden": -1}, "positive integer"),
    ("lstm", {"tie": True}, "takes no argument 'tie'"),
    ("gru", {"pool": 1}, "pool=1"),
])
def test_bad_model_args_are_one_line_value_errors(name, args, match):
    with pytest.raises(ValueError, match=match) as info:
        build(name, **args)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("name", SEQUENCE)
def test_bad_shapes_are_value_errors(name):
    with pytest.raises(ValueError, match=r"\(T,\)"):
        build(name, shape=(T, 2))  # token ids with features
    with pytest.raises(ValueError, match=r"\(T, features\)"):
        build(name, shape=(1, T, 2), vocab=0)


@pytest.mark.parametrize("name", SEQUENCE)
def test_builders_are_deterministic_under_the_seed(name):
    def weights(seed: int) -> dict[str, torch.Tensor]:
        torch.manual_seed(seed)
        return build(name).state_dict()

    a, b, c = weights(0), weights(0), weights(1)
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert any(not torch.equal(a[k], c[k]) for k in a)


@pytest.mark.parametrize("name", SEQUENCE)
def test_no_buffers(name):
    for dropout in (0.0, 0.2):
        assert list(build(name, dropout=dropout).buffers()) == []


def test_dropout_on_embeddings_and_residual_branches_only_when_asked():
    assert not any(isinstance(m, nn.Dropout) for m in build("transformer").modules())
    model = build("transformer", dropout=0.25, n_layer=2)
    drops = [m for m in model.modules() if isinstance(m, nn.Dropout)]
    assert len(drops) == 1 + 2 and all(m.p == 0.25 for m in drops)
    model.eval()
    x = tokens(N, T)
    assert torch.equal(model(x), model(x))
    model.train()
    assert not torch.equal(model(x), model(x))


@pytest.mark.parametrize("tie, pool", [(False, "none"), (True, "none"), (False, "last")])
def test_transformer_stacks_exactly_with_torch_func(tie, pool):
    """What FUNC_STACK promises, through the engine's own FuncStack (stack_module_state, vmap over
    functional_call): K models of different seeds give each model's outputs and gradients, and each member
    comes back out as its model."""
    from nncmp.training.engines.func_stacked import FuncStack, why_not

    k = 3
    models = []
    for seed in range(k):
        torch.manual_seed(seed)
        models.append(build("transformer", tie=tie, pool=pool))
    assert why_not(models[0]) is None
    stack = FuncStack(models)
    x = torch.randint(0, VOCAB, (k, 4, T), generator=torch.Generator().manual_seed(1))
    out = stack.forward(x, training=True)
    out.square().mean(dim=tuple(range(1, out.ndim))).sum().backward()
    for j, model in enumerate(models):
        single = model(x[j])
        single.square().mean().backward()
        torch.testing.assert_close(out[j], single, rtol=1e-5, atol=1e-6)
        named = dict(model.named_parameters())  # tied: the head's weight is the embedding's, named once
        assert set(named) == set(stack.names)
        for name, p in zip(stack.names, stack.parameters()):
            torch.testing.assert_close(p.grad[j], named[name].grad, rtol=1e-4, atol=1e-6)
        member = stack.member(j, build("transformer", tie=tie, pool=pool))
        assert (member.head.weight is member.embed.weight) == tie
        torch.testing.assert_close(member(x[j]), single)


def test_tie_survives_conversions_and_loads():
    model = build("transformer", tie=True)
    meta = copy.deepcopy(model).to("meta")
    assert meta.head.weight is meta.embed.weight
    fresh = build("transformer", tie=True)
    fresh.load_state_dict({n: p.detach() for n, p in model.named_parameters()})  # embed.weight only
    assert fresh.head.weight is fresh.embed.weight and torch.equal(fresh.head.weight, model.embed.weight)
    fresh.load_state_dict(model.state_dict())  # both names
    assert fresh.head.weight is fresh.embed.weight


@pytest.mark.parametrize("name", ["gru", "lstm"])
def test_recurrent_models_do_not_stack_with_torch_func(name):
    """Why gru and lstm lack FUNC_STACK: vmap has no batching rule for aten::gru / aten::lstm. Should torch add
    one, this fails, and the property can be given."""
    models = [build(name), build(name)]
    stacked, _ = stack_module_state(models)
    base = copy.deepcopy(models[0]).to("meta")
    with pytest.raises(RuntimeError, match=f"Batching rule not implemented for aten::{name}"):
        vmap(lambda p, xb: functional_call(base, p, (xb,)))(stacked, tokens(2, 4, T))
