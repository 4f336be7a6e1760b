"""Figures of `nncmp paths`: every optimizer's walk over the function's filled contours, one panel per
optimizer, and (--gif) the walks growing step by step."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from nncmp.explore.paths import Function
from nncmp.output.plots import _pyplot, save_figure

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd
    from matplotlib.artist import Artist
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure
    from matplotlib.typing import ColorType

GRID = 300  # contour resolution per axis
ZOOM_OUT = 4.0  # the view grows to frame every endpoint up to this many times the function's own range
Limits = tuple[tuple[float, float], tuple[float, float]]


def view(fn: Function, paths: pd.DataFrame) -> Limits:
    """The function's plot range, grown (up to ZOOM_OUT times along each axis) so that every walk's end and
    start is in the picture; an end further out is marked at the edge instead (_outside)."""
    import numpy as np

    limits = []
    for axis, (lo, hi) in (("x", fn.xlim), ("y", fn.ylim)):
        span = hi - lo
        ends = paths.groupby(["optimizer", "lr"], sort=False)[axis].agg(["first", "last"]).to_numpy().ravel()
        ends = ends[np.isfinite(ends)]
        near = ends[(ends > lo - ZOOM_OUT * span) & (ends < hi + ZOOM_OUT * span)]
        if len(near):
            margin = 0.06 * (max(hi, near.max()) - min(lo, near.min()))
            lo, hi = min(lo, near.min() - margin), max(hi, near.max() + margin)
        limits.append((float(lo), float(hi)))
    return limits[0], limits[1]


def _outside(ax: Axes, frame: pd.DataFrame, color: ColorType, limits: Limits) -> None:
    """An end beyond the view: an arrow at the edge pointing to it, with its coordinates."""
    import numpy as np

    rows = frame[np.isfinite(frame["x"]) & np.isfinite(frame["y"])]
    if rows.empty:
        return
    x, y = float(rows["x"].iloc[-1]), float(rows["y"].iloc[-1])
    (x0, x1), (y0, y1) = limits
    if x0 <= x <= x1 and y0 <= y <= y1:
        return
    cx, cy = min(max(x, x0), x1), min(max(y, y0), y1)
    ax.annotate(f"end ({x:.3g}, {y:.3g})", xy=(cx, cy), xytext=((cx + (x0 + x1) / 2) / 2, (cy + (y0 + y1) / 2) / 2),
                color=color, fontsize=7, zorder=8, arrowprops={"arrowstyle": "->", "color": color})


def _surface(fn: Function, limits: Limits | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The function over the plot range, and log-spaced contour levels of its height above the minimum."""
    import numpy as np

    (x0, x1), (y0, y1) = limits or (fn.xlim, fn.ylim)
    xs = np.linspace(x0, x1, GRID)
    ys = np.linspace(y0, y1, GRID)
    gx, gy = np.meshgrid(xs, ys)
    height = fn.f(gx, gy) - fn.min_loss
    floor = max(float(height[height > 0].min()), float(height.max()) * 1e-7)
    levels = np.logspace(np.log10(floor), np.log10(float(height.max())), 30)
    return gx, gy, np.clip(height, floor, None), levels


def _background(ax: Axes, fn: Function, surface: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray],
                limits: Limits | None = None) -> None:
    from matplotlib.colors import LogNorm

    gx, gy, height, levels = surface
    ax.contourf(gx, gy, height, levels=levels, norm=LogNorm(), cmap="viridis", alpha=0.85)
    ax.contour(gx, gy, height, levels=levels[::3], norm=LogNorm(), colors="white", linewidths=0.3, alpha=0.5)
    for mx, my in fn.minima:
        ax.plot(mx, my, marker="*", color="red", markersize=14, markeredgecolor="white", zorder=5)
    (x0, x1), (y0, y1) = limits or (fn.xlim, fn.ylim)
    ax.set_xlim(x0, x1)
    ax.set_ylim(y0, y1)


def _path(ax: Axes, frame: pd.DataFrame, color: ColorType, label: str | None, upto: int | None = None) -> None:
    import numpy as np

    rows = frame if upto is None else frame[frame["step"] <= upto]
    x, y = rows["x"].to_numpy(), rows["y"].to_numpy()
    finite = np.isfinite(x) & np.isfinite(y)
    x, y = x[finite], y[finite]
    ax.plot(x, y, color=color, linewidth=1.6, marker=".", markersize=2.5, label=label, zorder=6)
    ax.plot(x[:1], y[:1], marker="o", color=color, markeredgecolor="black", markersize=7, zorder=7)
    ax.plot(x[-1:], y[-1:], marker="X", color=color, markeredgecolor="black", markersize=9, zorder=7)


