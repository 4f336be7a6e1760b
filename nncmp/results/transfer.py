"""Learning-rate transfer across width (or depth): the best rate at each size, and how it moves as it grows.

A comparison over --widths (or the mlp's --depths) and --lrs, usually with --params sp,mup, gives for each
*series* (everything a configuration is but its size and rate: the parametrisation, optimizer, init, a
residual mlp's scaling, ...) a curve of the final metric against the rate at every size. Here: the best
rate per size (the rate whose mean over seeds is best; each seed's own best gives the interval), whether it
sits at the grid's edge (then the true best may lie beyond it), and the transfer figure of the series: the
slope of log2(best rate) against log2(size) (about -1 for Adam's width under the standard parametrisation, 0
where the rate transfers: μP) with its range over seeds, and the ratio of the best rates at the smallest and
largest sizes. The axis is the width when two widths or more were trained, else the depth (the number of
hidden layers of an mlp whose layers are of one width). Tables in, tables out: no files, no torch.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from nncmp.results.schema import CONFIG_COLUMNS, DIVERGED
from nncmp.results.stats import larger_is_better, per_run

if TYPE_CHECKING:
    import pandas as pd

# What a configuration is besides its size and rate: the columns that name a series (hidden holds the width and
# depth, base_width is the parametrisation's; model_args counts without the width it holds: _other_args).
SERIES = [c for c in CONFIG_COLUMNS if c not in ("config", "lr", "width", "hidden", "model_args", "base_width")]
AXES = ("width", "depth")
COLUMNS = ["series", *SERIES, "model_args", "axis", "width", "depth", "best_lr", "best_lr_lo", "best_lr_hi",
           "at_edge", "value", "n_seeds", "n_lrs", "slope", "slope_lo", "slope_hi", "lr_ratio"]


def _sizes(frame: pd.DataFrame) -> pd.DataFrame:
    """Each row's width (the width column) and depth (the mlp's hidden layers, when all of one width: '64x4' is
    4, '256' is 1; NaN otherwise), as numbers."""
    import pandas as pd

    width = pd.to_numeric(frame["width"], errors="coerce") if "width" in frame.columns else \
        pd.Series(math.nan, index=frame.index)
    hidden = frame["hidden"].astype(str) if "hidden" in frame.columns else pd.Series("", index=frame.index)
    depth = hidden.map(lambda h: float(h.split("x")[1]) if "x" in h else 1.0 if h.isdigit() else math.nan)
    return pd.DataFrame({"width": width, "depth": depth}, index=frame.index)


def axis_of(metrics: pd.DataFrame) -> str | None:
    """What the records sweep with two rates or more at each value: 'width', else 'depth'; None if neither."""
    sizes = _sizes(metrics)
    for axis in AXES:
        known = metrics.assign(size=sizes[axis])[sizes[axis].notna()]
        if known["size"].nunique() >= 2 and known.groupby("size")["lr"].nunique().min() >= 2:
            return axis
    return None


def applies(metrics: pd.DataFrame) -> bool:
    """Whether the records hold a transfer sweep: two widths (or depths) or more, each at two rates or more."""
    return axis_of(metrics) is not None


def _slope(sizes: list[float], rates: list[float]) -> float:
    """Least-squares slope of log2(rate) against log2(size)."""
    x = [math.log2(w) for w in sizes]
    y = [math.log2(r) for r in rates]
    mx, my = sum(x) / len(x), sum(y) / len(y)
    sxx = sum((a - mx) ** 2 for a in x)
    return sum((a - mx) * (b - my) for a, b in zip(x, y)) / sxx if sxx else math.nan


def _other_args(args: str, width: float) -> str:
    """A run's --model-arg's without the one its width set (the transformer's d_model=256 at width 256), which
    names no series: what is left (residual=depth-mup, n_layer=4) does."""
    if not args or args == "nan":
        return ""
    kept = [a for a in args.split(";") if math.isnan(width) or a.split("=", 1)[-1] != str(int(width))]
    return ";".join(kept)


def label(row: pd.Series, varying: list[str]) -> str:
    """A series' name: its optimizer and parametrisation, then whatever else differs between series."""
    parts = [str(row["optimizer"]), str(row["param"] or "sp")]
    parts += [f"{c}={row[c]}" if c != "model_args" else row[c] or "model_args=" for c in varying
              if c not in ("optimizer", "param")]
    return " ".join(parts)


def runs_of(metrics: pd.DataFrame, metric: str) -> pd.DataFrame:
    """One row per run of the sweep (stats.per_run) with its width and depth, the `axis` the sweep varies, its
    `score` (the metric; a diverged run the worst value) and its `series`' name, sp before mup within an
    optimizer."""
    import pandas as pd

    axis = axis_of(metrics) or "width"
    runs = per_run(metrics)
    runs[["width", "depth"]] = _sizes(runs)
    runs = runs[runs[axis].notna()].copy()
    runs["axis"] = axis
    worst = -math.inf if larger_is_better(metric) else math.inf
    value = pd.to_numeric(runs[metric], errors="coerce")
    runs["score"] = value.where((runs["status"] != DIVERGED) & value.notna(), worst)
    # Ties (an accuracy of 1 at several rates) are broken by the final validation loss, lower first; a metric that
    # is itself a loss breaks none. Signed so that larger is better for both.
    loss = pd.to_numeric(runs.get("final_val_loss", value), errors="coerce")
    runs["tiebreak"] = -loss.where((runs["status"] != DIVERGED) & loss.notna(), math.inf)
    runs["lr"] = runs["lr"].astype(float)
    runs["model_args"] = [_other_args(str(a), w) for a, w in zip(runs["model_args"], runs["width"])]
    keys = [c for c in SERIES if c in runs.columns] + ["model_args", *(a for a in AXES if a != axis)]
    runs[keys] = runs[keys].astype(str)
    # What tells series apart in their names: a column varying between the runs of one optimizer (an optimizer's
    # own batch size is no difference worth naming).
    varying = [c for c in keys if runs.groupby("optimizer")[c].nunique().max() > 1]
    runs["series"] = [label(row, varying) for _, row in runs.iterrows()]
    runs["_order"] = runs["param"].map({"sp": 0, "mup": 1}).fillna(2)
    return runs.sort_values(["optimizer", "_order"], kind="stable").drop(columns="_order")


def transfer(metrics: pd.DataFrame, metric: str) -> pd.DataFrame:
    """One row per series × size (COLUMNS), from the tidy records, judged by the summary `metric` (a final value:
    final_val_loss, final_val_acc, ...). A diverged run counts as the worst value; a rate no seed finished is
    never the best."""
    import pandas as pd

    runs = runs_of(metrics, metric)
    better_high = larger_is_better(metric)
    keys = [c for c in SERIES if c in runs.columns] + ["model_args"]
    rows = []
    for name, series in runs.groupby("series", sort=False):
        axis = series["axis"].iloc[0]
        per_size = []
        for size, g in series.groupby(axis, sort=True):
            means = g.groupby("lr")["score"].mean().sort_index()
            best = _best(means, g.groupby("lr")["tiebreak"].mean(), better_high)
            seed_best = {seed: _best(r.set_index("lr")["score"], r.set_index("lr")["tiebreak"], better_high)
                         for seed, r in g.groupby("seed")}
            per_size.append({"series": name, **{c: series.iloc[0][c] for c in keys}, "axis": axis,
                             "width": _whole(g["width"].iloc[0]), "depth": _whole(g["depth"].iloc[0]),
                             "best_lr": float(best), "best_lr_lo": float(min(seed_best.values())),
                             "best_lr_hi": float(max(seed_best.values())),
                             "at_edge": bool(best in (means.index.min(), means.index.max())),
                             "value": float(means[best]) if math.isfinite(means[best]) else math.nan,
                             "n_seeds": int(g["seed"].nunique()), "n_lrs": int(len(means)),
                             "_size": float(size), "_seed_best": seed_best})
        sizes = [r["_size"] for r in per_size]
        slope = _slope(sizes, [r["best_lr"] for r in per_size]) if len(sizes) >= 2 else math.nan
        # Each seed's own slope, from its own best rate at every size (seeds that ran at every size).
        common = set.intersection(*(set(r["_seed_best"]) for r in per_size)) if per_size else set()
        slopes = [_slope(sizes, [r["_seed_best"][s] for r in per_size]) for s in sorted(common)]
        slopes = [s for s in slopes if math.isfinite(s)]
        for r in per_size:
            del r["_seed_best"], r["_size"]
            r.update(slope=slope, slope_lo=min(slopes, default=math.nan), slope_hi=max(slopes, default=math.nan),
                     lr_ratio=per_size[0]["best_lr"] / per_size[-1]["best_lr"])
            rows.append(r)
    return pd.DataFrame(rows, columns=COLUMNS)


def _best(score: pd.Series, tiebreak: pd.Series, larger: bool) -> float:
    """The rate with the best score; among rates of equal scores, the one with the best tie-break (larger is
    better). Both are indexed by rate."""
    signed = score if larger else -score
    top = signed[signed == signed.max()].index
    return float(tiebreak[tiebreak.index.isin(top)].idxmax() if len(top) > 1 else top[0])


def _whole(x: object) -> int | None:
    value = float(x)  # type: ignore[arg-type]
    return None if math.isnan(value) else int(value)


def verdicts(table: pd.DataFrame) -> list[str]:
    """One line per series: its best rate from the smallest to the largest size, the slope and the ratio."""
    lines = []
    for name, g in table.groupby("series", sort=False):
        first, last = g.iloc[0], g.iloc[-1]
        axis = first["axis"]
        spread = "" if math.isnan(first["slope_lo"]) else \
            f" (seeds {first['slope_lo']:+.2f} … {first['slope_hi']:+.2f})"
        edge = f", best at the grid's edge at some {axis}: widen --lrs" if g["at_edge"].any() else ""
        lines.append(f"{name}: best rate {first['best_lr']:.3g} at {axis} {int(first[axis])} → "
                     f"{last['best_lr']:.3g} at {int(last[axis])}, slope {first['slope']:+.2f}{spread}, ratio "
                     f"{first['lr_ratio']:.3g}{edge}")
    return lines
