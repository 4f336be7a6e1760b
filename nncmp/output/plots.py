"""Figures written into a results folder: mean curves with ±std bands, and final accuracy with CI bars.

Figure objects without pyplot (output/figure.py), so no display and no backend are needed and the user's
are left alone; their look is output/style.py's. Each function returns the Figure it saved: a notebook
shows it, tests read its lines.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from nncmp.output import figure, style
from nncmp.results import schema, store
from nncmp.results.stats import default_metric

if TYPE_CHECKING:
    import pandas as pd
    import torch
    from matplotlib.figure import Figure
    from matplotlib.ticker import LogFormatter

X_AXES = {"epochs": ("epoch", "epoch"), "steps": ("step", "optimizer steps"),
          "examples": ("examples", "training examples seen"), "seconds": ("seconds", "training time (s)")}
PANELS = [("train_loss", "train loss"), ("val_loss", "validation loss"), ("val_acc", "validation accuracy")]


def config_label(row: Mapping[str, Any], varying: set[str]) -> str:
    """optimizer · init · lr=…, plus the batch size when it varies between configurations."""
    parts = [str(row["optimizer"]), str(row["init"])]
    parts += [f"{f}={row[f]:g}" if f == "dropout" else f"{f}={row[f]}" if f == "hidden" else str(row[f])
              for f in ("hidden", "dropout", "act", "norm", "schedule") if f in varying]
    parts += [f"width={row['width']}" for f in ("width",) if f in varying and "hidden" not in varying]
    parts += [str(row["param"]) for f in ("param",) if f in varying]
    if isinstance(row.get("opt_args"), str) and row["opt_args"]:  # NaN when read back empty
        parts.append(row["opt_args"])
    if "hyper" in varying and isinstance(row.get("hyper"), str):
        parts.append(row["hyper"] or "defaults")
    parts.append(f"lr={row['lr']:g}")
    if "batch_size" in varying:
        parts.append(f"bs={row['batch_size']}")
    if row.get("lr_choice"):
        parts[-1 if "batch_size" not in varying else -2] += f" ({row['lr_choice']})"
    return " · ".join(parts)


def _varying(summary: pd.DataFrame) -> set[str]:
    # A tuned configuration's hyperparameters are the tuning table's ("tuned" names them in the legend).
    tuned = "lr_choice" in summary.columns
    return {c for c in ("optimizer", "init", "hidden", "dropout", "act", "norm", "lr", "batch_size", "schedule",
                        "hyper", "width", "param") if c in summary.columns and not (c == "hyper" and tuned)
            and summary[c].astype(object).fillna("").nunique() > 1}


# What tells two configurations of one optimizer and init apart (a marker, style.looks); the init is a line style.
REST = ("lr_choice", "lr", "batch_size", "hidden", "width", "param", "dropout", "act", "norm", "schedule", "opt_args",
        "hyper")


def styles(summary: pd.DataFrame) -> list[dict[str, Any]]:
    """A look per configuration (style.looks): its optimizer's colour, the same in every figure and folder;
    its init's line style; a marker for the rest (default or tuned rate, batch size, architecture...)."""
    return style.looks(summary.to_dict("records"), REST)


def _plain_log_formatter(**kwargs: Any) -> LogFormatter:
    """Log-axis labels as plain numbers (0.3, 2) instead of 3×10^-1; matplotlib still picks which ticks."""
    from matplotlib.ticker import LogFormatter

    class Plain(LogFormatter):
        def __call__(self, x: float, pos: int | None = None) -> str:
            return f"{x:g}" if super().__call__(x, pos) else ""

    return Plain(**kwargs)


