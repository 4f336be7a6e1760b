"""The fast-sgd engine's first layer in blocks (_blocked_single, _blocked_stacked): against the single-run engine
(autograd and torch.optim.SGD) and the step-by-step paths (_stepwise_*), to rounding (tests/numerics.py); weight
decay on the step-by-step path; --track-every's weights taken mid-block without changing a number."""

import math
from types import SimpleNamespace

import pytest

from nncmp.config.run import RunSpec
from nncmp.registry.datasets import load
from nncmp.training.engines import fast_sgd
from nncmp.training.engines.single import train
from nncmp.training.execute import train_one
from tests.numerics import THREADS, U, assert_same_records, rtol, spec_rtol, torch_threads


@pytest.fixture(scope="module")
def synthetic():
    # 488 training examples: not a whole number of blocks (BLOCK = 32), so the last block is a short one.
    data = load("synthetic", n=610)
    assert data.n_train % fast_sgd.BLOCK
    return data


@pytest.fixture(params=THREADS, ids=lambda n: f"threads={n}")
def threads(request):
    with torch_threads(request.param):
        yield request.param


def same(data, spec, expected, got):
    relative = spec_rtol(spec.resolved(data.n_train), data.n_train, math.prod(data.shape))
    return assert_same_records(expected, got, relative, len(data.x_val), data.n_train)


@pytest.fixture
def paths(monkeypatch):
    """Which single-run path trained each epoch."""
    used = []
    for name in ("_blocked_single", "_stepwise_single"):
        real = getattr(fast_sgd, name)
        monkeypatch.setattr(fast_sgd, name, lambda *a, real=real, name=name, **k: used.append(name) or real(*a, **k))
    return used

BASE = {"dataset": "synthetic", "n": 610, "optimizer": "sgd", "init": "he", "epochs": 2}
CASES = {
    "relu": {},
    "tanh": {"act": "tanh"},
    "sigmoid": {"act": "sigmoid", "lr": 0.05},
    "logreg": {"model": "logreg"},  # the first layer is the output layer
    "deeper": {"hidden": (64, 64, 32)},
    "warmup-cosine": {"schedule": "warmup-cosine", "warmup": 0.1},  # each step its own rate
}


@pytest.mark.parametrize("case", CASES)
def test_blocked_first_layer_matches_the_single_run_engine(synthetic, case, threads, paths):
    spec = RunSpec(**{**BASE, **CASES[case]}).resolved(synthetic.n_train)
    got = train_one(spec, synthetic)
    assert paths == ["_blocked_single"] * spec.epochs
    same(synthetic, spec, train(spec, synthetic), got)


def test_weight_decay_keeps_the_step_by_step_path(synthetic, paths):
    spec = RunSpec(**BASE, weight_decay=0.01).resolved(synthetic.n_train)
    got = train_one(spec, synthetic)
    assert paths == ["_stepwise_single"] * spec.epochs
    same(synthetic, spec, train(spec, synthetic), got)


@pytest.mark.parametrize("k", [1, 3])
def test_a_hook_gets_the_weights_of_its_steps_and_tracking_changes_no_number(synthetic, k, monkeypatch):
    """--track-every K: after every K-th step the hook reads the weights as they stand after that step (the
    block's updates so far brought up, then put back), and the run trains bit for bit as untracked."""
    import torch

    from nncmp.training.engines.stacked import StackedRun

    specs = [RunSpec(**BASE, seed=s).resolved(synthetic.n_train) for s in range(k)]
    steps = 2 * synthetic.n_train

    def tracked(every, upto=steps):
        """Two epochs with a hook taking the first layer every `every` steps up to `upto` (None: no hook)."""
        run = StackedRun(specs, synthetic, fast=True)
        first = next(layer for layer in run.stack.layers if layer.kind == "linear").tensors[0]
        start, seen = first.detach().clone(), []
        if every is not None:
            def hook(step):
                if step % every == 0 and step <= upto:
                    seen.append((step, first.detach().clone()))

            hook.every = every
            run.step_hook = hook
        metrics = [run.train_epoch() for _ in range(2)]
        return metrics, first.detach().clone(), seen, start

    plain, plain_weights, _, start = tracked(None)
    for every in (7, 32, 100):
        metrics, weights, seen, _ = tracked(every)
        assert metrics == plain and torch.equal(weights, plain_weights)  # tracking changes no number
        assert [step for step, _ in seen] == list(range(every, steps + 1, every))
        assert all(not torch.equal(a, b) for (_, a), (_, b) in zip(seen, seen[1:]))
    # After step t the hook sees the step-by-step path's weights after t, to rounding (100 steps: 3 blocks and
    # part of a fourth).
    _, _, seen, _ = tracked(1, upto=100)
    monkeypatch.setattr(fast_sgd, "_fast_sgd_single", fast_sgd._stepwise_single)
    monkeypatch.setattr(fast_sgd, "_fast_sgd_stacked", fast_sgd._stepwise_stacked)
    _, _, reference, _ = tracked(1, upto=100)
    assert [t for t, _ in seen] == [t for t, _ in reference] == list(range(1, 101))
    tol = rtol(100, 784)
    for (_, got), (_, expected) in zip(seen, reference):
        moved = (expected - start).abs().max().item()
        assert (got - expected).abs().max().item() <= tol * moved + 100 * U * start.abs().max().item()


