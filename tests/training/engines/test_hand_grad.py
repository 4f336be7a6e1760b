"""The hand-computed MLP gradient (engines/hand_grad.py) against autograd, and where the plan uses it."""

import math

import pytest
import torch

from nncmp.config.run import RunSpec
from nncmp.registry.datasets import load
from nncmp.registry.losses import criterion
from nncmp.training.engines import single as engine
from nncmp.training.engines.hand_grad import HandGrad
from nncmp.training.engines.single import SingleRun, make_model, train
from nncmp.training.plan import hand_backprop
from nncmp.training.recorder import record_runs
from tests.numerics import assert_same_records, rtol, spec_rtol


@pytest.mark.parametrize(("model", "act", "hidden"), [("mlp", "relu", (32, 16)), ("mlp", "tanh", (24,)),
                                                       ("mlp", "sigmoid", (24,)), ("logreg", "relu", ())])
@pytest.mark.parametrize("chunks", [1, 3])
def test_the_gradient_is_autograds_to_rounding(model, act, hidden, chunks):
    data = load("digits")
    shape = {"act": act, "hidden": hidden} if model == "mlp" else {}
    spec = RunSpec(dataset="digits", model=model, init="he", **shape).resolved(data.n_train)
    net = make_model(spec, data)
    x, y = data.x_train[:96], data.y_train[:96]
    torch.nn.functional.cross_entropy(net(x), y).backward()
    expected = [p.grad.clone() for p in net.parameters()]
    crit = criterion(data)
    for c, (xb, yb) in enumerate(zip(x.chunk(chunks), y.chunk(chunks))):
        logits, loss = HandGrad.of(net, act)(xb, yb, len(x), accumulate=c > 0)
        assert torch.equal(logits, net(xb).detach())  # the forward pass is nn.Linear's, exactly
        assert torch.equal(loss, crit.mean(logits, yb))  # and the loss is torch's cross-entropy, exactly
    # One step's sums of up to max(fan-in, batch) terms, in another order (tests/numerics.py).
    relative = rtol(1, max(64, *hidden, len(x)))
    for want, p in zip(expected, net.parameters()):
        assert p.grad.shape == want.shape
        torch.testing.assert_close(p.grad, want, rtol=relative, atol=relative * want.abs().max().item())


@pytest.mark.parametrize("settings", [{"optimizer": "adam"}, {"optimizer": "momentum", "batch_size": 32},
                                      {"optimizer": "gd", "lr": 0.5}, {"optimizer": "rmsprop", "act": "tanh"},
                                      {"optimizer": "sgd", "batch_size": 1, "epochs": 1}])
def test_a_run_with_the_hand_gradient_matches_the_autograd_run(settings, monkeypatch):
    data = load("digits")
    spec = RunSpec(**{"dataset": "digits", "hidden": (32,), "epochs": 2, **settings}).resolved(data.n_train)
    monkeypatch.setattr(engine, "GRAD_CHUNK", 500)  # full-batch gd: 3 chunks whose gradients add up
    run = SingleRun(spec, data, hand=True)
    hand = record_runs(run, None, None)[0]
    reference = train(spec, data)
    assert_same_records(reference, hand, spec_rtol(spec, data.n_train, 64), len(data.y_val), data.n_train)
    assert hand[-1]["val_loss"] < hand[0]["val_loss"] and math.isfinite(hand[-1]["train_loss"])


def test_a_hook_on_the_model_sees_every_training_step():
    """Hooks see module calls only (the coordinate check records through them): autograd trains meanwhile."""
    data = load("digits")
    spec = RunSpec(dataset="digits", hidden=(16,), optimizer="adam", epochs=1).resolved(data.n_train)
    run = SingleRun(spec, data, hand=True)
    assert not run.hand.watched()
    calls = []
    handle = run.model[1].register_forward_hook(lambda *_: calls.append(1))
    run.train_epoch()
    assert len(calls) == math.ceil(data.n_train / 64)
    handle.remove()
    assert not run.hand.watched()


def test_the_plans_lone_runs_and_stacks_train_with_it(monkeypatch):
    from nncmp.training.execute import train_one, train_together

    data = load("digits")
    calls = []
    real = HandGrad.__call__
    monkeypatch.setattr(HandGrad, "__call__", lambda self, *a, **k: calls.append(1) or real(self, *a, **k))
    train_one(RunSpec(dataset="digits", hidden=(16,), optimizer="adam", epochs=1).resolved(data.n_train), data)
    assert len(calls) == math.ceil(data.n_train / 64)
    calls.clear()
    for library in ("pytorch-optimizer:lion", "pytorch-optimizer:adahessian"):  # autograd for a library's
        assert not hand_backprop(RunSpec(dataset="digits", optimizer=library).resolved(data.n_train), data.task)
    train_one(RunSpec(dataset="digits", hidden=(16,), optimizer="adam", epochs=1, dropout=0.1).resolved(data.n_train),
              data)
    assert not calls
    specs = [RunSpec(dataset="digits", hidden=(16,), optimizer="momentum", init=i, epochs=2).resolved(data.n_train)
             for i in ("he", "xavier")]
    stack = train_together(specs, data)
    assert len(calls) == 2 * math.ceil(data.n_train / 64)  # one call a step for the whole stack
    for spec, records in zip(specs, stack):  # against autograd alone, to rounding
        assert_same_records(train(spec, data), records, spec_rtol(spec, data.n_train, 64), len(data.y_val),
                            data.n_train)


def test_a_stacks_logits_and_losses_are_its_forward_passes_and_criterion():
    from nncmp.training.engines.stacked import StackedRun

    data = load("digits")
    specs = [RunSpec(dataset="digits", hidden=(16,), optimizer="adam", init=i).resolved(data.n_train)
             for i in ("he", "xavier", "lecun")]
    run = StackedRun(specs, data, hand=True)
    idx = torch.stack([torch.randperm(data.n_train, generator=torch.Generator().manual_seed(j))[:40]
                       for j in range(3)])
    x, y = run.x[idx], data.y_train[idx]
    logits, losses = run.hand(x, y, 40)
    assert torch.equal(logits, run.stack.forward(x, training=True).detach())
    assert torch.equal(losses, run.crit.members(logits, y))
    for j, (w, _) in enumerate(layer.tensors for layer in run.stack.layers if layer.kind == "linear"):
        assert w.grad is not None and w.grad.shape == w.shape, j
