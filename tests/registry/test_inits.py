"""Initialisations against theory: weight std from fan-in/fan-out, zero biases, untouched default."""

import math

import pytest
import torch
from torch import nn

from nncmp.registry.inits import ALIASES, INITS, KINDS, apply_init, canonical_init, touches
from tests.conftest import TINY_SYNTHETIC

FAN_IN, FAN_OUT = 400, 300


def expected_std(name: str) -> float:
    return {
        "xavier-uniform": math.sqrt(2 / (FAN_IN + FAN_OUT)),
        "xavier-normal": math.sqrt(2 / (FAN_IN + FAN_OUT)),
        "he-uniform": math.sqrt(2 / FAN_IN),
        "he-normal": math.sqrt(2 / FAN_IN),
        "lecun": math.sqrt(1 / FAN_IN),
        "orthogonal": math.sqrt(1 / FAN_IN),  # rows orthonormal in R^fan_in: mean square 1/fan_in
        "small": 0.01,
        "zeros": 0.0,
        "gpt2": 0.02,  # a layer not named as a residual projection
    }[name]


@pytest.mark.parametrize("name", [n for n in INITS if n != "default"])
def test_linear_weight_std_matches_theory(name):
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(FAN_IN, FAN_OUT))
    apply_init(model, name)
    w = model[0].weight
    assert w.std().item() == pytest.approx(expected_std(name), rel=0.03, abs=1e-12)
    assert w.mean().item() == pytest.approx(0.0, abs=0.003)
    assert torch.count_nonzero(model[0].bias) == 0


def test_uniform_variants_are_uniform_with_the_right_bound():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(FAN_IN, FAN_OUT))
    apply_init(model, "he-uniform")
    bound = math.sqrt(6 / FAN_IN)
    assert model[0].weight.abs().max().item() <= bound
    assert model[0].weight.abs().max().item() > 0.99 * bound


def test_orthogonal_rows_are_orthonormal():
    model = nn.Sequential(nn.Linear(FAN_IN, FAN_OUT))
    apply_init(model, "orthogonal")
    w = model[0].weight
    assert torch.allclose(w @ w.T, torch.eye(FAN_OUT), atol=1e-4)


def test_conv_weights_use_conv_fan_in():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(16, 64, kernel_size=3))
    apply_init(model, "he-normal")
    fan_in = 16 * 3 * 3
    assert model[0].weight.std().item() == pytest.approx(math.sqrt(2 / fan_in), rel=0.03)
    assert torch.count_nonzero(model[0].bias) == 0


def test_default_keeps_pytorch_init_including_biases():
    torch.manual_seed(0)
    reference = nn.Linear(FAN_IN, FAN_OUT)
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(FAN_IN, FAN_OUT))
    apply_init(model, "default")
    assert torch.equal(model[0].weight, reference.weight) and torch.equal(model[0].bias, reference.bias)
    assert torch.count_nonzero(model[0].bias) > 0


def test_batchnorm_is_left_alone():
    model = nn.Sequential(nn.Linear(10, 10), nn.BatchNorm1d(10))
    apply_init(model, "zeros")
    assert torch.equal(model[1].weight, torch.ones(10))


def test_aliases_follow_the_course():
    assert canonical_init("xavier") == "xavier-normal"
    assert canonical_init("he") == "he-normal"
    assert set(ALIASES.values()) <= set(INITS)


@pytest.mark.parametrize("name", list(INITS) + list(ALIASES))
def test_every_init_trains_on_tiny_data(name, tiny_synthetic):
    from nncmp.config.run import RunSpec
    from nncmp.training.engines.single import train

    records = train(RunSpec(**TINY_SYNTHETIC, init=name, optimizer="adam"), tiny_synthetic)
    # All-zero weights predict one class for every input: trained, but collapsed (the symmetry problem below).
    assert records[-1]["status"] == ("collapsed" if name == "zeros" else "ok")
    assert records[-1]["init"] == canonical_init(name)
    if name != "zeros":
        assert records[-1]["train_loss"] < records[0]["train_loss"]


def test_zeros_shows_the_symmetry_problem():
    """All-zero weights: every hidden unit computes the same thing, gets the same (zero) gradient, and
    stays identical, so the network cannot learn beyond the class prior."""
    from torch.optim.optimizer import register_optimizer_step_post_hook

    from nncmp.config.run import RunSpec
    from nncmp.registry.datasets import load
    from nncmp.training.engines.single import train

    data = load("digits")
    spec = RunSpec(dataset="digits", hidden=(16,), init="zeros", optimizer="adam", epochs=3)
    optimizers = []
    handle = register_optimizer_step_post_hook(lambda opt, args, kwargs: optimizers.append(opt))
    try:
        records = train(spec, data)
    finally:
        handle.remove()
    assert records[-1]["val_acc"] < 0.2
    first_layer = optimizers[-1].param_groups[0]["params"][0]  # the trained 16x64 weight
    assert first_layer.shape == (16, 64) and torch.count_nonzero(first_layer) == 0


