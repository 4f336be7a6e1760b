"""The paths figures as drawn: the minimum ★ above every walk's markers, a colour bar for the contours, each
optimizer in its colour from every nncmp figure, several rates of one optimizer told apart by line style."""

import pandas as pd
import pytest
from matplotlib.colors import to_hex

from nncmp.explore import path_plots
from nncmp.explore import paths as walks
from nncmp.output import style


@pytest.fixture(scope="module")
def walked():
    """Real walks on the quadratic: gd at two rates (one arrives at the minimum), adam at one."""
    fn = walks.function("quadratic", 10.0)
    rows, summary = [], []
    for name, lr in (("gd", 0.05), ("gd", 0.15), ("adam", 0.1)):
        points = walks.walk(fn, walks.spec_for(name, lr, 120), fn.start)
        rows += [{"fn": fn.name, "optimizer": name, "lr": lr, **p} for p in points]
        summary.append(walks.summary_row(fn, name, lr, points, 1e-3, False))
    return fn, pd.DataFrame(rows), pd.DataFrame(summary)


def _walk_lines(ax):
    """The walks' own lines (label set by paths_figure): label → Line2D."""
    return {line.get_label(): line for line in ax.get_lines() if " · lr=" in line.get_label()}


def test_the_minimum_is_drawn_above_the_walks_and_the_contours_have_a_colour_bar(walked, tmp_path):
    fn, frame, summary = walked
    fig = path_plots.paths_figure(fn, frame, summary, tmp_path / "paths.png")
    ax, bar = fig.axes  # the plot and its colour bar
    assert bar.get_ylabel() == path_plots.COLOURBAR
    stars = [line for line in ax.get_lines() if line.get_marker() == "*"]
    ends = [line for line in ax.get_lines() if line.get_marker() in ("o", "X")]
    assert len(stars) == len(fn.minima) and len(ends) == 2 * len(summary)
    assert min(s.get_zorder() for s in stars) > max(e.get_zorder() for e in ends)
    # gd at 0.15 ends on the minimum (0, 0), its end ✕ right under the ★, which stays on top.
    (mx, my), = fn.minima
    assert min(abs(e.get_xdata()[0] - mx) + abs(e.get_ydata()[0] - my) for e in ends if e.get_marker() == "X") < 1e-3


def test_each_optimizer_has_its_colour_and_each_of_its_rates_a_line_style(walked, tmp_path):
    fn, frame, summary = walked
    fig = path_plots.paths_figure(fn, frame, summary, tmp_path / "paths.png")
    lines = _walk_lines(fig.axes[0])
    assert set(lines) == {"gd · lr=0.05", "gd · lr=0.15", "adam · lr=0.1"}
    for label, line in lines.items():
        assert to_hex(line.get_color()) == style.colour(label.split(" · ")[0])
    assert lines["gd · lr=0.05"].get_linestyle() == lines["adam · lr=0.1"].get_linestyle() == "-"
    assert lines["gd · lr=0.15"].get_linestyle() != "-"  # gd's second rate
    legend = [(to_hex(h.get_color()), h.get_linestyle()) for h in fig.axes[0].get_legend().legend_handles]
    assert len(set(legend)) == 3


def test_the_grid_has_one_colour_bar_for_all_its_panels(walked, tmp_path):
    fn, frame, summary = walked
    fig = path_plots.grid_figure(fn, frame, summary, tmp_path / "grid.png")
    bars = [ax for ax in fig.axes if ax.get_ylabel() == path_plots.COLOURBAR]
    panels = [ax for ax in fig.axes if ax.get_title()]
    assert len(bars) == 1 and len(panels) == len(summary)
