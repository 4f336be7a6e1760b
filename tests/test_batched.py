"""The batched engine against the single-run engine: same records per run, whatever the grouping."""

import math

import pytest

from nncmp.batched import fast_sgd, group_key, train_group
from nncmp.data import load
from nncmp.engine import train
from nncmp.execute import train_one
from nncmp.plan import plan
from nncmp.spec import Grid, RunSpec

METRICS = ("train_loss", "val_loss", "train_acc", "val_acc")


@pytest.fixture(scope="module")
def synthetic():
    return load("synthetic", n=600)


def assert_same_records(expected, got, rtol=1e-5, atol=1e-6):
    """Same epochs and outcome; losses within rtol (atol for losses near zero); accuracies within one example."""
    assert [r["epoch"] for r in got] == [r["epoch"] for r in expected]
    for a, b in zip(expected, got):
        assert b["status"] == a["status"] and b["run_id"] == a["run_id"] and b["examples"] == a["examples"]
        assert b["diverged_step"] == a["diverged_step"]
        for col in METRICS:
            x, y = a[col], b[col]
            if x is None:
                assert y is None
            elif "acc" in col:
                assert abs(x - y) <= 1 / 100 + 1e-12, (col, a["epoch"], x, y)  # ≤ 1 of ≥ 100 examples
            elif math.isfinite(x):
                assert abs(x - y) <= atol + rtol * abs(x), (col, a["epoch"], x, y)
            else:
                assert not math.isfinite(y)


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
    "sgd-relu": {"optimizer": "sgd", "epochs": 2},
    "sgd-tanh": {"optimizer": "sgd", "act": "tanh", "epochs": 2},
    "sgd-sigmoid": {"optimizer": "sgd", "act": "sigmoid", "epochs": 2},
    "sgd-logreg": {"optimizer": "sgd", "model": "logreg", "epochs": 2},
}


@pytest.mark.parametrize("case", CASES)
def test_stacked_runs_match_the_single_run_engine(synthetic, case):
    specs = specs_for(BASE, **CASES[case])
    assert len({group_key(s.resolved(synthetic.n_train)) for s in specs}) == 1
    got = train_group(specs, synthetic)
    for spec, records in zip(specs, got):
        assert_same_records(train(spec, synthetic), records)


def test_regression_runs_stack_too():
    data = load("toy-regression")
    specs = [RunSpec(dataset="toy-regression", model="linear", optimizer="minibatch", lr=0.01, init=i, epochs=5)
             for i in ("zeros", "xavier", "he")]
    for spec, records in zip(specs, train_group(specs, data)):
        assert_same_records(train(spec, data), records)


def test_a_member_does_not_depend_on_its_neighbours(synthetic):
    """Every operation acts on each member's slice: a run stacked with others equals it stacked alone."""
    for extra in ({"optimizer": "adam"}, {"optimizer": "rmsprop"}, {"optimizer": "sgd", "epochs": 1},
                  {"optimizer": "adamw", "dropout": 0.2}):
        specs = specs_for(BASE, inits=("xavier", "he", "small"), **extra)
        together = train_group(specs, synthetic)
        for spec, records in zip(specs, together):
            assert_same_records(train_group([spec], synthetic)[0], records)


def test_batch1_sgd_fast_path_takes_each_members_own_rate(synthetic):
    specs = [RunSpec(**BASE, optimizer="sgd", init="he", lr=lr) for lr in (0.001, 0.003, 0.01)]
    specs = [RunSpec(**{**s.to_dict(), "epochs": 2}) for s in specs]
    assert all(fast_sgd(s.resolved(synthetic.n_train)) for s in specs)
    assert len(plan(specs, synthetic.n_train)) == 1  # rates differ, one group all the same
    for spec, records in zip(specs, train_group(specs, synthetic)):
        assert_same_records(train(spec, synthetic), records)


def test_diverged_members_leave_the_stack_and_the_rest_carry_on(synthetic):
    # momentum at lr 0.2: xavier diverges at epoch 3 while lecun trains on calmly; with momentum, dropping
    # a member must also drop its slice of the optimizer state.
    specs = specs_for({**BASE, "epochs": 4}, inits=("xavier", "lecun"), seeds=(0,), optimizer="momentum", lr=0.2)
    diverged, calm = train_group(specs, synthetic)
    assert diverged[-1]["status"] == "diverged" and diverged[-1]["epoch"] == 3
    assert calm[-1]["status"] == "ok" and calm[-1]["epoch"] == 4 and calm[-1]["val_loss"] < 0.1
    alone = train(specs[0], synthetic)
    assert [r["epoch"] for r in alone] == [0, 1, 2, 3] and alone[-1]["status"] == "diverged"
    assert diverged[-1]["diverged_step"] == alone[-1]["diverged_step"] is not None
    assert_same_records(train(specs[1], synthetic), calm)
    assert_same_records(train_group(specs[1:], synthetic)[0], calm)


