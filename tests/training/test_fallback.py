"""An engine is an optimisation, never a risk: models a torch.func stack cannot train (a GRU, randomness drawn
inside forward, control flow on the data) train on the single-run engine at the default group size, with the
reason in the plan; a stack that fails during training is retried run by run; the records are the single
engine's."""

import textwrap

import numpy as np
import pytest

from nncmp.config.run import RunSpec
from nncmp.registry.user_data import make_data
from nncmp.training import execute
from nncmp.training.engines import func_stacked
from nncmp.training.engines.single import train
from nncmp.training.plan import plan

MODELS = textwrap.dedent("""
    import torch
    import torch.nn.functional as F
    from torch import nn

    class Gru(nn.Module):
        def __init__(self, input_shape, n_classes, vocab_size):
            super().__init__()
            self.embed = nn.Embedding(vocab_size, 8)
            self.gru = nn.GRU(8, 12, batch_first=True)
            self.head = nn.Linear(12, n_classes)

        def forward(self, x):
            return self.head(self.gru(self.embed(x))[0])

    class FunctionalDropout(nn.Module):
        def __init__(self, input_shape, n_classes, vocab_size):
            super().__init__()
            self.embed = nn.Embedding(vocab_size, 8)
            self.head = nn.Linear(8, n_classes)

        def forward(self, x):
            return self.head(F.dropout(self.embed(x), 0.2, self.training))

    class Noisy(nn.Module):
        def __init__(self, input_shape, n_classes, vocab_size):
            super().__init__()
            self.embed = nn.Embedding(vocab_size, 8)
            self.head = nn.Linear(8, n_classes)

        def forward(self, x):
            h = self.embed(x)
            return self.head(h + 0.01 * torch.randn(h.shape) if self.training else h)

    class Plain(nn.Module):
        def __init__(self, input_shape, n_classes, vocab_size):
            super().__init__()
            self.embed = nn.Embedding(vocab_size, 8)
            self.head = nn.Linear(8, n_classes)

        def forward(self, x):
            return self.head(torch.tanh(self.embed(x)))
""")


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    path = tmp_path_factory.mktemp("fallback") / "models.py"
    path.write_text(MODELS)
    return path


@pytest.fixture(scope="module")
def tokens():
    """Next-token prediction on a repeating pattern: integer inputs, a label per position."""
    rng = np.random.RandomState(0)
    seq = np.array([0, 1, 2, 3, 4, 5] * 200) + rng.randint(0, 2, 1200) * 6
    x = np.stack([seq[i:i + 8] for i in range(0, 1100, 5)]).astype(np.int64)
    y = np.stack([seq[i + 1:i + 9] for i in range(0, 1100, 5)]).astype(np.int64)
    return make_data("pattern", x[:180], y[:180], x[180:], y[180:])


def timeless(records):
    return [{k: v for k, v in r.items() if k != "seconds"} for r in records]


def specs(models, name, **extra):
    return [RunSpec(model=f"{models}:{name}", init=init, seed=seed, epochs=2, batch_size=16, **extra).resolved(180)
            for init in ("default", "he") for seed in (0, 1)]


@pytest.mark.parametrize("name, says", [("Gru", "gru"), ("FunctionalDropout", "random"), ("Noisy", "random")])
def test_what_a_stack_cannot_train_trains_alone_on_the_default_group_size(models, tokens, name, says):
    runs = specs(models, name)
    groups = plan(runs, tokens)
    assert [g.engine for g in groups] == ["single"] * 4
    assert "failed when tried on one batch" in groups[0].why and says in groups[0].why.lower()
    records = [execute.train_with(g, tokens)[0] for g in groups]
    for got, spec in zip(records, runs):
        assert timeless(got) == timeless(train(spec, tokens)) and got[-1]["status"] == "ok"


def test_a_model_that_stacks_passes_its_trial(models, tokens):
    (group,) = plan(specs(models, "Plain"), tokens)
    assert group.engine == "stacked-func"


def test_a_stack_that_fails_while_training_is_retried_on_the_single_engine(models, tokens, monkeypatch):
    runs = specs(models, "Plain")
    (group,) = plan(runs, tokens)

    def broken(self, steps=None):
        raise RuntimeError("vmap: something it cannot batch, found at epoch 1")

    monkeypatch.setattr(func_stacked.FuncStackedRun, "train_epoch", broken)
    reported = []
    with pytest.warns(RuntimeWarning, match="stacked-func engine failed on 4 runs .*something it cannot batch"):
        records = execute.train_with(group, tokens, on_epoch=reported.append)
    assert [timeless(r) for r in records] == [timeless(train(s, tokens)) for s in runs]
    # Progress hears of each run's epochs once, though epoch 0 was recorded twice.
    assert sorted((r["run_id"], r["epoch"]) for r in reported) == sorted(
        (s.run_id, e) for s in runs for e in range(3))


def test_the_built_in_transformer_is_planned_on_the_torch_func_stack_after_its_trial():
    from nncmp.registry.datasets import load

    data = load("modadd", args=(("p", 7),))
    base = {"dataset": "modadd", "data_args": (("p", 7),), "model": "transformer", "optimizer": "adam",
            "batch_size": 8}
    runs = [RunSpec(**base, init=init, seed=seed).resolved(len(data.y_train))
            for init in ("default", "gpt2") for seed in (0, 1)]
    (group,) = plan(runs, data)
    assert group.engine == "stacked-func" and len(group.indices) == 4
