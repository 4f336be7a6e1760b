"""The coordinate check (Yang et al. 2022, Tensor Programs V, and mup's `get_coord_data`): the mean |activation|
of every layer over a run's first steps, at several widths. Under μP every layer's coordinates stay the same
size as the width grows; under the standard parametrisation the layers whose updates add up over a growing
fan-in (the output layer, Adam's hidden layers) grow with it, which is why the best rate moves.

Each run is trained by the single-run engine itself (engines/single.py: the model from the run's seed and
init, μP's scaling by registry/models.py, the optimizer with μP's per-layer rates by training/stepping.py,
the run's own batch order), one step at a time; forward hooks read each layer's output on the way. Step t's
value is the forward pass of step t, made with the weights after t - 1 updates, as mup records it: step 1 is
the network at initialisation.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from nncmp.training.engines.single import SingleRun

if TYPE_CHECKING:
    import pandas as pd
    import torch
    from torch import nn

    from nncmp.config.run import RunSpec
    from nncmp.registry.datasets import Data

COLUMNS = ["param", "width", "seed", "step", "layer", "mean_abs"]
GROWTH_COLUMNS = ["param", "layer", "step", "width_min", "width_max", "ratio", "slope", "slope_min", "slope_max"]
OUTPUT = "output"  # the model's own output, whichever module makes it
# A layer is called flat when it changes by less than this factor from the smallest to the largest width: over
# 16x in width, x2 is a slope of 1/4, where sp's growing coordinates go as the width (slope 1) and μP's stay put.
FLAT = 2.0


def _tensor(x: Any) -> torch.Tensor | None:
    """The tensor a module returned: itself, or the first of a tuple, list or dict (an RNN's output sequence
    before its last state)."""
    import torch

    if isinstance(x, torch.Tensor):
        return x
    items = x.values() if isinstance(x, dict) else x if isinstance(x, (tuple, list)) else ()
    return next((t for t in (_tensor(i) for i in items) if t is not None), None)


class Recorder:
    """Forward hooks on every leaf module that has parameters and on the model itself: the mean |output| of
    each at the first forward pass of each step (a closure optimizer's further passes on the same batch are
    not new coordinates)."""

    def __init__(self, model: nn.Module):
        self.step = 0
        self.means: dict[tuple[int, str], torch.Tensor] = {}
        self.pending: dict[str, tuple[torch.Tensor, torch.Tensor]] = {}
        self.done = 0  # the last step whose forward pass was recorded
        self.handles = [m.register_forward_hook(functools.partial(self._leaf, name))
                        for name, m in model.named_modules()
                        if m is not model and not any(m.children()) and any(True for _ in m.parameters(False))]
        self.handles.append(model.register_forward_hook(self._output))

    def _leaf(self, name: str, _module: nn.Module, _args: Any, out: Any) -> None:
        t = _tensor(out)
        if t is None or self.done == self.step or name in self.pending:  # a layer called twice: its first call
            return
        # The mean now, as mup's hook takes it: an in-place activation after the layer would change its output.
        self.pending[name] = (t, t.detach().abs().mean())

    def _output(self, _module: nn.Module, _args: Any, out: Any) -> None:
        t = _tensor(out)
        if t is None or self.done == self.step:
            return
        for name, (seen, mean) in self.pending.items():
            if seen is not t:  # the layer that makes the model's output is the output, recorded once
                self.means[self.step, name] = mean
        self.means[self.step, OUTPUT] = t.detach().abs().mean()
        self.pending.clear()
        self.done = self.step

    def rows(self) -> list[tuple[int, str, float]]:
        """(step, layer, mean |output|), read from the device at once."""
        import torch

        if not self.means:
            return []
        values = torch.stack([m.float() for m in self.means.values()]).tolist()
        return [(step, layer, v) for (step, layer), v in zip(self.means, values)]

    def remove(self) -> None:
        for h in self.handles:
            h.remove()


def measure(spec: RunSpec, data: Data, steps: int, device: str = "cpu") -> list[dict[str, Any]]:
    """One run's coordinates over its first `steps` steps: COLUMNS' rows. `spec` resolved; `data` on
    `device`."""
    run = SingleRun(spec, data, device)
    recorder = Recorder(run.model)
    try:
        for step in range(1, steps + 1):
            recorder.step = step
            run.train_epoch(1)  # one step of the run's batches, carrying on through its order
    finally:
        recorder.remove()
    width = spec.model_width()
    return [{"param": spec.param, "width": width, "seed": spec.seed, "step": step, "layer": layer, "mean_abs": v}
            for step, layer, v in recorder.rows()]


def coord_table(specs: Iterable[RunSpec], data: Data, steps: int, device: str = "cpu",
                on_run: Callable[[RunSpec], None] | None = None) -> pd.DataFrame:
    """Every run's coordinates (coord.csv): `specs` resolved, one per parametrisation × width × seed."""
    import pandas as pd

    rows = []
    for spec in specs:
        rows += measure(spec, data, steps, device)
        if on_run is not None:
            on_run(spec)
    return pd.DataFrame(rows, columns=COLUMNS)


