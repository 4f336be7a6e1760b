"""transfer.png: the final metric against the learning rate, one line per width (or depth), one panel per series
(Yang et al. 2022, Fig. 1), and the best rate against the width for every series on one log-log panel (the slope
the summary states: about -1 where the best rate falls as the network widens, 0 where it transfers)."""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING

from nncmp.output import figure
from nncmp.results import transfer

if TYPE_CHECKING:
    import pandas as pd
    from matplotlib.figure import Figure

TITLES = {"final_val_loss": "final validation loss", "final_val_acc": "final validation accuracy",
          "best_val_acc": "best validation accuracy", "final_train_loss": "final training loss"}


def transfer_figure(metrics: pd.DataFrame, table: pd.DataFrame, metric: str, path: Path | None = None) -> Figure:
    """The sweep's panels and the transfer panel; saved at `path` if given."""
    from matplotlib import colormaps

    runs = transfer.runs_of(metrics, metric)
    axis = str(table["axis"].iloc[0])
    names = list(dict.fromkeys(table["series"]))
    fig, axes = figure.new((4.2 * (len(names) + 1), 3.6), 1, len(names) + 1, squeeze=False)
    sizes = sorted(int(v) for v in table[axis].unique())
    colours = colormaps["viridis"]
    shade = {w: colours(0.9 * i / max(1, len(sizes) - 1)) for i, w in enumerate(sizes)}
    for ax, name in zip(axes[0], names):
        rows = table[table["series"] == name]
        for size, g in runs[runs["series"] == name].groupby(axis, sort=True):
            ok = g[g["status"] != "diverged"]
            means = ok.groupby("lr")[metric].mean().sort_index()
            ax.plot(means.index, means.values, "o-", ms=3, color=shade[int(size)], label=f"{axis} {int(size)}")
            best = rows[rows[axis] == int(size)]
            if not best.empty and not math.isnan(best["value"].iloc[0]):
                ax.plot(best["best_lr"].iloc[0], best["value"].iloc[0], "*", ms=11, color=shade[int(size)],
                        markeredgecolor="black", markeredgewidth=0.5)
        ax.set_xscale("log", base=2)
        if "acc" in metric:
            ax.set_ylim(top=1.0)
        ax.set_title(name, fontsize=10)
        ax.set_xlabel("learning rate")
        ax.set_ylabel(TITLES.get(metric, metric))
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    ax = axes[0][-1]
    for name in names:
        rows = table[table["series"] == name].sort_values(axis)
        line, = ax.plot(rows[axis], rows["best_lr"], "o-", label=f"{name} (slope {rows['slope'].iloc[0]:+.2f})")
        ax.fill_between(rows[axis], rows["best_lr_lo"], rows["best_lr_hi"], color=line.get_color(), alpha=0.15)
    ax.set_xscale("log", base=2)
    ax.set_yscale("log", base=2)
    ax.set_xlabel(axis)
    ax.set_ylabel("best learning rate (band: seeds' own best)")
    ax.set_title(f"transfer: best rate against {axis}", fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    fig.tight_layout()
    if path is not None:
        figure.save(fig, Path(path), dpi=110)
    return fig
