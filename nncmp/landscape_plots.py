"""Figures of `nncmp landscape`: the loss over the plane with every configuration's path, and the loss
along the straight line from each configuration's initial to its final weights."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from nncmp.plots import _pyplot


def landscape_figure(surface: Any, trajectories: Any, labels: tuple[str, str], path: Path, title: str) -> Any:
    import numpy as np
    from matplotlib.colors import LogNorm

    plt = _pyplot()
    xs = np.sort(surface["a"].unique())
    ys = np.sort(surface["b"].unique())
    z = surface.pivot(index="b", columns="a", values="loss").loc[ys, xs].to_numpy()
    z = np.where(np.isfinite(z), z, np.nan)
    fig, ax = plt.subplots(figsize=(9, 7))
    positive = z[np.isfinite(z) & (z > 0)]
    levels = np.logspace(np.log10(positive.min()), np.log10(positive.max()), 30)
    filled = ax.contourf(xs, ys, np.clip(z, levels[0], None), levels=levels, norm=LogNorm(), cmap="viridis", alpha=0.9)
    ax.contour(xs, ys, np.clip(z, levels[0], None), levels=levels[::3], norm=LogNorm(), colors="white",
               linewidths=0.4, alpha=0.6)
    fig.colorbar(filled, ax=ax, label="loss", format="%.3g")
    cmap = plt.get_cmap("tab10")
    for i, (config, g) in enumerate(trajectories.groupby("config", sort=False)):
        color = cmap(i % 10)
        ax.plot(g["a"], g["b"], color=color, linewidth=1.8, marker=".", markersize=4, label=config, zorder=5)
        ax.plot(g["a"].iloc[:1], g["b"].iloc[:1], marker="o", color=color, markeredgecolor="black", markersize=8,
                zorder=6)
        ax.plot(g["a"].iloc[-1:], g["b"].iloc[-1:], marker="X", color=color, markeredgecolor="black",
                markersize=10, zorder=6)
    ax.set_xlabel(labels[0])
    ax.set_ylabel(labels[1])
    ax.set_title(title, fontsize=10)
    ax.legend(loc="best", fontsize=7, framealpha=0.85)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return fig


def interpolation_figure(interpolation: Any, path: Path) -> Any:
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(8, 5))
    cmap = plt.get_cmap("tab10")
    for i, (config, g) in enumerate(interpolation.groupby("config", sort=False)):
        ax.plot(g["alpha"], g["loss"], color=cmap(i % 10), linewidth=1.6, label=config)
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
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return fig
