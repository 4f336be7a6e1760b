"""Terminal output: Rich tables and text formats for epochs, summaries, benchmarks, layers and datasets.

Only formats what it is given: statistics come from stats.py, progress lives in progress.py.
"""

from __future__ import annotations

import json
import math
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

from nncmp.output.fit import Column, Fitted, plain
from nncmp.output.text import markdown
from nncmp.registry.inits import ALIASES

if TYPE_CHECKING:
    import pandas as pd


# What the tables below read of the commands' results: commands/ sits above output/, so its result classes
# (CompareResult, PathsResult, LandscapeResult) cannot be named here.
def make_console(stderr: bool = False) -> Console:
    stream = sys.stderr if stderr else sys.stdout
    # Piped output gets a wide, colourless table instead of Rich's 80-column default, unless COLUMNS says how
    # wide (Rich reads it). No markup: a path, error or name with '[x]' in it is printed, not read as a tag.
    width = None if stream.isatty() or os.environ.get("COLUMNS") else 240
    return Console(file=stream, width=width, highlight=False, markup=False)


def num(x: Any, digits: int = 4) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "—"
    if isinstance(x, float) and math.isinf(x):
        return "inf" if x > 0 else "-inf"
    return f"{x:.{digits}f}" if isinstance(x, float) else str(x)


CLIPPED = "‡"  # an interval cut at the metric's bounds
FEW = "†"  # fewer than MIN_SEEDS seeds finished: the interval says little
MIN_SEEDS = 3


def mean_pm(mean: float, spread: float, digits: int = 4, signed: bool = False,
            bounds: tuple[float, float] | None = None) -> str:
    """mean ± half-width of its interval. A spread of float rounding (every seed gave the same value) is a tie,
    not certainty; an interval that reaches past the metric's `bounds` (an accuracy in [0, 1], a loss ≥ 0) is
    shown cut at them, marked ‡. The CSV and JSON keep the raw numbers."""
    if mean is None or math.isnan(mean):
        return "—"
    text = f"{mean:+.{digits}f}" if signed else f"{mean:.{digits}f}"
    if spread is None or math.isnan(spread):
        return text
    if tied(mean, spread):
        return f"{text} (tied)"
    if bounds is not None and (mean - spread < bounds[0] or mean + spread > bounds[1]):
        low, high = max(mean - spread, bounds[0]), min(mean + spread, bounds[1])
        return f"{text} [{low:.{digits}f}, {high:.{digits}f}]{CLIPPED}"
    return f"{text} ± {spread:.{digits}f}"


# Seeds that gave the same value leave a spread of float64 rounding (the mean of three 0.1s is 0.10000000000000002,
# their std 1.7e-17): the mean and the deviations from it are off by about log2(n) + 1 eps of the value, and the
# interval t · std / √n by at most 12.7 × 2 eps (2 seeds), less for more. 64 eps (1.4e-14) leaves room.
TIE = 64 * sys.float_info.epsilon


def tied(mean: float, spread: float) -> bool:
    """Whether an interval's half-width is only the float rounding of seeds that gave the same value."""
    return spread <= TIE * abs(mean)


ACCURACY = (0.0, 1.0)
LOSS = (0.0, math.inf)
# Measures derived from the validation loss (results/measures.py), with the bounds their intervals are cut at.
DERIVED = (("final_val_perplexity", "val perplexity", (1.0, math.inf)),
           ("final_val_bits_per_token", "val bits/token", LOSS),
           ("final_val_bits_per_character", "val bits/char", LOSS),
           ("final_val_rmse", "val RMSE", LOSS), ("final_val_r2", "val R²", (-math.inf, 1.0)),
           ("final_val_metric", "val metric (--metric-fn)", (-math.inf, math.inf)))


EPOCH_COLUMNS = [("epoch", 0), ("train_loss", 4), ("train_acc", 4), ("val_loss", 4), ("val_acc", 4), ("seconds", 2)]


def epoch_header(scheduled: bool = False) -> str:
    """nncmp train's per-epoch lines; a schedule adds the learning rate at the end of each epoch."""
    return "  ".join(f"{name:>10}" for name, _ in EPOCH_COLUMNS) + (f"  {'lr_end':>10}" if scheduled else "")


def epoch_line(record: dict[str, Any], scheduled: bool = False) -> str:
    cells = []
    for name, digits in EPOCH_COLUMNS:
        v = record[name]
        cells.append(f"{v:>10d}" if digits == 0 else f"{num(None if v is None else float(v), digits):>10}")
    if scheduled:
        cells.append(f"{record['lr_end']:>10.3g}")
    return "  ".join(cells)


