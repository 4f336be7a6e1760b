"""Figures of `nncmp landscape`: the loss over the plane with every configuration's path, and the loss
along the straight line from each configuration's initial to its final weights."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from nncmp.output import figure, style

if TYPE_CHECKING:
    from collections.abc import Iterable

    import pandas as pd
    from matplotlib.figure import Figure


def looks(configs: Iterable[str]) -> dict[str, dict[str, Any]]:
    """Config id → its look, by the rule of every nncmp figure (output/style.py), read from the id itself
    (optimizer/init/rate/batch size/...): the optimizer's colour, the init's line style, a marker for the rest.
    The id is all these figures' files hold."""
    ids = list(dict.fromkeys(configs))
    rows = [dict(zip(("optimizer", "init", "rest"), (*c.split("/", 2), "", "")[:3])) for c in ids]
    return dict(zip(ids, style.looks(rows, rest=("rest",))))


def landscape_figure(surface: pd.DataFrame, trajectories: pd.DataFrame, labels: dict[str, tuple[str, str]],
                     path: Path, title: str) -> Figure:
    """One panel per plane (per set of runs sharing their initial weights): the loss's filled contours,
    every configuration's path with its start ● and end ✕."""
    import numpy as np
    from matplotlib.colors import LogNorm

    panels = list(dict.fromkeys(surface["panel"]))
    fig, axes = figure.new((8.2 * len(panels), 6.8), 1, len(panels), squeeze=False)
    # One look per configuration, the same in every panel (and the optimizer's colour in every figure).
    look = looks(trajectories["config"])
    for ax, panel in zip(axes[0], panels):
        part = surface[surface["panel"] == panel]
        xs, ys = np.sort(part["a"].unique()), np.sort(part["b"].unique())
        z = part.pivot(index="b", columns="a", values="loss").loc[ys, xs].to_numpy()
        z = np.where(np.isfinite(z), z, np.nan)
        positive = z[np.isfinite(z) & (z > 0)]
        levels = np.logspace(np.log10(positive.min()), np.log10(positive.max()), 30)
        filled = ax.contourf(xs, ys, np.clip(z, levels[0], None), levels=levels, norm=LogNorm(), cmap="viridis",
                             alpha=0.9)
        ax.contour(xs, ys, np.clip(z, levels[0], None), levels=levels[::3], norm=LogNorm(), colors="white",
                   linewidths=0.4, alpha=0.6)
        fig.colorbar(filled, ax=ax, label="loss", format="%.3g")
        for config, g in trajectories[trajectories["panel"] == panel].groupby("config", sort=False):
            color = look[config]["color"]
            ax.plot(g["a"], g["b"], color=color, linestyle=look[config]["linestyle"], linewidth=1.8,
                    marker=look[config]["marker"] or ".", markersize=4, label=config, zorder=5)
            ax.plot(g["a"].iloc[:1], g["b"].iloc[:1], marker="o", color=color, markeredgecolor="black",
                    markersize=8, zorder=6)
            ax.plot(g["a"].iloc[-1:], g["b"].iloc[-1:], marker="X", color=color, markeredgecolor="black",
                    markersize=10, zorder=6)
        ax.set_xlabel(labels[panel][0])
        ax.set_ylabel(labels[panel][1])
        ax.set_title(panel, fontsize=10)
        ax.legend(loc="best", fontsize=7, framealpha=0.85)
    fig.suptitle(title, fontsize=11)
    fig.tight_layout()
    figure.save(fig, path, 90)
    return fig


def interpolation_figure(interpolation: pd.DataFrame, path: Path) -> Figure:
    fig, ax = figure.new((8, 5))
    look = looks(interpolation["config"])
    for config, g in interpolation.groupby("config", sort=False):
        ax.plot(g["alpha"], g["loss"], linewidth=1.6, markersize=4, markevery=style.markevery(len(g)), label=config,
                **look[config])
    ax.axvline(0, color="grey", linewidth=0.8, linestyle=":")
    ax.axvline(1, color="grey", linewidth=0.8, linestyle=":")
    if (interpolation["loss"] > 0).all():
        ax.set_yscale("log")
    ax.set_xlabel("α: weights = initial + α · (final − initial)")
    ax.set_ylabel("training loss")
    ax.set_title("Loss on the straight line from the initial (α=0) to the final weights (α=1)", fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    fig.tight_layout()
    figure.save(fig, path, 100)
    return fig
