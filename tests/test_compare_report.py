"""Comparisons people can trust: paired baselines, learning-rate tuning, plots, and `nncmp report`."""

import itertools
import json
import math

import numpy as np
import pandas as pd
import pytest
import torch

from nncmp.output.plots import curves, final_bars
from nncmp.registry.datasets import holdout as tuning_split
from nncmp.registry.datasets import load
from nncmp.results.stats import summarize
from nncmp.tuning.lr import lr_grid
from tests.numerics import THREADS, assert_frames_close

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def compared(tmp_path_factory):
    """One small real comparison shared by the tests below: 2 optimizers × 2 inits × 3 seeds on digits."""
    from tests.conftest import run_cli

    out = tmp_path_factory.mktemp("compare")
    code, text, _ = run_cli("compare", "--dataset", "digits", "--opts", "minibatch,adam", "--inits", "xavier,he",
                            "--seeds", "3", "--epochs", "3", "--baseline", "minibatch/he", "--out", out)
    assert code == 0, text
    return out, text


def test_compare_writes_summary_plots_and_baseline(compared):
    out, text = compared
    summary = pd.read_csv(out / "summary.csv")
    for col in ("final_val_acc_ci95", "best_val_acc_std", "final_train_loss_mean", "n_diverged",
                "epochs_to_target", "examples_to_target", "seconds_to_target", "diff_vs_baseline", "diff_ci95"):
        assert col in summary.columns, col
    base = summary[summary["config"] == "minibatch/he-normal/lr=0.01/bs=64"].iloc[0]
    assert base["diff_vs_baseline"] == 0 and not base["diff_excludes_0"]
    for name in ("curves_epochs.png", "final_val_acc.png"):
        assert (out / name).read_bytes()[:8] == PNG_MAGIC
    assert "Δ vs baseline" in text and "95% CI" in text


def test_report_reproduces_compare_byte_for_byte(compared, cli):
    out, _ = compared
    before = (out / "summary.csv").read_bytes()
    code, _, result = cli("report", out, "--format", "csv", "--no-plot")
    assert code == 0
    assert result.stdout.encode() == before
    code, _, _ = cli("report", out)  # re-renders table and plots; leaves summary.csv alone
    assert code == 0 and (out / "summary.csv").read_bytes() == before


def test_report_formats(compared, cli):
    out, _ = compared
    code, _, result = cli("report", out, "--json", "--no-plot")
    assert code == 0
    doc = json.loads(result.stdout)  # nothing but JSON on stdout
    assert doc["metric"] == "final_val_acc" and len(doc["summary"]) == 4
    assert doc["baseline"] == "minibatch/he-normal/lr=0.01/bs=64"
    code, text, _ = cli("report", out, "--format", "markdown", "--no-plot")
    lines = text.splitlines()
    assert lines[0].startswith("| # | optimizer") and lines[1].startswith("| --- ")
    assert len([line for line in lines if line.startswith("| ")]) == 2 + 4


def test_report_pivot_by_init(compared, cli):
    out, _ = compared
    code, _, result = cli("report", out, "--by", "init", "--format", "csv", "--no-plot")
    assert code == 0
    table = pd.read_csv(pd.io.common.StringIO(result.stdout))
    assert sorted(table["optimizer"]) == ["adam", "minibatch"] and len(table) == 2
    summary = pd.read_csv(out / "summary.csv").set_index("config")
    adam = table[table["optimizer"] == "adam"].iloc[0]
    assert adam["he-normal_mean"] == pytest.approx(summary.loc["adam/he-normal/lr=0.001/bs=64", "final_val_acc_mean"])
    assert adam["xavier-normal_ci95"] == pytest.approx(
        summary.loc["adam/xavier-normal/lr=0.001/bs=64", "final_val_acc_ci95"])
    code, text, _ = cli("report", out, "--by", "optimizer", "--no-plot")
    assert code == 0 and "by optimizer" in text and "±" in text