def test_diverged_at_once_and_huge_rates_in_the_fast_path(synthetic):
    specs = [RunSpec(**{**BASE, "epochs": 2}, optimizer="sgd", init="he", lr=lr) for lr in (0.01, 1e6)]
    ok, diverged = train_group(specs, synthetic)
    assert ok[-1]["status"] == "ok" and len(ok) == 3 and all(r["diverged_step"] is None for r in ok)
    assert diverged[-1]["status"] == "diverged" and diverged[-1]["epoch"] == 1
    alone = train(specs[1], synthetic)  # autograd + torch.optim.SGD: the same step blows up
    assert 1 < diverged[-1]["diverged_step"] == alone[-1]["diverged_step"] < 480
    assert_same_records(train(specs[0], synthetic), ok)


def test_seconds_are_shared_among_the_runs_of_a_group(synthetic):
    specs = specs_for(BASE, optimizer="adam")
    runs = train_group(specs, synthetic)
    assert all(r[0]["seconds"] == 0.0 for r in runs)
    assert all(r[-1]["seconds"] > 0 for r in runs)
    assert len({r[-1]["seconds"] for r in runs}) == 1  # no member diverged: equal shares


def test_train_group_refuses_runs_that_cannot_share_a_stack(synthetic):
    with pytest.raises(ValueError):
        train_group([RunSpec(**BASE, optimizer="adam"), RunSpec(**BASE, optimizer="minibatch")], synthetic)
    with pytest.raises(ValueError):
        train_group([RunSpec(dataset="digits", model="cnn", optimizer="adam")], load("digits"))


def test_train_one_uses_the_fast_path_for_batch1_sgd_only(synthetic):
    spec = RunSpec(**{**BASE, "epochs": 1}, optimizer="sgd", init="he")
    assert_same_records(train(spec, synthetic), train_one(spec, synthetic))
    spec = RunSpec(**{**BASE, "epochs": 1}, optimizer="adam", init="he")
    fast, simple = train_one(spec, synthetic), train(spec, synthetic)
    assert [r["val_loss"] for r in fast] == [r["val_loss"] for r in simple]  # the same engine.train


def test_plan_groups_runs_that_differ_in_init_and_seed():
    grid = Grid(base=RunSpec(epochs=2), optimizers=("sgd", "minibatch", "rmsprop", "adam"), inits=("xavier", "he"),
                seeds=3)
    specs = grid.runs()
    groups = plan(specs, 4000)
    assert [len(g.indices) for g in groups] == [6, 6, 6, 6]
    assert sorted(i for g in groups for i in g.indices) == list(range(24))
    assert all(len({specs[i].optimizer for i in g.indices}) == 1 for g in groups)
    assert "fast path" in groups[0].why and all(g.stacked for g in groups)
    assert [len(g.indices) for g in plan(specs, 4000, max_group=4)] == [4, 2] * 4
    alone = plan(specs, 4000, max_group=1)
    assert len(alone) == 24
    assert alone[0].stacked and "fast path" in alone[0].why  # sgd alone still takes the fast path
    assert not alone[6].stacked and "--group-size 1" in alone[6].why


def test_plan_keeps_different_rates_apart_except_in_the_fast_path():
    specs = Grid(base=RunSpec(), optimizers=("adam", "sgd"), inits=("he",), lrs=(0.001, 0.01), seeds=2).runs()
    groups = plan(specs, 4000)
    assert [[specs[i].optimizer for i in g.indices] for g in groups] == [["adam"] * 2, ["adam"] * 2, ["sgd"] * 4]


def test_plan_sends_the_cnn_to_the_single_engine_and_says_why():
    specs = Grid(base=RunSpec(dataset="digits", model="cnn"), optimizers=("adam",), inits=("he",), seeds=2).runs()
    groups = plan(specs, 1437)
    assert len(groups) == 2 and not groups[0].stacked and "cnn" in groups[0].why


def test_training_flops_of_the_course_mlp_by_hand():
    from nncmp.bench import train_flops

    data = load("synthetic", n=100)
    macs = 784 * 256 + 256 * 128 + 128 * 10
    # forward + weight gradients (2 × 2·macs) + input gradients of the layers above the first
    assert train_flops(RunSpec(dataset="synthetic"), data) == 2 * (2 * macs + 256 * 128 + 128 * 10) == 1_007_104
    assert train_flops(RunSpec(dataset="synthetic", model="logreg"), data) == 4 * 7840