def _compact(x: float) -> str:
    return f"{x / 1000:.0f}k" if x >= 10_000 else f"{x:.0f}"


def _seconds(x: float) -> str:
    return f"{x:.1f}s" if x >= 1 else f"{x:.2f}s"


def _text(value: Any) -> str:
    return "" if value is None or (isinstance(value, float) and math.isnan(value)) else str(value)


def _hyper_varies(summary: pd.DataFrame) -> bool:
    """The grid varies hyperparameters (--weight-decays, ...); a tuned comparison's are in its tuning table."""
    return "hyper" in summary.columns and "lr_choice" not in summary.columns \
        and summary["hyper"].astype(object).fillna("").nunique() > 1


HEADERS = {"hyper": "settings"}  # a factor column's header where its name is not its word


def summary_rows(summary: pd.DataFrame, metric: str, target: float | None) -> tuple[list[str], list[list[str]]]:
    """Headers and cell texts of the ranked summary, shared by the terminal table, markdown and HTML."""
    _, headers, rows = _summary(summary, metric, target)
    return headers, rows


def _summary(summary: pd.DataFrame, metric: str, target: float | None
             ) -> tuple[list[str], list[str], list[list[str]]]:
    """What each column is (a summary.csv column name, or to_target and tuning), its header, the rows."""
    has_target = target is not None and summary["final_val_acc_mean"].notna().any()
    has_baseline = "diff_vs_baseline" in summary.columns
    has_tuning = "lr_choice" in summary.columns
    # The model's factors get columns only when the comparison varies them (a width: unless hidden shows it);
    # a schedule and --opt-arg values whenever there are any.
    factors = [f for f in ("width", "param", "hidden", "dropout", "act", "norm") if f in summary.columns
               and summary[f].nunique() > 1 and not (f == "width" and summary["hidden"].nunique() > 1)]
    factors += [f for f, plain in (("schedule", "constant"), ("opt_args", "")) if f in summary.columns
                and (summary[f].nunique() > 1 or (summary[f].fillna("") != plain).any())]
    # Hyperparameters a grid varies (--weight-decays, --momenta, ...); tuned ones are the tuning table's.
    if _hyper_varies(summary):
        factors.append("hyper")
    has_acc = bool(summary["final_val_acc_mean"].notna().any())
    derived = [(name, label, bounds) for name, label, bounds in DERIVED if f"{name}_mean" in summary.columns]
    unit = next((u for u in ("character", "token") if f"final_val_bits_per_{u}_mean" in summary.columns), "")
    acc = f"{unit} acc" if unit else "acc"
    by_step = "steps_to_target" in summary.columns
    columns = [("rank", "#"), ("optimizer", "optimizer"), ("init", "init"), *((f, HEADERS.get(f, f)) for f in factors),
               ("lr", "lr"), ("batch_size", "batch"), ("n_seeds", "n"),
               *([("final_val_acc", f"final val {acc}"), ("final_val_acc_std", "std"),
                  ("best_val_acc", f"best val {acc}")] if has_acc else []),
               *((name, label) for name, label, _ in derived), ("final_val_loss", "final val loss"),
               ("final_train_loss", "final train loss")]
    if has_target:
        columns.append(("to_target", f"reach {target:g} ({'step' if by_step else 'ep'} · ex · time)"))
    if has_baseline:
        columns.append(("diff_vs_baseline", "Δ vs baseline"))
    if has_tuning:
        columns += [("tuned_minus_default", "tuned − default" if _tuned_all(summary) else "tuned − default lr"),
                    ("tuning", "tuning (trials · time)" if _tuned_all(summary) else "tuning (runs · time)")]
    costs = [(c, h) for c, h in COSTS if c in summary.columns and summary[c].notna().any()]
    columns += [*costs, ("status", "status")]
    rows = []
    for r in summary.to_dict("records"):
        lr = f"{r['lr']:g}"
        if has_tuning and r.get("lr_choice"):
            lr += f" {r['lr_choice']}" + (" (edge!)" if r.get("lr_at_edge") is True else "")
        cells = [str(r["rank"]), r["optimizer"], r["init"], *(_text(r[f]) for f in factors), lr, str(r["batch_size"]),
                 str(r["n_seeds"]) + (FEW if 1 < r["n_seeds"] - r["n_diverged"] < MIN_SEEDS else "")]
        if has_acc:
            cells += [mean_pm(r["final_val_acc_mean"], r["final_val_acc_ci95"], bounds=ACCURACY),
                      num(r["final_val_acc_std"]),
                      mean_pm(r["best_val_acc_mean"], r["best_val_acc_ci95"], bounds=ACCURACY)]
        cells += [mean_pm(r[f"{name}_mean"], r[f"{name}_ci95"], bounds=bounds) for name, _, bounds in derived]
        cells += [mean_pm(r["final_val_loss_mean"], r["final_val_loss_ci95"], bounds=LOSS),
                  mean_pm(r["final_train_loss_mean"], r["final_train_loss_ci95"], bounds=LOSS)]
        if has_target:
            e = r["steps_to_target"] if by_step else r["epochs_to_target"]
            cells.append("never" if math.isnan(e) else
                         f"{int(e)} · {_compact(r['examples_to_target'])} · {_seconds(r['seconds_to_target'])}")
        if has_baseline:
            if r["config"] == r["baseline"]:
                cells.append("baseline")
            else:
                star = " *" if r["diff_excludes_0"] else ""
                cells.append(f"{mean_pm(r['diff_vs_baseline'], r['diff_ci95'], signed=True)}{star}")
        if has_tuning:
            cells.append(mean_pm(r["tuned_minus_default"], r["tuned_minus_default_ci95"], signed=True))
            cells.append("—" if math.isnan(r["tuning_runs"]) else
                         f"{int(r['tuning_runs'])} · {_seconds(r['tuning_seconds'])}")
        cells += [*(short(float(r[c])) if r[c] else "0" for c, _ in costs), r["status"]]
        rows.append(cells)
    return [k for k, _ in columns], [h for _, h in columns], rows


