"""Per-layer statistics against theory (He et al. 2015; Glorot & Bengio 2010), by hand, and end to end."""

import json

import pandas as pd
import pytest
import torch

from nncmp.config.run import RunSpec
from nncmp.registry.datasets import load
from nncmp.registry.inits import apply_init
from nncmp.registry.models import build_model
from nncmp.training.layers import dead_fraction, layer_stats, saturated_fraction
from tests.numerics import assert_layers_close

WIDTH, DEPTH = 256, 20


def deep_net(init: str, act: str, depth: int = DEPTH, seed: int = 0):
    torch.manual_seed(seed)
    model = build_model(RunSpec(hidden=(WIDTH,) * depth, act=act), (WIDTH,), 10)
    apply_init(model, init)
    return model


def stats_for(init: str, act: str, depth: int = DEPTH):
    torch.manual_seed(1)
    x = torch.randn(1024, WIDTH)  # unit-variance input of the same width: every layer is n × n
    y = torch.randint(0, 10, (1024,))
    return layer_stats(deep_net(init, act, depth), x, y, act, torch.nn.CrossEntropyLoss())


def pre_activation_var(model, x):
    """Variance of each Linear layer's output (before its nonlinearity): He et al.'s Var[y_l]."""
    out = []
    h = x
    with torch.no_grad():
        for module in model:
            h = module(h)
            if isinstance(module, torch.nn.Linear):
                out.append(float(h.var()))
    return out[:-1]  # hidden layers


def test_he_keeps_relu_signal_and_xavier_halves_it_per_layer():
    torch.manual_seed(1)
    x = torch.randn(1024, WIDTH)
    he = pre_activation_var(deep_net("he", "relu"), x)
    xavier = pre_activation_var(deep_net("xavier", "relu"), x)
    # He et al. eq. 10: Var[y_l] = (n/2)·Var[w]·Var[y_{l-1}]·2 = Var[y_{l-1}] with Var[w] = 2/n.
    assert 1 / 3 < he[-1] / he[0] < 3
    # Xavier on equal widths: Var[w] = 1/n, so each ReLU layer halves the variance.
    per_layer = (xavier[-1] / xavier[0]) ** (1 / (len(xavier) - 1))
    assert per_layer == pytest.approx(0.5, abs=0.08)
    # The same seen through layer_stats (post-activation std): vanishes under Xavier, steady under He.
    he_rows, xavier_rows = stats_for("he", "relu"), stats_for("xavier", "relu")
    assert 1 / 3 < he_rows[-2]["act_std"] / he_rows[0]["act_std"] < 3
    assert xavier_rows[-2]["act_std"] / xavier_rows[0]["act_std"] < 0.5 ** ((DEPTH - 1) / 2) * 4


def test_xavier_keeps_tanh_gradients_within_a_small_factor():
    xavier, old = stats_for("xavier", "tanh")[:-1], stats_for("default", "tanh")[:-1]

    def spread(rows, stat):
        values = [r[stat] ** 2 for r in rows]
        return max(values) / min(values)

    # Glorot & Bengio eq. 14: with Var[w] = 2/(n_in + n_out) the variance of the weight gradients is the
    # same in every layer; here within a factor 2 over 20 tanh layers.
    assert spread(xavier, "grad_w_std") < 2
    # The gradient at each layer's output shrinks only by tanh'² (about 0.85 a layer) on its way back.
    assert spread(xavier, "grad_out_std") < 50
    # The older U[-1/sqrt(n), 1/sqrt(n)] scale (torch's default; a third of that variance) loses about
    # two thirds of the gradient's variance per layer: a factor of 1e9 over 20 layers.
    assert spread(old, "grad_out_std") > 1e6 and spread(old, "grad_w_std") > 1e4


def test_dead_and_saturated_fractions_by_hand():
    h = torch.tensor([[0.0, 1.0, 0.0, 2.0],
                      [0.0, 0.0, 0.0, 3.0],
                      [0.0, 5.0, 0.0, 0.0]])
    assert dead_fraction(h) == 0.5  # units 0 and 2 are 0 for every example
    assert dead_fraction(-h - 1) == 1.0
    t = torch.tensor([[0.995, -0.999, 0.5], [0.0, 0.99, -0.995]])
    assert saturated_fraction(t, "tanh") == pytest.approx(3 / 6)  # |h| > 0.99, strictly
    s = torch.tensor([[0.005, 0.5], [0.995, 0.99]])
    assert saturated_fraction(s, "sigmoid") == pytest.approx(2 / 4)


