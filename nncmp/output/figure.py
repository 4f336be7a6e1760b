"""Figures as objects: every nncmp figure is a `matplotlib.figure.Figure` made without pyplot, so nncmp never
switches the user's backend and never adds to (or closes anything in) pyplot's list of figures. Saved as PNG
files; shown by Jupyter when one is a cell's value, whether or not the notebook imported pyplot.

Why a subclass: IPython shows a Figure as an image only through the image/png formatter that
matplotlib_inline registers for the Figure type when the inline backend loads, which is on
`import matplotlib.pyplot` or `%matplotlib inline`. In a notebook that did neither, a plain Figure shows
as its text `<Figure size ...>`. `_repr_png_` is IPython's own display protocol for any object: IPython
calls it when no formatter is registered for the type, and a registered one (pyplot loaded) comes first,
so the notebook's own InlineBackend settings (retina, for one) still apply then.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

from matplotlib.figure import Figure

from nncmp.results import store


class ShownFigure(Figure):
    """A Figure that a notebook shows as the PNG nncmp saves of it (at the same dpi)."""

    saved_dpi: float | None = None  # set by save(): the notebook's image is the file's

    def _repr_png_(self) -> bytes | None:
        if not self.axes:  # as IPython's own formatter: no blank image for an empty figure
            return None
        buffer = io.BytesIO()
        self.savefig(buffer, format="png", dpi=self.saved_dpi or "figure")
        return buffer.getvalue()


def new(figsize: tuple[float, float], nrows: int = 1, ncols: int = 1, squeeze: bool = True,
        layout: str | None = None, **subplots: Any) -> tuple[ShownFigure, Any]:
    """A figure and its grid of axes, as `pyplot.subplots` makes them, without pyplot."""
    fig = ShownFigure(figsize=figsize, layout=layout)
    return fig, fig.subplots(nrows, ncols, squeeze=squeeze, **subplots)


def save(fig: Figure, path: Path, dpi: float) -> None:
    """The figure as a PNG, written atomically: a Ctrl-C mid-write leaves the old file or the whole new one.
    A figure's canvas renders it to PNG without a backend (matplotlib picks its Agg canvas for the format)."""
    with store.atomic_file(path) as tmp:
        fig.savefig(tmp, format="png", dpi=dpi)
    if isinstance(fig, ShownFigure):
        fig.saved_dpi = dpi
