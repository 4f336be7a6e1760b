"""Initialisations against theory: weight std from fan-in/fan-out, zero biases, untouched default."""

import math

import pytest
import torch
from torch import nn

from nncmp.registry.inits import ALIASES, INITS, apply_init, canonical_init
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
    assert records[-1]["status"] == "ok" and records[-1]["init"] == canonical_init(name)
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
