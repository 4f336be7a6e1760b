"""Figures written into a results folder: mean curves with ±std bands, and final accuracy with CI bars.

matplotlib with the Agg backend: no display needed. Each function returns the Figure it saved, so
tests can count its lines.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from nncmp.results import schema, store

if TYPE_CHECKING:
    from types import ModuleType

    import pandas as pd
    import torch
    from matplotlib.figure import Figure
    from matplotlib.ticker import LogFormatter

X_AXES = {"epochs": ("epoch", "epoch"), "examples": ("examples", "training examples seen"),
          "seconds": ("seconds", "training time (s)")}
PANELS = [("train_loss", "train loss"), ("val_loss", "validation loss"), ("val_acc", "validation accuracy")]


def _pyplot() -> ModuleType:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def config_label(row: Mapping[str, Any], varying: set[str]) -> str:
    """optimizer · init · lr=…, plus the batch size when it varies between configurations."""
    parts = [str(row["optimizer"]), str(row["init"])]
    parts += [str(row[f]) for f in ("act", "norm", "schedule") if f in varying]
    if isinstance(row.get("opt_args"), str) and row["opt_args"]:  # NaN when read back empty
        parts.append(row["opt_args"])
    parts.append(f"lr={row['lr']:g}")
    if "batch_size" in varying:
        parts.append(f"bs={row['batch_size']}")
    if row.get("lr_choice"):
        parts[-1 if "batch_size" not in varying else -2] += f" ({row['lr_choice']})"
    return " · ".join(parts)


def _varying(summary: pd.DataFrame) -> set[str]:
    return {c for c in ("optimizer", "init", "act", "norm", "lr", "batch_size", "schedule")
            if c in summary.columns and summary[c].nunique() > 1}


LINESTYLES = ["-", "--", ":", "-."]
MARKERS = [None, "o", "s", "^", "D", "v", "P", "X"]


def styles(summary: pd.DataFrame) -> list[dict[str, Any]]:
    """A look per configuration that reads at a glance: colour = optimizer, line style = init, and
    configurations sharing both (other lr or batch size) get a lighter shade and a marker."""
    from matplotlib.colors import to_rgb

    plt = _pyplot()
    optimizers = list(dict.fromkeys(summary["optimizer"]))
    inits = list(dict.fromkeys(summary["init"]))
    cmap = plt.get_cmap("tab10")
    seen: dict[tuple[str, str], int] = {}
    out = []
    for row in summary.to_dict("records"):
        key = (row["optimizer"], row["init"])
        k = seen[key] = seen.get(key, -1) + 1
        base = to_rgb(cmap(optimizers.index(row["optimizer"]) % 10))
        shade = min(0.55, 0.3 * k)  # mix towards white for the 2nd, 3rd... variant
        color = tuple(c + (1 - c) * shade for c in base)
        out.append({"color": color, "linestyle": LINESTYLES[inits.index(row["init"]) % len(LINESTYLES)],
                    "marker": MARKERS[k % len(MARKERS)]})
    return out


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
    plt = _pyplot()
    column, xlabel = X_AXES[x]
    panels = [p for p in PANELS if metrics[p[0]].notna().any()]
    if "schedule" in metrics.columns and (metrics["schedule"] != "constant").any():
        panels.append(("lr_end", "learning rate"))
    fig, axes = plt.subplots(1, len(panels), figsize=(5.2 * len(panels), 4.6), squeeze=False)
    axes = axes[0]
    varying = _varying(summary)
    finished = metrics[metrics["status"] != "diverged"]
    for style, row in zip(styles(summary), summary.to_dict("records")):
        runs = finished[finished["config"] == row["config"]]
        if runs.empty:
            continue
        grouped = runs.groupby("epoch")
        xs = grouped[column].mean()
        for ax, (name, _) in zip(axes, panels):
            mean, std = grouped[name].mean(), grouped[name].std().fillna(0.0)
            ax.plot(xs, mean, linewidth=1.8, markersize=4, label=config_label(row, varying), **style)
            ax.fill_between(xs, mean - std, mean + std, color=style["color"], alpha=0.12, linewidth=0)
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
        if "loss" in name and (finished[name] > 0).all():
            ax.set_yscale("log")
            ax.yaxis.set_major_formatter(_plain_log_formatter())
            ax.yaxis.set_minor_formatter(_plain_log_formatter(minor_thresholds=(2, 0.5)))
        if x == "epochs":
            from matplotlib.ticker import MaxNLocator

            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        if x == "examples":
            ax.ticklabel_format(axis="x", style="sci", scilimits=(0, 3))
    handles, labels = axes[0].get_legend_handles_labels()
    ncol = min(4, max(1, len(labels)))
    fig.legend(handles, labels, loc="lower center", ncol=ncol, frameon=False, fontsize=9)
    fig.suptitle(title or "Mean over seeds, shaded band ±1 std", fontsize=12)
    rows = (len(labels) + ncol - 1) // ncol
    fig.tight_layout(rect=(0, 0.045 * rows + 0.03, 1, 1))
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return fig


def final_bars(summary: pd.DataFrame, metric: str, path: Path, title: str = "") -> Figure:
    """A horizontal bar per configuration, best rank on top: the metric's mean with 95% CI error bars."""
    plt = _pyplot()
    mean, ci = summary[f"{metric}_mean"], summary[f"{metric}_ci95"].fillna(0.0)
    varying = _varying(summary)
    labels = [config_label(r, varying) for r in summary.to_dict("records")]
    n = len(summary)
    fig, ax = plt.subplots(figsize=(10.0, 0.42 * n + 1.6))
    ys = list(range(n))[::-1]  # rank 1 at the top
    colors = [st["color"] for st in styles(summary)]
    ax.barh(ys, mean.fillna(0.0), xerr=ci, capsize=4, color=colors, height=0.7,
            error_kw={"elinewidth": 1.2, "ecolor": "0.2"})
    for y, m, c, status in zip(ys, mean, ci, summary["status"]):
        text = "diverged" if status == "diverged" else f"{m:.3f} ± {c:.3f}"
        ax.annotate(text, (0 if math.isnan(m) else m + c, y), textcoords="offset points", xytext=(5, 0),
                    va="center", fontsize=8)
    ax.set_yticks(ys, labels, fontsize=9)
    pretty = metric.replace("_", " ")
    ax.set_xlabel(pretty)
    finite = (mean - ci).dropna()
    if "acc" in metric and len(finite):
        # Start near the worst interval rather than at 0, so differences of a few points show.
        low = max(0.0, float(finite.min()) - 0.05)
        ax.set_xlim(low, min(1.0, float((mean + ci).max())) + 0.06)
    ax.set_title(title or f"{pretty} by configuration (mean over seeds, error bars: 95% CI)", fontsize=11)
    ax.grid(axis="x", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return fig


def write_plots(metrics: pd.DataFrame, summary: pd.DataFrame, folder: Path, x: str = "epochs") -> list[Path]:
    folder = Path(folder)
    written = [folder / f"curves_{x}.png"]
    curves(metrics, summary, written[0], x)
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
    fig.savefig(path, dpi=dpi)
    _pyplot().close(fig)
    return fig


def layer_profile(frame: pd.DataFrame, path: Path, title: str = "") -> Figure:
    """Activation std and back-propagated gradient std per layer (log scale), one line per init: a signal
    that vanishes or explodes with depth shows as a slope (Glorot & Bengio 2010, fig. 6-7)."""
    plt = _pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
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
    plt = _pyplot()
    fig, axes = plt.subplots(1, len(samples), figsize=(5 * len(samples), 3.8), squeeze=False)
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
    plt = _pyplot()
    configs = list(dict.fromkeys(frame["config"]))
    fig, axes = plt.subplots(len(configs), 3, figsize=(12.6, 3.0 * len(configs)), squeeze=False)
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
