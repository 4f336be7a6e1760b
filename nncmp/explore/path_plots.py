"""Figures of `nncmp paths`: every optimizer's walk over the function's filled contours, one panel per
optimizer, and (--gif) the walks growing step by step."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from nncmp.explore.paths import Function
from nncmp.output import figure, style

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd
    from matplotlib.artist import Artist
    from matplotlib.axes import Axes
    from matplotlib.contour import QuadContourSet
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


COLOURBAR = "loss above the minimum's (log scale)"
# The minimum ★ above every walk's start ● and end ✕ (zorder 7) and the arrows to ends outside the view (8):
# an optimizer that arrived would otherwise hide the point it arrived at. White, no optimizer's colour.
MINIMUM = {"marker": "*", "color": "white", "markeredgecolor": "black", "markersize": 15, "zorder": 9}


def _background(ax: Axes, fn: Function, surface: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray],
                limits: Limits | None = None) -> QuadContourSet:
    """The filled contours (returned, for the colour bar), contour lines and the minima."""
    from matplotlib.colors import LogNorm

    gx, gy, height, levels = surface
    filled = ax.contourf(gx, gy, height, levels=levels, norm=LogNorm(), cmap="viridis", alpha=0.85)
    ax.contour(gx, gy, height, levels=levels[::3], norm=LogNorm(), colors="white", linewidths=0.3, alpha=0.5)
    for mx, my in fn.minima:
        ax.plot(mx, my, linestyle="none", **MINIMUM)
    (x0, x1), (y0, y1) = limits or (fn.xlim, fn.ylim)
    ax.set_xlim(x0, x1)
    ax.set_ylim(y0, y1)
    return filled


def _colourbar(fig: Figure, filled: QuadContourSet, ax: Any, **kwargs: Any) -> None:
    """The contours' colour bar, ticked at powers of ten (left to itself it ticks at a few of the 30 levels,
    which are no round numbers)."""
    from matplotlib.ticker import LogLocator

    fig.colorbar(filled, ax=ax, label=COLOURBAR, ticks=LogLocator(), **kwargs)


def _looks(summary: pd.DataFrame) -> list[dict[str, Any]]:
    """Each walk's colour (its optimizer's, as in every nncmp figure) and line style (the rank of its rate among
    its optimizer's: one rate per optimizer is a solid line). No marker: the dots along a walk are its steps."""
    hue = style.colours(summary["optimizer"].astype(str))
    rank = summary.groupby("optimizer", sort=False)["lr"].rank(method="dense").fillna(1).astype(int) - 1
    return [{"color": hue[str(o)], "linestyle": style.LINESTYLES[k % len(style.LINESTYLES)]}
            for o, k in zip(summary["optimizer"], rank)]


def _path(ax: Axes, frame: pd.DataFrame, look: dict[str, Any], label: str | None) -> None:
    import numpy as np

    x, y = frame["x"].to_numpy(), frame["y"].to_numpy()
    finite = np.isfinite(x) & np.isfinite(y)
    x, y = x[finite], y[finite]
    color = look["color"]
    ax.plot(x, y, color=color, linestyle=look["linestyle"], linewidth=1.6, marker=".", markersize=2.5, label=label,
            zorder=6)
    ax.plot(x[:1], y[:1], marker="o", color=color, markeredgecolor="black", markersize=7, zorder=7)
    ax.plot(x[-1:], y[-1:], marker="X", color=color, markeredgecolor="black", markersize=9, zorder=7)


def _walk(paths: pd.DataFrame, row: dict[str, Any]) -> pd.DataFrame:
    return paths[(paths["optimizer"] == row["optimizer"]) & (paths["lr"] == row["lr"])]


def _label(row: dict[str, Any]) -> str:
    return f"{row['optimizer']} · lr={row['lr']:g}" + (" (tuned)" if row["tuned"] else "")


def paths_figure(fn: Function, paths: pd.DataFrame, summary: pd.DataFrame, path: Path) -> Figure:
    """All walks on one contour plot: start ●, end ✕, the minimum ★."""
    limits = view(fn, paths)
    surface = _surface(fn, limits)
    fig, ax = figure.new((9.5, 6.5))
    filled = _background(ax, fn, surface, limits)
    _colourbar(fig, filled, ax)
    for look, row in zip(_looks(summary), summary.to_dict("records")):
        _path(ax, _walk(paths, row), look, _label(row))
        _outside(ax, _walk(paths, row), look["color"], limits)
    ax.set_xlabel(fn.axes[0])
    ax.set_ylabel(fn.axes[1])
    ax.set_title(f"{fn.name}: {fn.summary}", fontsize=10)
    ax.legend(loc="upper left", fontsize=8, framealpha=0.85).set_zorder(10)  # above the walks (zorder 6-9)
    fig.tight_layout()
    figure.save(fig, path, 110)
    return fig


def grid_figure(fn: Function, paths: pd.DataFrame, summary: pd.DataFrame, path: Path) -> Figure:
    """One small panel per optimizer, so crossing paths do not hide each other."""
    import math

    limits = view(fn, paths)
    surface = _surface(fn, limits)
    n = len(summary)
    cols = min(4, n)
    rows = math.ceil(n / cols)
    # Constrained layout: it makes room for one colour bar beside the whole grid (tight_layout cannot).
    fig, axes = figure.new((3.6 * cols + 1.0, 3.2 * rows), rows, cols, squeeze=False, layout="constrained")
    for i, (look, row) in enumerate(zip(_looks(summary), summary.to_dict("records"))):
        ax = axes[i // cols][i % cols]
        filled = _background(ax, fn, surface, limits)
        _path(ax, _walk(paths, row), look, None)
        _outside(ax, _walk(paths, row), look["color"], limits)
        ax.set_title(f"{_label(row)}\nfinal loss {row['final_loss']:.3g}", fontsize=9)
        ax.tick_params(labelsize=7)
    for j in range(n, rows * cols):
        axes[j // cols][j % cols].axis("off")
    _colourbar(fig, filled, axes, shrink=0.9)
    fig.suptitle(fn.name, fontsize=11)
    figure.save(fig, path, 100)
    return fig


def animation(fn: Function, paths: pd.DataFrame, summary: pd.DataFrame, path: Path, frames: int = 40) -> None:
    """The walks growing step by step (GIF, Pillow): the contours drawn once, the lines extended per frame."""
    import numpy as np
    from matplotlib.animation import FuncAnimation, PillowWriter

    fig, ax = figure.new((7.4, 5.0))
    limits = view(fn, paths)
    _colourbar(fig, _background(ax, fn, _surface(fn, limits), limits), ax)
    walks = []
    for look, row in zip(_looks(summary), summary.to_dict("records")):
        rows = _walk(paths, row)
        finite = np.isfinite(rows["x"].to_numpy()) & np.isfinite(rows["y"].to_numpy())
        rows = rows[finite]
        (line,) = ax.plot([], [], color=look["color"], linestyle=look["linestyle"], linewidth=1.6, label=_label(row),
                          zorder=6)
        (head,) = ax.plot([], [], marker="o", color=look["color"], markeredgecolor="black", markersize=7, zorder=7)
        walks.append((rows["step"].to_numpy(), rows["x"].to_numpy(), rows["y"].to_numpy(), line, head))
    ax.legend(loc="upper left", fontsize=7, framealpha=0.85).set_zorder(10)
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