def _walk(paths: pd.DataFrame, row: dict[str, Any]) -> pd.DataFrame:
    return paths[(paths["optimizer"] == row["optimizer"]) & (paths["lr"] == row["lr"])]


def _label(row: dict[str, Any]) -> str:
    return f"{row['optimizer']} · lr={row['lr']:g}" + (" (tuned)" if row["tuned"] else "")


def paths_figure(fn: Function, paths: pd.DataFrame, summary: pd.DataFrame, path: Path) -> Figure:
    """All walks on one contour plot: start ●, end ✕, the minimum ★."""
    plt = _pyplot()
    limits = view(fn, paths)
    surface = _surface(fn, limits)
    fig, ax = plt.subplots(figsize=(8.5, 6.5))
    _background(ax, fn, surface, limits)
    cmap = plt.get_cmap("tab10")
    for i, row in enumerate(summary.to_dict("records")):
        _path(ax, _walk(paths, row), cmap(i % 10), _label(row))
        _outside(ax, _walk(paths, row), cmap(i % 10), limits)
    ax.set_xlabel(fn.axes[0])
    ax.set_ylabel(fn.axes[1])
    ax.set_title(f"{fn.name}: {fn.summary}", fontsize=10)
    ax.legend(loc="upper left", fontsize=8, framealpha=0.85)
    fig.tight_layout()
    save_figure(fig, path, 110)
    plt.close(fig)
    return fig


def grid_figure(fn: Function, paths: pd.DataFrame, summary: pd.DataFrame, path: Path) -> Figure:
    """One small panel per optimizer, so crossing paths do not hide each other."""
    import math

    plt = _pyplot()
    limits = view(fn, paths)
    surface = _surface(fn, limits)
    n = len(summary)
    cols = min(4, n)
    rows = math.ceil(n / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(3.6 * cols, 3.2 * rows), squeeze=False)
    cmap = plt.get_cmap("tab10")
    for i, row in enumerate(summary.to_dict("records")):
        ax = axes[i // cols][i % cols]
        _background(ax, fn, surface, limits)
        _path(ax, _walk(paths, row), cmap(i % 10), None)
        _outside(ax, _walk(paths, row), cmap(i % 10), limits)
        ax.set_title(f"{_label(row)}\nfinal loss {row['final_loss']:.3g}", fontsize=9)
        ax.tick_params(labelsize=7)
    for j in range(n, rows * cols):
        axes[j // cols][j % cols].axis("off")
    fig.suptitle(fn.name, fontsize=11)
    fig.tight_layout()
    save_figure(fig, path, 100)
    plt.close(fig)
    return fig


def animation(fn: Function, paths: pd.DataFrame, summary: pd.DataFrame, path: Path, frames: int = 40) -> None:
    """The walks growing step by step (GIF, Pillow): the contours drawn once, the lines extended per frame."""
    import numpy as np
    from matplotlib.animation import FuncAnimation, PillowWriter

    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6.4, 5.0))
    limits = view(fn, paths)
    _background(ax, fn, _surface(fn, limits), limits)
    cmap = plt.get_cmap("tab10")
    walks = []
    for i, row in enumerate(summary.to_dict("records")):
        rows = _walk(paths, row)
        finite = np.isfinite(rows["x"].to_numpy()) & np.isfinite(rows["y"].to_numpy())
        rows = rows[finite]
        (line,) = ax.plot([], [], color=cmap(i % 10), linewidth=1.6, label=_label(row), zorder=6)
        (head,) = ax.plot([], [], marker="o", color=cmap(i % 10), markeredgecolor="black", markersize=7, zorder=7)
        walks.append((rows["step"].to_numpy(), rows["x"].to_numpy(), rows["y"].to_numpy(), line, head))
    ax.legend(loc="upper left", fontsize=7, framealpha=0.85)
    title = ax.set_title("", fontsize=10)
    last = int(paths["step"].max())
    steps = sorted({round(last * k / (frames - 1)) for k in range(frames)})

    def draw(upto: int) -> list[Artist]:
        for step, x, y, line, head in walks:
            shown = step <= upto
            line.set_data(x[shown], y[shown])
            head.set_data(x[shown][-1:], y[shown][-1:])
        title.set_text(f"{fn.name}, step {upto}")
        return []

    from nncmp.results.store import atomic_file

    with atomic_file(path) as tmp:
        FuncAnimation(fig, draw, frames=steps, blit=False).save(tmp, writer=PillowWriter(fps=10), dpi=70)
    plt.close(fig)