def _slope(widths: Iterable[float], values: Iterable[float]) -> float:
    """Least-squares slope of log2(value) against log2(width); NaN where a value is not positive and finite."""
    import numpy as np

    x, y = np.log2(np.asarray(list(widths), float)), np.asarray(list(values), float)
    if len(x) < 2 or not (np.isfinite(y).all() and (y > 0).all()):
        return math.nan
    return float(np.polyfit(x, np.log2(y), 1)[0])


def growth(frame: pd.DataFrame, step: int | None = None) -> pd.DataFrame:
    """Per parametrisation and layer, at `step` (the last by default): the mean over seeds at the largest width
    ÷ at the smallest (ratio), the slope of log2(mean) against log2(width), and that slope's range over seeds."""
    import pandas as pd

    step = int(frame["step"].max()) if step is None else step
    at = frame[frame["step"] == step]
    rows = []
    for (param, layer), part in at.groupby(["param", "layer"], sort=False):
        mean = part.groupby("width")["mean_abs"].mean().sort_index()
        seeds = [_slope(g["width"], g["mean_abs"]) for _, g in part.sort_values("width").groupby("seed")]
        lo, hi = mean.iloc[0], mean.iloc[-1]
        rows.append({"param": param, "layer": layer, "step": step, "width_min": int(mean.index[0]),
                     "width_max": int(mean.index[-1]), "ratio": hi / lo if lo > 0 else math.nan,
                     "slope": _slope(mean.index, mean.to_numpy()), "slope_min": min(seeds), "slope_max": max(seeds)})
    return pd.DataFrame(rows, columns=GROWTH_COLUMNS)


def _change(layer: str, ratio: float, slope: float) -> str:
    if not math.isfinite(ratio):  # a run diverged, or a layer's output is 0 at the smallest width
        return f"{layer} not finite"
    return f"{layer} ×{ratio:.2g} (slope {slope:+.2f})"


def verdict(table: pd.DataFrame) -> list[str]:
    """One line per parametrisation from growth()'s table: every layer flat (within ×FLAT), or the layers that
    are not, the output first, then the most changed."""
    lines = []
    for param, part in table.groupby("param", sort=False):
        w0, w1 = int(part["width_min"].iloc[0]), int(part["width_max"].iloc[0])
        # How far each layer moved, up or down (x0.5 is as far from flat as x2); not finite: diverged.
        far = part["ratio"].map(lambda r: max(r, 1 / r) if math.isfinite(r) and r > 0 else math.inf)
        out = part[part["layer"] == OUTPUT]
        shown = [f"×{r.ratio:.2g}, slope {r.slope:+.2f}" for r in out.itertuples()]
        if (far <= FLAT).all():
            lines.append(f"{param}: every layer within ×{far.max():.2g} from width {w0} to {w1} (output "
                         f"{shown[0] if shown else '-'})")
            continue
        moved = part[far > FLAT].assign(far=far[far > FLAT])
        moved = moved.sort_values("far", ascending=False, kind="stable")
        moved = moved.sort_values("layer", key=lambda s: s != OUTPUT, kind="stable")
        listed = [_change(r.layer, r.ratio, r.slope) for r in moved.head(4).itertuples()]
        more = f", and {len(moved) - 4} more" if len(moved) > 4 else ""
        lines.append(f"{param}: {len(moved)} of {len(part)} layers change more than ×{FLAT:g} from width {w0} to "
                     f"{w1}: {', '.join(listed)}{more}")
    return lines
