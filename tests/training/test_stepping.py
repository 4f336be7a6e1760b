"""Stepping: optimizers built from a spec, update rules worked by hand (the course's and Lion's), and the
special handling some need (Muon's groups, closures, Hessians, schedule-free, required arguments)."""

import math

import numpy as np
import pytest
import torch

from nncmp.config.budget import total_steps
from nncmp.config.run import RunSpec
from nncmp.registry.datasets import load
from nncmp.training.engines.single import SingleRun, train
from nncmp.training.stepping import build_for, hidden_matrices
from tests.conftest import TINY
from tests.conftest import TOY_X as X
from tests.conftest import TOY_Y as Y


def test_build_optimizer_passes_hyperparameters():
    params = [torch.nn.Parameter(torch.zeros(2))]
    spec = RunSpec(optimizer="nesterov", momentum=0.5, weight_decay=0.1).resolved(100)
    opt = build_for(spec, params)
    assert isinstance(opt, torch.optim.SGD)
    group = opt.param_groups[0]
    assert group["nesterov"] and group["momentum"] == 0.5 and group["weight_decay"] == 0.1 and group["lr"] == 0.01
    matrix = torch.nn.Parameter(torch.zeros(2, 2))
    opt = build_for(RunSpec(optimizer="adamw", betas=(0.8, 0.9)).resolved(100), [matrix, *params])
    assert isinstance(opt, torch.optim.AdamW) and opt.param_groups[0]["betas"] == (0.8, 0.9)
    # Decoupled decay on weights of 2 or more dimensions only (nanoGPT's rule), unless --decay-all.
    assert [(g["params"], g["weight_decay"]) for g in opt.param_groups] == [([matrix], 0.01), (params, 0.0)]
    opt = build_for(RunSpec(optimizer="adamw", decay_all=True).resolved(100), [matrix, *params])
    assert [(g["params"], g["weight_decay"]) for g in opt.param_groups] == [([matrix, *params], 0.01)]
    # Coupled (L2) decay adds to the gradient of every parameter, as torch's SGD and Adam do.
    opt = build_for(RunSpec(optimizer="adam", weight_decay=0.1).resolved(100), [matrix, *params])
    assert [g["weight_decay"] for g in opt.param_groups] == [0.1]


def test_decoupled_decay_is_known_per_optimizer():
    from nncmp.registry.optimizers import decoupled_decay

    assert decoupled_decay("adamw") and decoupled_decay("lion") and decoupled_decay("muon")
    assert not decoupled_decay("adam") and not decoupled_decay("sgd") and not decoupled_decay("adan")
    assert not decoupled_decay("lion", {"weight_decouple": False})


# Toy regression: y = Xw, w starts at zero, full batch, MSE. The course's update rules in numpy.


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


def test_lion_step_matches_its_update_rule_by_hand():
    """Chen et al. 2023: c = β1·m + (1−β1)·g; p ← p − lr·(sign(c) + λ·p); m ← β2·m + (1−β2)·g."""
    lr, b1, b2, wd = 0.01, 0.9, 0.99, 0.1
    spec = RunSpec(optimizer="lion", lr=lr, weight_decay=wd, decay_all=True).resolved(100)
    p0 = torch.tensor([0.5, -1.0, 2.0, 0.0], dtype=torch.float64)
    p = torch.nn.Parameter(p0.clone())
    opt = build_for(spec, [p])
    grads = [torch.tensor([0.3, -0.2, 0.0, 1.0], dtype=torch.float64), torch.tensor([-1.0, 0.5, 0.2, -0.1],
                                                                                  dtype=torch.float64)]
    m, expected = torch.zeros(4, dtype=torch.float64), p0.clone()
    for g in grads:
        p.grad = g.clone()
        opt.step()
        c = b1 * m + (1 - b1) * g
        expected = expected * (1 - lr * wd) - lr * torch.sign(c)
        m = b2 * m + (1 - b2) * g
        assert torch.allclose(p.detach(), expected, rtol=0, atol=1e-15)


# --- special handling ---------------------------------------------------------------------------------