def test_layer_stats_match_a_hand_forward_and_backward():
    torch.manual_seed(0)
    model = build_model(RunSpec(hidden=(5, 4), act="tanh"), (3,), 2)
    x, y = torch.randn(8, 3), torch.tensor([0, 1] * 4)
    rows = layer_stats(model, x, y, "tanh", torch.nn.CrossEntropyLoss())
    assert [r["layer"] for r in rows] == [1, 2, 3] and [r["kind"] for r in rows] == ["hidden", "hidden", "output"]
    lin1, lin2, lin3 = (m for m in model if isinstance(m, torch.nn.Linear))
    z1 = x @ lin1.weight.T + lin1.bias
    h1 = torch.tanh(z1)
    z1.retain_grad()
    loss = torch.nn.functional.cross_entropy(lin3(torch.tanh(lin2(h1))), y)
    loss.backward()
    assert rows[0]["act_mean"] == pytest.approx(float(h1.detach().mean()), abs=1e-6)
    assert rows[0]["act_std"] == pytest.approx(float(h1.detach().std()), abs=1e-6)
    assert rows[0]["grad_out_std"] == pytest.approx(float(z1.grad.detach().std()), rel=1e-5)
    assert rows[0]["grad_w_std"] == pytest.approx(float(lin1.weight.grad.std()), rel=1e-5)
    assert rows[0]["weight_std"] == pytest.approx(float(lin1.weight.detach().std()), rel=1e-6)
    assert rows[0]["saturated"] is not None and rows[0]["dead"] is None
    assert rows[2]["saturated"] is None  # the output layer has no nonlinearity


@pytest.mark.slow
def test_track_layers_records_every_epoch_and_changes_nothing(cli, tmp_path):
    # One seed, two inits: each optimizer's two runs still train as one stack.
    args = ["compare", "--dataset", "digits", "--opts", "sgd,adam", "--inits", "xavier,he", "--seeds", "1",
            "--epochs", "2", "--dropout", "0.1", "--quiet"]
    code, out, _ = cli(*args, "--out", tmp_path / "plain", "--no-plot")
    assert code == 0, out
    code, out, _ = cli(*args, "--out", tmp_path / "tracked", "--track-layers")
    assert code == 0, out
    plain, tracked = (pd.read_csv(tmp_path / d / "metrics.csv").drop(columns="seconds") for d in ("plain", "tracked"))
    pd.testing.assert_frame_equal(plain, tracked)  # tracking draws no random numbers, updates nothing
    layers = pd.read_csv(tmp_path / "tracked" / "layers.csv")
    assert layers["run_id"].nunique() == 4 and sorted(layers["epoch"].unique()) == [0, 1, 2]
    per_run = layers.groupby("run_id").size()
    assert (per_run == 3 * (2 * 6 + 5)).all()  # epochs × (hidden layers × 6 statistics + output × 5)
    assert (tmp_path / "tracked" / "layers_tracks.png").exists()
    # Stacked members are measured as themselves: the same numbers as runs trained one by one.
    code, out, _ = cli(*args, "--out", tmp_path / "alone", "--track-layers", "--group-size", "1", "--no-plot")
    assert code == 0, out
    alone = pd.read_csv(tmp_path / "alone" / "layers.csv")
    data = load("digits")
    assert_layers_close(alone, layers, data.n_train, 64, (256, 128))
    # report plots them again from the files.
    (tmp_path / "tracked" / "layers_tracks.png").unlink()
    assert cli("report", tmp_path / "tracked")[0] == 0
    assert (tmp_path / "tracked" / "layers_tracks.png").exists()


def test_train_tracks_layers_too(cli, tmp_path):
    code, out, _ = cli("train", "--dataset", "digits", "--opt", "adam", "--depth", "3", "--width", "32",
                       "--epochs", "2", "--track-layers", "--no-plot", "--quiet", "--out", tmp_path)
    assert code == 0, out
    layers = pd.read_csv(tmp_path / "layers.csv")
    assert sorted(layers["layer"].unique()) == [1, 2, 3, 4] and sorted(layers["epoch"].unique()) == [0, 1, 2]
    assert json.loads((tmp_path / "config.json").read_text())["spec"]["hidden"] == [32, 32, 32]
