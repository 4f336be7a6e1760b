"""Optimizers: torch.optim classes and defaults, steps per epoch, and update rules worked by hand."""

import inspect

import numpy as np
import pytest
import torch
from torch.optim.optimizer import register_optimizer_step_post_hook

from nncmp.registry.datasets import load
from nncmp.registry.optimizers import OPTIMIZERS
from nncmp.spec.run import RunSpec
from nncmp.training.engines.single import train
from nncmp.training.stepping import build_for

# Defaults nncmp chooses itself (the course's learning rates, the momentum of the momentum variants);
# every other default must be torch.optim's own.
OWN_CHOICES = {("gd", "lr"), ("sgd", "lr"), ("minibatch", "lr"), ("momentum", "lr"), ("nesterov", "lr"),
               ("momentum", "momentum"), ("nesterov", "momentum")}


@pytest.mark.parametrize("name", list(OPTIMIZERS))
def test_defaults_are_torch_defaults(name):
    entry = OPTIMIZERS[name]
    signature = inspect.signature(getattr(torch.optim, entry.torch_class).__init__).parameters
    for key, value in {"lr": entry.lr, **entry.defaults}.items():
        if (name, key) not in OWN_CHOICES:
            assert signature[key].default == value, (name, key)


def test_course_learning_rates():
    assert OPTIMIZERS["sgd"].lr == OPTIMIZERS["minibatch"].lr == OPTIMIZERS["gd"].lr == 0.01
    assert OPTIMIZERS["adam"].lr == 0.001
    sizes = (OPTIMIZERS["gd"].batch_size, OPTIMIZERS["sgd"].batch_size, OPTIMIZERS["minibatch"].batch_size)
    assert sizes == (None, 1, 64)


@pytest.mark.parametrize("name", list(OPTIMIZERS))
def test_every_optimizer_trains_on_tiny_data(name):
    data = load("synthetic", n=200)
    records = train(RunSpec(dataset="synthetic", n=200, optimizer=name, hidden=(16,), epochs=2), data)
    assert [r["epoch"] for r in records] == [0, 1, 2]
    assert records[-1]["status"] == "ok"
    assert records[-1]["train_loss"] < records[0]["train_loss"]


def test_build_optimizer_passes_hyperparameters():
    params = [torch.nn.Parameter(torch.zeros(2))]
    spec = RunSpec(optimizer="nesterov", momentum=0.5, weight_decay=0.1).resolved(100)
    opt = build_for(spec, params)
    assert isinstance(opt, torch.optim.SGD)
    group = opt.param_groups[0]
    assert group["nesterov"] and group["momentum"] == 0.5 and group["weight_decay"] == 0.1 and group["lr"] == 0.01
    opt = build_for(RunSpec(optimizer="adamw", betas=(0.8, 0.9)).resolved(100), params)
    assert isinstance(opt, torch.optim.AdamW) and opt.param_groups[0]["betas"] == (0.8, 0.9)
    assert opt.param_groups[0]["weight_decay"] == 0.01


def count_steps(spec):
    steps = []
    handle = register_optimizer_step_post_hook(lambda *a: steps.append(1))
    try:
        records = train(spec, load(spec.dataset, n=spec.n))
    finally:
        handle.remove()
    return len(steps), records


def test_gd_takes_one_step_per_epoch():
    steps, records = count_steps(RunSpec(dataset="synthetic", n=300, optimizer="gd", hidden=(8,), epochs=3))
    assert steps == 3
    assert records[-1]["batch_size"] == 240 and records[-1]["examples"] == 3 * 240


def test_sgd_takes_one_step_per_example():
    steps, records = count_steps(RunSpec(dataset="synthetic", n=300, optimizer="sgd", hidden=(8,), epochs=2))
    assert steps == 2 * 240
    assert records[-1]["batch_size"] == 1


def test_minibatch_steps_round_up():
    steps, _ = count_steps(RunSpec(dataset="synthetic", n=300, optimizer="minibatch", hidden=(8,), epochs=1))
    assert steps == 4  # 240 examples in batches of 64: 64, 64, 64, 48


# Toy regression: y = Xw, w starts at zero, full batch, MSE. The course's update rules in numpy.
X = np.array([[1, 2], [2, 3], [3, 4], [4, 5], [5, 6]], dtype=np.float64)
Y = np.array([5, 7, 9, 11, 13], dtype=np.float64)


def mse(w):
    return float(np.mean((X @ w - Y) ** 2))


def grad(w):
    return 2 / len(X) * X.T @ (X @ w - Y)


def adam_by_hand(lr, b1, b2, eps, steps):
    w, m, v, losses = np.zeros(2), np.zeros(2), np.zeros(2), []
    for t in range(1, steps + 1):
        g = grad(w)
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g**2
        m_hat, v_hat = m / (1 - b1**t), v / (1 - b2**t)
        w = w - lr * m_hat / (np.sqrt(v_hat) + eps)
        losses.append(mse(w))
    return losses


def rmsprop_by_hand(lr, alpha, eps, steps):
    w, v, losses = np.zeros(2), np.zeros(2), []
    for _ in range(steps):
        g = grad(w)
        v = alpha * v + (1 - alpha) * g**2
        w = w - lr * g / (np.sqrt(v) + eps)
        losses.append(mse(w))
    return losses


def engine_losses(**kw):
    spec = RunSpec(dataset="toy-regression", model="linear", init="zeros", batch_size=5, epochs=20, **kw)
    records = train(spec, load("toy-regression"))
    assert records[0]["val_loss"] == pytest.approx(mse(np.zeros(2)))
    return [r["val_loss"] for r in records[1:]]


def test_adam_matches_update_rule_by_hand():
    expected = adam_by_hand(lr=0.1, b1=0.8, b2=0.99, eps=1e-8, steps=20)
    assert engine_losses(optimizer="adam", lr=0.1, betas=(0.8, 0.99)) == pytest.approx(expected, rel=1e-4)


def test_rmsprop_matches_update_rule_by_hand():
    expected = rmsprop_by_hand(lr=0.01, alpha=0.9, eps=1e-8, steps=20)
    assert engine_losses(optimizer="rmsprop", alpha=0.9) == pytest.approx(expected, rel=1e-4)


def test_gd_matches_update_rule_by_hand():
    w, expected = np.zeros(2), []
    for _ in range(20):
        w = w - 0.01 * grad(w)
        expected.append(mse(w))
    assert engine_losses(optimizer="gd") == pytest.approx(expected, rel=1e-4)
