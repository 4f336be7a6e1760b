"""Learning-rate transfer across width: the best rate at each width, and how it moves as the width grows.

A comparison over --widths and --lrs (and usually --params sp,mup) gives, for each *series* (everything a
configuration is but its width and rate: the parametrisation, optimizer, init, ...), a curve of the final
metric against the rate at every width. Here: the best rate per width (the rate whose mean over seeds is best;
each seed's own best gives the interval), whether it sits at the grid's edge (then the true best may lie
beyond it), and the transfer figure of the series: the slope of log2(best rate) against log2(width) (about -1
for Adam under the standard parametrisation, 0 where the rate transfers: μP) with its range over seeds, and
the ratio of the best rates at the smallest and largest widths. Tables in, tables out: no files, no torch.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from nncmp.results.schema import CONFIG_COLUMNS, DIVERGED
from nncmp.results.stats import larger_is_better, per_run

if TYPE_CHECKING:
    import pandas as pd

# What a configuration is besides its width and rate: the columns that name a series. (hidden and model_args
# hold the width; base_width is the parametrisation's, the same for a whole series.)
SERIES = [c for c in CONFIG_COLUMNS if c not in ("config", "lr", "width", "hidden", "model_args", "base_width")]
COLUMNS = ["series", *SERIES, "width", "best_lr", "best_lr_lo", "best_lr_hi", "at_edge", "value", "n_seeds",
           "n_lrs", "slope", "slope_lo", "slope_hi", "lr_ratio"]


def applies(metrics: pd.DataFrame) -> bool:
    """Whether the records hold a transfer sweep: two widths or more, each at two rates or more."""
    widths = _widths(metrics)
    return widths.nunique() >= 2 and metrics.assign(w=widths).groupby("w")["lr"].nunique().min() >= 2


def _widths(frame: pd.DataFrame) -> pd.Series:
    import pandas as pd

    return pd.to_numeric(frame["width"], errors="coerce") if "width" in frame.columns else \
        pd.Series(math.nan, index=frame.index)


def _slope(widths: list[float], rates: list[float]) -> float:
    """Least-squares slope of log2(rate) against log2(width)."""
    x = [math.log2(w) for w in widths]
    y = [math.log2(r) for r in rates]
    mx, my = sum(x) / len(x), sum(y) / len(y)
    sxx = sum((a - mx) ** 2 for a in x)
    return sum((a - mx) * (b - my) for a, b in zip(x, y)) / sxx if sxx else math.nan


def label(row: pd.Series, varying: list[str]) -> str:
    """A series' name: its parametrisation and optimizer, then whatever else differs between series."""
    parts = [str(row["optimizer"]), str(row["param"] or "sp")]
    parts += [f"{c}={row[c]}" for c in varying if c not in ("optimizer", "param")]
    return " ".join(parts)


def runs_of(metrics: pd.DataFrame, metric: str) -> pd.DataFrame:
    """One row per run of the sweep (stats.per_run) with its width, its `score` (the metric; a diverged run the
    worst value) and its `series`' name, sp before mup within an optimizer."""
    import pandas as pd

    runs = per_run(metrics)
    runs["width"] = _widths(runs)
    runs = runs[runs["width"].notna()].copy()
    worst = -math.inf if larger_is_better(metric) else math.inf
    value = pd.to_numeric(runs[metric], errors="coerce")
    runs["score"] = value.where((runs["status"] != DIVERGED) & value.notna(), worst)
    runs["lr"] = runs["lr"].astype(float)
    keys = [c for c in SERIES if c in runs.columns]
    runs[keys] = runs[keys].astype(str)
    # What tells series apart in their names: a column varying between the runs of one optimizer (an optimizer's
    # own batch size is no difference worth naming).
    varying = [c for c in keys if runs.groupby("optimizer")[c].nunique().max() > 1]
    runs["series"] = [label(row, varying) for _, row in runs.iterrows()]
    runs["_order"] = runs["param"].map({"sp": 0, "mup": 1}).fillna(2)
    return runs.sort_values(["optimizer", "_order"], kind="stable").drop(columns="_order")


def transfer(metrics: pd.DataFrame, metric: str) -> pd.DataFrame:
    """One row per series × width (COLUMNS), from the tidy records, judged by the summary `metric` (a final value:
    final_val_loss, final_val_acc, ...). A diverged run counts as the worst value; a rate no seed finished is
    never the best."""
    import pandas as pd

    runs = runs_of(metrics, metric)
    better_high = larger_is_better(metric)
    keys = [c for c in SERIES if c in runs.columns]
    rows = []
    for name, series in runs.groupby("series", sort=False):
        per_width = []
        for width, g in series.groupby("width", sort=True):
            means = g.groupby("lr")["score"].mean().sort_index()
            best = means.idxmax() if better_high else means.idxmin()
            seeds = g.loc[g.groupby("seed")["score"].idxmax() if better_high else g.groupby("seed")["score"].idxmin()]
            per_width.append({"series": name, **{c: series.iloc[0][c] for c in keys}, "width": int(width),
                              "best_lr": float(best), "best_lr_lo": float(seeds["lr"].min()),
                              "best_lr_hi": float(seeds["lr"].max()),
                              "at_edge": bool(best in (means.index.min(), means.index.max())),
                              "value": float(means[best]) if math.isfinite(means[best]) else math.nan,
                              "n_seeds": int(g["seed"].nunique()), "n_lrs": int(len(means)),
                              "_seed_best": dict(zip(seeds["seed"], seeds["lr"]))})
        widths = [r["width"] for r in per_width]
        slope = _slope(widths, [r["best_lr"] for r in per_width]) if len(widths) >= 2 else math.nan
        # Each seed's own slope, from its own best rate at every width (seeds that ran at every width).
        common = set.intersection(*(set(r["_seed_best"]) for r in per_width)) if per_width else set()
        slopes = [_slope(widths, [r["_seed_best"][s] for r in per_width]) for s in sorted(common)]
        slopes = [s for s in slopes if math.isfinite(s)]
        for r in per_width:
            del r["_seed_best"]
            r.update(slope=slope, slope_lo=min(slopes, default=math.nan), slope_hi=max(slopes, default=math.nan),
                     lr_ratio=per_width[0]["best_lr"] / per_width[-1]["best_lr"])
            rows.append(r)
    return pd.DataFrame(rows, columns=COLUMNS)


def verdicts(table: pd.DataFrame) -> list[str]:
    """One line per series: its best rate from the smallest to the largest width, the slope and the ratio."""
    lines = []
    for name, g in table.groupby("series", sort=False):
        first, last = g.iloc[0], g.iloc[-1]
        spread = "" if math.isnan(first["slope_lo"]) else \
            f" (seeds {first['slope_lo']:+.2f} … {first['slope_hi']:+.2f})"
        edge = ", best at the grid's edge at some width: widen --lrs" if g["at_edge"].any() else ""
        lines.append(f"{name}: best rate {first['best_lr']:.3g} at width {first['width']} → {last['best_lr']:.3g} "
                     f"at {last['width']}, slope {first['slope']:+.2f}{spread}, ratio "
                     f"{first['lr_ratio']:.3g}{edge}")
    return lines
