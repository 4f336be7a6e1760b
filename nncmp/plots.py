"""Figures written into a results folder: mean curves with ±std bands, and final accuracy with CI bars.

matplotlib with the Agg backend: no display needed. Each function returns the Figure it saved, so
tests can count its lines.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

X_AXES = {"epochs": ("epoch", "epoch"), "examples": ("examples", "training examples seen"),
          "seconds": ("seconds", "training time (s)")}
PANELS = [("train_loss", "train loss"), ("val_loss", "validation loss"), ("val_acc", "validation accuracy")]


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def config_label(row: Any, varying: set[str]) -> str:
    """optimizer · init · lr=…, plus the batch size when it varies between configurations."""
    parts = [str(row["optimizer"]), str(row["init"]), f"lr={row['lr']:g}"]
    if "batch_size" in varying:
        parts.append(f"bs={row['batch_size']}")
    if row.get("lr_choice"):
        parts[-1 if "batch_size" not in varying else -2] += f" ({row['lr_choice']})"
    return " · ".join(parts)


def _varying(summary: Any) -> set[str]:
    return {c for c in ("optimizer", "init", "lr", "batch_size") if summary[c].nunique() > 1}


def _colors(n: int) -> list[Any]:
    plt = _pyplot()
    cmap = plt.get_cmap("tab10" if n <= 10 else "tab20")
    return [cmap(i % cmap.N) for i in range(n)]


def curves(metrics: Any, summary: Any, path: Path, x: str = "epochs", title: str = "") -> Any:
    """Train loss, val loss and val accuracy against `x`: one line per configuration (mean over its
    finished seeds) with a shaded ±1 std band. Regression results have no accuracy panel."""
    plt = _pyplot()
    column, xlabel = X_AXES[x]
    panels = [p for p in PANELS if metrics[p[0]].notna().any()]
    fig, axes = plt.subplots(1, len(panels), figsize=(5.2 * len(panels), 4.6), squeeze=False)
    axes = axes[0]
    varying = _varying(summary)
    finished = metrics[metrics["status"] != "diverged"]
    for color, row in zip(_colors(len(summary)), summary.to_dict("records")):
        runs = finished[finished["config"] == row["config"]]
        if runs.empty:
            continue
        grouped = runs.groupby("epoch")
        xs = grouped[column].mean()
        for ax, (name, _) in zip(axes, panels):
            mean, std = grouped[name].mean(), grouped[name].std().fillna(0.0)
            ax.plot(xs, mean, color=color, linewidth=1.8, label=config_label(row, varying))
            ax.fill_between(xs, mean - std, mean + std, color=color, alpha=0.15, linewidth=0)
    for ax, (name, label) in zip(axes, panels):
        ax.set_xlabel(xlabel)
        ax.set_ylabel(label)
        ax.set_title(f"{label} vs {xlabel}")
        ax.grid(alpha=0.3)
        if "loss" in name and (finished[name] > 0).all():
            from matplotlib.ticker import LogFormatter

            ax.set_yscale("log")
            # Plain numbers (0.3, 2) rather than 3×10^-1 on the log axis.
            ax.yaxis.set_major_formatter(LogFormatter())
            ax.yaxis.set_minor_formatter(LogFormatter(minor_thresholds=(2, 0.5)))
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


def final_bars(summary: Any, metric: str, path: Path, title: str = "") -> Any:
    """Bar per configuration (in rank order) of the metric's mean, with 95% CI error bars."""
    plt = _pyplot()
    mean, ci = summary[f"{metric}_mean"], summary[f"{metric}_ci95"].fillna(0.0)
    varying = _varying(summary)
    labels = [config_label(r, varying).replace(" · ", "\n", 1) for r in summary.to_dict("records")]
    fig, ax = plt.subplots(figsize=(max(6.0, 1.3 * len(summary) + 2), 5.0))
    colors = _colors(len(summary))
    ax.bar(range(len(summary)), mean.fillna(0.0), yerr=ci, capsize=5, color=colors, alpha=0.85)
    for i, (m, status) in enumerate(zip(mean, summary["status"])):
        # The value sits inside the top of its bar, clear of the error bar's caps.
        text = "diverged" if status == "diverged" else f"{m:.3f}"
        ax.annotate(text, (i, 0 if m != m else m), textcoords="offset points", xytext=(14, -12),
                    ha="left", fontsize=8)
    ax.set_xticks(range(len(summary)), labels, rotation=30 if len(summary) > 6 else 0, ha="right"
                  if len(summary) > 6 else "center", fontsize=8)
    pretty = metric.replace("_", " ")
    ax.set_ylabel(pretty)
    if "acc" in metric:
        finite = (mean - ci).dropna()
        low = max(0.0, float(finite.min()) - 0.05) if len(finite) else 0.0
        ax.set_ylim(low, min(1.02, float((mean + ci).max()) + 0.03) if len(finite) else 1.0)
    ax.set_title(title or f"{pretty} by configuration (mean over seeds, error bars: 95% CI)")
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return fig


def write_plots(metrics: Any, summary: Any, folder: Path, x: str = "epochs") -> list[Path]:
    folder = Path(folder)
    written = [folder / f"curves_{x}.png"]
    curves(metrics, summary, written[0], x)
    if len(summary) < 2:  # one configuration: nothing to compare in a bar chart
        return written
    metric = "final_val_acc" if metrics["val_acc"].notna().any() else "final_val_loss"
    written.append(folder / f"{metric}.png")
    final_bars(summary, metric, written[-1])
    return written