def test_report_other_metric_and_target(compared, cli):
    out, _ = compared
    code, _, result = cli("report", out, "--metric", "final_val_loss", "--target", "0.5", "--json", "--no-plot")
    assert code == 0
    rows = json.loads(result.stdout)["summary"]
    losses = [r["final_val_loss_mean"] for r in rows]
    assert losses == sorted(losses)
    assert all(r["target"] == 0.5 for r in rows)


def test_compare_json_is_the_only_stdout(cli, tmp_path):
    code, _, result = cli("compare", "--dataset", "digits", "--opts", "adam", "--inits", "he", "--seeds", "1",
                          "--epochs", "1", "--json", "--no-plot", "--out", tmp_path)
    assert code == 0
    doc = json.loads(result.stdout)
    assert doc["summary"][0]["optimizer"] == "adam" and doc["results_dir"] == str(tmp_path)
    assert not list(tmp_path.glob("*.png"))


@pytest.mark.parametrize("args, message", [
    (["report", "/nonexistent/dir"], "is not a results folder"),
    (["compare", "--metric", "accuracy"], "--metric: unknown value 'accuracy'"),
    (["compare", "--x", "steps"], "--x: unknown value 'steps'"),
    (["compare", "--baseline", "lbfgs"], "--baseline 'lbfgs' matches no configuration"),
    (["compare", "--baseline", "adam"], "--baseline 'adam' is ambiguous"),
    (["compare", "--lrs", "auto,0.1"], "--lrs: 'auto,0.1' is not a comma-separated list"),
])
def test_bad_report_and_compare_options(cli, args, message):
    code, text, _ = cli(*args)
    assert code == 2, text
    assert message in text and "Traceback" not in text


def test_bad_report_choices(compared, cli):
    out, _ = compared
    for args, message in [(["--by", "seed"], "--by: unknown value 'seed'"),
                          (["--format", "xml"], "--format: unknown value 'xml'"),
                          (["--baseline", "rmsprop"], "matches no configuration")]:
        code, text, _ = cli("report", out, *args, "--no-plot")
        assert code == 2 and message in text, text


# --- learning-rate tuning -------------------------------------------------------------------------

def test_lr_grid_spans_three_decades_around_the_default():
    grid = lr_grid(0.01)
    assert len(grid) >= 7 and 0.01 in grid
    assert grid[-1] / grid[0] == pytest.approx(1000, rel=0.01)
    assert all(b > a for a, b in itertools.pairwise(grid))


def test_tuning_split_is_carved_from_training_data():
    data = load("digits")
    split = tuning_split(data)
    assert split.n_train + len(split.x_val) == data.n_train
    train_rows = {tuple(r) for r in data.x_train.flatten(1).tolist()}
    assert all(tuple(r) in train_rows for r in split.x_val.flatten(1).tolist())
    assert torch.bincount(split.y_val).min() > 0  # stratified: every class present


def gd_loss_after(lr, steps):
    x = np.array([[1, 2], [2, 3], [3, 4], [4, 5], [5, 6]], dtype=float)
    y = np.array([5, 7, 9, 11, 13], dtype=float)
    w = np.zeros(2)
    for _ in range(steps):
        w = w - lr * 2 / 5 * x.T @ (x @ w - y)
    loss = np.mean((x @ w - y) ** 2)
    return loss if np.isfinite(loss) else math.inf


