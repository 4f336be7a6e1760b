"""Library optimizers in a stack, each member with an optimizer of its own over views of its slices (shaped
as its single run's parameters): the same records as single runs, for every optimizer the plan stacks."""

import math

import pytest

from nncmp.config.run import RunSpec
from nncmp.registry import optimizers as optim
from nncmp.registry.datasets import load
from nncmp.training.engines.single import train
from nncmp.training.execute import train_with
from nncmp.training.plan import NOT_STACKABLE, as_group, plan, unstackable
from tests.numerics import assert_same_records, spec_rtol

SMALL = {"dataset": "synthetic", "n": 300, "epochs": 2, "hidden": (16,)}


@pytest.fixture(scope="module")
def data():
    return load("synthetic", n=300)


def stackable(data):
    names = []
    for name in optim.all_names():
        if name in optim.OPTIMIZERS or optim.entry(name).unavailable:
            continue
        if unstackable(RunSpec(**SMALL, optimizer=name).resolved(data.n_train), data) is None:
            names.append(name)
    return names


def check(name, data):
    specs = [RunSpec(**SMALL, optimizer=name, init=i, seed=s).resolved(data.n_train)
             for i, s in (("he", 0), ("xavier", 1))]
    for spec, records in zip(specs, train_with(as_group("stacked", specs, data), data)):
        relative = spec_rtol(spec.resolved(data.n_train), data.n_train, math.prod(data.shape))
        assert_same_records(train(spec, data), records, relative, len(data.x_val), data.n_train)


@pytest.mark.parametrize("name", ["lion", "adan", "lamb", "prodigy", "adafactor", "shampoo"])
def test_library_optimizers_stack_with_an_optimizer_per_member(data, name):
    specs = [RunSpec(**SMALL, optimizer=name, init=i, seed=s).resolved(data.n_train)
             for i, s in (("he", 0), ("xavier", 1))]
    groups = plan(specs, data)
    assert len(groups) == 1 and groups[0].engine == "stacked" and "optimizer of its own" in groups[0].why
    check(name, data)


def test_the_ones_measured_to_differ_train_alone(data):
    for name in NOT_STACKABLE:
        specs = [RunSpec(**SMALL, optimizer=name, init=i).resolved(data.n_train) for i in ("he", "xavier")]
        assert len(plan(specs, data)) == 2


@pytest.mark.slow
def test_every_stackable_library_optimizer_matches_its_single_runs(data):
    names = stackable(data)
    assert len(names) > 100  # pytorch-optimizer's and torch's, beyond the built-ins
    failed = []
    for name in names:
        try:
            check(name, data)
        except AssertionError as e:
            failed.append(f"{name}: {str(e)[:80]}")
    assert not failed, failed