def curves(metrics: pd.DataFrame, summary: pd.DataFrame, path: Path, x: str = "epochs", title: str = "") -> Figure:
    """Train loss, val loss and val accuracy against `x`: one line per configuration (mean over its
    finished seeds) with a shaded ±1 std band. Regression results have no accuracy panel; a schedule
    that is not constant adds a panel of the learning rate at the end of each epoch."""
    column, xlabel = X_AXES[x]
    panels = [p for p in PANELS if metrics[p[0]].notna().any()]
    if "schedule" in metrics.columns and (metrics["schedule"] != "constant").any():
        panels.append(("lr_end", "learning rate"))
    fig, axes = figure.new((5.2 * len(panels), 4.6), 1, len(panels), squeeze=False)
    axes = axes[0]
    varying = _varying(summary)
    finished = metrics[metrics["status"] != "diverged"]
    # Losses of several optimizers span decades: a log axis, where the line is the geometric mean over the
    # seeds and the band ×/÷ their geometric std, so a band never dips below what any run reached.
    logs = {name: "loss" in name and bool((finished[name] > 0).all()) for name, _ in panels}
    for look, row in zip(styles(summary), summary.to_dict("records")):
        runs = finished[finished["config"] == row["config"]]
        if runs.empty:
            continue
        grouped = runs.groupby("epoch")
        xs = grouped[column].mean()
        for ax, (name, _) in zip(axes, panels):
            center, low, high = band(runs, name, logs[name])
            ax.plot(xs, center, linewidth=1.8, markersize=4, markevery=style.markevery(len(xs)),
                    label=config_label(row, varying), **look)
            ax.fill_between(xs, low, high, color=look["color"], alpha=0.12, linewidth=0)
    for ax, (name, label) in zip(axes, panels):
        ax.set_xlabel(xlabel)
        ax.set_ylabel(label)
        ax.set_title(f"{label} vs {xlabel}")
        ax.grid(alpha=0.3)
        if name == "lr_end":
            positive = finished.loc[finished[name] > 0, name]
            # Rates of several optimizers span decades: a log axis keeps each one's shape visible (an
            # annealed rate of exactly 0 at the end is then left out).
            if len(positive) and positive.max() > 10 * positive.min():
                ax.set_yscale("log", nonpositive="mask")
        if logs.get(name):
            ax.set_yscale("log")
            ax.yaxis.set_major_formatter(_plain_log_formatter())
            ax.yaxis.set_minor_formatter(_plain_log_formatter(minor_thresholds=(2, 0.5)))
        if name == "val_acc":
            style.accuracy_axis(ax)
        if x == "epochs":
            from matplotlib.ticker import MaxNLocator

            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        if x == "examples":
            ax.ticklabel_format(axis="x", style="sci", scilimits=(0, 3))
    handles, labels = axes[0].get_legend_handles_labels()
    # As many legend columns as fit the figure's width (about 15 characters of 9-point text per inch; an
    # entry's handle and padding take about 8 more).
    fits = int(fig.get_figwidth() * 15) // (max((len(s) for s in labels), default=1) + 8)
    ncol = min(4, max(1, len(labels)), max(1, fits))
    # Long handles: a legend entry shows enough of its line for the dash pattern and a marker to read.
    fig.legend(handles, labels, loc="lower center", ncol=ncol, frameon=False, fontsize=9, handlelength=3.5)
    fig.suptitle(title or ("Over seeds: mean and ±1 std band" + ("; log axes: geometric mean, band ×/÷ geometric std"
                                                                 if any(logs.values()) else "")
                           + "; bands never leave the range the seeds covered"), fontsize=11)
    rows = (len(labels) + ncol - 1) // ncol
    fig.tight_layout(rect=(0, 0.045 * rows + 0.03, 1, 1))
    figure.save(fig, path, 100)
    return fig


def band(runs: pd.DataFrame, name: str, log: bool) -> tuple[pd.Series, pd.Series, pd.Series]:
    """The line and band of metric `name` over a configuration's seeds, per epoch: mean ± std, or on a log
    axis geometric mean ×/÷ geometric std (computed in log space, where the axis measures); the band cut
    to the range the seeds covered."""
    import numpy as np

    values = runs[name]
    grouped = (np.log(values) if log else values).groupby(runs["epoch"])
    center, spread = grouped.mean(), grouped.std().fillna(0.0)
    low, high = center - spread, center + spread
    if log:
        center, low, high = np.exp(center), np.exp(low), np.exp(high)
    seen = values.groupby(runs["epoch"])
    return center, np.maximum(low, seen.min()), np.minimum(high, seen.max())


def final_bars(summary: pd.DataFrame, metric: str, path: Path, title: str = "") -> Figure:
    """A horizontal bar per configuration, best rank on top: the metric's mean with 95% CI error bars."""
    mean, ci = summary[f"{metric}_mean"], summary[f"{metric}_ci95"].fillna(0.0)
    varying = _varying(summary)
    labels = [config_label(r, varying) for r in summary.to_dict("records")]
    n = len(summary)
    fig, ax = figure.new((11.0, 0.42 * n + 1.9))
    ys = list(range(n))[::-1]  # rank 1 at the top
    colors = [st["color"] for st in styles(summary)]
    # Error bars cut at the metric's range (an accuracy in [0, 1], a loss from 0), as the tables show them.
    lo, hi = (0.0, 1.0) if "acc" in metric else (0.0, math.inf)
    below = (mean - (mean - ci).clip(lower=lo)).fillna(0.0)
    above = ((mean + ci).clip(upper=hi) - mean).fillna(0.0)
    ax.barh(ys, mean.fillna(0.0), xerr=[below, above], capsize=4, color=colors, height=0.7,
            error_kw={"elinewidth": 1.2, "ecolor": "0.2"})
    from nncmp.output.terminal import ACCURACY, LOSS, mean_pm

    # The values as a column right of the axis (x in axes fraction, y in data): aligned like a table's, and
    # the accuracy axis can end at 1 with a full bar's value still beside it.
    for y, m, c, status in zip(ys, mean, summary[f"{metric}_ci95"], summary["status"]):
        text = "diverged" if status == "diverged" else mean_pm(m, c, 3, bounds=ACCURACY if "acc" in metric else LOSS)
        text += "" if status in ("ok", "diverged") else f" ({status})"
        ax.annotate(text, (1.0, y), xycoords=("axes fraction", "data"), textcoords="offset points",
                    xytext=(6, 0), va="center", fontsize=8, annotation_clip=False)
    ax.set_yticks(ys, labels, fontsize=9)
    pretty = metric.replace("_", " ")
    ax.set_xlabel(pretty)
    if "acc" in metric:
        # From 0: a bar's length is the accuracy, so small gaps look as small as they are.
        ax.set_xlim(0.0, 1.0)  # where accuracy ends
    else:
        ax.set_xlim(0.0, None)
    ax.set_title(title or f"{pretty} by configuration\n(mean over seeds; error bars: 95% CI, cut at the metric's "
                          "range)", fontsize=11)
    ax.grid(axis="x", alpha=0.3)
    fig.tight_layout()
    figure.save(fig, path, 100)
    return fig