# --- sequence models: which tensors each init touches (inits.py's docstring) -------------------------------

D_MODEL, N_LAYER, VOCAB, LENGTH = 64, 2, 50, 16


def sequence_model(name: str, **args):
    from nncmp.registry.models import build_model
    from tests.registry.test_sequence_models import Spec

    defaults = {"transformer": {"d_model": D_MODEL, "n_layer": N_LAYER, "n_head": 4},
                "gru": {"d_model": 16, "hidden": 32}, "lstm": {"d_model": 16, "hidden": 32}}[name]
    return build_model(Spec(name, tuple(sorted({**defaults, **args}.items()))), (LENGTH,), VOCAB, vocab=VOCAB)


def assert_normal(values: torch.Tensor, std: float) -> None:
    """Samples of N(0, std²), to ~5 standard errors of the estimates: the sample variance's relative standard
    error is sqrt(2/n), the mean's standard error std/sqrt(n)."""
    n = values.numel()
    var = values.double().pow(2).mean().item()  # about a known mean 0
    assert abs(var / std**2 - 1) < 5 * math.sqrt(2 / n), (var, std**2, n)
    assert abs(values.double().mean().item()) < 5 * std / math.sqrt(n)


def linear_weights(model, residual: bool) -> torch.Tensor:
    return torch.cat([m.weight.detach().flatten() for m in model.modules() if isinstance(m, nn.Linear)
                      and getattr(m, "nncmp_residual", False) == residual])


def test_gpt2_on_the_transformer_matches_theory():
    torch.manual_seed(0)
    model = sequence_model("transformer")
    apply_init(model, "gpt2")
    assert_normal(linear_weights(model, residual=False), 0.02)  # qkv, the MLP's first layer, the head
    assert_normal(torch.cat([model.embed.weight.detach().flatten(), model.pos.weight.detach().flatten()]), 0.02)
    assert_normal(linear_weights(model, residual=True), 0.02 / math.sqrt(2 * N_LAYER))
    assert all(torch.count_nonzero(m.bias) == 0 for m in model.modules() if isinstance(m, nn.Linear)
               and m.bias is not None)


def test_gpt2_finds_nanogpt_residual_projections_by_name():
    """A user's model: Linear layers named *c_proj, n_layer from the model's attribute, else half their count."""
    class Block(nn.Module):
        def __init__(self):
            super().__init__()
            self.c_attn, self.c_proj = nn.Linear(64, 192), nn.Linear(64, 64)
            self.mlp = nn.ModuleDict({"c_fc": nn.Linear(64, 256), "c_proj": nn.Linear(256, 64)})

    class Gpt(nn.Module):
        def __init__(self, n_layer: int | None):
            super().__init__()
            self.h = nn.ModuleList(Block() for _ in range(3))
            if n_layer is not None:
                self.n_layer = n_layer

    torch.manual_seed(0)
    counted, given = Gpt(None), Gpt(12)
    apply_init(counted, "gpt2")
    apply_init(given, "gpt2")
    for model, n_layer in ((counted, 3), (given, 12)):
        projections = [m.weight.detach().flatten() for b in model.h for m in (b.c_proj, b.mlp["c_proj"])]
        assert_normal(torch.cat(projections), 0.02 / math.sqrt(2 * n_layer))
        assert_normal(torch.cat([m.weight.detach().flatten() for b in model.h for m in (b.c_attn, b.mlp["c_fc"])]),
                      0.02)


@pytest.mark.parametrize("name", list(INITS))
def test_layernorm_is_left_alone_and_biases_zeroed(name):
    torch.manual_seed(0)
    model = sequence_model("transformer")
    apply_init(model, name)
    norms = [m for m in model.modules() if isinstance(m, nn.LayerNorm)]
    assert len(norms) == 2 * N_LAYER + 1
    assert all(torch.equal(m.weight, torch.ones(D_MODEL)) and torch.equal(m.bias, torch.zeros(D_MODEL))
               for m in norms)
    if name != "default":
        assert all(torch.count_nonzero(m.bias) == 0 for m in model.modules() if isinstance(m, nn.Linear)
                   and m.bias is not None)


@pytest.mark.parametrize("name", [n for n in INITS if n not in ("default", "gpt2")])
def test_embeddings_keep_pytorch_init_except_under_gpt2(name):
    torch.manual_seed(0)
    reference = sequence_model("transformer")
    torch.manual_seed(0)
    model = sequence_model("transformer")
    apply_init(model, name)
    assert torch.equal(model.embed.weight, reference.embed.weight) and torch.equal(model.pos.weight,
                                                                                   reference.pos.weight)
    # the attention projections and the head are Linear layers: they take the init
    assert not torch.equal(model.blocks[0].attn.qkv.weight, reference.blocks[0].attn.qkv.weight)
    assert not torch.equal(model.head.weight, reference.head.weight)


