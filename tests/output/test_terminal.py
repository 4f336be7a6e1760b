"""The summary's cells say no more than the numbers do: intervals cut at a metric's range and marked, ties
shown as ties, too few seeds marked; the CSV and JSON keep the raw numbers."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from nncmp.output.terminal import ACCURACY, LOSS, mean_pm, summary_caption, summary_rows

pytestmark = pytest.mark.fast


def test_an_interval_past_the_metrics_range_is_cut_and_marked():
    assert mean_pm(0.7555, 0.8196, bounds=ACCURACY) == "0.7555 [0.0000, 1.0000]‡"
    assert mean_pm(0.2301, 0.2360, bounds=LOSS) == "0.2301 [0.0000, 0.4661]‡"
    assert mean_pm(0.93, 0.01, bounds=ACCURACY) == "0.9300 ± 0.0100"


def test_tied_seeds_are_a_tie_not_certainty():
    assert mean_pm(0.9722, 0.0, bounds=ACCURACY) == "0.9722 (tied)"
    assert mean_pm(0.9722, math.nan) == "0.9722"  # one seed: no interval at all


def _summary(n: int, accs: tuple[float, float], cis: tuple[float, float]) -> pd.DataFrame:
    return pd.DataFrame({
        "rank": [1, 2], "config": ["a", "b"], "optimizer": ["sgd", "adam"], "init": ["he", "he"],
        "act": ["relu"] * 2, "norm": ["none"] * 2, "lr": [0.01, 0.001], "batch_size": [1, 64],
        "schedule": ["constant"] * 2, "opt_args": [""] * 2, "n_seeds": [n, n], "n_diverged": [0, 0],
        "status": ["ok", "ok"], "final_val_acc_mean": list(accs), "final_val_acc_std": [0.0, 0.06],
        "final_val_acc_ci95": list(cis), "best_val_acc_mean": list(accs), "best_val_acc_ci95": list(cis),
        "final_val_loss_mean": [0.3, 0.8], "final_val_loss_ci95": [0.1, 0.1],
        "final_train_loss_mean": [0.2, 0.5], "final_train_loss_ci95": [0.1, 0.1],
        "epochs_to_target": [math.nan] * 2, "examples_to_target": [math.nan] * 2, "seconds_to_target": [math.nan] * 2,
    })


def test_two_seeds_a_tie_and_a_cut_interval_are_marked_and_explained():
    summary = _summary(2, (0.9722, 0.7555), (0.0, 0.8196))
    headers, rows = summary_rows(summary, "final_val_acc", None)
    cells = dict(zip(headers, rows[0])), dict(zip(headers, rows[1]))
    assert cells[0]["n"] == cells[1]["n"] == "2†"
    assert cells[0]["final val acc"] == "0.9722 (tied)"
    assert cells[1]["final val acc"] == "0.7555 [0.0000, 1.0000]‡"
    caption = summary_caption(summary, "final_val_acc", None)
    assert "† fewer than 3 seeds" in caption and "‡ the interval reached past" in caption and "(tied)" in caption
    assert summary["final_val_acc_ci95"].tolist() == [0.0, 0.8196]  # the table's numbers are untouched


def test_three_seeds_are_not_marked():
    headers, rows = summary_rows(_summary(3, (0.95, 0.90), (0.01, 0.02)), "final_val_acc", None)
    assert dict(zip(headers, rows[0]))["n"] == "3"
    assert "†" not in summary_caption(_summary(3, (0.95, 0.90), (0.01, 0.02)), "final_val_acc", None)