def test_tuning_picks_the_known_best_rate_on_toy_regression(cli, tmp_path):
    # Full-batch GD on the course's five points: the best rate after 40 steps is the largest stable one.
    known_best = min(lr_grid(0.01), key=lambda lr: gd_loss_after(lr, 40))
    assert known_best == 0.0316
    code, text, _ = cli("compare", "--dataset", "toy-regression", "--model", "linear", "--opts", "gd",
                        "--inits", "zeros", "--lrs", "auto", "--seeds", "2", "--epochs", "40", "--out", tmp_path)
    assert code == 0, text
    tuning = pd.read_csv(tmp_path / "tuning.csv")
    assert len(tuning) == 7 and tuning.loc[tuning["chosen"], "lr"].tolist() == [known_best]
    assert set(tuning.loc[tuning["lr"] > 0.05, "status"]) == {"diverged"}
    summary = pd.read_csv(tmp_path / "summary.csv")
    assert sorted(summary["lr_choice"]) == ["default", "tuned"]
    assert summary.loc[0, "lr"] == known_best and summary.loc[0, "lr_choice"] == "tuned"
    assert (summary["tuning_runs"] == 7).all() and (summary["tuning_seconds"] > 0).all()
    assert not summary["lr_at_edge"].any()
    # Paired gain of the tuned rate over the default, on the tuned row: a lower final loss here.
    tuned = summary[summary["lr_choice"] == "tuned"].iloc[0]
    default = summary[summary["lr_choice"] == "default"].iloc[0]
    assert tuned["tuned_minus_default"] == pytest.approx(tuned["final_val_loss_mean"] - default["final_val_loss_mean"])
    assert tuned["tuned_minus_default"] < 0 and math.isnan(default["tuned_minus_default"])
    assert "tuned" in text and "tuning (runs · time)" in text


def test_tuning_flags_a_rate_at_the_edge(cli, tmp_path):
    code, text, _ = cli("compare", "--dataset", "digits", "--opts", "minibatch", "--inits", "he", "--lrs", "auto",
                        "--seeds", "1", "--epochs", "2", "--no-plot", "--out", tmp_path)
    assert code == 0, text
    summary = pd.read_csv(tmp_path / "summary.csv")
    tuned = summary[summary["lr_choice"] == "tuned"].iloc[0]
    # 2 epochs of plain SGD on digits: the largest rate in the grid wins, which is the grid's edge.
    assert tuned["lr"] == max(lr_grid(0.01)) and tuned["lr_at_edge"]
    assert "edge!" in text


# --- statistics: baseline, ranking ----------------------------------------------------------------

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


# --- plots ----------------------------------------------------------------------------------------

def test_curves_have_one_line_per_configuration(compared, tmp_path):
    out, _ = compared
    metrics = pd.read_csv(out / "metrics.csv")
    summary = pd.read_csv(out / "summary.csv")
    for x, label in (("epochs", "epoch"), ("examples", "training examples seen"), ("seconds", "training time (s)")):
        fig = curves(metrics, summary, tmp_path / f"c_{x}.png", x)
        assert (tmp_path / f"c_{x}.png").read_bytes()[:8] == PNG_MAGIC
        assert [ax.get_ylabel() for ax in fig.axes] == ["train loss", "validation loss", "validation accuracy"]
        for ax in fig.axes:
            assert len(ax.get_lines()) == 4 and ax.get_xlabel() == label
            assert len(ax.collections) == 4  # the ±std bands
        labels = [t.get_text() for t in fig.legends[0].get_texts()]
        assert "adam · he-normal · lr=0.001" in labels


def test_bars_have_ci_error_bars(compared, tmp_path):
    out, _ = compared
    summary = pd.read_csv(out / "summary.csv")
    fig = final_bars(summary, "final_val_acc", tmp_path / "bars.png")
    (ax,) = fig.axes
    assert len(ax.patches) == 4
    # Horizontal bars, rank 1 at the top: bar lengths are the means in rank order from the top.
    bars = sorted(ax.patches, key=lambda p: -p.get_y())
    assert [p.get_width() for p in bars] == pytest.approx(summary["final_val_acc_mean"].tolist())
    top = max(ax.get_yticklabels(), key=lambda t: t.get_position()[1])
    assert top.get_text().startswith(f"{summary['optimizer'][0]} · {summary['init'][0]}")
    assert "95% CI" in ax.get_title()


def test_regression_curves_have_no_accuracy_panel(tmp_path, cli):
    code, _, _ = cli("compare", "--dataset", "toy-regression", "--model", "linear", "--opts", "gd,adam",
                     "--inits", "zeros", "--seeds", "1", "--epochs", "5", "--out", tmp_path, "--x", "examples")
    assert code == 0
    assert (tmp_path / "curves_examples.png").exists() and (tmp_path / "final_val_loss.png").exists()
    metrics = pd.read_csv(tmp_path / "metrics.csv")
    fig = curves(metrics, pd.read_csv(tmp_path / "summary.csv"), tmp_path / "r.png")
    assert len(fig.axes) == 2


