"""The engine: epoch-0 evaluation, determinism, paired seeds, divergence, record contents."""

import math

import pytest
import torch

from nncmp.config.run import RunSpec
from nncmp.registry.datasets import load
from nncmp.registry.losses import criterion
from nncmp.results.schema import RECORD_COLUMNS
from nncmp.training.engines.single import evaluate, make_model, train
from tests.numerics import acc_tol, rtol

SMALL = {"dataset": "digits", "hidden": (32,), "epochs": 2}


def without_time(records):
    return [{k: v for k, v in r.items() if k != "seconds"} for r in records]


def test_records_have_every_column_and_count_examples():
    data = load("digits")
    records = train(RunSpec(**SMALL, optimizer="minibatch"), data)
    assert all(list(r) == RECORD_COLUMNS for r in records)
    assert [r["epoch"] for r in records] == [0, 1, 2]
    assert [r["examples"] for r in records] == [0, data.n_train, 2 * data.n_train]
    assert records[0]["seconds"] == 0.0 and records[1]["seconds"] <= records[2]["seconds"]
    assert records[0]["run_id"] == "minibatch/default/lr=0.01/bs=64/hidden=32/seed=0"


def test_epoch_zero_is_the_untrained_model():
    data = load("digits")
    spec = RunSpec(**SMALL, init="he")
    model = make_model(spec.resolved(data.n_train), data)
    val_loss, val_acc = evaluate(model, criterion(data), data.x_val, data.y_val)
    train_loss, train_acc = evaluate(model, criterion(data), data.x_train, data.y_train)
    first = train(spec, data)[0]
    assert (first["val_loss"], first["val_acc"]) == (val_loss, val_acc)
    assert (first["train_loss"], first["train_acc"]) == (train_loss, train_acc)


def test_same_seed_same_numbers_other_seed_other_numbers():
    data = load("digits")
    spec = RunSpec(**SMALL, dropout=0.3, optimizer="adam")
    assert without_time(train(spec, data)) == without_time(train(spec, data))
    other = train(RunSpec(**SMALL, dropout=0.3, optimizer="adam", seed=1), data)
    assert other[-1]["val_loss"] != train(spec, data)[-1]["val_loss"]


def test_seeds_are_paired_across_optimizers():
    data = load("digits")
    a = make_model(RunSpec(**SMALL, optimizer="sgd", init="xavier", seed=3).resolved(data.n_train), data)
    b = make_model(RunSpec(**SMALL, optimizer="adam", init="xavier", seed=3).resolved(data.n_train), data)
    for (name, pa), (_, pb) in zip(a.state_dict().items(), b.state_dict().items()):
        assert torch.equal(pa, pb), name
    # Same batch order too: momentum with momentum 0 is plain mini-batch SGD, step for step.
    plain = train(RunSpec(**SMALL, optimizer="minibatch", seed=3), data)
    momentum0 = train(RunSpec(**SMALL, optimizer="momentum", momentum=0.0, seed=3), data)
    assert [r["val_loss"] for r in plain] == [r["val_loss"] for r in momentum0]


def test_train_metrics_are_means_over_the_epoch():
    data = load("toy-regression")
    # lr small enough that w barely moves within an epoch: the epoch's mean train loss is close to epoch-0 loss.
    records = train(RunSpec(dataset="toy-regression", model="linear", init="zeros", optimizer="sgd", lr=1e-9,
                            epochs=1), data)
    assert records[1]["train_loss"] == pytest.approx(records[0]["train_loss"], rel=1e-6)
    assert records[1]["train_acc"] is None and records[1]["val_acc"] is None


def test_divergence_is_recorded_not_raised():
    data = load("toy-regression")
    records = train(RunSpec(dataset="toy-regression", model="linear", optimizer="gd", lr=10.0, epochs=50), data)
    assert len(records) < 51  # stopped early
    assert {r["status"] for r in records} == {"diverged"}
    last = records[-1]
    assert not (math.isfinite(last["train_loss"]) and math.isfinite(last["val_loss"]))


def test_eval_uses_eval_mode():
    data = load("digits")
    spec = RunSpec(**SMALL, dropout=0.5, batchnorm=True).resolved(data.n_train)
    model = make_model(spec, data)
    first = evaluate(model, criterion(data), data.x_val, data.y_val)
    assert evaluate(model, criterion(data), data.x_val, data.y_val) == first
    assert not model.training


def test_batchnorm_skips_a_trailing_single_example():
    data = load("digits")  # 1437 training examples: batches of 2 leave one over
    records = train(RunSpec(dataset="digits", hidden=(8,), batchnorm=True, batch_size=2, epochs=1), data)
    assert records[-1]["status"] == "ok" and records[-1]["examples"] == data.n_train - 1


def test_cnn_trains():
    data = load("digits")
    records = train(RunSpec(dataset="digits", model="cnn", optimizer="adam", epochs=1), data)
    assert records[-1]["status"] == "ok" and records[-1]["val_acc"] > records[0]["val_acc"]


def test_chunked_full_batch_gradient_equals_the_plain_one(monkeypatch):
    from nncmp.training.engines import single as engine

    data = load("digits")
    spec = RunSpec(dataset="digits", hidden=(32,), optimizer="gd", lr=0.5, epochs=3)
    plain = train(spec, data)
    monkeypatch.setattr(engine, "GRAD_CHUNK", 100)  # 1437 examples in 15 chunks
    chunked = train(spec, data)
    # The same sums split at other places: 3 steps over sums of up to n_train terms (tests/numerics.py).
    relative = rtol(steps=3, width=data.n_train)
    for a, b in zip(plain, chunked):
        assert b["train_loss"] == pytest.approx(a["train_loss"], rel=relative)
        assert b["val_loss"] == pytest.approx(a["val_loss"], rel=relative)
        assert abs(b["train_acc"] - a["train_acc"]) <= acc_tol(data.n_train, relative)
