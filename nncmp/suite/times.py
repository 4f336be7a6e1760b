"""Time to target: per run of a problem's compare folder, when its validation score first met the target, in
optimizer steps, training examples and seconds; per optimizer, the median over its seeds.

A run is evaluated after every epoch (and at epoch 0, before training), or on a step budget (`steps`) every
`eval_every` optimizer steps; its time is that of the first evaluation at or past the target, so it is
measured in whole epochs or whole evaluation intervals: steps = the records' `step` column there (the
optimizer steps taken until that evaluation; records written before that column existed: epoch × steps per
epoch), examples = the examples trained on until then, seconds = the wall-clock time of its training rounds
until then (evaluations left out; batching, bookkeeping and any pause of the machine in them counted),
step-time = those steps × the run's own measured time per optimizer step, in seconds (runs.csv's ms_step,
training/costs.py: the mean of a sample of steps, 3 a round after the run's first, each timed from its forward
pass to the end of its optimizer step; a stacked run's share of its stack's step): the cost of the steps alone,
comparable across optimizers whose steps do different work. A run that
never meets the target within the problem's budget (or diverged first), or that collapsed (its final predictions
all one class: results/schema.py), has time ∞. The budget in steps is
`steps`, or the epochs × steps per epoch; in examples, what the whole budget trains on; in step-time, the
budget's steps × the run's time per step (the problem's: its slowest run's).

Which runs stand for an optimizer: with tuning (--lrs auto, --tune) its tuned configuration, as tuning.csv
names it (the runs at its defaults are in the folder too, for compare's own tables); without, its one
configuration.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

from nncmp.config.budget import rounds
from nncmp.errors import SpecError
from nncmp.results import schema, store
from nncmp.results.schema import COLLAPSED
from nncmp.suite.costs import RUN_COSTS, read_costs
from nncmp.suite.problems import Problem
from nncmp.suite.profiles import median_time

if TYPE_CHECKING:
    import pandas as pd

TIME_COLUMNS = ["problem", "optimizer", "config", "seed", "run_id", "target", "reached", "epoch", "steps",
                "examples", "seconds", "best", "epochs", "budget_steps", "budget_examples", "budget_seconds",
                "step_time", "budget_step_time", *RUN_COSTS]


def column(by: str) -> str:
    """times.csv's column of a --by measure (step-time: step_time), and suite.csv's `<column>:<problem>`."""
    return by.replace("-", "_")


def reported_configs(folder: Path, metrics: pd.DataFrame) -> dict[str, str]:
    """optimizer → the configuration that stands for it in this problem's folder."""
    tuning = folder / schema.TUNING
    if tuning.exists():
        table = store.read_tuning(tuning)
        if "tuned_config" in table.columns:
            chosen = table[table["chosen"].astype(bool)]
            return {str(r["optimizer"]): str(r["tuned_config"]) for r in chosen.to_dict("records")}
    out: dict[str, str] = {}
    for opt, config in metrics[["optimizer", "config"]].drop_duplicates().itertuples(index=False):
        if opt in out and out[opt] != config:
            raise ValueError(f"{folder}: optimizer {opt} has configurations {out[opt]} and {config}; a suite's problem "
                             "has one per optimizer")
        out[str(opt)] = str(config)
    return out


def run_times(problem: Problem, folder: Path, metrics: pd.DataFrame) -> pd.DataFrame:
    """One row per run of each optimizer's reported configuration (TIME_COLUMNS)."""
    import pandas as pd

    configs = reported_configs(folder, metrics)
    costs = read_costs(folder)
    score = problem.metric
    rows = []
    mine = metrics[metrics["config"].isin(set(configs.values()))]
    budget_seconds = float(mine.groupby("run_id")["seconds"].max().max()) if len(mine) else math.nan
    for opt, config in configs.items():
        for run_id, g in mine[mine["config"] == config].groupby("run_id", sort=False):
            g = g.sort_values("epoch")
            batch = int(g["batch_size"].iloc[0])
            per_epoch = _examples_per_epoch(g)  # a step budget: the examples of its first evaluation interval
            steps_per_epoch = math.ceil(per_epoch / batch) if per_epoch else 0
            values = g[score].astype(float)
            hit = next((r for r, v in zip(g.to_dict("records"), values) if problem.reached(v)), None)
            if "status" in g.columns and g["status"].iloc[-1] == COLLAPSED:
                hit = None  # one class predicted for everything at the end: it never counts as reaching the target
            finite = values[values.map(math.isfinite)]
            best = (finite.min() if problem.lower_is_better else finite.max()) if len(finite) else math.nan
            planned = _planned_epochs(folder, g, problem)
            if problem.step_budget:
                budget_steps = float(problem.spec.steps or 0)
                budget_examples = _step_budget_examples(g, budget_steps)
            else:
                budget_steps, budget_examples = planned * steps_per_epoch, planned * per_epoch
            cost = {c: float(costs.at[run_id, c]) if run_id in costs.index else math.nan for c in RUN_COSTS}
            steps = _steps(hit, steps_per_epoch) if hit else math.inf
            per_step = cost["ms_step"] / 1000  # nan where runs.csv has no time: the measure is then unknown
            rows.append({
                "problem": problem.name, "optimizer": opt, "config": config, "seed": int(g["seed"].iloc[0]),
                "run_id": run_id, "target": problem.target, "reached": hit is not None,
                "epoch": hit["epoch"] if hit else math.nan, "steps": steps,
                "examples": float(hit["examples"]) if hit else math.inf,
                "seconds": float(hit["seconds"]) if hit else math.inf, "best": best, "epochs": planned,
                "budget_steps": budget_steps, "budget_examples": budget_examples,
                "budget_seconds": budget_seconds, "step_time": steps * per_step if hit else math.inf,
                "budget_step_time": budget_steps * per_step, **cost})
    return pd.DataFrame(rows, columns=TIME_COLUMNS)


