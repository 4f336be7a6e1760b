"""Terminal output: Rich tables and text formats for epochs, summaries, benchmarks, layers and datasets.

Only formats what it is given: statistics come from stats.py, progress lives in progress.py.
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.table import Table

from nncmp.output.text import markdown

if TYPE_CHECKING:
    import pandas as pd


# What the tables below read of the commands' results: commands/ sits above output/, so its result classes
# (CompareResult, PathsResult, LandscapeResult) cannot be named here.
def make_console(stderr: bool = False) -> Console:
    stream = sys.stderr if stderr else sys.stdout
    # Piped output gets a wide, colourless table instead of Rich's 80-column default.
    width = None if stream.isatty() else 240
    return Console(file=stream, width=width, highlight=False)


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
    """mean ± half-width of its interval. A zero spread (every seed gave the same value) is a tie, not
    certainty; an interval that reaches past the metric's `bounds` (an accuracy in [0, 1], a loss ≥ 0) is
    shown cut at them, marked ‡. The CSV and JSON keep the raw numbers."""
    if mean is None or math.isnan(mean):
        return "—"
    text = f"{mean:+.{digits}f}" if signed else f"{mean:.{digits}f}"
    if spread is None or math.isnan(spread):
        return text
    if spread == 0:
        return f"{text} (tied)"
    if bounds is not None and (mean - spread < bounds[0] or mean + spread > bounds[1]):
        low, high = max(mean - spread, bounds[0]), min(mean + spread, bounds[1])
        return f"{text} [{low:.{digits}f}, {high:.{digits}f}]{CLIPPED}"
    return f"{text} ± {spread:.{digits}f}"


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
    """Headers and cell texts of the ranked summary, shared by the terminal table and markdown."""
    has_target = target is not None and summary["final_val_acc_mean"].notna().any()
    has_baseline = "diff_vs_baseline" in summary.columns
    has_tuning = "lr_choice" in summary.columns
    # Activation and normalisation get columns only when the comparison varies them; a schedule and
    # --opt-arg values whenever there are any.
    factors = [f for f in ("hidden", "dropout", "act", "norm") if f in summary.columns and summary[f].nunique() > 1]
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
    headers = ["#", "optimizer", "init", *(HEADERS.get(f, f) for f in factors), "lr", "batch", "n",
               *([f"final val {acc}", "std", f"best val {acc}"] if has_acc else []),
               *(label for _, label, _ in derived), "final val loss", "final train loss"]
    if has_target:
        headers.append(f"reach {target:g} ({'step' if by_step else 'ep'} · ex · time)")
    if has_baseline:
        headers.append("Δ vs baseline")
    if has_tuning:
        headers += ["tuned − default" if _tuned_all(summary) else "tuned − default lr",
                    "tuning (trials · time)" if _tuned_all(summary) else "tuning (runs · time)"]
    headers.append("status")
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
        cells.append(r["status"])
        rows.append(cells)
    return headers, rows


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
    rule = "Ranked: configurations with a diverged run last"
    if target is not None and summary["final_val_acc_mean"].notna().any():
        rule += f"; those that never reach val acc {target:g} (seed-mean curve) below those that do"
    parts.append(rule + f"; then by {metric.replace('_', ' ')}.")
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


def summary_table(summary: pd.DataFrame, metric: str, target: float | None) -> Table:
    headers, rows = summary_rows(summary, metric, target)
    table = Table(title="Summary", caption=summary_caption(summary, metric, target), caption_justify="left")
    for h in headers:
        table.add_column(h, justify="left" if h in ("optimizer", "init", "status", "lr") else "right")
    for cells in rows:
        table.add_row(*cells)
    return table


# What a grid varies besides rates, batch sizes and seeds.
FACTORS = ("optimizer", "init", "hidden", "dropout", "act", "norm", "schedule", "opt_args")


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
    table = Table(title=title, caption=caption, caption_justify="left")
    for h in headers:
        table.add_column(h)
    for cells in rows:
        table.add_row(*cells)
    return table


def simple_table(title: str, rows: list[dict[str, Any]], caption: str | None = None) -> Table:
    table = Table(title=title, caption=caption, caption_justify="left")
    if not rows:
        return table
    for col in rows[0]:
        numeric = isinstance(rows[0][col], (int, float))
        table.add_column(col, justify="right" if numeric else "left")
    for r in rows:
        table.add_row(*(short(v) if isinstance(v, float) else str(v) for v in r.values()))
    return table


def short(x: float) -> str:
    """A number in a few significant digits, whatever its size: 70,474, 0.0439, 9.3e-09, —."""
    if math.isnan(x):
        return "—"
    if math.isinf(x) or x == 0:
        return num(x)
    if abs(x) >= 1000:
        return f"{x:,.0f}"
    return f"{x:.3g}"


def _json(doc: dict[str, Any], frame_key: str, frame: pd.DataFrame) -> str:
    doc[frame_key] = json.loads(frame.to_json(orient="records", double_precision=15))
    return json.dumps(doc, indent=2) + "\n"


def render(summary: pd.DataFrame, metric: str, target: float | None, fmt: str, by: str | None,
           folder: Path) -> Table | str:
    """The summary (or its pivot `by` init/optimizer) as a Rich Table, or as csv/markdown/json text."""
    if by is not None:
        table = pivot(summary, by, metric)
        headers, rows = pivot_rows(table, list(dict.fromkeys(summary[by])))
        if fmt == "table":
            return rich_table(f"{metric.replace('_', ' ')} (mean ± 95% CI) by {by}", headers, rows)
        if fmt == "markdown":
            return markdown(headers, rows)
        if fmt == "csv":
            return table.to_csv(index=False)
        return _json({"results_dir": str(folder), "metric": metric, "by": by}, "pivot", table)
    if fmt == "table":
        return summary_table(summary, metric, target)
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
