"""A run's status, collapsed next to diverged, followed everywhere it is read: the recorder marks a finished
classification run whose final predictions are all one class (checked against torch's own argmax), the
summary keeps its numbers but never lets it reach a target and ranks it below runs that finished ok, a suite
never counts it as reaching, and tuning never chooses it."""

from __future__ import annotations

import math

import pandas as pd
import pytest
import torch
from torch import nn

from nncmp.registry.data import IGNORE_INDEX
from nncmp.results.schema import COLLAPSED, DIVERGED, OK
from nncmp.results.stats import status_text, summarize

# --- the rule, against torch ------------------------------------------------------------------------------


class Fixed(nn.Module):
    """Logits chosen by hand: class `cls[i]` for example i (one weight, so it has a parameter)."""

    def __init__(self, classes: torch.Tensor, n_classes: int):
        super().__init__()
        self.w = nn.Parameter(torch.zeros(()))
        self.logits = nn.functional.one_hot(classes, n_classes).float()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.logits[x.long().squeeze(-1)] + self.w


def test_one_class_is_every_argmax_equal_while_the_labels_differ():
    from nncmp.training.recorder import CHUNK, one_class

    n = 2 * CHUNK + 5  # several chunks: a different prediction in the last one still counts
    x = torch.arange(n).unsqueeze(-1).float()
    labels = torch.arange(n) % 3
    same = torch.full((n,), 2)
    differs_last = same.clone()
    differs_last[-1] = 0
    for predicted in (same, differs_last):
        model = Fixed(predicted, 3)
        reference = model(x).argmax(-1).unique().numel() == 1  # torch's own answer
        assert one_class(model, x, labels) is reference
    # Labels of one class: predicting that class everywhere may be right, so it is not a collapse.
    assert not one_class(Fixed(same, 3), x, torch.full((n,), 2))


def test_one_class_leaves_out_positions_without_a_target():
    from nncmp.training.recorder import one_class

    class PerPosition(nn.Module):  # (batch, 4 positions, 5 classes): class 1, but class 4 at position 3
        def __init__(self):
            super().__init__()
            self.w = nn.Parameter(torch.zeros(()))

        def forward(self, x):
            out = torch.zeros(len(x), 4, 5) + self.w
            out[:, :, 1] = 1.0
            out[:, 3, 4] = 2.0
            return out

    x = torch.zeros(6, 4)
    y = torch.tensor([[1, 2, 3, 0]] * 6)
    assert not one_class(PerPosition(), x, y)  # position 3 predicts another class
    y[:, 3] = IGNORE_INDEX  # ... but it has no target
    assert one_class(PerPosition(), x, y)


@pytest.fixture(scope="module")
def zeros_and_he(tmp_path_factory):
    """compare on digits: zeros (a ReLU MLP whose hidden units get no gradient: only the output bias learns, so
    every example gets one class) and he, two seeds each, trained together on the stacked engine; target 0.1,
    which the collapsed runs' accuracy passes."""
    from tests.conftest import run_cli

    out = tmp_path_factory.mktemp("collapse") / "c"
    code, text, _ = run_cli("compare", "--dataset", "digits", "--opts", "adam", "--inits", "zeros,he", "--hidden",
                            "16", "--seeds", "2", "--epochs", "1", "--target", "0.1", "--no-plot", "--out", out)
    assert code == 0, text
    return out, text


def test_a_collapsed_run_is_recorded_the_same_on_every_engine(zeros_and_he, digits):
    from nncmp.config.run import RunSpec
    from nncmp.training.engines.single import train

    out, _ = zeros_and_he
    metrics = pd.read_csv(out / "metrics.csv")
    last = metrics.sort_values("epoch").groupby("run_id").tail(1).set_index("init")
    assert set(last.loc["zeros", "status"]) == {COLLAPSED} and set(last.loc["he-normal", "status"]) == {OK}
    assert set(pd.read_csv(out / "runs.csv")["status"]) == {COLLAPSED, OK}
    # Predicting one class c scores exactly c's share of the validation labels.
    shares = {k / len(digits.y_val) for k in torch.bincount(digits.y_val).tolist()}
    assert set(last.loc["zeros", "val_acc"]) <= shares
    # The single-run engine (the reference) says the same of the same run.
    records = train(RunSpec(dataset="digits", optimizer="adam", init="zeros", hidden=(16,), epochs=1), digits)
    assert records[-1]["status"] == COLLAPSED and {r["status"] for r in records} == {COLLAPSED}


