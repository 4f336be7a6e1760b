"""Terminal output: Rich tables and text formats for epochs, summaries, benchmarks, layers and datasets.

Only formats what it is given: statistics come from stats.py, progress lives in progress.py.
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from rich.console import Console
from rich.table import Table

if TYPE_CHECKING:
    import pandas as pd


# What the tables below read of the commands' results: commands/ sits above output/, so its result classes
# (CompareResult, PathsResult, LandscapeResult) cannot be named here.
class HasMetrics(Protocol):
    metrics: pd.DataFrame


class WalkedFunction(Protocol):
    @property
    def name(self) -> str: ...

    @property
    def minima(self) -> tuple[tuple[float, float], ...]: ...

    @property
    def min_loss(self) -> float: ...


class PathsShown(Protocol):
    summary: pd.DataFrame
    start: tuple[float, float]
    auto: bool

    @property
    def fn(self) -> WalkedFunction: ...


class LandscapeShown(Protocol):
    trajectories: pd.DataFrame
    interpolation: pd.DataFrame
    labels: dict[str, tuple[str, str]]
    seconds: float
    resolution: int
    points: int


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


def mean_pm(mean: float, spread: float, digits: int = 4, signed: bool = False) -> str:
    if mean is None or math.isnan(mean):
        return "—"
    text = f"{mean:+.{digits}f}" if signed else f"{mean:.{digits}f}"
    return text if spread is None or math.isnan(spread) else f"{text} ± {spread:.{digits}f}"


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


def summary_rows(summary: pd.DataFrame, metric: str, target: float | None) -> tuple[list[str], list[list[str]]]:
    """Headers and cell texts of the ranked summary, shared by the terminal table and markdown."""
    has_target = target is not None and summary["final_val_acc_mean"].notna().any()
    has_baseline = "diff_vs_baseline" in summary.columns
    has_tuning = "lr_choice" in summary.columns
    # Activation and normalisation get columns only when the comparison varies them; a schedule and
    # --opt-arg values whenever there are any.
    factors = [f for f in ("act", "norm") if summary[f].nunique() > 1]
    factors += [f for f, plain in (("schedule", "constant"), ("opt_args", "")) if f in summary.columns
                and (summary[f].nunique() > 1 or (summary[f].fillna("") != plain).any())]
    headers = ["#", "optimizer", "init", *factors, "lr", "batch", "n", "final val acc", "std", "best val acc",
               "final val loss", "final train loss"]
    if has_target:
        headers.append(f"reach {target:g} (ep · ex · time)")
    if has_baseline:
        headers.append("Δ vs baseline")
    if has_tuning:
        headers += ["tuned − default lr", "tuning (runs · time)"]
    headers.append("status")
    rows = []
    for r in summary.to_dict("records"):
        lr = f"{r['lr']:g}"
        if has_tuning and r.get("lr_choice"):
            lr += f" {r['lr_choice']}" + (" (edge!)" if r.get("lr_at_edge") is True else "")
        cells = [str(r["rank"]), r["optimizer"], r["init"], *(_text(r[f]) for f in factors), lr, str(r["batch_size"]),
                 str(r["n_seeds"]),
                 mean_pm(r["final_val_acc_mean"], r["final_val_acc_ci95"]), num(r["final_val_acc_std"]),
                 mean_pm(r["best_val_acc_mean"], r["best_val_acc_ci95"]),
                 mean_pm(r["final_val_loss_mean"], r["final_val_loss_ci95"]),
                 mean_pm(r["final_train_loss_mean"], r["final_train_loss_ci95"])]
        if has_target:
            e = r["epochs_to_target"]
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
    parts = ["n: seeds. Values: mean ± 95% CI (Student t) over the seeds that finished; std: of the final val acc."]
    rule = "Ranked: configurations with a diverged run last"
    if target is not None and summary["final_val_acc_mean"].notna().any():
        rule += f"; those that never reach val acc {target:g} (seed-mean curve) below those that do"
    parts.append(rule + f"; then by {metric.replace('_', ' ')}.")
    if "diff_vs_baseline" in summary.columns:
        parts.append(f"Δ vs baseline: mean paired difference in {metric.replace('_', ' ')} over shared seeds; "
                     "* = its 95% CI excludes 0.")
    if "lr_choice" in summary.columns:
        parts.append("lr: the optimizer's default or the tuned rate (tuned on a split of the training data, one "
                     "seed); edge! = the best rate was at the edge of the tuning grid; tuned − default lr: paired "
                     f"difference in {metric.replace('_', ' ')} between the two rates.")
    return " ".join(parts)


def summary_table(summary: pd.DataFrame, metric: str, target: float | None) -> Table:
    headers, rows = summary_rows(summary, metric, target)
    table = Table(title="Summary", caption=summary_caption(summary, metric, target), caption_justify="left")
    for h in headers:
        table.add_column(h, justify="left" if h in ("optimizer", "init", "status", "lr") else "right")
    for cells in rows:
        table.add_row(*cells)
    return table


def markdown(headers: list[str], rows: list[list[str]]) -> str:
    def line(cells: list[str]) -> str:
        return "| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |"

    return "\n".join([line(headers), line(["---"] * len(headers)), *(line(r) for r in rows)]) + "\n"


# What a grid varies besides rates, batch sizes and seeds.
FACTORS = ("optimizer", "init", "act", "norm", "schedule", "opt_args")


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


def layer_table(init: str, stats: list[dict[str, Any]], act: str, caption: str) -> Table:
    """nncmp inspect: one row per layer of one init's network."""
    unit_stat = "dead" if any(r["dead"] is not None for r in stats) else (
        "saturated" if any(r["saturated"] is not None for r in stats) else None)
    headers = ["layer", "units", "act mean", "act std", *([unit_stat] if unit_stat else []), "grad out std",
               "grad W std", "weight std"]
    table = Table(title=f"{init} ({act})", caption=caption, caption_justify="left")
    for h in headers:
        table.add_column(h, justify="right")
    for r in stats:
        cells = [f"{r['layer']}{'' if r['kind'] == 'hidden' else ' (out)'}", str(r["units"]),
                 f"{r['act_mean']:.3g}", f"{r['act_std']:.3g}"]
        if unit_stat:
            cells.append("" if r[unit_stat] is None else f"{r[unit_stat]:.1%}")
        cells += [f"{r['grad_out_std']:.3g}", f"{r['grad_w_std']:.3g}", f"{r['weight_std']:.3g}"]
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
        table.add_row(*(num(v, 2) if isinstance(v, float) else str(v) for v in r.values()))
    return table


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
        return markdown(headers, rows) + "\n" + summary_caption(summary, metric, target) + "\n"
    if fmt == "csv":
        return summary.to_csv(index=False)
    baseline = summary["baseline"].iloc[0] if "baseline" in summary.columns else None
    return _json({"results_dir": str(folder), "metric": metric, "target": target, "baseline": baseline},
                 "summary", summary)