def test_diverging_rate_is_caught_at_the_same_step(synthetic):
    spec = RunSpec(**{**BASE, "epochs": 1}, lr=1e6).resolved(synthetic.n_train)
    fast, alone = train_one(spec, synthetic), train(spec, synthetic)
    assert fast[-1]["status"] == alone[-1]["status"] == "diverged"
    assert 1 < fast[-1]["diverged_step"] == alone[-1]["diverged_step"] < synthetic.n_train


@pytest.mark.parametrize("act", ["relu", "tanh"])
def test_blocked_equals_step_by_step_weight_by_weight(act):
    """The two paths over 100 steps (three blocks and a short one) from the same weights: every weight, bias
    and logit alike, to rounding over 100 steps — tighter than a whole run's records can tell."""
    import torch
    import torch.nn.functional as F

    g = torch.Generator().manual_seed(0)
    n, widths = 100, (784, 256, 128, 10)
    x = torch.randn(n, widths[0], generator=g)
    onehot = F.one_hot(torch.randint(0, 10, (n,), generator=g), 10).float()
    start = [(torch.randn(o, i, generator=g) / i**0.5, torch.randn(o, generator=g) * 0.1)
             for i, o in zip(widths, widths[1:])]
    out = {}
    for path in ("step", "blocked"):
        ws, bs = [w.clone() for w, _ in start], [b.clone() for _, b in start]
        logits = torch.empty(n, 10)
        stepwise = path == "step"
        (fast_sgd._stepwise_single if stepwise else fast_sgd._fast_sgd_single)(
            SimpleNamespace(x=x), torch.arange(n), ws, bs, onehot, logits, 0.01, act)
        out[path] = (ws, bs, logits)
    tol = rtol(n, widths[0])
    for name, blocked, step, initial in (("weights", out["blocked"][0], out["step"][0], [w for w, _ in start]),
                                        ("biases", out["blocked"][1], out["step"][1], [b for _, b in start])):
        for b, s, w0 in zip(blocked, step, initial):
            moved = (s - w0).abs().max().item()
            assert moved > 0
            # what the updates moved, to rtol; plus one rounding of the weight itself per step
            assert (b - s).abs().max().item() <= tol * moved + n * U * w0.abs().max().item(), name
    assert torch.allclose(out["blocked"][2], out["step"][2], rtol=tol, atol=tol * out["step"][2].abs().max())


@pytest.mark.parametrize("rates", [(0.01, 0.01, 0.01), (0.003, 0.01, 0.03)], ids=["shared", "own"])
def test_blocked_stack_equals_step_by_step_member_by_member(rates):
    """The stacked paths over 100 steps, three members with their own orders (and rates): the same check."""
    import torch
    import torch.nn.functional as F

    g = torch.Generator().manual_seed(1)
    k, n, widths = len(rates), 100, (784, 64, 10)
    x = torch.randn(n, widths[0], generator=g)
    perms = torch.stack([torch.randperm(n, generator=g) for _ in range(k)])
    labels = torch.randint(0, 10, (n,), generator=g)[perms]
    onehot = F.one_hot(labels, 10).float()
    start = [(torch.randn(k, o, i, generator=g) / i**0.5, torch.randn(k, 1, o, generator=g) * 0.1)
             for i, o in zip(widths, widths[1:])]
    out = {}
    for path in ("step", "blocked"):
        ws, bs = [w.clone() for w, _ in start], [b.clone() for _, b in start]
        logits = torch.empty(k, n, 10)
        (fast_sgd._stepwise_stacked if path == "step" else fast_sgd._fast_sgd_stacked)(
            SimpleNamespace(x=x), perms, ws, bs, onehot, logits, list(rates), "relu")
        out[path] = (ws + bs, logits)
    tol = rtol(n, widths[0])
    for b, s, w0 in zip(out["blocked"][0], out["step"][0], [w for w, _ in start] + [b for _, b in start]):
        for m in range(k):  # each member by itself: its own scale
            moved = (s[m] - w0[m]).abs().max().item()
            assert moved > 0
            assert (b[m] - s[m]).abs().max().item() <= tol * moved + n * U * w0[m].abs().max().item()
    assert torch.allclose(out["blocked"][1], out["step"][1], rtol=tol, atol=tol * out["step"][1].abs().max())