def summary_caption(summary: pd.DataFrame, metric: str, target: float | None) -> str:
    parts = ["n: seeds. Values: mean ± 95% CI (Student t) over the seeds that finished; "
             + ("std: of the final val acc; " if summary["final_val_acc_mean"].notna().any() else "")
             + "(tied): every seed gave the same value, which is no certainty."]
    if any(f"final_val_bits_per_{u}_mean" in summary.columns for u in ("token", "character")):
        parts.append("Accuracy, loss, perplexity (exp of the loss) and bits (the loss / ln 2) are per target position "
                     "(padding excluded).")
    if _hyper_varies(summary):
        parts.append("settings: the hyperparameters not at the optimizer's defaults (empty: all at its defaults).")
    if "final_val_r2_mean" in summary.columns:
        parts.append("RMSE = √(val MSE); R² = 1 − val MSE / variance of the validation targets.")
    finished = summary["n_seeds"] - summary["n_diverged"]
    if ((finished > 1) & (finished < MIN_SEEDS)).any():
        parts.append(f"{FEW} fewer than {MIN_SEEDS} seeds: the interval of 2 seeds spans ±12.7 standard errors "
                     "(Student t with 1 degree of freedom) and says little; compare with --seeds 3 or more.")
    rendered = [c for row in summary_rows(summary, metric, target)[1] for c in row]
    if any(c.endswith(CLIPPED) for c in rendered):
        parts.append(f"{CLIPPED} the interval reached past the metric's range (accuracy 0 to 1, loss from 0) and is "
                     "shown cut there: a Student-t interval of few seeds ignores bounds.")
    rule = "Ranked: configurations with a diverged or collapsed run (final predictions all one class) last"
    if target is not None and summary["final_val_acc_mean"].notna().any():
        rule += f"; those that never reach val acc {target:g} (seed-mean curve) below those that do"
    parts.append(rule + f"; then by {metric.replace('_', ' ')}.")
    if any(c in summary.columns and summary[c].notna().any() for c, _ in COSTS):
        parts.append("state B/param: optimizer state bytes per parameter; ms/step: mean time of a sampled step (a "
                     "stack's shared among its runs); means over seeds, more in summary.csv.")
    if "diff_vs_baseline" in summary.columns:
        parts.append(f"Δ vs baseline: mean paired difference in {metric.replace('_', ' ')} over shared seeds; "
                     "* = its 95% CI excludes 0.")
    if "lr_choice" in summary.columns and _tuned_all(summary):
        parts.append("lr: the optimizer's default rate (with its other defaults) or the tuned configuration's rate "
                     "(its other tuned hyperparameters are in its config id and the tuning table; tuned on a split of "
                     "the training data, one seed); edge! = the tuned rate lies in the outer 5% of its search range; "
                     f"tuned − default: paired difference in {metric.replace('_', ' ')} between the two "
                     "configurations.")
    elif "lr_choice" in summary.columns:
        parts.append("lr: the optimizer's default or the tuned rate (tuned on a split of the training data, one "
                     "seed); edge! = the best rate was at the edge of the tuning grid; tuned − default lr: paired "
                     f"difference in {metric.replace('_', ' ')} between the two rates.")
    return " ".join(parts)


