"""Targets from tuned baselines (AlgoPerf's rule), never from a guess, and never from the validation data.

For each problem, each baseline optimizer (default: AdamW, NAdam, SGD with Nesterov momentum) has its
learning rate tuned as --lrs auto tunes it, then trains with every seed at the tuned rate; a run's score
is the best validation score it reached within the problem's budget (its epochs, or its steps). A baseline
runs at its defaults but for the rate, or with the settings the problem's `baseline_settings` gives it
(e.g. AdamW's weight decay 1 on modadd, where nothing groks without a strong decay). The target is the
median over the seeds of the best baseline (the one with the highest median), scaled by the slack:
accuracy × slack, a loss ÷ slack (slack 0.99 by default: a little room, so the baseline itself meets it
on most seeds).

Everything here trains and scores on the holdout split carved from the training data, as tuning does: the
validation data the suite's tables report never set the bar they are judged against. (Training on 80% of
the training set, the baselines' scores are if anything a little below what the full set gives.)
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from nncmp.config.comparison import Options
from nncmp.config.grid import DEFAULT_SEEDS
from nncmp.registry.datasets import Data, holdout
from nncmp.suite.problems import Problem
from nncmp.training.progress import Reporter

BASELINES = ("adamw", "nadam", "nesterov")
SLACK = 0.99
CALIBRATION_METRICS = "calibration_metrics.csv"  # the baselines' runs at their tuned rates, on the holdout split


@dataclass(frozen=True)
class Calibrated:
    problem: str
    target: float
    baseline: str  # the baseline whose median set it
    lr: float  # its tuned rate
    median_best: float  # its median best holdout score, before the slack
    rows: list[dict[str, Any]]  # one per baseline run: calibration.csv
    settings: dict[str, Any] = field(default_factory=dict)  # the winner's baseline_settings, if the problem has any


def target_from(bests: dict[str, list[float]], lower_is_better: bool, slack: float) -> tuple[str, float, float]:
    """(winning baseline, its median best score, the target): the rule, on each baseline's per-seed bests."""
    medians = {b: statistics.median(v) for b, v in bests.items() if v and all(math.isfinite(x) for x in v)}
    if not medians:
        raise ValueError("no baseline finished a run with a finite score")
    pick = min if lower_is_better else max
    winner = pick(medians, key=lambda b: medians[b])
    value = medians[winner]
    return winner, value, (value / slack if lower_is_better else value * slack)


def calibrate(problem: Problem, data: Data, folder: Path, reporter: Reporter, options: Options,
              baselines: tuple[str, ...] = BASELINES, seeds: int = DEFAULT_SEEDS, slack: float = SLACK,
              resume: bool = False) -> Calibrated:
    """Tune and run the baselines on `problem` into `folder` (tuning.csv, tuning_metrics.csv,
    calibration_metrics.csv: a resume continues them) and return its target."""
    from nncmp.training.runner import finished_runs, run_phase
    from nncmp.tuning.lr import tune_rates

    base = problem.spec
    specs = [replace(problem.baseline_spec(b), seed=base.seed + k).resolved(data.n_train)
             for b in baselines for k in range(seeds)]
    tuned = tune_rates(specs, data, folder, reporter, options, resume=resume, defaults=False)
    split = holdout(data)
    runs = [s.resolved(split.n_train) for s in tuned]
    path = folder / CALIBRATION_METRICS
    done = finished_runs(path, runs) if resume else {}
    reporter.note(f"{problem.name}: {len(runs)} baseline runs at their tuned rates, scored on the "
                  f"{len(split.x_val)} examples held out from training")
    records, failed = run_phase(runs, split, path, reporter, options, "tuning", done)
    if failed:
        first = next(iter(failed.values()))
        raise RuntimeError(f"{problem.name}: {len(failed)} baseline run(s) failed, e.g. {first}")
    score = problem.metric
    bests: dict[str, list[float]] = {}
    rows = []
    for i, spec in enumerate(runs):
        values = [float(r[score]) for r in records[i] if math.isfinite(float(r[score]))]
        best = (min(values) if problem.lower_is_better else max(values)) if values else math.nan
        bests.setdefault(spec.optimizer, []).append(best)
        rows.append({"problem": problem.name, "baseline": spec.optimizer, "lr": spec.lr, "seed": spec.seed,
                     "run_id": spec.run_id, "best": best})
    winner, value, target = target_from(bests, problem.lower_is_better, slack)
    lr = next(s.lr for s in runs if s.optimizer == winner)
    for row in rows:
        row.update(median_best=statistics.median(bests[row["baseline"]]), target=target,
                   chosen=row["baseline"] == winner)
    settings = dict(dict(problem.baseline_settings).get(winner, ()))
    return Calibrated(problem.name, target, winner, float(lr or math.nan), value, rows, settings)


def record(calibrated: list[Calibrated], baselines: tuple[str, ...], seeds: int, slack: float) -> dict[str, Any]:
    """The suite file's [calibration] table: the rule's settings, the machine and versions, and per problem
    which baseline set the target."""
    import datetime
    import os
    import platform

    from nncmp.results.store import environment

    env = environment()
    return {"date": datetime.date.today().isoformat(), "nncmp": env["nncmp"], "torch": env["torch"],
            "python": env["python"], "machine": f"{platform.platform()}, {os.cpu_count()} CPU cores",
            "baselines": list(baselines), "tuning": "each baseline's learning rate on --lrs auto's grid",
            "seeds": seeds, "slack": slack,
            "rule": "median over seeds of the best holdout score within the budget, of the best baseline, "
                    "× slack (a loss: ÷ slack)",
            "problems": {c.problem: {"baseline": c.baseline, "lr": c.lr, "median_best": round(c.median_best, 6),
                                     **({"settings": c.settings} if c.settings else {})}
                         for c in calibrated}}
