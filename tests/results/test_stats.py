"""Statistics against hand computation on small fixed metrics tables: summaries, ranking, paired
baselines and time to target. Torch-free: the fast tier."""

import math

import numpy as np
import pandas as pd
import pytest

from nncmp.results.schema import RECORD_COLUMNS
from nncmp.results.stats import mean_std_ci, summarize

pytestmark = pytest.mark.fast


T_975_2 = 4.302652729911275  # Student t, 97.5% quantile, 2 degrees of freedom


def run_rows(config, optimizer, seed, val_accs, val_losses, status="ok"):
    rows = []
    for epoch, (acc, loss) in enumerate(zip(val_accs, val_losses)):
        rows.append({"run_id": f"{config}/seed={seed}", "config": config, "dataset": "d", "model": "mlp",
                     "optimizer": optimizer, "init": "he-normal", "act": "relu", "norm": "none", "lr": 0.01,
                     "batch_size": 64, "seed": seed,
                     "epoch": epoch, "train_loss": loss + 0.1, "train_acc": acc, "val_loss": loss, "val_acc": acc,
                     "examples": 100 * epoch, "seconds": 2.0 * epoch + seed, "status": status})
    return rows


@pytest.fixture
def metrics():
    rows = []
    # config A: final accuracies 0.80, 0.90, 0.85; reaches 0.8 on the mean curve at epoch 2
    rows += run_rows("A", "adam", 0, [0.1, 0.70, 0.80], [2.0, 1.0, 0.5])
    rows += run_rows("A", "adam", 1, [0.1, 0.80, 0.90], [2.0, 0.8, 0.4])
    rows += run_rows("A", "adam", 2, [0.1, 0.75, 0.85], [2.0, 0.9, 0.6])
    # config B: better accuracy, but one seed diverged
    rows += run_rows("B", "sgd", 0, [0.1, 0.95, 0.97], [2.0, 0.2, 0.1])
    rows += run_rows("B", "sgd", 1, [0.1, float("nan")], [2.0, float("nan")], status="diverged")
    # config C: finished, worse than A, never reaches 0.8
    rows += run_rows("C", "rmsprop", 0, [0.1, 0.5, 0.6], [2.0, 1.5, 1.2])
    return pd.DataFrame(rows, columns=RECORD_COLUMNS)


def test_mean_std_ci_by_hand():
    mean, std, ci = mean_std_ci([0.80, 0.90, 0.85])
    assert mean == pytest.approx(0.85)
    assert std == pytest.approx(0.05)  # sqrt(((-.05)^2 + .05^2 + 0) / 2)
    assert ci == pytest.approx(T_975_2 * 0.05 / math.sqrt(3))
    assert math.isnan(mean_std_ci([0.5])[1]) and math.isnan(mean_std_ci([0.5])[2])


def test_summary_by_hand(metrics):
    summary = summarize(metrics, target=0.8).set_index("config")
    a = summary.loc["A"]
    assert a["n_seeds"] == 3 and a["n_diverged"] == 0 and a["status"] == "ok"
    assert a["final_val_acc_mean"] == pytest.approx(0.85)
    assert a["final_val_acc_ci95"] == pytest.approx(T_975_2 * 0.05 / math.sqrt(3))
    assert a["best_val_acc_mean"] == pytest.approx(0.85)
    assert a["final_val_loss_mean"] == pytest.approx(0.5)
    assert a["final_train_loss_mean"] == pytest.approx(0.6)
    # mean curve: epoch 1 = 0.75 < 0.8, epoch 2 = 0.85 >= 0.8; seconds at epoch 2 = mean(4, 5, 6)
    assert (a["epochs_to_target"], a["examples_to_target"], a["seconds_to_target"]) == (2, 200, 5.0)
    b = summary.loc["B"]
    assert b["n_seeds"] == 2 and b["n_diverged"] == 1 and b["status"] == "1/2 diverged"
    assert b["final_val_acc_mean"] == pytest.approx(0.97)  # over finished seeds
    assert math.isnan(summary.loc["C"]["epochs_to_target"])


def test_ranking_puts_diverged_last(metrics):
    summary = summarize(metrics, target=0.8)
    assert summary["config"].tolist() == ["A", "C", "B"]
    assert summary["rank"].tolist() == [1, 2, 3]


