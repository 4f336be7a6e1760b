"""The figures of a --tune folder: budget.png (what each budget buys) and sensitivity.png (each trial's score
against its rate and weight decay). Read from the folder's files only, so `report` redraws them."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from nncmp.output import figure, style
from nncmp.output.tuning import _keys, _label, read
from nncmp.results import schema

if TYPE_CHECKING:
    import pandas as pd
    from matplotlib.figure import Figure


def write_figures(folder: Path, into: Path | None = None) -> list[str]:
    """budget.png and sensitivity.png of a --tune folder (into `into`, default the folder); the names written."""
    got = read(folder)
    if got is None:
        return []
    table, budget, doc = got
    written = []
    for name, fig in ((schema.BUDGET_PNG, budget_figure(table, budget, doc)),
                      (schema.SENSITIVITY_PNG, sensitivity_figure(table))):
        figure.save(fig, Path(into or folder) / name, 90)
        written.append(name)
    return written


def _groups(frame: pd.DataFrame, keys: list[str]) -> list[tuple[str, pd.DataFrame]]:
    varying = [k for k in keys if k != "optimizer" and frame[k].nunique() > 1]
    return [(_label(g.iloc[0].to_dict(), varying), g) for _, g in frame.groupby(keys, sort=False, dropna=False)]


def budget_figure(table: pd.DataFrame, budget: pd.DataFrame, doc: dict[str, Any]) -> Figure:
    keys = _keys(budget)
    regression = table["tune_val_acc"].isna().all()
    fig, axes = figure.new((12, 4.6), 1, 2)
    top = None if regression else 1.0  # an accuracy band is cut at 1, where accuracy ends
    groups = _groups(budget, keys)
    # Each configuration looks as in the comparison's other figures: its optimizer's colour, its init's line
    # style, a marker for the rest (batch size, architecture...).
    looks = style.looks([g.iloc[0].to_dict() for _, g in groups], [k for k in keys if k not in ("optimizer", "init")])
    for (label, g), look in zip(groups, looks):
        for ax, x in zip(axes, ("n", "seconds")):
            ax.plot(g[x], g["expected_best"], label=label, **{**look, "marker": look["marker"] or "."})
            ax.fill_between(g[x], g["expected_best"] - g["sd"], (g["expected_best"] + g["sd"]).clip(upper=top),
                            color=look["color"], alpha=0.12)
            ax.set_xscale("log")  # the first trials are where the curves differ
    what = "− val loss" if regression else "val acc"
    axes[0].set_xlabel("trials (budget n)")
    axes[1].set_xlabel("training seconds (n × mean seconds per trial)")
    for ax in axes:
        ax.set_ylabel(f"expected best {what} of n trials")
        ax.grid(alpha=0.3)
        if not regression:
            style.accuracy_axis(ax)
    n = int(doc["trials_per_configuration_per_study"])
    axes[0].axvline(n, color="grey", lw=0.8, ls=":")
    axes[0].text(n, axes[0].get_ylim()[0], f" {n} = one study", color="grey", va="bottom", fontsize=8)
    axes[0].legend(fontsize=8)
    fig.suptitle(f"What each tuning budget buys ({doc['sampler']}; band: ± 1 sd of the best of n; scores on a split "
                 "of the training data)", fontsize=10)
    fig.tight_layout()
    return fig


def sensitivity_figure(table: pd.DataFrame) -> Figure:
    """Per configuration: each trial's score against its rate, coloured by its weight decay (or 1 − β1, or
    1 − momentum); below, where rate and weight decay were both searched, the two against each other
    coloured by the score."""
    import numpy as np

    keys = _keys(table)
    trials = table[table["kind"] == "trial"]
    groups = _groups(trials, keys)
    two_d = [(label, g) for label, g in groups if "weight_decay" in g and g["weight_decay"].nunique() > 1
             and g["lr"].nunique() > 1]
    per = 2 if two_d else 1  # panels per configuration, one above the other
    cols = min(len(groups), 5)
    bands = -(-len(groups) // cols)
    rows_ = per * bands
    fig, grid = figure.new((3.6 * cols + 0.6, 3.2 * rows_), rows_, cols, squeeze=False)
    # axes[r][i]: panel r (0: score against rate, 1: rate × decay) of configuration i
    axes = [[grid[(i // cols) * per + r][i % cols] for i in range(len(groups))] for r in range(per)]
    used = {id(ax) for row in axes for ax in row}
    for ax in grid.flat:
        if id(ax) not in used:
            ax.axis("off")
    regression = trials["tune_val_acc"].isna().all()
    what = "− val loss" if regression else "val acc"
    for i, (label, g) in enumerate(groups):
        ax = axes[0][i]
        ok = g[np.isfinite(g["score"])]
        bad = g[~np.isfinite(g["score"])]
        colour_by, values = _colour(ok)
        if colour_by:
            sc = ax.scatter(ok["lr"], ok["score"], c=values, cmap="viridis", s=22)
            fig.colorbar(sc, ax=ax, label=colour_by)
        else:
            ax.scatter(ok["lr"], ok["score"], s=22, color=style.colour(str(g["optimizer"].iloc[0])))
        if len(bad):
            low = ok["score"].min() if len(ok) else 0.0
            ax.scatter(bad["lr"], [low] * len(bad), marker="x", color="red", s=28,  # diverged, collapsed, failed
                       label=" or ".join(sorted(set(bad["status"]))) if "status" in bad else "diverged")
            ax.legend(fontsize=7)
        chosen = g[g["chosen"]]
        ax.scatter(chosen["lr"], chosen["score"], facecolors="none", edgecolors="black", s=90, label="tuned")
        ax.set_xscale("log")
        ax.set_title(label, fontsize=9)
        ax.set_xlabel("learning rate")
        ax.set_ylabel(what)
        ax.grid(alpha=0.3)
        if not regression:
            style.accuracy_axis(ax)
    for i in range(len(groups)):
        if per == 1:
            break
        ax = axes[1][i]
        match = [g for label, g in two_d if label == groups[i][0]]
        if not match:
            ax.axis("off")
            continue
        g = match[0]
        ok = g[np.isfinite(g["score"])]
        sc = ax.scatter(ok["lr"], ok["weight_decay"], c=ok["score"], cmap="magma", s=40)
        fig.colorbar(sc, ax=ax, label=what)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("learning rate")
        ax.set_ylabel("weight decay")
        ax.set_title("rate × weight decay", fontsize=9)
    fig.suptitle("Sensitivity: each trial's score (a narrow peak or a plateau?); circled: the tuned trial",
                 fontsize=10)
    fig.tight_layout()
    return fig


def _colour(g: pd.DataFrame) -> tuple[str | None, Any]:
    import numpy as np

    for column, name, transform in (("weight_decay", "log10 weight decay", lambda v: np.log10(np.maximum(v, 1e-12))),
                                    ("beta1", "log10 (1 − β1)", lambda v: np.log10(np.maximum(1 - v, 1e-12))),
                                    ("momentum", "log10 (1 − momentum)",
                                     lambda v: np.log10(np.maximum(1 - v, 1e-12)))):
        if column in g and g[column].nunique() > 1 and g[column].notna().all():
            return name, transform(g[column].astype(float).to_numpy())
    return None, None