def _tuned_all(summary: pd.DataFrame) -> bool:
    """--tune (every hyperparameter tuned), not --lrs auto (the rate only)."""
    return "tuned_what" in summary.columns and (summary["tuned_what"] == "all").any()


# Left out first when the summary is wider than the terminal: what is derived from another column or says less
# (std from the interval, bits and perplexity from the loss, the train loss, the best epoch's accuracy), the
# costs, then the other metrics. The ranked metric, and what says which configuration a row is (optimizer,
# init, settings and the other factors, lr, and the batch size where it varies), are never left out where
# they vary; a column whose every cell is the same goes to the caption, where nothing is lost: one batch size,
# all seeds, every status ok first, one init, schedule or rate only after the secondary columns.
SECONDARY = ("ms_step", "state_bytes_per_param", "final_val_acc_std", "final_train_loss", "final_val_bits_per_token",
             "final_val_bits_per_character", "final_val_perplexity", "final_val_r2", "final_val_rmse", "best_val_acc",
             "tuning", "final_val_loss", "final_val_acc", "final_val_metric",
             "tuned_minus_default", "to_target", "diff_vs_baseline", "n_seeds")
SAME = ("batch_size", "n_seeds", "status")
COSTS = (("state_bytes_per_param", "state B/param"), ("ms_step", "ms/step"))  # the rest: summary.csv
TEXT = ("lr", "status", "to_target", "tuning", "hyper", "opt_args", "schedule")  # may wrap at spaces
LEFT = ("optimizer", "init", "status", "lr")


def summary_columns(summary: pd.DataFrame, metric: str, target: float | None) -> list[Column]:
    """The summary's columns, each with the order it is left out in to fit a narrow terminal."""
    keys, headers, rows = _summary(summary, metric, target)
    ranked = "to_target" if metric.endswith("_to_target") else metric
    columns = [Column(h, [r[i] for r in rows], "left" if k in LEFT else "right", wrap=k in TEXT)
               for i, (k, h) in enumerate(zip(keys, headers))]
    same = [k for k, c in zip(keys, columns) if len(set(c.cells)) <= 1 and k not in ("rank", "optimizer", ranked)]
    order = ([k for k in same if k in SAME] + [k for k in SECONDARY if k not in same and k != ranked]
             + [k for k in same if k not in SAME])  # then an init, a setting or a rate every row shares
    for k, c in zip(keys, columns):
        c.drop = order.index(k) if k in order else None
    # Where even that is not enough: an init's shortest alias (he: a name nncmp takes, not a cut), shorter headers.
    init = columns[keys.index("init")]
    short = {name: min((a for a, c in ALIASES.items() if c == name), key=len, default=name) for name in init.cells}
    if any(a != name for name, a in short.items()):
        init.short = [short[name] for name in init.cells]
        init.legend = "init: " + ", ".join(f"{a} = {name}" for name, a in short.items() if a != name) + "."
    columns[keys.index("optimizer")].short_header = "opt"
    batch = columns[keys.index("batch_size")]
    batch.short_header, batch.legend = "bs", "bs: batch size."
    return columns


def summary_table(summary: pd.DataFrame, metric: str, target: float | None, wide: bool = False) -> Fitted:
    """The ranked summary as it fits the terminal it is printed on (every column with `wide`)."""
    return Fitted("Summary", summary_columns(summary, metric, target), summary_caption(summary, metric, target), wide)


# What a grid varies besides rates, batch sizes and seeds.
FACTORS = ("optimizer", "init", "param", "width", "hidden", "dropout", "act", "norm", "schedule", "opt_args")


def pivot(summary: pd.DataFrame, by: str, metric: str) -> pd.DataFrame:
    """Rows: the other factor (and any other setting that varies); one column per value of `by`.

    Cells hold the metric's mean and CI half-width; see pivot_rows for their text.
    """
    import pandas as pd

    other = "init" if by == "optimizer" else "optimizer"
    keys = [f for f in FACTORS if f != by and f in summary.columns and (f == other or summary[f].nunique() > 1)]
    keys += [c for c in ("lr_choice", "batch_size") if c in summary.columns and summary[c].nunique() > 1]
    if "lr_choice" not in keys and summary["lr"].nunique() > 1 and by != "lr":
        keys.append("lr")
    col = metric_col = f"{metric}_mean" if f"{metric}_mean" in summary.columns else metric
    ci = f"{metric}_ci95" if f"{metric}_ci95" in summary.columns else None
    frame = summary.assign(_ci=summary[ci] if ci else float("nan"))
    wide = frame.pivot_table(index=keys, columns=by, values=[col, "_ci"], aggfunc="first", sort=False)
    out = pd.DataFrame(index=wide.index)
    for value in dict.fromkeys(summary[by]):
        out[f"{value}_mean"] = wide[(metric_col, value)] if (metric_col, value) in wide else float("nan")
        out[f"{value}_ci95"] = wide[("_ci", value)] if ("_ci", value) in wide else float("nan")
    return out.reset_index()


