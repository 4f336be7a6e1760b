"""The stacked and fast-sgd engines against the single-run engine: the same records per run, to rounding
(tests/numerics.py), at two torch thread counts, whatever the grouping."""

import math

import pytest

from nncmp.config.grid import Grid
from nncmp.config.run import RunSpec
from nncmp.registry.datasets import load
from nncmp.training.engines.single import train
from nncmp.training.execute import run_group, train_one, train_with
from nncmp.training.plan import as_group, fast_sgd, group_key, plan
from tests.numerics import THREADS, assert_same_records, spec_rtol, torch_threads


@pytest.fixture(scope="module")
def synthetic():
    return load("synthetic", n=600)


@pytest.fixture(params=THREADS, ids=lambda n: f"threads={n}")
def threads(request):
    with torch_threads(request.param):
        yield request.param


def on(engine, specs, data):
    """Train specs (resolved here) as one group on `engine`."""
    return train_with(as_group(engine, resolved(specs, data), data), data)


def resolved(specs, data):
    return [s.resolved(data.n_train) for s in specs]


def stacked(specs, data):
    """Train specs as one stack on the engine the plan would choose for them."""
    return on("fast-sgd" if fast_sgd(specs[0].resolved(data.n_train), data.task) else "stacked", specs, data)


def same(data, spec, expected, got):
    """assert_same_records with the rounding tolerance of this run (numerics.py)."""
    relative = spec_rtol(spec.resolved(data.n_train), data.n_train, math.prod(data.shape))
    return assert_same_records(expected, got, relative, len(data.x_val), data.n_train)


def specs_for(base, inits=("xavier", "he"), seeds=(0, 1), **extra):
    return [RunSpec(**{**base, **extra, "init": i, "seed": s}) for i in inits for s in seeds]


BASE = {"dataset": "synthetic", "n": 600, "epochs": 3}
CASES = {
    "adam": {"optimizer": "adam"},
    "minibatch": {"optimizer": "minibatch"},
    "momentum": {"optimizer": "momentum"},
    "nesterov-tanh": {"optimizer": "nesterov", "act": "tanh"},
    "adagrad-sigmoid": {"optimizer": "adagrad", "act": "sigmoid"},
    "gd": {"optimizer": "gd", "lr": 0.1},
    "rmsprop": {"optimizer": "rmsprop", "lr": 0.001},
    "adamw-dropout": {"optimizer": "adamw", "dropout": 0.3},
    "minibatch-batchnorm": {"optimizer": "minibatch", "batchnorm": True},
    "deeper-elu": {"optimizer": "adam", "hidden": (64, 64, 32), "act": "elu"},
    "logreg": {"optimizer": "minibatch", "model": "logreg"},
    "sgd-relu": {"optimizer": "sgd", "epochs": 1},
    "sgd-tanh": {"optimizer": "sgd", "act": "tanh", "epochs": 1},
    "sgd-sigmoid": {"optimizer": "sgd", "act": "sigmoid", "epochs": 1},
    "sgd-logreg": {"optimizer": "sgd", "model": "logreg", "epochs": 1},
    # Learning-rate schedules: the stacked optimizer's groups and the fast path's own factors.
    "sgd-warmup-cosine": {"optimizer": "sgd", "epochs": 1, "schedule": "warmup-cosine", "warmup": 0.1},
    "adam-onecycle": {"optimizer": "adam", "schedule": "onecycle"},
    "minibatch-amsgrad-wsd": {"optimizer": "adam", "schedule": "wsd", "opt_args": {"amsgrad": True}},
}


@pytest.mark.parametrize("case", CASES)
def test_stacked_runs_match_the_single_run_engine(synthetic, case, threads):
    specs = specs_for(BASE, **CASES[case])
    assert len({group_key(s.resolved(synthetic.n_train), synthetic) for s in specs}) == 1
    got = stacked(specs, synthetic)
    for spec, records in zip(specs, got):
        same(synthetic, spec, train(spec, synthetic), records)


