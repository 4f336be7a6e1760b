"""The suite's verdict as tables: per optimizer its score, problems solved, speed-up, what it costs (costs.py) and
its time on each problem (suite.csv), its performance profile (profiles.csv), and one sentence against the
reference, from the runs' times to target and costs (times.csv)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from nncmp.suite import costs, profiles
from nncmp.suite.times import budgets, check_measured, column, medians, per_seed

if TYPE_CHECKING:
    import pandas as pd



@dataclass
class Verdict:
    table: pd.DataFrame  # one row per optimizer, best score first (suite.csv)
    profiles: pd.DataFrame  # optimizer, tau, rho: each profile's steps (profiles.csv)
    by: str  # the time measure: steps, examples, seconds or step-time
    reference: str  # the optimizer the speed-up is against
    ratio_to: str  # the profiles' ratios: to the best optimizer of each problem, or to the reference
    unreached: list[str]  # problems whose target no optimizer met (the median over seeds)
    sentences: list[str] = field(default_factory=list)  # each optimizer against the reference (costs.sentences)


def verdict(times: pd.DataFrame, problems: list[str], optimizers: list[str], by: str, reference: str,
            ratio_to: str = "best") -> Verdict:
    """Score, solved, speed-up with its 95% bootstrap interval, costs, and the median time on each problem."""
    import pandas as pd

    check_measured(times, by)
    med = medians(times, by)
    med = {s: {p: med.get(s, {}).get(p, math.inf) for p in problems} for s in optimizers}
    r = profiles.ratios(med, reference if ratio_to == "reference" else None)
    spend = budgets(times, by)
    speed = profiles.speedup(med, reference, spend)
    seeds = per_seed(times, by)
    interval = profiles.bootstrap_speedup({s: seeds.get(s, {}) for s in optimizers}, reference, spend)
    spent = costs.table_costs(times, optimizers, problems, reference)
    rows = []
    for s in optimizers:
        row = {"optimizer": s, "score": profiles.score(r[s]),
               "solved": sum(math.isfinite(t) for t in med[s].values()), "problems": len(problems),
               "within_4x": sum(math.isfinite(x) for x in r[s].values()),
               "speedup": speed[s], "speedup_low": interval[s][0], "speedup_high": interval[s][1], **spent[s]}
        for p in problems:
            row[f"{column(by)}:{p}"] = med[s][p]
        rows.append(row)
    table = pd.DataFrame(rows).sort_values(["score", "speedup"], ascending=False, kind="stable")
    taus = profiles.breakpoints(r)
    prof = pd.DataFrame([{"optimizer": s, "tau": tau, "rho": rho}
                         for s in optimizers for tau, rho in zip(taus, profiles.profile(r[s], taus))])
    unreached = [p for p in problems if all(math.isinf(med[s][p]) for s in optimizers)]
    steps = med if by == "steps" else medians(times, "steps")
    said = costs.sentences(times, steps, optimizers, problems, reference)
    return Verdict(table.reset_index(drop=True), prof, by, reference, ratio_to, unreached, said)

