"""What a tuned comparison shows of its tuning: the table of what each budget buys, the reporting
checklist (tuning.json), and the figures budget.png and sensitivity.png. Read from the folder's files only
(tuning.csv, budget.csv, tuning.json), so `report` shows them too."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

from nncmp.output.fit import Column, Fitted
from nncmp.results import checked, schema, store
from nncmp.results.schema import TUNED_PER

if TYPE_CHECKING:
    import pandas as pd

BUDGETS = (1, 4, 16)  # the k of "best of k" the table shows, with every trial of a study (N)


def read(folder: Path) -> tuple[pd.DataFrame, pd.DataFrame, dict[str, Any]] | None:
    """tuning.csv, budget.csv and tuning.json of a --tune folder; None for other folders (--lrs auto too)."""
    folder = Path(folder)
    if not ((folder / schema.BUDGET).is_file() and (folder / schema.TUNING).is_file()
            and (folder / schema.TUNING_JSON).is_file()):
        return None
    table = store.read_tuning(folder / schema.TUNING)
    budget, problems = checked.budget(folder / schema.BUDGET)  # its key columns as tuning.csv's
    if problems:  # what n trials buy is read off every row: none is shown from a damaged file
        raise checked.refusal(problems, f"nncmp resume {folder} makes it again from the trials' records")
    return table, budget, json.loads((folder / schema.TUNING_JSON).read_text())


def _keys(table: pd.DataFrame) -> list[str]:
    return [k for k in TUNED_PER if k in table.columns]


def _label(row: dict[str, Any], varying: list[str]) -> str:
    names = {"batch_size": "bs"}
    return " ".join([str(row["optimizer"])] + [str(row[k]) if k == "init" else f"{names.get(k, k)}={row[k]}"
                                               for k in varying])


def _hyper_text(row: dict[str, Any], searched: list[str]) -> str:
    """The tuned values of the hyperparameters that were searched (the others stayed at their defaults)."""
    names = {"weight_decay": "wd"}
    parts = []
    for h in searched:
        v = row.get(h)
        if v is None or (isinstance(v, float) and math.isnan(v)):
            continue
        parts.append(f"{names.get(h, h)}={v:.4g}")
    return " ".join(parts)


def rows(folder: Path) -> tuple[list[str], list[list[str]], str] | None:
    """Headers, cells and caption of the tuning table (None: not a --tune folder)."""
    got = read(folder)
    if got is None:
        return None
    table, budget, doc = got
    keys = _keys(table)
    trials = table[table["kind"] == "trial"]
    n = int(doc["trials_per_configuration_per_study"])
    studies = int(doc["studies"])
    ks = [k for k in BUDGETS if k < n] + [n]
    varying = [k for k in keys if k != "optimizer" and table[k].nunique() > 1]
    headers = ["configuration", "default", *[f"best of {k}" for k in ks],
               f"median of {studies} studies" if studies > 1 else "best (study)", "tuned", "trials · time"]
    out = []
    for _, g in trials.groupby(keys, sort=False, dropna=False):
        first = g.iloc[0].to_dict()
        match = (table[keys] == g.iloc[0][keys]).all(axis=1)
        default = table[match & (table["kind"] == "default")]
        b = budget[(budget[keys] == g.iloc[0][keys]).all(axis=1)].set_index("n")
        cells = [_label(first, varying),
                 _score(default["score"].iloc[0]) if len(default) else "—"]
        for k in ks:
            cells.append(f"{b.loc[k, 'expected_best']:.4f} ± {b.loc[k, 'sd']:.4f}" if k in b.index else "—")
        bests = g[g["study_best"]]["score"]
        finite = sorted(v for v in bests if math.isfinite(v))
        if finite:
            import statistics

            median = f"{statistics.median(finite):.4f}"
            cells.append(median + (f" [{finite[0]:.4f}–{finite[-1]:.4f}]" if studies > 1 else ""))
        else:
            cells.append("every trial diverged or collapsed")
        chosen = g[g["chosen"]]
        searched = [h for h in schema.tuning_hyper_columns() if h in g and g[h].nunique() > 1]
        edge = len(chosen) and "at_edge" in chosen and bool(chosen["at_edge"].iloc[0])
        cells.append((_hyper_text(chosen.iloc[0].to_dict(), searched) + (" (edge!)" if edge else ""))
                     if len(chosen) else "—")
        cells.append(f"{len(g)} · {_seconds(float(g['seconds'].sum()))}")
        out.append(cells)
    score = "val loss (lower is better)" if trials["tune_val_acc"].isna().all() else "val acc"
    caption = (f"Tuning ({doc['sampler']}, {n} trials × {studies} {'study' if studies == 1 else 'studies'} per "
               f"configuration, the same for every optimizer). Scores: final {score} on a split held out from the "
               "training data, one seed; the validation set of the summary was never seen. default: the "
               "optimizer's defaults, trained once (outside the budget). best of k: the expected best of k trials "
               f"(Dodge et al. 2019) from the configuration's {n * studies} trials, ± its standard deviation; a "
               "diverged or collapsed trial counts as its untrained model. "
               + ("median of the studies: each study's best, the median and [min–max] over studies (AlgoPerf); "
                  "the median study's winner is the tuned configuration of the summary." if studies > 1 else
                  "best (study): the study's best trial, the tuned configuration of the summary.")
               + " tuned: its hyperparameters; edge! = its rate lies in the outer 5% of the range searched (the "
               "best may lie beyond it: widen the space with --space).")
    if score.startswith("val loss"):
        caption = caption.replace("best of k: the expected best", "best of k (− val loss): the expected best")
    return headers, out, caption


def _score(v: float) -> str:
    return "diverged" if not math.isfinite(v) else f"{v:.4f}"


def _seconds(s: float) -> str:
    return f"{s:.1f}s" if s < 60 else f"{int(s // 60)}m{int(s % 60):02d}s"


def checklist_lines(doc: dict[str, Any]) -> list[str]:
    """The reporting checklist (Dodge et al. 2019) as plain lines."""
    lines = [f"sampler: {doc['sampler']}" + (f", seeds {', '.join(map(str, doc['sampler_seeds']))}"
                                            if doc.get("sampler_seeds") else "")
             + f"; {doc['trials_per_configuration_per_study']} trials × {doc['studies']} "
             f"{'study' if doc['studies'] == 1 else 'studies'} per configuration"
             + (f"; {doc['rounding']}" if doc.get("rounding") else ""),
             f"cost: {_seconds(doc['mean_seconds_per_trial'])} per trial on average, "
             f"{_seconds(doc['total_tuning_seconds'])} of tuning in all",
             f"selection: {doc['selection']}"]
    spaces: dict[str, str] = {}
    for c in doc["configurations"]:
        text = ", ".join(f"{k} {v}" for k, v in c["bounds"].items()) or "nothing to tune"
        spaces.setdefault(c["optimizer"], text)
    lines += [f"space of {o}: {t}" for o, t in spaces.items()]
    return lines


def table(folder: Path, wide: bool = False) -> Fitted | None:
    """The tuning table and checklist as they fit the terminal (every column with `wide`; None: not a --tune
    folder). Left out first when too wide: the middle budgets, the cost, the defaults' score, then one trial's."""
    got = rows(folder)
    if got is None:
        return None
    headers, cells, caption = got
    doc = json.loads((Path(folder) / schema.TUNING_JSON).read_text())
    budgets = [h for h in headers if h.startswith("best of ")]
    order = [*budgets[1:-1], "trials · time", "default", *budgets[:1]]
    text = ("configuration", "tuned")
    columns = [Column(h, [r[i] for r in cells], "left" if h in text else "right",
                      drop=order.index(h) if h in order else None, wrap=h in (*text, "trials · time"))
               for i, h in enumerate(headers)]
    return Fitted("Tuning: what each budget buys", columns, caption, wide=wide,
                  footer="\n".join(checklist_lines(doc)))


def markdown(folder: Path) -> str:
    """The tuning table and checklist in markdown (summary.md, the docs' examples)."""
    got = rows(folder)
    if got is None:
        return ""
    from nncmp.output.text import markdown as md

    headers, cells, caption = got
    doc = json.loads((Path(folder) / schema.TUNING_JSON).read_text())
    return md(headers, cells) + "\n" + caption + "\n\n" + "".join(f"- {line}\n" for line in checklist_lines(doc))


def json_part(folder: Path) -> dict[str, Any] | None:
    """The checklist and the tuning table for --json (None: not a tuned folder)."""
    path = Path(folder) / schema.TUNING_JSON
    if not path.is_file():
        return None
    doc = json.loads(path.read_text())
    got = rows(folder)
    if got is not None:
        headers, cells, _ = got
        doc["table"] = [dict(zip(headers, r)) for r in cells]
    return doc
