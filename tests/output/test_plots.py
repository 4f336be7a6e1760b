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


def _looks(handles) -> list[tuple[str, object, object]]:
    from matplotlib.colors import to_hex

    return [(to_hex(h.get_color()), h.get_linestyle(), h.get_marker()) for h in handles]


def _bar_colours(fig) -> dict[str, str]:
    """Optimizer → its bars' colour, read from the figure: each bar's tick label at its height."""
    from matplotlib.colors import to_hex

    (ax,) = fig.axes
    names = {round(t.get_position()[1]): t.get_text().split(" · ")[0] for t in ax.get_yticklabels()}
    found: dict[str, set[str]] = {}
    for bar in ax.patches:
        found.setdefault(names[round(bar.get_y() + bar.get_height() / 2)], set()).add(to_hex(bar.get_facecolor()))
    assert all(len(c) == 1 for c in found.values()), found  # one colour per optimizer within the figure
    return {name: c.pop() for name, c in found.items()}


def _summary(optimizers, inits=("he-normal",), **columns) -> pd.DataFrame:
    rows = [{"config": f"{o}/{i}", "optimizer": o, "init": i, "lr": 0.01, "batch_size": 64, "status": "ok",
             "final_val_acc_mean": 0.9 - 0.01 * k, "final_val_acc_ci95": 0.01, **columns}
            for k, (o, i) in enumerate((o, i) for o in optimizers for i in inits)]
    return pd.DataFrame(rows)


def test_an_optimizer_has_one_colour_in_every_figure_of_a_folder_and_across_folders(compared, tmp_path):
    """The colour comes from the optimizer's name, not from its rank or the other optimizers: adam is the
    same red in the curves and the bars of one folder, in another folder where it ranks elsewhere among
    other optimizers, and in the built-in map (tab10's in the order of the README's first comparison)."""
    from matplotlib import colormaps
    from matplotlib.colors import to_hex

    from nncmp.output import style

    out, _ = compared
    metrics, summary = pd.read_csv(out / "metrics.csv"), pd.read_csv(out / "summary.csv")
    seen: dict[str, set[str]] = {}
    for ax in curves(metrics, summary, tmp_path / "c.png").axes:
        for line in ax.get_lines():
            seen.setdefault(line.get_label().split(" · ")[0], set()).add(to_hex(line.get_color()))
    for name, colour in _bar_colours(final_bars(summary, "final_val_acc", tmp_path / "b.png")).items():
        seen[name].add(colour)
    other = _summary(["lion", "sgd", "adam", "muon"])  # another folder: adam third, among others
    for name, colour in _bar_colours(final_bars(other, "final_val_acc", tmp_path / "o.png")).items():
        seen.setdefault(name, set()).add(colour)
    assert all(len(c) == 1 for c in seen.values()), seen
    tab10 = [to_hex(c) for c in colormaps["tab10"].colors]
    assert seen["sgd"] == {tab10[0]} and seen["minibatch"] == {tab10[1]} and seen["adam"] == {tab10[3]}
    assert seen["lion"] == {style.colour("lion")}


def test_colours_are_distinct_within_a_figure_whatever_the_names():
    import zlib

    from nncmp.output import style

    names = ["adam", "lion", "sgd", "adamw", "nadam", "radam", "adan", "prodigy", "muon", "sophiah", "tiger",
             "came", "my_optimizer.py:Mine", "torch:adam"]
    looks = style.looks(_summary(names).to_dict("records"), ())
    assert len({look["color"] for look in looks}) == len(names)
    # Two names whose hashes pick the same colour: apart in one figure, each its hash's colour alone, and
    # the same pair of colours in whatever order the figure lists them.
    pick = {n: zlib.crc32(n.encode()) % len(style.OTHERS) for n in names if n not in style.BUILT_IN}
    clash = next((a, b) for a in pick for b in pick if a < b and pick[a] == pick[b])
    assert style.colours(clash) == style.colours(clash[::-1])
    assert len(set(style.colours(clash).values())) == 2
    assert {style.colour(n) for n in clash} == {style.OTHERS[pick[clash[0]]]}
    assert not set(style.OTHERS) & set(style.BUILT_IN.values())


def test_the_init_is_the_line_style_and_the_rest_a_marker_and_no_two_entries_look_alike():
    from nncmp.output.plots import styles

    rows = [{"optimizer": o, "init": i, "lr_choice": c, "lr": lr, "batch_size": bs}
            for o in ("adam", "sgd") for i in ("he-normal", "xavier-normal", "default")
            for c, lr in (("tuned", 0.003), ("default", 0.001)) for bs in (128, 64)]
    looks = styles(pd.DataFrame(rows))
    by_init, by_rest = {}, {}
    for row, look in zip(rows, looks):
        assert by_init.setdefault(row["init"], look["linestyle"]) == look["linestyle"]
        assert by_rest.setdefault((row["lr_choice"], row["batch_size"]), look["marker"]) == look["marker"]
    assert len(set(by_init.values())) == 3 and by_init["default"] == "-"  # the registry's order: default first
    assert by_rest[("default", 64)] is None and len(set(by_rest.values())) == 4  # the default rate, small batch
    assert len(set(map(lambda look: tuple(look.values()), looks))) == len(rows)
    # Rows that differ only where the legend does not look (another momentum, say): still told apart.
    same = styles(pd.DataFrame([{"optimizer": "sgd", "init": "he-normal", "lr": 0.1, "config": c} for c in "ab"]))
    assert same[0] != same[1]


def test_legend_entries_of_a_real_comparison_all_look_different(compared, tmp_path):
    out, _ = compared
    fig = curves(pd.read_csv(out / "metrics.csv"), pd.read_csv(out / "summary.csv"), tmp_path / "c.png")
    looks = _looks(fig.legends[0].legend_handles)
    assert len(looks) == 4 and len(set(looks)) == 4
    assert len({style for _, style, _ in looks}) == 2  # two inits, two line styles
    assert len({colour for colour, _, _ in looks}) == 2  # two optimizers, two colours


def test_accuracy_axes_end_at_1_and_loss_axes_are_left_to_the_data(compared, tmp_path):
    out, _ = compared
    metrics, summary = pd.read_csv(out / "metrics.csv"), pd.read_csv(out / "summary.csv")
    metrics.loc[metrics["epoch"] == metrics["epoch"].max(), "val_acc"] = 1.0  # autoscaling would pass 1
    fig = curves(metrics, summary, tmp_path / "c.png")
    acc = fig.axes[2]
    assert acc.get_ylabel() == "validation accuracy" and acc.get_ylim()[1] == 1.0
    for ax, name in zip(fig.axes[:2], ("train_loss", "val_loss")):
        low, high = ax.get_ylim()
        assert low <= metrics[name].min() and high >= metrics[name].max()
    (ax,) = final_bars(summary, "final_val_acc", tmp_path / "acc.png").axes
    assert ax.get_xlim() == (0.0, 1.0)
    (ax,) = final_bars(summary, "final_val_loss", tmp_path / "loss.png").axes
    worst = (summary["final_val_loss_mean"] + summary["final_val_loss_ci95"]).max()
    assert ax.get_xlim()[0] == 0.0 and ax.get_xlim()[1] >= worst
