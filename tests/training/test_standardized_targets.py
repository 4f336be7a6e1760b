"""Regression targets standardised for training, reported in their own units, on every engine that trains
regression (single, stacked, torch.func-stacked; fast-sgd is classification only): the val loss a record holds
is the loss computed here by hand from the model's de-standardised predictions against the original targets;
the train loss is in the same units; the engines agree with the single-run engine to float32 rounding
(tests/numerics.py) for mse, huber and a user's loss; and --standardize off trains on the data as given."""

import math
import textwrap

import numpy as np
import pytest
import torch
from sklearn.datasets import load_diabetes

from nncmp.config.run import RunSpec
from nncmp.registry.datasets import load
from nncmp.registry.user_data import make_data, split
from nncmp.training.engines.func_stacked import FuncStackedRun
from nncmp.training.engines.single import SingleRun
from nncmp.training.engines.stacked import StackedRun
from nncmp.training.recorder import record_runs
from tests.numerics import U, amplification, assert_same_records, rtol, steps_of

MODELS = textwrap.dedent("""
    from torch import nn

    def small(input_shape, n_outputs):
        return nn.Sequential(nn.Linear(input_shape[-1], 12), nn.Tanh(), nn.Linear(12, n_outputs))
""")
LOSSES = textwrap.dedent("""
    def mae(output, target):
        return (output - target).abs().mean()
""")


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("diabetes")
    x, y = load_diabetes(return_X_y=True)
    np.savez(folder / "diabetes.npz", x=x, y=y)
    (folder / "models.py").write_text(MODELS)
    (folder / "losses.py").write_text(LOSSES)
    return folder


def specs(files, model="mlp", standardize="auto", **extra):
    data = load(str(files / "diabetes.npz"), standardize=standardize)
    base = dict(dataset=str(files / "diabetes.npz"), standardize=standardize, epochs=2, batch_size=32)
    if model == "mlp":
        base["hidden"] = (16,)
    else:
        base["model"] = f"{files}/models.py:{model}"
    made = [RunSpec(**{**base, **extra}, init=init, seed=seed).resolved(data.n_train)
            for init in ("he", "default") for seed in (0, 1)]
    return made, data


ENGINES = {"single": lambda s, d: [SingleRun(spec, d) for spec in s],
           "stacked": lambda s, d: [StackedRun(s, d)],
           "stacked-func": lambda s, d: [FuncStackedRun(s, d)]}


def trained(engine_name, runs, data):
    """Each run's records and its trained model, on the engine named."""
    out = []
    for engine in ENGINES[engine_name](runs, data):
        for j, records in enumerate(record_runs(engine)):
            out.append((records, engine.member(j)))
    return out


def destandardised(model, data):
    """The model's predictions on the validation split in the targets' units, float64; and the standardised
    ones it made, as float32."""
    mean, std = (torch.tensor(v, dtype=torch.float64) for v in (data.scaling.target_mean, data.scaling.target_std))
    model.eval()
    with torch.no_grad():
        out = model(data.x_val)
    return out.double() * std + mean, out, std


def eval_rtol(out, y_std, n):
    """How far the engine's val loss (float32: s² × loss against the standardised targets) may be from one
    computed in float64 from its outputs: each residual is off by at most 2u(|y_std| + |out|) (rounding the
    standardised target, the subtraction), which moves a mean of squares by at most twice that over the
    residuals' root mean square; and the mean's own sum of n terms."""
    r = (out.double() - y_std.double()).reshape(-1)
    worst = 2 * U * float(y_std.abs().max() + out.abs().max())
    return 2 * worst / float(r.pow(2).mean().sqrt()) + rtol(1, n)


@pytest.mark.parametrize("engine", list(ENGINES))
def test_the_val_loss_is_the_mse_of_the_destandardised_predictions(files, engine):
    model = "mlp" if engine != "stacked-func" else "small"
    runs, data = specs(files, model)
    assert data.scaling.target_std and data.scaling.features
    for records, member in trained(engine, runs, data):
        pred, out, std = destandardised(member, data)
        by_hand = float(((pred - data.y_val.double()) ** 2).mean())
        y_std = (data.y_val - torch.tensor(data.scaling.target_mean)) / torch.tensor(data.scaling.target_std)
        got = records[-1]["val_loss"]
        assert got == pytest.approx(by_hand, rel=eval_rtol(out, y_std, len(data.y_val)))
        # in the targets' units, not the standardised ones (a factor of their variance, about 6,000, apart)
        assert by_hand > 100 * float(((out.double() - y_std.double()) ** 2).mean())


@pytest.mark.parametrize("engine", list(ENGINES))
def test_the_train_loss_is_in_the_targets_units_too(files, engine):
    """At a rate so small the weights stay as they were, an epoch's train loss (the mean over its batches as it
    trains) is the untrained model's loss on the training split (epoch 0, evaluated): the same units."""
    model = "mlp" if engine != "stacked-func" else "small"
    runs, data = specs(files, model, lr=1e-30, optimizer="sgd")
    for records, _ in trained(engine, runs, data):
        before, after = records[0]["train_loss"], records[1]["train_loss"]
        assert after == pytest.approx(before, rel=rtol(2, data.n_train))


@pytest.mark.parametrize("loss", ["mse", "huber", "losses.py:mae"])
@pytest.mark.parametrize("engine", ["stacked", "stacked-func"])
def test_the_stacked_engines_give_the_single_engines_records(files, engine, loss):
    model = "mlp" if engine != "stacked-func" else "small"
    runs, data = specs(files, model, loss=f"{files}/{loss}" if loss.endswith(":mae") else loss)
    alone = trained("single", runs, data)
    together = trained(engine, runs, data)
    spec = runs[0]
    relative = amplification(spec) * rtol(steps_of(data.n_train, 32, 2), max(10, 16, 32))
    for (expected, _), (got, _) in zip(alone, together):
        assert_same_records(expected, got, relative, len(data.x_val), data.n_train)


def test_a_users_loss_gets_the_output_and_the_targets_as_given(files):
    runs, data = specs(files, loss=f"{files}/losses.py:mae")
    ((records, member), *_) = trained("single", runs[:1], data)
    member.eval()
    with torch.no_grad():
        by_hand = float((member(data.x_val).double() - data.y_val.double()).abs().mean())
    assert records[-1]["val_loss"] == pytest.approx(by_hand, rel=rtol(1, len(data.y_val)) + 4 * U)


def test_standardize_off_trains_on_the_data_as_given(files):
    """off: the records of a run on the arrays as they are (make_data, what every npz was before the policy),
    byte for byte; the loss is of the raw outputs."""
    runs, data = specs(files, standardize="off")
    assert data.scaling.mode == "off" and not data.scaling.features and not data.scaling.target_std
    x, y = load_diabetes(return_X_y=True)
    raw = make_data("diabetes.npz", *split(x, y))
    for (records, member), (again, _) in zip(trained("stacked", runs, data), trained("stacked", runs, raw)):
        assert [{k: v for k, v in r.items() if k != "seconds"} for r in records] == \
            [{k: v for k, v in r.items() if k != "seconds"} for r in again]
        member.eval()
        with torch.no_grad():
            by_hand = float(((member(raw.x_val).double() - raw.y_val.double()) ** 2).mean())
        assert records[-1]["val_loss"] == pytest.approx(by_hand, rel=rtol(1, len(raw.y_val)) + 4 * U)
        assert math.isfinite(records[-1]["val_loss"])