def write_plots(metrics: pd.DataFrame, summary: pd.DataFrame, folder: Path, x: str = "epochs",
                transfer: pd.DataFrame | None = None, metric: str | None = None) -> list[Path]:
    """The comparison's figures; `transfer` (transfer.csv's table, judged by `metric`): transfer.png too."""
    folder = Path(folder)
    written = [folder / f"curves_{x}.png"]
    curves(metrics, summary, written[0], x)
    if transfer is not None and not transfer.empty:
        from nncmp.output.transfer_plots import transfer_figure

        written.append(folder / schema.TRANSFER_PNG)
        transfer_figure(metrics, transfer, metric or default_metric(metrics), written[-1])
    tracked = folder / schema.LAYERS
    if tracked.exists():  # --track-layers
        frame = store.read_csv(tracked)
        if "epoch" in frame.columns and not frame.empty:
            written.append(folder / "layers_tracks.png")
            layer_tracks(frame, written[-1])
    if len(summary) < 2:  # one configuration: nothing to compare in a bar chart
        return written
    metric = "final_val_acc" if metrics["val_acc"].notna().any() else "final_val_loss"
    written.append(folder / f"{metric}.png")
    final_bars(summary, metric, written[-1])
    return written


def _save(fig: Figure, path: Path, title: str, dpi: int) -> Figure:
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    figure.save(fig, path, dpi)
    return fig


def layer_profile(frame: pd.DataFrame, path: Path, title: str = "") -> Figure:
    """Activation std and back-propagated gradient std per layer (log scale), one line per init: a signal
    that vanishes or explodes with depth shows as a slope (Glorot & Bengio 2010, fig. 6-7)."""
    fig, axes = figure.new((11, 4.2), 1, 2)
    panels = [("act_std", "activation std (after the nonlinearity)"),
              ("grad_out_std", "gradient std at the layer's output")]
    for ax, (stat, label) in zip(axes, panels):
        part = frame[frame["statistic"] == stat]
        for init, g in part.groupby("init", sort=False):
            ax.plot(g["layer"], g["value"], marker="o", markersize=3, label=init)
        ax.set_yscale("log")
        ax.set_xlabel("layer")
        ax.set_ylabel(label)
        ax.grid(True, which="both", alpha=0.3)
    axes[0].legend(title="init")
    return _save(fig, path, title, dpi=110)


def activation_histograms(samples: list[tuple[str, list[torch.Tensor]]], path: Path, title: str = "",
                          max_layers: int = 6) -> Figure:
    """Histograms of each hidden layer's activations, one panel per init (Glorot & Bengio 2010, fig. 6):
    at most `max_layers` layers, spread from the first to the last."""
    fig, axes = figure.new((5 * len(samples), 3.8), 1, len(samples), squeeze=False)
    for ax, (init, layers) in zip(axes[0], samples):
        picks = sorted({round(i * (len(layers) - 1) / max(max_layers - 1, 1)) for i in range(max_layers)})
        for i in picks[:len(layers)]:
            values = layers[i].float().numpy()
            ax.hist(values, bins=80, histtype="step", density=True, label=f"layer {i + 1}")
        ax.set_yscale("log")
        ax.set_title(init)
        ax.set_xlabel("activation value")
        ax.set_ylabel("density")
        ax.legend(fontsize="small")
    return _save(fig, path, title, dpi=110)


def layer_tracks(frame: pd.DataFrame, path: Path, title: str = "") -> Figure:
    """--track-layers: per-layer statistics over epochs, one panel per statistic, one line per layer;
    the first seed of each configuration."""
    configs = list(dict.fromkeys(frame["config"]))
    fig, axes = figure.new((12.6, 3.0 * len(configs)), len(configs), 3, squeeze=False)
    for r, config in enumerate(configs):
        part = frame[(frame["config"] == config) & (frame["seed"] == frame[frame["config"] == config]["seed"].min())]
        # The middle panel: dead units for the ReLU family, saturated ones for tanh/sigmoid.
        unit = next((s for s in ("dead", "saturated") if (part["statistic"] == s).any()), "dead")
        for c, stat in enumerate(("act_std", unit, "grad_out_std")):
            ax = axes[r][c]
            for layer, g in part[part["statistic"] == stat].groupby("layer"):
                ax.plot(g["epoch"], g["value"], label=f"layer {layer}")
            if stat in ("act_std", "grad_out_std"):
                ax.set_yscale("log")
            ax.set_title(f"{config}\n{stat}", fontsize="small")
            ax.set_xlabel("epoch")
        axes[r][0].legend(fontsize="x-small")
    return _save(fig, path, title, dpi=100)
