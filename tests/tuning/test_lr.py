"""--lrs auto: the rate grid, the known best rate on toy regression (the grid widened around it), one tuning
per activation, and an interrupted tuning resumed. (Widening at the edge, the split's size: test_guards.py.)"""

import itertools
import json
import math

import numpy as np
import pandas as pd
import pytest

from nncmp.config.space import POINTS, WIDEN
from nncmp.tuning.lr import lr_grid
from tests.conftest import TOY_X, TOY_Y


def test_lr_grid_spans_three_decades_around_the_default():
    grid = lr_grid(0.01)
    assert len(grid) >= 7 and 0.01 in grid
    assert grid[-1] / grid[0] == pytest.approx(1000, rel=0.01)
    assert all(b > a for a, b in itertools.pairwise(grid))


def gd_loss_after(lr, steps):
    x, y = TOY_X, TOY_Y
    w = np.zeros(2)
    for _ in range(steps):
        w = w - lr * 2 / 5 * x.T @ (x @ w - y)
    loss = np.mean((x @ w - y) ** 2)
    return loss if np.isfinite(loss) else math.inf


def test_tuning_picks_the_known_best_rate_on_toy_regression(cli, tmp_path):
    # Full-batch GD on the course's five points: the best rate after 40 steps is the largest stable one, inside
    # the grid, which widens by one rate each side (0.0001 and 1.0).
    tried = lr_grid(0.01, beyond=1)
    known_best = min(tried, key=lambda lr: gd_loss_after(lr, 40))
    assert known_best == 0.0316
    code, text, _ = cli("compare", "--dataset", "toy-regression", "--model", "linear", "--opts", "gd",
                        "--inits", "zeros", "--lrs", "auto", "--seeds", "2", "--epochs", "40", "--out", tmp_path)
    assert code == 0, text
    tuning = pd.read_csv(tmp_path / "tuning.csv")
    assert sorted(tuning["lr"]) == tried and tuning.loc[tuning["chosen"], "lr"].tolist() == [known_best]
    assert set(tuning.loc[tuning["lr"] > 0.05, "status"]) == {"diverged"}
    summary = pd.read_csv(tmp_path / "summary.csv")
    assert sorted(summary["lr_choice"]) == ["default", "tuned"]
    assert summary.loc[0, "lr"] == known_best and summary.loc[0, "lr_choice"] == "tuned"
    assert (summary["tuning_runs"] == POINTS + WIDEN).all() and (summary["tuning_seconds"] > 0).all()
    assert not summary["lr_at_edge"].any()
    # Paired gain of the tuned rate over the default, on the tuned row: a lower final loss here.
    tuned = summary[summary["lr_choice"] == "tuned"].iloc[0]
    default = summary[summary["lr_choice"] == "default"].iloc[0]
    assert tuned["tuned_minus_default"] == pytest.approx(tuned["final_val_loss_mean"] - default["final_val_loss_mean"])
    assert tuned["tuned_minus_default"] < 0 and math.isnan(default["tuned_minus_default"])
    assert "tuned" in text and "tuning (runs ·" in text  # its header may wrap at 200 columns


def test_lrs_auto_tunes_each_activation_and_normalisation_separately(cli, tmp_path):
    code, out, _ = cli("compare", "--dataset", "digits", "--opts", "minibatch", "--inits", "he", "--acts",
                       "relu,tanh", "--lrs", "auto", "--seeds", "2", "--epochs", "1", "--no-plot", "--quiet",
                       "--out", tmp_path)
    assert code == 0, out
    tuning = pd.read_csv(tmp_path / "tuning.csv")
    assert len(tuning) == 2 * (POINTS + WIDEN)  # one rate grid per activation
    assert tuning.groupby("act")["chosen"].sum().to_dict() == {"relu": 1, "tanh": 1}
    summary = pd.read_csv(tmp_path / "summary.csv")
    tuned = summary[summary["lr_choice"] == "tuned"]
    assert sorted(tuned["act"]) == ["relu", "tanh"]  # each activation's own tuned rate
    for row in tuned.to_dict("records"):
        chosen = tuning[(tuning["act"] == row["act"]) & tuning["chosen"]]["lr"].item()
        assert row["lr"] == chosen
    assert tuned["tuned_minus_default"].notna().all()  # paired with the default of the same activation


def test_an_interrupted_tuning_resumes_where_it_stopped(cli, tmp_path, monkeypatch):
    from nncmp.training import execute

    # --group-size 1: a group per run, so the interruption falls in the middle of the tuning.
    args = ["compare", "--dataset", "digits", "--opts", "minibatch,adam", "--inits", "he", "--seeds", "2",
            "--epochs", "2", "--lrs", "auto", "--no-plot", "--quiet", "--group-size", "1"]
    code, out, _ = cli(*args, "--out", tmp_path / "whole")
    assert code == 0, out
    from tests.faults import InterruptGroup

    interrupt = InterruptGroup(at=3)
    monkeypatch.setattr(execute, "run_group", interrupt)
    code, out, _ = cli(*args, "--out", tmp_path / "cut")
    assert code == 130 and "interrupted while tuning" in out and "resume with" in out
    assert not (tmp_path / "cut" / "tuning.csv").exists()
    monkeypatch.setattr(execute, "run_group", interrupt.real)
    code, out, _ = cli(*[a for a in args if a != "--quiet"], "--resume", tmp_path / "cut")
    assert code == 0, out
    assert f"resuming: 2 of {2 * (POINTS + WIDEN)} tuning runs already finished" in out
    for name in ("metrics.csv", "tuning_metrics.csv"):
        whole = pd.read_csv(tmp_path / "whole" / name).drop(columns=["seconds"])
        cut = pd.read_csv(tmp_path / "cut" / name).drop(columns=["seconds"])
        assert whole.to_csv(index=False) == cut.to_csv(index=False), name
    config = json.loads((tmp_path / "cut" / "config.json").read_text())
    assert len(config["resumed"]) == 1 and config["created"]