def test_regression_runs_stack_too(threads):
    data = load("toy-regression")
    specs = [RunSpec(dataset="toy-regression", model="linear", optimizer="minibatch", lr=0.01, init=i, epochs=5)
             for i in ("zeros", "xavier", "he")]
    for spec, records in zip(specs, stacked(specs, data)):
        same(data, spec, train(spec, data), records)


def test_a_member_does_not_depend_on_its_neighbours(synthetic, threads):
    """Every operation acts on each member's slice: a run stacked with others equals it stacked alone."""
    for extra in ({"optimizer": "adam"}, {"optimizer": "rmsprop"}, {"optimizer": "sgd", "epochs": 1},
                  {"optimizer": "adamw", "dropout": 0.2}):
        specs = specs_for(BASE, inits=("xavier", "he", "small"), **extra)
        together = stacked(specs, synthetic)
        for spec, records in zip(specs, together):
            same(synthetic, spec, stacked([spec], synthetic)[0], records)


def test_the_tolerance_is_tight_enough_to_see_a_real_difference(synthetic):
    """The rounding bound is no blank cheque: a rate 2% off is told apart from rounding, in the cases with
    the loosest bounds (adaptive with the largest amplification, and the longest fast-path run)."""
    for base, rate in (({**BASE, "optimizer": "rmsprop"}, 0.001), ({**BASE, "epochs": 2, "optimizer": "sgd"}, 0.01)):
        spec = RunSpec(**base, init="he", lr=rate)
        expected = train(spec, synthetic)
        # The same run id, so only the numbers can differ.
        off = [{**r, "run_id": e["run_id"]} for r, e in zip(train(RunSpec(**base, init="he", lr=rate * 1.02),
                                                                     synthetic), expected)]
        same(synthetic, spec, expected, expected)
        with pytest.raises(AssertionError, match="loss"):
            same(synthetic, spec, expected, off)


def test_batch1_sgd_fast_path_takes_each_members_own_rate(synthetic, threads):
    specs = [RunSpec(**BASE, optimizer="sgd", init="he", lr=lr) for lr in (0.001, 0.003, 0.01)]
    specs = [RunSpec(**{**s.to_dict(), "epochs": 2}) for s in specs]
    assert all(fast_sgd(s.resolved(synthetic.n_train), synthetic.task) for s in specs)
    assert len(plan(resolved(specs, synthetic), synthetic)) == 1  # rates differ, one group all the same
    for spec, records in zip(specs, stacked(specs, synthetic)):
        same(synthetic, spec, train(spec, synthetic), records)


def test_diverged_members_leave_the_stack_and_the_rest_carry_on(synthetic):
    # momentum at lr 0.2: xavier diverges at epoch 3 while lecun trains on calmly; with momentum, dropping
    # a member must also drop its slice of the optimizer state.
    specs = specs_for({**BASE, "epochs": 4}, inits=("xavier", "lecun"), seeds=(0,), optimizer="momentum", lr=0.2)
    diverged, calm = stacked(specs, synthetic)
    assert diverged[-1]["status"] == "diverged" and diverged[-1]["epoch"] == 3
    assert calm[-1]["status"] == "ok" and calm[-1]["epoch"] == 4 and calm[-1]["val_loss"] < 0.1
    alone = train(specs[0], synthetic)
    assert [r["epoch"] for r in alone] == [0, 1, 2, 3] and alone[-1]["status"] == "diverged"
    assert diverged[-1]["diverged_step"] == alone[-1]["diverged_step"] is not None
    same(synthetic, specs[1], train(specs[1], synthetic), calm)
    same(synthetic, specs[1], stacked(specs[1:], synthetic)[0], calm)