def test_a_collapsed_configuration_keeps_its_numbers_but_never_reaches_the_target(zeros_and_he):
    out, text = zeros_and_he
    summary = pd.read_csv(out / "summary.csv").set_index("init")
    zeros, he = summary.loc["zeros"], summary.loc["he-normal"]
    assert zeros["status"] == COLLAPSED and zeros["n_collapsed"] == 2 and zeros["n_diverged"] == 0
    assert zeros["final_val_acc_mean"] >= 0.1  # its accuracy passed the target ...
    assert math.isnan(zeros["epochs_to_target"])  # ... and it still never reached it
    assert he["status"] == OK and he["rank"] == 1 and zeros["rank"] == 2
    assert "collapsed" in text


def test_the_summary_counts_collapsed_runs_in_the_means_not_in_reaching():
    def run(seed, accs, status, config="a"):
        return [{"run_id": f"{config}/{seed}", "config": config, "optimizer": config, "init": "he-normal",
                 "act": "relu", "norm": "none", "lr": 0.1, "batch_size": 32, "schedule": "constant", "opt_args": "",
                 "hidden": "16", "dropout": 0.0, "model_args": "", "hyper": "", "seed": seed, "epoch": e,
                 "val_acc": a, "val_loss": 1 - a, "train_loss": 1 - a, "examples": 10 * e, "seconds": float(e),
                 "status": status} for e, a in enumerate(accs)]

    metrics = pd.DataFrame(run(0, [0.1, 0.6, 0.7], OK) + run(1, [0.1, 0.95, 0.4], COLLAPSED)
                           + run(0, [0.1, 0.5, 0.6], OK, "b") + run(1, [0.1, 0.5, 0.6], OK, "b"))
    summary = summarize(metrics, target=0.8).set_index("config")
    a = summary.loc["a"]
    assert a["final_val_acc_mean"] == pytest.approx((0.7 + 0.4) / 2)  # both runs' final values
    assert a["status"] == "1/2 collapsed" and a["n_collapsed"] == 1
    # The seed-mean curve of the ok runs only: 0.7 at best, so never 0.8, though the collapsed seed touched 0.95.
    assert math.isnan(a["epochs_to_target"])
    assert summary.loc["b", "rank"] == 1 and a["rank"] == 2  # ranked below a configuration whose runs were all ok


@pytest.mark.parametrize("diverged, collapsed, n, text", [
    (0, 0, 3, "ok"), (3, 0, 3, "diverged"), (0, 3, 3, "collapsed"), (1, 0, 3, "1/3 diverged"),
    (0, 2, 3, "2/3 collapsed"), (1, 1, 3, "1/3 diverged, 1/3 collapsed"), (2, 1, 3, "2/3 diverged, 1/3 collapsed")])
def test_status_text(diverged, collapsed, n, text):
    assert status_text(diverged, collapsed, n) == text


def test_a_suite_never_counts_a_collapsed_run_as_reaching(tmp_path):
    from nncmp.config.run import RunSpec
    from nncmp.suite.problems import Problem
    from nncmp.suite.times import run_times

    def records(seed, accs, status):
        return [{"run_id": f"a/s{seed}", "config": "a", "optimizer": "a", "seed": seed, "epoch": e, "val_acc": v,
                 "val_loss": 1 - v, "examples": 100 * e, "seconds": float(e), "batch_size": 32, "status": status}
                for e, v in enumerate(accs)]

    problem = Problem("p", RunSpec(dataset="digits", epochs=2), target=0.5)
    metrics = pd.DataFrame(records(0, [0.1, 0.6, 0.9], OK) + records(1, [0.1, 0.6, 0.55], COLLAPSED))
    times = run_times(problem, tmp_path, metrics).set_index("seed")
    assert times.loc[0, "reached"] and times.loc[0, "examples"] == 100
    assert not times.loc[1, "reached"] and times.loc[1, "examples"] == math.inf


def test_tuning_never_chooses_a_diverged_or_collapsed_trial():
    from nncmp.tuning.search import budget_value, score

    start = {"val_acc": 0.1, "val_loss": 2.3, "status": COLLAPSED}
    for status in (DIVERGED, COLLAPSED):
        end = {"val_acc": 0.63 if status == COLLAPSED else math.nan, "val_loss": 0.7, "status": status}
        assert score(end) == -math.inf
        assert budget_value([dict(start, status=status), end]) == 0.1  # counts as its untrained model
    assert score({"val_acc": 0.63, "val_loss": 0.7, "status": OK}) == 0.63
