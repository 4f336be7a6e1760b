"""The summary's cells say no more than the numbers do: intervals cut at a metric's range and marked, ties
(to float rounding) shown as ties, too few seeds marked; the CSV and JSON keep the raw numbers. What is
printed is what was meant (no Rich markup read in a caption or cell), and the tables fit the terminal at 80,
100 and 120 columns without cutting a number or a name."""

from __future__ import annotations

import io
import math
from pathlib import Path

import pandas as pd
import pytest
from rich.cells import cell_len
from rich.console import Console

from nncmp.output.fit import Column, Fitted, choose
from nncmp.output.terminal import (
    ACCURACY,
    LOSS,
    TIE,
    make_console,
    mean_pm,
    rich_table,
    simple_table,
    summary_caption,
    summary_columns,
    summary_rows,
    summary_table,
)

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


# --- ties are ties to float rounding ------------------------------------------------------------------------


@pytest.mark.parametrize("n", [2, 3, 5, 10, 30])
@pytest.mark.parametrize("value", [0.1, 1 / 3, 0.9722, 2.302585, 1234.5, -0.05])
def test_seeds_that_gave_the_same_value_are_tied_whatever_the_rounding_left(value, n):
    from nncmp.results.stats import mean_std_ci

    mean, _, ci = mean_std_ci([value] * n)  # the summary's own arithmetic is the reference
    assert mean_pm(mean, ci).endswith(" (tied)")


def test_three_tied_seeds_of_the_zeros_init_say_tied():
    from nncmp.results.stats import mean_std_ci

    mean, std, ci = mean_std_ci([0.1] * 3)
    assert 0 < std < 1e-16 and ci > 0  # float64 rounding: == 0 called this "0.1000 ± 0.0000"
    assert mean_pm(mean, ci, bounds=ACCURACY) == "0.1000 (tied)"


def test_a_spread_past_rounding_is_no_tie_however_small():
    from nncmp.results.stats import mean_std_ci

    mean, _, ci = mean_std_ci([0.1, 0.1, 0.1 + 1e-9])  # seeds that differ, below the printed digits
    assert mean_pm(mean, ci) == "0.1000 ± 0.0000"
    assert TIE < 1e-13  # far below any digit a table prints


# --- no markup read in what is printed ----------------------------------------------------------------------


def _printed(renderable, width: int = 120) -> str:
    """What a console of `width` columns prints, with Rich's markup on (as a user's own console has it) and
    lines as long as they come (crop=False), so an over-long line shows."""
    buffer = io.StringIO()
    Console(file=buffer, width=width, color_system=None).print(renderable, crop=False)
    return buffer.getvalue()


def test_brackets_in_titles_captions_and_cells_are_shown_as_they_are():
    rows = [["[bold]a[/bold]", "[min–max]"]]
    text = _printed(rich_table("[red]t", ["[x]", "y"], rows, caption="the median and [min–max] over studies"))
    assert all(s in text for s in ("[red]t", "[x]", "[bold]a[/bold]", "[min–max]", "the median and [min–max] over"))
    text = _printed(simple_table("[b]T", [{"[c]": "[d]x", "n": 1.5}], caption="[i]note"))
    assert all(s in text for s in ("[b]T", "[c]", "[d]x", "[i]note"))
    fitted = Fitted("[t]", [Column("[h]", ["[v]"])], caption="[min–max]")
    assert all(s in "".join(_printed(fitted).split()) for s in ("[t]", "[h]", "[v]", "[min–max]"))


def test_nncmps_console_prints_paths_and_errors_as_they_are(capsys):
    make_console().print("results: runs/[seed 3]/a  [x] failed")
    assert capsys.readouterr().out == "results: runs/[seed 3]/a  [x] failed\n"