def _steps(hit: dict[str, Any], steps_per_epoch: int) -> float:
    """The optimizer steps taken by the evaluation `hit`: its `step` column (how many the run had taken, an
    epoch's or a step budget's interval alike), or, in records without it, its epoch × steps per epoch."""
    import pandas as pd

    step = hit.get("step")
    if step is not None and not pd.isna(step):
        return float(step)
    return float(hit["epoch"] * steps_per_epoch)


def _step_budget_examples(g: pd.DataFrame, budget_steps: float) -> float:
    """The examples a step budget trains on: the run's own count at its last step if it got there, else its
    examples per step so far × the budget's steps (a diverged run stops early)."""
    last = g.iloc[-1]
    examples, step = float(last["examples"]), _steps(last.to_dict(), 0)
    if step >= budget_steps or step <= 0:
        return examples
    return examples / step * budget_steps


def _examples_per_epoch(g: pd.DataFrame) -> int:
    first = g[g["epoch"] == 1]
    return int(first["examples"].iloc[0]) if len(first) else 0


def _planned_epochs(folder: Path, g: pd.DataFrame, problem: Problem) -> int:
    """The epochs the run was given (a diverged run stops recording early); a step budget: its evaluations
    after step 0 (the `epoch` column counts them)."""
    if problem.step_budget:
        return rounds(problem.spec)
    last = int(g["epoch"].max())
    if "status" in g.columns and (g["status"] == "diverged").any():
        import json

        try:
            doc = json.loads((folder / schema.CONFIG).read_text())
            return int(doc["base"]["epochs"])
        except (OSError, KeyError, ValueError):
            return last
    return last


def check_measured(times: pd.DataFrame, by: str) -> None:
    """SpecError if a run that reached its target has no time in `by`: step-time needs each such run's ms_step,
    which runs.csv lacks in folders from before nncmp measured costs (a miss is ∞ whatever its step time)."""
    col = column(by)
    unknown = times[times["reached"].astype(bool) & times[col].isna()] if len(times) else times
    if len(unknown):
        names = ", ".join(dict.fromkeys(map(str, unknown["problem"])))
        raise SpecError(f"--by {by}: {len(unknown)} run(s) of problem(s) {names} reached the target but their runs.csv "
                        "has no measured time per step (ms_step: a folder from before nncmp measured costs); judge "
                        "them --by steps or --by seconds")


def medians(times: pd.DataFrame, by: str) -> dict[str, dict[str, float]]:
    """optimizer → problem → the median over seeds of the time to target in `by` (∞: missed)."""
    out: dict[str, dict[str, float]] = {}
    for (opt, problem), g in times.groupby(["optimizer", "problem"], sort=False):
        out.setdefault(str(opt), {})[str(problem)] = median_time(list(g.sort_values("seed")[column(by)]))
    return out


def per_seed(times: pd.DataFrame, by: str) -> dict[str, dict[str, list[float]]]:
    """optimizer → problem → each seed's time in `by`, in seed order (for the bootstrap)."""
    out: dict[str, dict[str, list[float]]] = {}
    for (opt, problem), g in times.groupby(["optimizer", "problem"], sort=False):
        out.setdefault(str(opt), {})[str(problem)] = [float(v) for v in g.sort_values("seed")[column(by)]]
    return out


def budgets(times: pd.DataFrame, by: str) -> dict[str, float]:
    """problem → its budget in `by`: its steps (the epochs × steps of an epoch, or a step budget's), or the
    examples they train on; seconds and step-time: the longest run's."""
    return {str(p): float(g[f"budget_{column(by)}"].max()) for p, g in times.groupby("problem", sort=False)}