def pivot_rows(table: pd.DataFrame, by_values: list[str]) -> tuple[list[str], list[list[str]]]:
    keys = [c for c in table.columns if not c.endswith(("_mean", "_ci95"))]
    headers = keys + list(by_values)
    rows = []
    for r in table.to_dict("records"):
        rows.append([str(r[k]) for k in keys] + [mean_pm(r[f"{v}_mean"], r[f"{v}_ci95"]) for v in by_values])
    return headers, rows


def rich_table(title: str, headers: list[str], rows: list[list[str]], caption: str | None = None) -> Table:
    """A table of text cells, shown as they are (Text: no Rich markup is read in a title, header or cell)."""
    table = Table(title=plain(title, "table.title"), caption=plain(caption, "table.caption"),
                  caption_justify="left")
    for h in headers:
        table.add_column(plain(h))
    for cells in rows:
        table.add_row(*(Text(c) for c in cells))
    return table


def simple_table(title: str, rows: list[dict[str, Any]], caption: str | None = None) -> Table:
    table = Table(title=plain(title, "table.title"), caption=plain(caption, "table.caption"),
                  caption_justify="left")
    if not rows:
        return table
    for col in rows[0]:
        numeric = isinstance(rows[0][col], (int, float))
        table.add_column(plain(str(col)), justify="right" if numeric else "left")
    for r in rows:
        table.add_row(*(Text(short(v) if isinstance(v, float) else str(v)) for v in r.values()))
    return table


def short(x: float) -> str:
    """A number in a few significant digits, whatever its size: 70,474, 0.0439, 9.3e-09, —."""
    if math.isnan(x):
        return "—"
    if math.isinf(x) or x == 0:
        return num(x)
    return f"{x:,.0f}" if abs(x) >= 1000 else f"{x:.3g}"


def _json(doc: dict[str, Any], frame_key: str, frame: pd.DataFrame) -> str:
    doc[frame_key] = json.loads(frame.to_json(orient="records", double_precision=15))
    return json.dumps(doc, indent=2) + "\n"


def render(summary: pd.DataFrame, metric: str, target: float | None, fmt: str, by: str | None,
           folder: Path, wide: bool = False) -> Fitted | str:
    """The summary (or its pivot `by` init/optimizer) as a table that fits the terminal (every column with
    `wide`), or as csv/markdown/json text."""
    if by is not None:
        table = pivot(summary, by, metric)
        headers, rows = pivot_rows(table, list(dict.fromkeys(summary[by])))
        if fmt == "table":  # every column kept: the pivot's cells wrap at spaces where they must
            return Fitted(f"{metric.replace('_', ' ')} (mean ± 95% CI) by {by}",
                          [Column(h, [r[i] for r in rows], "right" if i >= len(headers) - len(set(summary[by]))
                                  else "left", wrap=True) for i, h in enumerate(headers)], wide=wide)
        if fmt == "markdown":
            return markdown(headers, rows)
        if fmt == "csv":
            return table.to_csv(index=False)
        return _json({"results_dir": str(folder), "metric": metric, "by": by}, "pivot", table)
    if fmt == "table":
        return summary_table(summary, metric, target, wide)
    if fmt == "markdown":
        headers, rows = summary_rows(summary, metric, target)
        from nncmp.output.tuning import markdown as tuning_markdown
        tuned = tuning_markdown(folder)  # --tune: what each budget buys and the checklist
        return (markdown(headers, rows) + "\n" + summary_caption(summary, metric, target) + "\n"
                + ("\n" + tuned if tuned else ""))
    if fmt == "csv":
        return summary.to_csv(index=False)
    baseline = summary["baseline"].iloc[0] if "baseline" in summary.columns else None
    from nncmp.output.tuning import json_part
    head = {"results_dir": str(folder), "metric": metric, "target": target, "baseline": baseline}
    tuned = json_part(folder)
    if tuned is not None:  # the reporting checklist and what each budget buys
        head["tuning"] = tuned
    return _json(head, "summary", summary)