def test_the_tuning_tables_caption_keeps_its_bracketed_words():
    from nncmp.output import tuning

    text = " ".join(_printed(tuning.table(EXAMPLES / "tuning"), 200).split())
    assert "the median and [min–max] over studies" in text
    headers, rows, _ = tuning.rows(EXAMPLES / "tuning")
    median = headers.index(next(h for h in headers if h.startswith("median of")))
    assert all(r[median] in text for r in rows)  # 0.9375 [0.9363–0.9413]


# --- tables that fit ----------------------------------------------------------------------------------------

EXAMPLES = Path(__file__).resolve().parents[2] / "docs" / "examples"
# Every comparison the docs show (the grokking example: token accuracy, perplexity, bits and settings).
FOLDERS = sorted(p.parent for p in EXAMPLES.glob("**/summary.csv") if (p.parent / "config.json").is_file())
WIDTHS = (80, 100, 120)


def _example(folder: Path) -> tuple[pd.DataFrame, str, float | None]:
    """A docs example's summary as compare wrote it (report reproduces it byte for byte from the metrics)."""
    from nncmp.results import schema, store

    config = store.read_config(folder)
    summary = store.read_csv(folder / schema.SUMMARY, text=schema.TEXT_COLUMNS)
    for column in schema.TEXT_COLUMNS:
        if column in summary.columns:
            summary[column] = schema.text_column(summary[column])
    return summary, config.get("metric") or "final_val_acc", config.get("target")


def _regression(n: int = 2) -> pd.DataFrame:
    """A regression summary with a baseline: RMSE and R², long cut intervals (few seeds), no accuracy."""
    nan = [math.nan] * 4
    return pd.DataFrame({
        "rank": [1, 2, 3, 4], "config": list("abcd"), "optimizer": ["adam", "sgd", "adam", "rmsprop"],
        "init": ["he-normal", "xavier-normal", "xavier-normal", "he-normal"], "act": ["relu"] * 4,
        "norm": ["none"] * 4, "lr": [0.001, 0.01, 0.001, 0.01], "batch_size": [5, 1, 5, 5],
        "schedule": ["constant"] * 4, "opt_args": [""] * 4, "n_seeds": [n] * 4, "n_diverged": [0, 0, 0, 1],
        "status": ["ok", "ok", "ok", f"1/{n} diverged"], "final_val_acc_mean": nan, "final_val_acc_std": nan,
        "final_val_acc_ci95": nan, "best_val_acc_mean": nan, "best_val_acc_ci95": nan,
        "final_val_loss_mean": [5.0137, 67.4894, 72.1294, 3366.25],
        "final_val_loss_ci95": [44.1264, 35.47, 28.15, 5000.0],
        "final_train_loss_mean": [4.2, 60.1, 70.3, 3000.5], "final_train_loss_ci95": [40.0, 30.2, 20.1, 4000.0],
        "final_val_rmse_mean": [2.2391, 8.2152, 8.4929, 58.02], "final_val_rmse_ci95": [3.1, 2.2, 1.7, 40.1],
        "final_val_r2_mean": [0.9921, 0.8934, 0.8861, -4.25], "final_val_r2_ci95": [0.0712, 0.0561, 0.0443, 7.9],
        "target": nan, "epochs_to_target": nan, "examples_to_target": nan, "seconds_to_target": nan,
        "baseline": ["a"] * 4, "diff_vs_baseline": [0.0, 62.4757, 67.1157, 3361.2],
        "diff_ci95": [0.0, 30.1, 25.3, 4000.0], "diff_excludes_0": [False, True, True, False],
    })


CASES = [pytest.param(*_example(f), id=str(f.relative_to(EXAMPLES.parent))) for f in FOLDERS] + \
    [pytest.param(_regression(), "final_val_loss", None, id="regression with a baseline"),
     pytest.param(_regression(3), "final_val_loss", None, id="regression, 3 seeds")]