def test_diverged_at_once_and_huge_rates_in_the_fast_path(synthetic):
    specs = [RunSpec(**{**BASE, "epochs": 2}, optimizer="sgd", init="he", lr=lr) for lr in (0.01, 1e6)]
    ok, diverged = stacked(specs, synthetic)
    assert ok[-1]["status"] == "ok" and len(ok) == 3 and all(r["diverged_step"] is None for r in ok)
    assert diverged[-1]["status"] == "diverged" and diverged[-1]["epoch"] == 1
    alone = train(specs[1], synthetic)  # autograd + torch.optim.SGD: the same step blows up
    assert 1 < diverged[-1]["diverged_step"] == alone[-1]["diverged_step"] < 480
    same(synthetic, specs[0], train(specs[0], synthetic), ok)


def test_seconds_are_shared_among_the_runs_of_a_group(synthetic):
    specs = specs_for(BASE, optimizer="adam")
    runs = stacked(specs, synthetic)
    assert all(r[0]["seconds"] == 0.0 for r in runs)
    assert all(r[-1]["seconds"] > 0 for r in runs)
    assert len({r[-1]["seconds"] for r in runs}) == 1  # no member diverged: equal shares


def test_engines_refuse_runs_they_cannot_train(synthetic):
    with pytest.raises(ValueError):
        on("stacked", [RunSpec(**BASE, optimizer="adam"), RunSpec(**BASE, optimizer="minibatch")], synthetic)
    with pytest.raises(ValueError):
        on("stacked", [RunSpec(dataset="digits", model="cnn", optimizer="adam")], load("digits"))
    with pytest.raises(ValueError):
        on("fast-sgd", [RunSpec(**BASE, optimizer="adam")], synthetic)
    with pytest.raises(ValueError):
        on("single", [RunSpec(**BASE), RunSpec(**BASE, seed=1)], synthetic)


def test_train_one_uses_the_fast_path_for_batch1_sgd_only(synthetic, monkeypatch):
    from nncmp.training.engines import single as engine
    from nncmp.training.engines import stacked as batched

    used = []
    for name, module in (("StackedRun", batched), ("SingleRun", engine)):
        real = getattr(module, name)
        monkeypatch.setattr(module, name, lambda *a, real=real, name=name, **k: used.append(name) or real(*a, **k))
    spec = RunSpec(**{**BASE, "epochs": 1}, optimizer="sgd", init="he").resolved(synthetic.n_train)
    fast = train_one(spec, synthetic)
    assert used == ["StackedRun"]
    same(synthetic, spec, train(spec, synthetic), fast)
    used.clear()
    spec = RunSpec(**{**BASE, "epochs": 1}, optimizer="adam", init="he").resolved(synthetic.n_train)
    alone = train_one(spec, synthetic)
    assert used == ["SingleRun"]
    # Alone, a plain mlp's gradient is computed by hand (hand_grad.py): autograd's records to rounding.
    same(synthetic, spec, train(spec, synthetic), alone)


@pytest.mark.slow
def test_ten_epochs_grouped_or_alone_agree_to_rounding(threads, capsys):
    """What README states: after 10 epochs on 480 digits, a run trained in its group and the same run with
    --group-size 1 agree within the rounding bound; the largest gap measured is printed."""
    from dataclasses import replace

    full = load("digits")
    data = replace(full, x_train=full.x_train[:480], y_train=full.y_train[:480])
    specs = Grid(base=RunSpec(dataset="digits", epochs=10), dims={"optimizer": ("sgd", "minibatch", "rmsprop", "adam"),
                 "init": ("xavier", "he")}, seeds=1).runs()
    specs = resolved(specs, data)
    grouped = {}
    for group in plan(specs, data):
        assert len(group.indices) == 2  # each optimizer's two inits train together
        for i, records in zip(group.indices, run_group(group, specs, data)):
            grouped[i] = records
    worst = {}
    for i, spec in enumerate(specs):
        gap = same(data, spec, train_one(spec, data), grouped[i])
        worst[spec.optimizer] = max(worst.get(spec.optimizer, 0.0), gap)
    with capsys.disabled():
        print(f"\n10 epochs, {threads} thread(s): largest relative loss gap grouped vs alone: "
              + ", ".join(f"{k} {v:.1e}" for k, v in worst.items()))