def test_tied_weight_is_drawn_once_as_the_head_or_the_embedding():
    torch.manual_seed(0)
    model = sequence_model("transformer", tie=True)
    apply_init(model, "he-normal")  # the shared weight as the head's Linear: fan-in d_model
    assert_normal(model.head.weight.detach().flatten(), math.sqrt(2 / D_MODEL))
    apply_init(model, "gpt2")
    assert_normal(model.embed.weight.detach().flatten(), 0.02)
    assert model.head.weight is model.embed.weight


def test_gpt2_keeps_a_padding_row_zero():
    model = nn.Sequential(nn.Embedding(VOCAB, 32, padding_idx=0), nn.Linear(32, 2))
    apply_init(model, "gpt2")
    assert torch.count_nonzero(model[0].weight[0]) == 0 and torch.count_nonzero(model[0].weight[1:]) > 0


@pytest.mark.parametrize("name, gates", [("gru", 3), ("lstm", 4)])
def test_recurrent_matrices_take_the_init_gate_by_gate(name, gates):
    torch.manual_seed(0)
    model = sequence_model(name, n_layer=2)
    apply_init(model, "orthogonal")
    rnn = model.rnn
    for layer in range(2):
        for block in getattr(rnn, f"weight_hh_l{layer}").detach().chunk(gates):  # (hidden, hidden): orthogonal
            torch.testing.assert_close(block @ block.T, torch.eye(32), atol=1e-4, rtol=0)
        for block in getattr(rnn, f"weight_ih_l{layer}").detach().chunk(gates):  # orthonormal columns
            torch.testing.assert_close(block.T @ block, torch.eye(block.shape[1]), atol=1e-4, rtol=0)
        assert torch.count_nonzero(getattr(rnn, f"bias_ih_l{layer}")) == 0
        assert torch.count_nonzero(getattr(rnn, f"bias_hh_l{layer}")) == 0
    apply_init(model, "xavier-normal")  # a gate's fan-out (hidden), not the stack's (gates · hidden)
    assert_normal(rnn.weight_hh_l0.detach().flatten(), math.sqrt(2 / (32 + 32)))
    apply_init(model, "gpt2")
    assert_normal(torch.cat([rnn.weight_ih_l0.detach().flatten(), rnn.weight_hh_l0.detach().flatten()]), 0.02)
    assert model(torch.zeros(2, LENGTH, dtype=torch.long)).shape == (2, LENGTH, VOCAB)


def test_default_leaves_a_sequence_model_alone():
    torch.manual_seed(0)
    reference = sequence_model("lstm").state_dict()
    torch.manual_seed(0)
    model = sequence_model("lstm")
    apply_init(model, "default")
    assert all(torch.equal(v, reference[k]) for k, v in model.state_dict().items())


def test_mlp_and_cnn_draws_are_unchanged():
    """The draws of what existed before sequence models: each Linear / Conv weight in module order, biases zero."""
    for build in (lambda: nn.Sequential(nn.Flatten(), nn.Linear(64, 32), nn.BatchNorm1d(32), nn.ReLU(),
                                        nn.Linear(32, 10)),
                  lambda: nn.Sequential(nn.Conv2d(1, 8, 3), nn.BatchNorm2d(8), nn.Flatten(), nn.Linear(8 * 36, 10))):
        for name in ("he-normal", "xavier-uniform", "orthogonal", "small"):
            torch.manual_seed(0)
            model = build()
            apply_init(model, name)
            torch.manual_seed(0)
            reference = build()
            fn_name, kwargs = INITS[name]
            with torch.no_grad():
                for m in reference.modules():
                    if isinstance(m, (nn.Linear, nn.Conv2d)):
                        getattr(nn.init, fn_name)(m.weight, **kwargs)
                        nn.init.zeros_(m.bias)
            ref = reference.state_dict()
            assert all(torch.equal(v, ref[k]) for k, v in model.state_dict().items())


@pytest.mark.parametrize("name", list(INITS) + list(ALIASES))
def test_touches_describes_every_kind_of_tensor(name):
    table = touches(name)
    assert list(table) == list(KINDS) and all(table.values())
    if canonical_init(name) == "default":
        assert all(v.startswith("kept") for v in table.values())
    else:
        assert table["LayerNorm, BatchNorm"].startswith("kept") and table["biases of those layers"] == "zero"
    assert ("0.02" in table["nn.Embedding weights"]) == (name == "gpt2")
