"""Model builders: the course's architectures, adapting to the data's shape."""

import pytest
import torch
from torch import nn

from nncmp.config.run import RunSpec
from nncmp.registry.models import build_model


def layers(model, kind):
    return [m for m in model.modules() if isinstance(m, kind)]


def test_default_mlp_is_the_course_simplenn():
    model = build_model(RunSpec(), (1, 28, 28), 10)
    assert [(m.in_features, m.out_features) for m in layers(model, nn.Linear)] == [(784, 256), (256, 128), (128, 10)]
    assert len(layers(model, nn.ReLU)) == 2
    assert model(torch.zeros(3, 1, 28, 28)).shape == (3, 10)


def test_mlp_options_batchnorm_dropout_activation():
    model = build_model(RunSpec(hidden=(32,), batchnorm=True, dropout=0.2, act="tanh"), (1, 8, 8), 10)
    kinds = [type(m) for m in model]
    assert kinds == [nn.Flatten, nn.Linear, nn.BatchNorm1d, nn.Tanh, nn.Dropout, nn.Linear]


@pytest.mark.parametrize("act, cls", [("relu", nn.ReLU), ("leaky-relu", nn.LeakyReLU), ("elu", nn.ELU),
                                      ("tanh", nn.Tanh), ("sigmoid", nn.Sigmoid)])
def test_activations(act, cls):
    assert layers(build_model(RunSpec(act=act), (1, 28, 28), 10), cls)


@pytest.mark.parametrize("shape", [(1, 28, 28), (1, 8, 8), (3, 32, 32)])
def test_cnn_adapts_to_channels_and_size(shape):
    model = build_model(RunSpec(model="cnn"), shape, 10)
    convs = layers(model, nn.Conv2d)
    assert [(c.in_channels, c.out_channels) for c in convs] == [(shape[0], 64), (64, 128)]
    assert len(layers(model, nn.BatchNorm2d)) == 2
    model.eval()
    assert model(torch.zeros(2, *shape)).shape == (2, 10)


def test_logreg_and_linear():
    logreg = build_model(RunSpec(model="logreg"), (1, 8, 8), 10)
    assert [(m.in_features, m.out_features) for m in layers(logreg, nn.Linear)] == [(64, 10)]
    linear = build_model(RunSpec(model="linear", dataset="toy-regression"), (2,), 1)
    (layer,) = layers(linear, nn.Linear)
    assert layer.bias is None and layer.weight.shape == (1, 2)