# Tuning trials: members that differ in the optimizer's hyperparameters, each with an optimizer of its own.
TRIALS = {
    "adam": [{"lr": 0.001}, {"lr": 0.003, "betas": (0.8, 0.99)}, {"lr": 3e-4, "betas": (0.95, 0.9999),
                                                                  "weight_decay": 1e-3}],
    "momentum": [{"lr": 0.01, "momentum": 0.9}, {"lr": 0.05, "momentum": 0.5, "weight_decay": 1e-4},
                 {"lr": 0.002, "momentum": 0.99}],
    "rmsprop": [{"lr": 0.001}, {"lr": 0.003, "alpha": 0.9, "eps": 1e-6}],
    # batch 1, rates where SGD on this data is stable (at 0.02 it is chaotic: rounding decides the outcome)
    "sgd": [{"lr": 0.005, "weight_decay": 1e-3}, {"lr": 0.01, "weight_decay": 1e-2}, {"lr": 0.003}],
}


@pytest.mark.parametrize("optimizer", TRIALS)
def test_members_with_their_own_hyperparameters_match_their_single_runs(synthetic, optimizer, threads):
    epochs = 1 if optimizer == "sgd" else 3
    specs = [RunSpec(**{**BASE, "epochs": epochs}, optimizer=optimizer, init="he", seed=s, **h)
             for s, h in enumerate(TRIALS[optimizer])]
    groups = plan(resolved(specs, synthetic), synthetic)
    if optimizer == "sgd":  # batch-1 SGD with weight decay: the fast path, each member its rate and decay
        assert len(groups) == 1 and groups[0].engine == "fast-sgd"
        for spec, records in zip(specs, on("fast-sgd", specs, synthetic)):
            same(synthetic, spec, train(spec, synthetic), records)
        for spec in specs:  # and alone on it
            same(synthetic, spec, train(spec, synthetic), on("fast-sgd", [spec], synthetic)[0])
    assert len(groups) == 1 and groups[0].engine == "stacked" or optimizer == "sgd"
    assert optimizer == "sgd" or "optimizer of its own" in groups[0].why
    for spec, records in zip(specs, on("stacked", specs, synthetic)):
        same(synthetic, spec, train(spec, synthetic), records)


def test_a_diverged_member_leaves_with_its_own_optimizer(synthetic):
    # Member 1 at a huge rate diverges at once; the others keep their optimizers and state.
    specs = [RunSpec(**{**BASE, "epochs": 3}, optimizer="momentum", init="he", lr=lr, momentum=m)
             for lr, m in ((0.01, 0.9), (50.0, 0.5), (0.02, 0.8))]
    got = on("stacked", specs, synthetic)
    assert got[1][-1]["status"] == "diverged"
    for spec, records in zip([specs[0], specs[2]], [got[0], got[2]]):
        assert records[-1]["status"] == "ok"
        same(synthetic, spec, train(spec, synthetic), records)


def test_decoupled_decay_skips_biases_in_a_stack_as_alone_and_survives_a_drop(synthetic):
    """adamw's decay on weight matrices only: the shared optimizer has two groups, a stack's biases ([K, 1, out])
    in the undecayed one as a single run's ([out]); dropping a member keeps both groups' state."""
    from nncmp.training.engines.stacked import StackedRun

    specs = [s.resolved(synthetic.n_train) for s in specs_for({**BASE, "epochs": 2}, inits=("xavier", "lecun"),
                                                                seeds=(0,), optimizer="adamw", weight_decay=0.5)]
    engine = StackedRun(specs, synthetic)
    assert [len(g["params"]) for g in engine.optimizer.param_groups] == [3, 3]
    assert [g["weight_decay"] for g in engine.optimizer.param_groups] == [0.5, 0.0]
    engine.train_epoch()
    engine.drop([1])
    (losses, _, _), _ = engine.train_epoch()
    alone = train(specs[1], synthetic)
    assert abs(losses[0] - alone[2]["train_loss"]) <= 1e-4 * alone[2]["train_loss"]