def show_train(result: HasMetrics, console: Console, quiet: bool) -> None:
    """nncmp train's last lines: with --quiet its final epoch; a divergence and what to try."""
    import pandas as pd

    if not len(result.metrics):
        return
    last = {k: (None if pd.isna(v) else v) for k, v in result.metrics.iloc[-1].to_dict().items()}
    last["epoch"] = int(last["epoch"])
    if quiet:
        console.print(epoch_line(last, last["schedule"] != "constant"))
    if last["status"] == "diverged":
        step = last["diverged_step"]
        console.print(f"diverged at epoch {last['epoch']}" + (f", step {int(step)}" if step else "")
                      + ": the loss is not finite (try a smaller --lr)")


def inspect_lines(per_init: dict[str, list[dict[str, Any]]]) -> list[str]:
    """nncmp inspect: per init, how the activation and gradient spreads change from the first hidden layer
    to the last."""
    lines = []
    for init, stats in per_init.items():
        last = -2 if len(stats) > 1 else -1
        first, final = stats[0]["act_std"], stats[last]["act_std"]
        g_first, g_last = stats[0]["grad_out_std"], stats[last]["grad_out_std"]
        lines.append(f"{init}: activation std {first:.3g} → {final:.3g} (×{final / first:.3g}) and gradient std "
                     f"{g_first:.3g} → {g_last:.3g} (×{g_last / g_first:.3g}) from the first to the last hidden "
                     "layer")
    return lines


