"""Summaries over seeds: mean, std and Student-t 95% CI per configuration, time to target, ranking.

Input is the tidy metrics table (one row per run × epoch); output is one row per configuration.
"""

from __future__ import annotations

import math
from typing import Any

CONFIG_COLUMNS = ["config", "optimizer", "init", "lr", "batch_size"]

# summary metric → (metrics column, how a run's value is taken from its epochs, larger is better)
METRICS: dict[str, tuple[str, str, bool]] = {
    "final_val_acc": ("val_acc", "last", True),
    "best_val_acc": ("val_acc", "max", True),
    "final_val_loss": ("val_loss", "last", False),
    "final_train_loss": ("train_loss", "last", False),
}


def mean_std_ci(values: Any, level: float = 0.95) -> tuple[float, float, float]:
    """Mean, sample std (ddof=1) and the half-width of the Student-t confidence interval of the mean."""
    import numpy as np
    from scipy import stats

    v = np.asarray(values, dtype=float)
    v = v[np.isfinite(v)]
    n = len(v)
    if n == 0:
        return math.nan, math.nan, math.nan
    mean = float(v.mean())
    if n < 2:
        return mean, math.nan, math.nan
    std = float(v.std(ddof=1))
    return mean, std, float(stats.t.ppf(0.5 + level / 2, n - 1) * std / math.sqrt(n))


def per_run(metrics: Any) -> Any:
    """One row per run: its configuration, seed, status and each summary metric."""
    import pandas as pd

    rows = []
    for run_id, g in metrics.sort_values("epoch").groupby("run_id", sort=False):
        row = {c: g[c].iloc[0] for c in CONFIG_COLUMNS + ["seed", "status"]}
        row["run_id"] = run_id
        row["epochs"] = int(g["epoch"].max())
        for name, (col, how, _) in METRICS.items():
            row[name] = g[col].iloc[-1] if how == "last" else g[col].max()
        rows.append(row)
    return pd.DataFrame(rows)


def time_to_target(runs: Any, target: float) -> tuple[float, float, float]:
    """First epoch at which the seed-mean val accuracy reaches `target`; examples and seconds by then."""
    curve = runs.groupby("epoch")[["val_acc", "examples", "seconds"]].mean().sort_index()
    hit = curve[curve["val_acc"] >= target]
    if hit.empty:
        return math.nan, math.nan, math.nan
    epoch = hit.index[0]
    return float(epoch), float(hit["examples"].iloc[0]), float(hit["seconds"].iloc[0])


def default_metric(metrics: Any) -> str:
    return "final_val_acc" if metrics["val_acc"].notna().any() else "final_val_loss"


def summarize(metrics: Any, target: float | None = None, metric: str | None = None) -> Any:
    """One row per configuration, ranked (rank 1 is best). See README "Summary columns"."""
    import pandas as pd

    metric = metric or default_metric(metrics)
    runs = per_run(metrics)
    rows = []
    for config, g in runs.groupby("config", sort=False):
        ok = g[g["status"] != "diverged"]
        row = {c: g[c].iloc[0] for c in CONFIG_COLUMNS}
        row["n_seeds"] = len(g)
        row["n_diverged"] = int((g["status"] == "diverged").sum())
        row["status"] = "ok" if row["n_diverged"] == 0 else (
            "diverged" if ok.empty else f"{row['n_diverged']}/{len(g)} diverged")
        for name in METRICS:
            row[f"{name}_mean"], row[f"{name}_std"], row[f"{name}_ci95"] = mean_std_ci(ok[name])
        row["target"] = target
        finished = metrics[metrics["run_id"].isin(ok["run_id"])]
        if target is not None and not finished.empty and finished["val_acc"].notna().any():
            row["epochs_to_target"], row["examples_to_target"], row["seconds_to_target"] = time_to_target(
                finished, target)
        else:
            row["epochs_to_target"] = row["examples_to_target"] = row["seconds_to_target"] = math.nan
        rows.append(row)
    summary = pd.DataFrame(rows)
    return rank(summary, metric)


def rank(summary: Any, metric: str) -> Any:
    """Configurations with a diverged run rank below all that finished; then by `metric`, best first.

    Missing values of the metric (never reached the target, all seeds diverged) rank last.
    """
    larger_is_better = METRICS[metric][2] if metric in METRICS else False
    col = metric if metric in summary.columns else f"{metric}_mean"
    key = summary[col] if not larger_is_better else -summary[col]
    order = summary.assign(_div=summary["n_diverged"] > 0, _missing=summary[col].isna(), _key=key)
    order = order.sort_values(["_div", "_missing", "_key", "config"], kind="stable")
    out = order.drop(columns=["_div", "_missing", "_key"]).reset_index(drop=True)
    out.insert(0, "rank", range(1, len(out) + 1))
    return out