@pytest.mark.parametrize("threads", THREADS)
def test_compare_results_do_not_depend_on_grouping(cli, tmp_path, threads):
    args = ["compare", "--dataset", "digits", "--opts", "sgd,adam", "--inits", "xavier,he", "--seeds", "2",
            "--epochs", "2", "--no-plot", "--quiet", "--threads", str(threads)]
    code, out, _ = cli(*args, "--out", tmp_path / "grouped", "--verbose")
    assert code == 0, out
    code, out, _ = cli(*args, "--out", tmp_path / "alone", "--group-size", "1")
    assert code == 0, out
    grouped, alone = (pd.read_csv(tmp_path / d / "metrics.csv") for d in ("grouped", "alone"))
    assert grouped["run_id"].tolist() == alone["run_id"].tolist()  # grid order either way
    data = load("digits")
    assert_frames_close(alone, grouped, data.n_train, len(data.x_val), 64)
    config = json.loads((tmp_path / "alone" / "config.json").read_text())
    assert config["environment"]["threads"] == str(threads)


def test_compare_verbose_says_how_runs_are_grouped(cli, tmp_path):
    code, out, _ = cli("compare", "--dataset", "digits", "--opts", "sgd,adam", "--inits", "xavier,he", "--seeds", "2",
                       "--epochs", "1", "--no-plot", "--verbose", "--out", tmp_path)
    assert code == 0, out
    assert ("group 1/2: sgd/xavier-normal/lr=0.01/bs=1 and 3 more on the fast-sgd engine (batch-1 SGD fast path, "
            "4 runs stacked: plain SGD at batch size 1 needs no autograd)") in out
    assert ("group 2/2: adam/xavier-normal/lr=0.001/bs=64 and 3 more on the stacked engine (4 runs stacked: they "
            "differ only in init and seed)") in out


def test_lrs_auto_tunes_each_activation_and_normalisation_separately(cli, tmp_path):
    code, out, _ = cli("compare", "--dataset", "digits", "--opts", "minibatch", "--inits", "he", "--acts",
                       "relu,tanh", "--lrs", "auto", "--seeds", "2", "--epochs", "1", "--no-plot", "--quiet",
                       "--out", tmp_path)
    assert code == 0, out
    tuning = pd.read_csv(tmp_path / "tuning.csv")
    assert len(tuning) == 2 * 7  # one rate grid per activation
    assert tuning.groupby("act")["chosen"].sum().to_dict() == {"relu": 1, "tanh": 1}
    summary = pd.read_csv(tmp_path / "summary.csv")
    tuned = summary[summary["lr_choice"] == "tuned"]
    assert sorted(tuned["act"]) == ["relu", "tanh"]  # each activation's own tuned rate
    for row in tuned.to_dict("records"):
        chosen = tuning[(tuning["act"] == row["act"]) & tuning["chosen"]]["lr"].item()
        assert row["lr"] == chosen
    assert tuned["tuned_minus_default"].notna().all()  # paired with the default of the same activation


def test_overwrite_removes_layer_statistics_of_the_old_results(cli, tmp_path):
    args = ["compare", "--dataset", "digits", "--opts", "adam", "--inits", "he", "--seeds", "1", "--epochs", "1",
            "--quiet", "--out", tmp_path]
    assert cli(*args, "--track-layers")[0] == 0
    assert (tmp_path / "layers.csv").exists() and (tmp_path / "layers_tracks.png").exists()
    code, out, _ = cli(*args, "--overwrite")
    assert code == 0, out
    assert not (tmp_path / "layers.csv").exists() and not (tmp_path / "layers_tracks.png").exists()
    assert cli("report", tmp_path)[0] == 0
    assert not (tmp_path / "layers_tracks.png").exists()  # report found no old layers to plot
