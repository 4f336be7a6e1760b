"""Step budgets (--steps, --eval-every) and --clip-grad-norm on every engine: a step budget's batches are the
epoch budget's, counted in steps; stacked runs clip each member as torch clips a single run."""

import pytest

from nncmp.config.budget import rounds, steps_per_epoch, total_steps
from nncmp.config.run import RunSpec
from nncmp.registry.datasets import load
from nncmp.training.engines.single import train
from nncmp.training.execute import train_with
from nncmp.training.plan import as_group, plan
from tests.numerics import assert_same_records, rtol, steps_of

SMALL = {"dataset": "digits", "hidden": (32, 16), "batch_size": 64}


@pytest.fixture(scope="module")
def digits():
    return load("digits")


def timeless(records):
    return [{k: v for k, v in r.items() if k != "seconds"} for r in records]


def test_a_step_budget_in_whole_epochs_is_the_epoch_budget(digits):
    per = steps_per_epoch(RunSpec(**SMALL), digits.n_train)
    by_epoch = train(RunSpec(**SMALL, epochs=2), digits)
    by_step = train(RunSpec(**SMALL, steps=2 * per, eval_every=per), digits)
    assert timeless(by_epoch) == timeless(by_step)
    assert [r["step"] for r in by_step] == [0, per, 2 * per]


def test_evaluations_every_k_steps_and_a_shorter_last_one(digits):
    spec = RunSpec(**SMALL, steps=25, eval_every=10)
    assert rounds(spec) == 3 and total_steps(spec, digits.n_train) == 25
    records = train(spec, digits)
    assert [r["step"] for r in records] == [0, 10, 20, 25]
    # 1437 examples: a pass is 22 batches of 64 and one of 29 (step 23), then the next pass's batches.
    assert digits.n_train == 1437
    assert [r["examples"] for r in records] == [0, 640, 1280, 1280 + 2 * 64 + 29 + 2 * 64]
    assert RunSpec(**SMALL, steps=50).eval_every is None and rounds(RunSpec(**SMALL, steps=50)) == 10


@pytest.mark.parametrize("extra", [{"steps": 40, "eval_every": 15}, {"epochs": 2, "clip_grad_norm": 0.5},
                                   {"steps": 30, "eval_every": 10, "clip_grad_norm": 0.1, "optimizer": "adamw"}])
def test_stacked_runs_match_single_runs(digits, extra):
    specs = [RunSpec(**{**SMALL, **extra}, init=i, seed=s).resolved(digits.n_train) for i in ("he", "xavier")
             for s in (0, 1)]
    (group,) = plan(specs, digits)
    assert group.engine == "stacked"
    stacked = train_with(group, digits)
    steps = total_steps(specs[0], digits.n_train)
    for spec, got in zip(specs, stacked):
        assert_same_records(train(spec, digits), got, 3.2 * rtol(steps, 64), len(digits.x_val), digits.n_train)


def test_clipping_changes_the_run_and_a_loose_clip_does_not(digits):
    plain = train(RunSpec(**SMALL, epochs=1), digits)
    clipped = train(RunSpec(**SMALL, epochs=1, clip_grad_norm=0.01), digits)
    loose = train(RunSpec(**SMALL, epochs=1, clip_grad_norm=1e6), digits)
    assert clipped[-1]["val_loss"] != plain[-1]["val_loss"]
    assert timeless(loose)[-1]["val_loss"] == plain[-1]["val_loss"]


def test_the_fast_path_leaves_step_budgets_and_other_losses_to_autograd(digits):
    sgd = dict(SMALL, batch_size=1, optimizer="sgd")
    assert plan([RunSpec(**sgd).resolved(digits.n_train)], digits)[0].engine == "fast-sgd"
    for extra in ({"steps": 100}, {"clip_grad_norm": 1.0}, {"label_smoothing": 0.1}):
        group = plan([RunSpec(**sgd, **extra).resolved(digits.n_train)], digits)[0]
        assert group.engine == "single", extra
    with pytest.raises(ValueError):
        as_group("fast-sgd", [RunSpec(**sgd, steps=100).resolved(digits.n_train)], digits)


def test_steps_to_examples(digits):
    assert steps_of(digits.n_train, 64, 1) == steps_per_epoch(RunSpec(**SMALL), digits.n_train)
