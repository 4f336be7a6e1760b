"""The torch.func engine (a user's model, stacked with vmap) against the single-run engine: the same records
per run, to rounding (tests/numerics.py), at two torch thread counts; and the plan's choice of it."""

import math
import textwrap

import pytest

from nncmp.config.run import RunSpec
from nncmp.registry.user_data import make_data
from nncmp.training.engines.func_stacked import FuncStackedRun
from nncmp.training.engines.single import train
from nncmp.training.execute import train_with
from nncmp.training.plan import as_group, plan
from tests.numerics import THREADS, amplification, assert_same_records, rtol, steps_of, torch_threads

MODELS = textwrap.dedent("""
    from torch import nn

    class Conv(nn.Module):
        def __init__(self, input_shape, n_classes):
            super().__init__()
            c, length = input_shape
            self.f = nn.Sequential(nn.Conv1d(c, 6, 5, padding=2), nn.Tanh(), nn.MaxPool1d(2), nn.Flatten(),
                                   nn.Linear(6 * (length // 2), n_classes))

        def forward(self, x):
            return self.f(x)

    def with_batchnorm(input_shape, n_classes):
        return nn.Sequential(nn.Flatten(), nn.Linear(input_shape[-1], 8), nn.BatchNorm1d(8), nn.ReLU(),
                             nn.Linear(8, n_classes))

    def with_dropout(input_shape, n_classes):
        return nn.Sequential(nn.Flatten(), nn.Linear(input_shape[-1], 8), nn.Dropout(0.2), nn.Linear(8, n_classes))
""")


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    path = tmp_path_factory.mktemp("models") / "models.py"
    path.write_text(MODELS)
    return path


@pytest.fixture(scope="module")
def signals():
    import numpy as np

    rng = np.random.RandomState(0)
    x = rng.randn(300, 1, 16).astype("float32")
    y = (x[:, 0, :4].sum(1) > 0).astype(int) + (x[:, 0, 8:].mean(1) > 0.2).astype(int)
    return make_data("signals", x[:240], y[:240], x[240:], y[240:])


def specs_for(models, optimizer, **extra):
    return [RunSpec(model=f"{models}:Conv", optimizer=optimizer, init=init, seed=seed, epochs=2, batch_size=32,
                    **extra).resolved(240) for init in ("he", "default") for seed in (0, 1)]


def func_stacked(specs, data):
    return train_with(as_group("stacked-func", specs, data), data)


@pytest.mark.parametrize("optimizer, extra", [("adam", {}), ("momentum", {}), ("rmsprop", {"lr": 0.001}),
                                              ("adamw", {"schedule": "warmup-cosine"})])
@pytest.mark.parametrize("threads", THREADS, ids=lambda n: f"threads={n}")
def test_stacked_with_torch_func_matches_the_single_run_engine(models, signals, optimizer, extra, threads):
    specs = specs_for(models, optimizer, **extra)
    with torch_threads(threads):
        stacked = func_stacked(specs, signals)
        alone = [train(s, signals) for s in specs]
    spec = specs[0].resolved(signals.n_train)
    relative = amplification(spec) * rtol(steps_of(signals.n_train, 32, 2), max(6 * 8, 32, 5 * 6))
    for expected, got in zip(alone, stacked):
        assert_same_records(expected, got, relative, len(signals.x_val), signals.n_train)


def test_the_tolerance_sees_a_real_difference(models, signals):
    specs = specs_for(models, "adam")
    stacked = func_stacked(specs, signals)
    other = train(RunSpec(**{**specs[0].to_dict(), "lr": 0.0011}), signals)
    with pytest.raises(AssertionError):
        assert_same_records(other, stacked[0], rtol(steps_of(240, 32, 2), 48) * 3.2, 60, 240)


def test_the_plan_stacks_a_users_model_only_when_it_can(models, signals):
    conv = specs_for(models, "adam")
    (group,) = plan(conv, signals)
    assert group.engine == "stacked-func" and "torch.func" in group.why
    for name, why in (("with_batchnorm", "it has buffers"), ("with_dropout", "random layers (Dropout)")):
        runs = [RunSpec(model=f"{models}:{name}", seed=s).resolved(240) for s in (0, 1)]
        groups = plan(runs, signals)
        assert [g.engine for g in groups] == ["single", "single"] and why in groups[0].why
    sgd = [RunSpec(model=f"{models}:Conv", optimizer="sgd", seed=s).resolved(240) for s in (0, 1)]
    assert "batch size 1 trains alone" in plan(sgd, signals)[0].why
    lion = [RunSpec(model=f"{models}:Conv", optimizer="lion", seed=s).resolved(240) for s in (0, 1)]
    assert "only for the built-in optimizers" in plan(lion, signals)[0].why


def test_dropping_a_member_keeps_the_others_and_their_optimizer_state(models, signals):
    """What the recorder does when a member diverges: the rest carry on as if alone."""
    specs = specs_for(models, "adam")
    engine = FuncStackedRun(specs, signals)
    engine.train_epoch()
    engine.drop([1, 3])
    (losses, _, _), _ = engine.train_epoch()
    for position, spec in zip((1, 3), engine.specs):
        alone = train(RunSpec(**{**spec.to_dict(), "epochs": 2}), signals)
        assert math.isclose(losses[(1, 3).index(position)], alone[2]["train_loss"], rel_tol=1e-4)


def test_member_is_the_run_as_an_ordinary_model(models, signals):
    import torch

    engine = FuncStackedRun(specs_for(models, "adam"), signals)
    engine.train_epoch()
    model = engine.member(2)
    losses, _ = engine.evaluate("val")
    with torch.no_grad():
        loss = torch.nn.functional.cross_entropy(model(signals.x_val), signals.y_val)
    assert abs(float(loss) - losses[2]) < 1e-5
