"""The figure of `nncmp inspect --coord-check`, as mup draws its coordinate checks: one row of panels per
parametrisation, one panel per step, the mean |activation| of every layer against the width (both axes
logarithmic), the mean over seeds as a line and their range as a band."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from nncmp.explore.coord import OUTPUT
from nncmp.output import figure

if TYPE_CHECKING:
    import pandas as pd
    from matplotlib.figure import Figure

MOST_PANELS = 6  # steps drawn in a row before only the first, the middle and the last are


def shown_steps(steps: list[int]) -> list[int]:
    """Every step, or the first, the middle and the last of many (a row stays readable)."""
    steps = sorted(steps)
    if len(steps) <= MOST_PANELS:
        return steps
    return [steps[0], steps[len(steps) // 2], steps[-1]]


def coord_figure(frame: pd.DataFrame, path: Path, title: str) -> Figure:
    """coord.csv's rows drawn: rows of panels by parametrisation (as listed), columns by step; one colour per
    layer in the model's order, the output black and thicker. One y axis for every panel: sp's and μP's
    coordinates are read against each other."""
    import numpy as np
    from matplotlib import colormaps
    from matplotlib.ticker import NullLocator

    params = list(dict.fromkeys(frame["param"]))
    steps = shown_steps(list(frame["step"].unique()))
    layers = list(dict.fromkeys(frame["layer"]))
    inner = [layer for layer in layers if layer != OUTPUT]
    palette = colormaps["viridis"](np.linspace(0.0, 0.85, max(len(inner), 1)))
    colour = {layer: palette[i] for i, layer in enumerate(inner)}
    widths = sorted(int(w) for w in frame["width"].unique())
    fig, axes = figure.new((3.1 * len(steps) + 1.6, 2.9 * len(params) + 0.6), len(params), len(steps),
                           squeeze=False, sharex=True, sharey=True)
    # Mean and range over seeds per (param, step, layer, width).
    stats = frame.groupby(["param", "step", "layer", "width"], sort=False)["mean_abs"].agg(["mean", "min", "max"])
    stats = stats.sort_index()  # looked up by (param, step, layer) below
    for i, param in enumerate(params):
        for j, step in enumerate(steps):
            ax = axes[i][j]
            for layer in layers:
                try:
                    part = stats.loc[(param, step, layer)].sort_index()
                except KeyError:  # a layer one parametrisation has and the other not (never for nncmp's models)
                    continue
                look = ({"color": "black", "linewidth": 2.2} if layer == OUTPUT
                        else {"color": colour[layer], "linewidth": 1.5})
                ax.plot(part.index, part["mean"], marker="o", markersize=3, label=layer, **look)
                ax.fill_between(part.index, part["min"], part["max"], color=look["color"], alpha=0.15, linewidth=0)
            ax.set_xscale("log", base=2)
            ax.set_yscale("log")
            ax.set_xticks(widths, [str(w) for w in widths], fontsize=7)
            ax.xaxis.set_minor_locator(NullLocator())  # the widths' own ticks only
            ax.grid(alpha=0.3, which="major")
            ax.set_title(f"{param}, step {step}", fontsize=9)
            if i == len(params) - 1:
                ax.set_xlabel("width")
            if j == 0:
                ax.set_ylabel("mean |activation|")
    handles, labels = axes[0][0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="center right", fontsize=8, title="layer", title_fontsize=8, frameon=False)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout(rect=(0, 0, 1 - 1.3 / fig.get_figwidth(), 1))
    figure.save(fig, path, 100)
    return fig