def optimizer_table(rows: list[dict[str, Any]]) -> Table:
    """nncmp optimizers: one row per optimizer."""
    from nncmp.registry.optimizers import format_value

    table = Table(title=f"Optimizers ({len(rows)})", caption_justify="left", caption=(
        "Bare names resolve built-in → torch.optim → pytorch-optimizer; torch:NAME or pytorch-optimizer:NAME "
        "picks a library. Set a hyperparameter with --opt-arg KEY=VALUE (--momentum, --betas, --alpha, --eps and "
        "--weight-decay have options of their own). handling: see the docs, Optimizers."))
    for column in ("name", "source", "lr", "hyperparameters (defaults)", "handling", "runs here"):
        table.add_column(column, justify="right" if column == "lr" else "left", overflow="fold")
    for r in rows:
        hyper = " ".join(f"{k}={format_value(v)}" for k, v in r["hyperparameters"].items())
        table.add_row(r["name"], r["source"], f"{r['lr']:g}", hyper, ", ".join(r["handling"]),
                      "yes" if r["available"] else f"no: {r['why_not']}")
    return table


def paths_table(result: PathsShown, steps: int, tol: float) -> Table:
    """nncmp paths: where each walk got."""
    import pandas as pd

    fn, start = result.fn, result.start
    shown = [{"optimizer": r["optimizer"], "lr": f"{r['lr']:g}" + (" (tuned)" if r["tuned"] else ""),
              "final loss": f"{r['final_loss']:.4g}", "distance to minimum": f"{r['distance']:.4g}",
              f"steps to within {tol:g}": "never" if r["steps_to_tol"] is None or pd.isna(r["steps_to_tol"])
              else str(int(r["steps_to_tol"])), "status": r["status"]} for r in result.summary.to_dict("records")]
    caption = (f"{fn.name} from ({start[0]:g}, {start[1]:g}), {steps} steps; minimum loss {fn.min_loss:g} at "
               + " and ".join(f"({a:g}, {b:g})" for a, b in fn.minima)
               + (". lr tuned per optimizer: the lowest final loss of 13 rates." if result.auto else "."))
    return simple_table(f"Paths on {fn.name}", shown, caption=caption)


def landscape_table(result: LandscapeShown) -> Table:
    """nncmp landscape: where each tracked run ended on its plane, how far off it, and its line's barrier."""
    rows = []
    trajectories, interpolation = result.trajectories, result.interpolation
    for run_id, g in trajectories.groupby("run_id", sort=False):
        last = g.iloc[-1]
        line = interpolation[interpolation["run_id"] == run_id].set_index("alpha")["loss"]
        inside = line[(line.index >= 0) & (line.index <= 1)]
        rows.append({"configuration": last["config"], "end (a, b)": f"({last['a']:.3g}, {last['b']:.3g})",
                     "final loss": f"{last['loss']:.4g}",
                     "off the plane": f"{last['distance'] / max(last['travelled'], 1e-12):.0%} of its travel",
                     "barrier on the line": f"{inside.max() - max(inside.iloc[0], inside.iloc[-1]):.3g}"})
    axes = "; ".join(f"{name}: {a}, {b}" for name, (a, b) in result.labels.items())
    caption = (f"{axes}. {result.resolution}×{result.resolution} grid per panel on {result.points} training "
               f"examples in {result.seconds:.1f}s. off the plane: the final weights' distance from the plane as a "
               "share of their distance from the start; barrier: the highest loss on the straight line from the "
               "initial to the final weights above the higher of its two ends (0: no bump).")
    return simple_table("Landscape", rows, caption=caption)