def test_muon_family_puts_hidden_matrices_in_the_muon_group(digits):
    model = SingleRun(RunSpec(dataset="digits", optimizer="adamuon").resolved(digits.n_train), digits).model
    matrices, rest = hidden_matrices(model)
    linears = [m for m in model.modules() if isinstance(m, torch.nn.Linear)]
    assert [tuple(p.shape) for p in matrices] == [(256, 64), (128, 256)]  # not the output layer
    run = SingleRun(RunSpec(dataset="digits", optimizer="adamuon").resolved(digits.n_train), digits)
    groups = run.optimizer.param_groups
    muon = [g for g in groups if g["use_muon"]]
    adamw = [g for g in groups if not g["use_muon"]]
    assert len(muon) == 1 and [p.shape for p in muon[0]["params"]] == [p.shape for p in matrices]
    assert sum(len(g["params"]) for g in adamw) == len(list(model.parameters())) - 2
    assert linears[-1].weight.shape == (10, 128)
    # torch's Muon takes 2-D parameters only: it gets the same matrices, an AdamW the rest.
    pair = SingleRun(RunSpec(dataset="digits", optimizer="muon").resolved(digits.n_train), digits).optimizer
    muon_part, adamw_part = pair.parts
    assert isinstance(muon_part, torch.optim.Muon) and isinstance(adamw_part, torch.optim.AdamW)
    assert [p.shape for p in muon_part.param_groups[0]["params"]] == [(256, 64), (128, 256)]


def test_closure_optimizers_evaluate_the_batch_again(tiny, monkeypatch):
    calls = []
    for name in ("lbfgs", "sam", "alig"):
        run = SingleRun(RunSpec(**TINY, optimizer=name).resolved(tiny.n_train), tiny)
        original = run.optimizer.step

        def step(closure=None, original=original, name=name):
            assert closure is not None, name
            calls.append(name)
            return original(closure)

        monkeypatch.setattr(run.optimizer, "step", step)
        (losses, _, _), _ = run.train_epoch()
        assert math.isfinite(losses[0])
    assert {n: calls.count(n) for n in set(calls)} == {"lbfgs": 5, "sam": 5, "alig": 5}  # 160 / 32 steps


def test_hessian_optimizers_backpropagate_with_a_graph(tiny):
    for name in ("adahessian", "sophiah"):
        run = SingleRun(RunSpec(**TINY, optimizer=name).resolved(tiny.n_train), tiny)
        assert run.stepper.hessian
        before = run.evaluate("train")[0][0]
        run.train_epoch()
        assert run.evaluate("train")[0][0] < before, name


def test_schedule_free_evaluates_the_averaged_weights_with_fresh_batchnorm_statistics(tiny):
    run = SingleRun(RunSpec(**TINY, optimizer="schedulefreeadamw", batchnorm=True).resolved(tiny.n_train), tiny)
    run.train_epoch()
    assert run.optimizer.param_groups[0]["train_mode"]
    trained = [p.detach().clone() for p in run.model.parameters()]
    norm = next(m for m in run.model.modules() if isinstance(m, torch.nn.BatchNorm1d))
    stale = norm.running_mean.clone()
    run.evaluate("val")
    assert not run.optimizer.param_groups[0]["train_mode"]  # the optimizer swapped in its average
    assert any(not torch.equal(a, b) for a, b in zip(trained, run.model.parameters()))
    assert not torch.equal(stale, norm.running_mean)  # statistics recomputed at those weights
    run.train_epoch()
    assert run.optimizer.param_groups[0]["train_mode"]


def test_required_arguments_are_filled_in(tiny):
    from nncmp.training import stepping

    seen = {}
    original = stepping.build_optimizer

    def spy(name, *args, **kwargs):
        optimizer = original(name, *args, **kwargs)
        seen[name] = optimizer
        return optimizer

    stepping.build_optimizer = spy
    try:
        ranger = SingleRun(RunSpec(**TINY, optimizer="ranger21").resolved(tiny.n_train), tiny)
        SingleRun(RunSpec(**TINY, optimizer="bsam").resolved(tiny.n_train), tiny)
    finally:
        stepping.build_optimizer = original
    assert total_steps(ranger.specs[0], tiny.n_train) == 5  # ranger21 warms down over the run's 5 steps
    assert seen["ranger21"].start_warm_down == 5 - seen["ranger21"].num_warm_down_iterations
    assert seen["bsam"].num_data == 160
