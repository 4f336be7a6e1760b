"""Summaries over seeds: mean, std and Student-t 95% CI per configuration, time to target, ranking.

Input is the tidy metrics table (one row per run × epoch); output is one row per configuration. No file
I/O: results/summary.py reads a folder's tables and brings them here.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

from nncmp.errors import BaselineError
from nncmp.registry.inits import canonical_init
from nncmp.registry.optimizers import default_lr
from nncmp.results.measures import Measure
from nncmp.results.schema import COLLAPSED, CONFIG_COLUMNS, DIVERGED, OK, TUNED_PER

if TYPE_CHECKING:
    import pandas as pd

TIME_METRICS = ("epochs_to_target", "examples_to_target", "seconds_to_target")

# summary metric → (metrics column, how a run's value is taken from its epochs, larger is better)
METRICS: dict[str, tuple[str, str, bool]] = {
    "final_val_acc": ("val_acc", "last", True),
    "best_val_acc": ("val_acc", "max", True),
    "final_val_loss": ("val_loss", "last", False),
    "final_train_loss": ("train_loss", "last", False),
}


def mean_std_ci(values: Iterable[float], level: float = 0.95) -> tuple[float, float, float]:
    """Mean, sample std (ddof=1) and the half-width of the Student-t confidence interval of the mean."""
    import numpy as np

    # The Student-t quantile is what scipy.stats.t.ppf computes (it calls this), without scipy.stats'
    # import (about a second).
    from scipy.special import stdtrit

    v = np.asarray(values, dtype=float)
    v = v[np.isfinite(v)]
    n = len(v)
    if n == 0:
        return math.nan, math.nan, math.nan
    mean = float(v.mean())
    if n < 2:
        return mean, math.nan, math.nan
    std = float(v.std(ddof=1))
    return mean, std, float(stdtrit(n - 1, 0.5 + level / 2) * std / math.sqrt(n))


def per_run(metrics: pd.DataFrame, target: float | None = None, derived: Sequence[Measure] = ()) -> pd.DataFrame:
    """One row per run: its configuration, seed, status, each summary metric (and each measure `derived` from its
    final validation loss), and its own time to `target` (so a baseline can pair any rankable metric seed by
    seed)."""
    import pandas as pd

    rows = []
    for run_id, g in metrics.sort_values("epoch").groupby("run_id", sort=False):
        # Tables built before schedules and --opt-arg existed lack their columns: those runs had neither.
        row = {c: g[c].iloc[0] if c in g.columns else "" for c in CONFIG_COLUMNS + ["seed", "status"]}
        row["schedule"] = row["schedule"] or "constant"
        row["run_id"] = run_id
        row["epochs"] = int(g["epoch"].max())
        for name, (col, how, _) in METRICS.items():
            row[name] = g[col].iloc[-1] if how == "last" else g[col].max()
        for m in derived:
            row[m.name] = m.of_loss(float(row["final_val_loss"]))
        if "val_metric" in g.columns and g["val_metric"].notna().any():  # --metric-fn
            row["final_val_metric"] = g["val_metric"].iloc[-1]
        if "step" in g.columns and g["step"].notna().any():
            row["steps"] = int(g["step"].max())
        # A collapsed run never counts as reaching a target, whatever its curve touched on the way.
        reached = target is not None and g["val_acc"].notna().any() and row["status"] != COLLAPSED
        times = time_to_target(g, target) if reached else (math.nan,) * 3
        row.update(zip(TIME_METRICS, times))
        rows.append(row)
    return pd.DataFrame(rows)


def time_to_target(runs: pd.DataFrame, target: float) -> tuple[float, float, float]:
    """First epoch (evaluation) at which the seed-mean val accuracy reaches `target`; examples and seconds by
    then."""
    curve = runs.groupby("epoch")[["val_acc", "examples", "seconds"]].mean().sort_index()
    hit = curve[curve["val_acc"] >= target]
    if hit.empty:
        return math.nan, math.nan, math.nan
    epoch = hit.index[0]
    return float(epoch), float(hit["examples"].iloc[0]), float(hit["seconds"].iloc[0])


def steps_to_target(runs: pd.DataFrame, target: float) -> float:
    """Optimizer steps by the first evaluation at which the seed-mean val accuracy reaches `target` (a step
    budget's time to target); NaN if never, or if the records have no steps (older folders)."""
    if "step" not in runs.columns or runs["step"].isna().all():
        return math.nan
    curve = runs.groupby("epoch")[["val_acc", "step"]].mean().sort_index()
    hit = curve[curve["val_acc"] >= target]
    return math.nan if hit.empty else float(hit["step"].iloc[0])


def default_metric(metrics: pd.DataFrame) -> str:
    return "final_val_acc" if metrics["val_acc"].notna().any() else "final_val_loss"


def summarize(metrics: pd.DataFrame, target: float | None = None, metric: str | None = None,
              baseline: str | None = None, tuning: pd.DataFrame | None = None,
              derived: Sequence[Measure] = (), by_step: bool = False) -> pd.DataFrame:
    """One row per configuration, ranked (rank 1 is best). See docs/results-files.md, summary.csv columns.
    `derived`: the measures the data and loss support (results/measures.py); `by_step`: a step budget, whose
    time to target is counted in optimizer steps too (steps_to_target)."""
    import pandas as pd

    metric = metric or default_metric(metrics)
    runs = per_run(metrics, target, derived)
    has_acc = bool(metrics["val_acc"].notna().any())
    rows = []
    for _, g in runs.groupby("config", sort=False):
        # The values: every run that finished (a collapsed run's are final values too); a target: only runs ok.
        ok = g[g["status"] != DIVERGED]
        row = {c: g[c].iloc[0] for c in CONFIG_COLUMNS}
        row["n_seeds"] = len(g)
        row["n_diverged"] = int((g["status"] == DIVERGED).sum())
        row["n_collapsed"] = int((g["status"] == COLLAPSED).sum())
        row["status"] = status_text(row["n_diverged"], row["n_collapsed"], len(g))
        user = ["final_val_metric"] if "final_val_metric" in runs.columns else []
        for name in [*METRICS, *(m.name for m in derived), *user]:
            row[f"{name}_mean"], row[f"{name}_std"], row[f"{name}_ci95"] = mean_std_ci(ok[name])
        row["target"] = target if has_acc else math.nan
        finished = metrics[metrics["run_id"].isin(g.loc[g["status"] == OK, "run_id"])]
        if target is not None and has_acc and not finished.empty:
            row["epochs_to_target"], row["examples_to_target"], row["seconds_to_target"] = time_to_target(
                finished, target)
            if by_step:
                row["steps_to_target"] = steps_to_target(finished, target)
        else:
            row["epochs_to_target"] = row["examples_to_target"] = row["seconds_to_target"] = math.nan
            if by_step:
                row["steps_to_target"] = math.nan
        rows.append(row)
    summary = pd.DataFrame(rows)
    if baseline is not None:
        summary = add_baseline(summary, runs, find_config(summary["config"], baseline), metric)
    if tuning is not None:
        summary = add_tuning(summary, tuning, runs, metric)
    return rank(summary, metric, use_target=target is not None and has_acc)


def status_text(diverged: int, collapsed: int, n: int) -> str:
    """A configuration's status: ok, diverged or collapsed (every run), or how many of its n runs were."""
    if diverged == n or collapsed == n:
        return DIVERGED if diverged else COLLAPSED
    parts = [f"{k}/{n} {what}" for k, what in ((diverged, DIVERGED), (collapsed, COLLAPSED)) if k]
    return ", ".join(parts) or OK


def metric_column(metric: str) -> str:
    return f"{metric}_mean" if metric in METRICS else metric


def larger_is_better(metric: str) -> bool:
    return METRICS[metric][2] if metric in METRICS else False  # *_to_target: sooner is better


def rank(summary: pd.DataFrame, metric: str, use_target: bool = False) -> pd.DataFrame:
    """Rank configurations, best first, by these keys in order:

    1. every run finished ok (a configuration with a diverged or collapsed run ranks below all whose runs did);
    2. with a target accuracy: reached it (on the seed-mean curve) before never reached;
    3. the metric (mean over finished seeds), missing values last;
    4. the config name, so ties are broken the same way every time.
    """
    col = metric_column(metric)
    key = -summary[col] if larger_is_better(metric) else summary[col]
    order = summary.assign(
        # Summaries written before collapsed runs were told apart have no n_collapsed.
        _div=(summary["n_diverged"] + summary.get("n_collapsed", 0)) > 0,
        _unreached=summary["epochs_to_target"].isna() if use_target else False,
        _missing=summary[col].isna(),
        _key=key,
    )
    order = order.sort_values(["_div", "_unreached", "_missing", "_key", "config"], kind="stable")
    out = order.drop(columns=["_div", "_unreached", "_missing", "_key"]).reset_index(drop=True)
    out.insert(0, "rank", range(1, len(out) + 1))
    return out


def find_config(configs: Iterable[str], wanted: str) -> str:
    """The configuration `wanted` names: its full id, or the leading parts of it (`adam`, `adam/he`, ...).

    Init aliases are accepted (`he` for `he-normal`).
    """
    configs = list(dict.fromkeys(configs))
    matches = matching(configs, wanted)
    if len(matches) == 1:
        return matches[0]
    if not matches:
        raise BaselineError(f"--baseline {wanted!r} matches no configuration; choose from: {', '.join(configs)}")
    raise BaselineError(f"--baseline {wanted!r} is ambiguous: it matches {', '.join(matches)}")


def matching(configs: Iterable[str], wanted: str) -> list[str]:
    """The configurations `wanted` names (find_config's rule): itself if it is one of `configs`, else every one it
    gives the leading parts of."""
    configs = list(dict.fromkeys(configs))
    if wanted in configs:
        return [wanted]
    parts = wanted.strip("/").split("/")
    if len(parts) > 1:
        parts[1] = canonical_init(parts[1])
    return [c for c in configs if c.split("/")[: len(parts)] == parts]


def paired_difference(runs: pd.DataFrame, config: str, baseline: str, metric: str) -> tuple[float, float, int]:
    """Mean and 95% CI half-width of metric(config, seed) − metric(baseline, seed) over the seeds both
    finished. Seeds are paired: the same seed starts both from the same weights and batch order."""
    ok = runs[runs["status"] != DIVERGED]
    a = ok[ok["config"] == config].set_index("seed")[metric]
    b = ok[ok["config"] == baseline].set_index("seed")[metric]
    diff = (a - b).dropna()
    mean, _, ci = mean_std_ci(diff.to_numpy())
    return mean, ci, len(diff)


def add_baseline(summary: pd.DataFrame, runs: pd.DataFrame, baseline: str, metric: str) -> pd.DataFrame:
    diffs = [paired_difference(runs, c, baseline, metric) for c in summary["config"]]
    out = summary.assign(
        baseline=baseline,
        diff_vs_baseline=[d[0] for d in diffs],
        diff_ci95=[d[1] for d in diffs],
        diff_n=[d[2] for d in diffs],
    )
    lo, hi = out["diff_vs_baseline"] - out["diff_ci95"], out["diff_vs_baseline"] + out["diff_ci95"]
    out["diff_excludes_0"] = ((lo > 0) | (hi < 0)) & (out["config"] != baseline)
    return out




def add_tuning(summary: pd.DataFrame, table: pd.DataFrame, runs: pd.DataFrame, metric: str) -> pd.DataFrame:
    """Per configuration: whether its lr is the default or the tuned one, the tuning cost, and for a
    tuned rate the paired difference of `metric` against the same configuration at the default rate."""
    import pandas as pd

    # tuning.csv of folders written before act and norm were tuning keys: one rate per the keys it has.
    keys = [k for k in TUNED_PER if k in table.columns and k in summary.columns]
    searched = "kind" in table.columns and (table["kind"] == "default").any()  # --tune, not --lrs auto
    if "kind" in table.columns:  # the default one-shots of --tune are outside the budget
        table = table[table["kind"] == "trial"]
    by_config = "tuned_config" in table.columns  # --tune: the tuned run differs in more than its rate
    agg = {"tuned_lr": ("lr", lambda s: float(s[table.loc[s.index, "chosen"]].iloc[0])),
           "lr_at_edge": ("at_edge", "any"), "tuning_runs": ("lr", "size"), "tuning_seconds": ("seconds", "sum")}
    if by_config:
        agg.update(tuned_config=("tuned_config", "first"), default_config=("default_config", "first"))
    per_key = table.groupby(keys, sort=False).agg(**agg).reset_index()
    out = summary.merge(per_key, on=keys, how="left")
    if by_config:
        is_default, is_tuned = out["config"] == out["default_config"], out["config"] == out["tuned_config"]
        out = out.drop(columns=["tuned_config", "default_config"])
    else:
        default = out["optimizer"].map(default_lr)
        is_default, is_tuned = out["lr"] == default, out["lr"] == out["tuned_lr"]
    out["lr_choice"] = [("default=tuned" if d and t else "default" if d else "tuned" if t else "")
                        for d, t in zip(is_default, is_tuned)]
    out["lr_at_edge"] = out["lr_at_edge"].astype("boolean") & pd.Series(is_tuned, dtype="boolean")
    gain, gain_ci = [], []
    for r in out.to_dict("records"):
        same = (out[keys] == pd.Series({k: r[k] for k in keys})).all(axis=1)
        partner = out[same & (out["lr_choice"] == "default")]
        if r["lr_choice"] == "tuned" and len(partner) == 1:
            mean, ci, _ = paired_difference(runs, r["config"], partner["config"].iloc[0], metric)
        else:
            mean, ci = math.nan, math.nan
        gain.append(mean)
        gain_ci.append(ci)
    out["tuned_minus_default"], out["tuned_minus_default_ci95"] = gain, gain_ci
    out["tuned_what"] = "all" if searched else "lr"  # --tune: every hyperparameter of its space; --lrs auto: lr
    return out