def test_ranking_by_loss_when_there_is_no_accuracy(metrics):
    summary = summarize(metrics.assign(val_acc=float("nan"), train_acc=float("nan")))
    assert summary["config"].tolist() == ["A", "C", "B"]  # A's val loss 0.5 < C's 1.2


# --- baseline, ranking ----------------------------------------------------------------------------


def metrics_table(finals):
    """Two-epoch runs; finals maps (config, seed) -> final val acc."""
    rows = []
    for (config, seed), acc in finals.items():
        for epoch, a in enumerate([0.1, acc]):
            rows.append({"run_id": f"{config}/seed={seed}", "config": config, "dataset": "d", "model": "mlp",
                         "optimizer": config.split("/")[0], "init": config.split("/")[1], "act": "relu",
                         "norm": "none", "lr": 0.01,
                         "batch_size": 64, "seed": seed, "epoch": epoch, "train_loss": 1.0 - a, "train_acc": a,
                         "val_loss": 1.0 - a, "val_acc": a, "examples": 10 * epoch, "seconds": float(epoch),
                         "status": "ok"})
    return pd.DataFrame(rows)


def test_paired_difference_by_hand():
    finals = {("sgd/he-normal", 0): 0.80, ("sgd/he-normal", 1): 0.70, ("sgd/he-normal", 2): 0.90,
              ("adam/he-normal", 0): 0.83, ("adam/he-normal", 1): 0.72, ("adam/he-normal", 2): 0.94}
    summary = summarize(metrics_table(finals), target=None, baseline="sgd").set_index("config")
    adam = summary.loc["adam/he-normal"]
    diffs = np.array([0.03, 0.02, 0.04])  # paired by seed
    t = 4.302652729911275
    assert adam["diff_vs_baseline"] == pytest.approx(diffs.mean())
    assert adam["diff_ci95"] == pytest.approx(t * diffs.std(ddof=1) / math.sqrt(3))
    assert adam["diff_n"] == 3 and adam["diff_excludes_0"]  # 0.03 ± 0.0248
    # Unpaired, the same numbers could not tell the two apart: the seeds' spread is 10x the difference.
    assert summary.loc["sgd/he-normal", "final_val_acc_ci95"] > 0.2


def test_unreached_target_ranks_below_reached():
    summary = summarize(metrics_table({("a/x", 0): 0.95, ("b/x", 0): 0.92}), target=0.93)
    assert summary["config"].tolist() == ["a/x", "b/x"]
    summary = summarize(metrics_table({("a/x", 0): 0.91, ("b/x", 0): 0.96}), target=0.95, metric="final_val_loss")
    assert summary["config"].tolist() == ["b/x", "a/x"]
    # a ends with the lower loss but never reaches 0.95; ranked by loss it would come first.
    summary = summarize(metrics_table({("a/x", 0): 0.94, ("b/x", 0): 0.96}).assign(
        val_loss=lambda m: np.where(m["config"] == "a/x", 0.01, 0.5)), target=0.95, metric="final_val_loss")
    assert summary["config"].tolist() == ["b/x", "a/x"]


def test_rank_by_time_to_target():
    m = metrics_table({("a/x", 0): 0.95, ("b/x", 0): 0.97})
    m.loc[m["config"] == "a/x", "seconds"] *= 0.5  # a reaches the target in half the time
    summary = summarize(m, target=0.9, metric="seconds_to_target")
    assert summary["config"].tolist() == ["a/x", "b/x"]


def test_baseline_pairs_time_to_target_seed_by_seed():
    m = metrics_table({("a/x", 0): 0.95, ("a/x", 1): 0.95, ("b/x", 0): 0.97, ("b/x", 1): 0.97})
    m.loc[(m["config"] == "a/x") & (m["seed"] == 0), "seconds"] *= 0.5  # seed 0: a is 0.5 s sooner
    m.loc[(m["config"] == "a/x") & (m["seed"] == 1), "seconds"] *= 0.25  # seed 1: 0.75 s sooner
    summary = summarize(m, target=0.9, metric="seconds_to_target", baseline="b").set_index("config")
    assert summary.loc["a/x", "diff_vs_baseline"] == pytest.approx(-0.625)
    assert summary.loc["a/x", "diff_ci95"] == pytest.approx(12.706204736174707 * 0.1767766952966369 / math.sqrt(2))
