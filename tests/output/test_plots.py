"""Plots: one curve per configuration with its band, bars with CI error bars, no accuracy panel for
regression, a learning-rate panel when a schedule is not constant."""

import pandas as pd
import pytest

from nncmp.config.run import RunSpec
from nncmp.output.plots import curves, final_bars
from nncmp.training.engines.single import train
from tests.conftest import PNG_MAGIC


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


def test_curves_gain_a_learning_rate_panel_when_a_schedule_is_not_constant(digits, tmp_path):
    from nncmp.output.plots import curves
    from nncmp.results.schema import records_frame
    from nncmp.results.stats import summarize

    records = [r for s in ("constant", "cosine")
               for r in train(RunSpec(dataset="digits", optimizer="gd", schedule=s, epochs=3, lr=0.1), digits)]
    metrics = records_frame(records)
    fig = curves(metrics, summarize(metrics), tmp_path / "c.png")
    assert [ax.get_ylabel() for ax in fig.axes] == ["train loss", "validation loss", "validation accuracy",
                                                     "learning rate"]
    lr_lines = fig.axes[-1].get_lines()
    assert len(lr_lines) == 2 and list(lr_lines[1].get_ydata()) == pytest.approx([0.1, 0.075, 0.025, 0.0])


def test_accuracy_bars_start_at_zero_and_their_error_bars_stay_in_range(tmp_path):
    summary = pd.DataFrame({"rank": [1, 2], "config": ["a", "b"], "optimizer": ["sgd", "adam"], "init": ["he"] * 2,
                            "lr": [0.01, 0.001], "batch_size": [64, 64], "status": ["ok", "ok"],
                            "final_val_acc_mean": [0.97, 0.75], "final_val_acc_ci95": [0.01, 0.8]})
    fig = final_bars(summary, "final_val_acc", tmp_path / "bars.png")
    (ax,) = fig.axes
    assert ax.get_xlim()[0] == 0  # a bar's length is the accuracy itself
    segments = [s for c in ax.collections for s in c.get_segments()]  # the error bars
    assert segments and all(0.0 <= x <= 1.0 for seg in segments for x, _ in seg)
    texts = [t.get_text() for t in ax.texts]
    assert any("[0.000, 1.000]‡" in t for t in texts)  # 0.75 ± 0.8 would reach past both ends


def test_a_log_band_is_computed_in_log_space_and_stays_within_the_runs():
    from nncmp.output.plots import band

    # Two seeds, losses 0.2 and 2.0: a ±std band in linear space would reach below 0.2 (to about -0.35).
    runs = pd.DataFrame({"epoch": [1, 1], "val_loss": [0.2, 2.0]})
    center, low, high = band(runs, "val_loss", log=True)
    assert center.iloc[0] == pytest.approx((0.2 * 2.0) ** 0.5)  # the geometric mean
    assert 0.2 <= low.iloc[0] < center.iloc[0] < high.iloc[0] <= 2.0
    center, low, high = band(runs, "val_loss", log=False)
    assert low.iloc[0] == pytest.approx(0.2) and high.iloc[0] == pytest.approx(2.0)  # cut to what ran


def test_each_optimizer_keeps_one_hue_and_variants_a_line_style():
    from nncmp.output.plots import styles

    rows = [{"optimizer": o, "init": i, "lr_choice": c, "lr": 0.1} for o in ("adam", "lion", "sgd", "adamw",
            "nadam", "radam", "adan", "prodigy", "muon", "sophiah", "tiger", "came")
            for i in ("xavier", "he") for c in ("default", "tuned")]
    looks = styles(pd.DataFrame(rows))
    hue = {}
    for row, look in zip(rows, looks):
        assert hue.setdefault(row["optimizer"], look["color"]) == look["color"]
    assert len(set(hue.values())) == 12  # twelve optimizers, twelve hues
    by_variant = {}
    for row, look in zip(rows, looks):  # the same init and rate choice: the same line style for everyone
        assert by_variant.setdefault((row["init"], row["lr_choice"]), look["linestyle"]) == look["linestyle"]
    assert len(set(by_variant.values())) == 4