@pytest.mark.parametrize("width", WIDTHS)
@pytest.mark.parametrize(("summary", "metric", "target"), CASES)
def test_the_summary_fits_the_terminal_without_cutting_a_number_or_a_name(summary, metric, target, width):
    text = _printed(summary_table(summary, metric, target), width)
    lines = text.splitlines()
    assert max(cell_len(line) for line in lines) <= width
    assert "…" not in text
    columns = summary_columns(summary, metric, target)
    shown, left, short = choose(columns, width)
    ranked = next(c for c in columns if c.drop is None and c.header.endswith(("acc", "loss")))
    # What a row is and what it is ranked by stay (an init every row shares may move to the caption).
    kept = {c.header for c in shown} | ({"optimizer"} if short else set())
    assert {"optimizer", ranked.header} <= kept
    assert "init" in kept or f"init {summary['init'].iloc[0]}" in " ".join(text.split())
    words = set(text.split())
    for cell in ranked.cells:  # each number whole; from 100 columns on, each cell on one line
        assert set(cell.split()) <= words, cell
        assert width < 100 or any(cell in line for line in lines), cell
    names = set(summary["optimizer"]) | set(summary["init"] if not short and "init" in kept else ())
    assert all(any(f" {name} " in line for line in lines) for name in names)
    flat = " ".join(text.split())
    if left:  # the caption says what was left out and how to see it
        assert f"Left out to fit {width} columns (--wide shows every column):" in flat
        assert all(" ".join(c.header.split()) in flat for c in left)


def test_secondary_columns_go_first_and_a_constant_one_moves_to_the_caption():
    summary = _summary(3, (0.95, 0.90), (0.01, 0.02))
    columns = {c.header: c for c in summary_columns(summary, "final_val_acc", None)}
    assert columns["n"].drop == 0  # every row 3 seeds: nothing is lost
    assert columns["std"].drop < columns["best val acc"].drop < columns["final val loss"].drop
    assert all(columns[h].drop is None for h in ("#", "optimizer", "lr", "final val acc"))
    assert columns["batch"].drop is None  # batch sizes differ: part of what a row is
    assert columns["init"].drop > columns["final val loss"].drop  # one init for every row: last, to the caption
    varied = summary.assign(init=["he-normal", "xavier-normal"])
    assert next(c for c in summary_columns(varied, "final_val_acc", None) if c.header == "init").drop is None
    shown, left, _ = choose(list(columns.values()), 60)
    assert "n" in [c.header for c in left] and "std" in [c.header for c in left]
    text = " ".join(_printed(summary_table(summary, "final_val_acc", None), 60).split())
    assert "The same in every row: n 3; status ok." in text


def test_wide_shows_every_column_however_narrow_the_terminal():
    summary, metric, target = _example(EXAMPLES / "grokking")
    headers, _ = summary_rows(summary, metric, target)
    text = _printed(summary_table(summary, metric, target, wide=True), 80)
    lines = text.splitlines()
    header = next(line for line in lines if line.startswith("┃"))
    assert [h.strip() for h in header.strip("┃").split("┃")] == headers  # every column, headers unwrapped
    assert max(cell_len(line) for line in lines) > 80 and "…" not in text and "Left out" not in text
    caption = lines[[i for i, line in enumerate(lines) if line.startswith("└")][-1] + 1:]
    assert max(cell_len(line) for line in caption) <= 80  # the caption still wraps at the terminal's width


@pytest.mark.parametrize("width", WIDTHS)
def test_the_tuning_table_fits_too(width):
    from nncmp.output import tuning

    text = _printed(tuning.table(EXAMPLES / "tuning"), width)
    assert max(cell_len(line) for line in text.splitlines()) <= width and "…" not in text
    assert "median of 3 studies" in " ".join(text.split())


@pytest.mark.parametrize("width", WIDTHS)
def test_a_pivot_keeps_every_column_and_fits(width):
    from nncmp.output.terminal import render

    summary, metric, _ = _example(EXAMPLES / "tuning")
    text = _printed(render(summary, metric, None, "table", "init", EXAMPLES / "tuning"), width)
    assert max(cell_len(line) for line in text.splitlines()) <= width and "…" not in text
    assert "xavier-normal" in text and "he-normal" in text
