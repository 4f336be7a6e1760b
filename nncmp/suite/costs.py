"""What each optimizer costs across a suite's problems, beside its time to target: optimizer state per parameter,
time per step against the reference's, peak memory, and one sentence per optimizer against the reference.

The figures are each run's costs as its problem's runs.csv keeps them (training/costs.py: COST_COLUMNS), read
into times.csv beside the run's time. A problem's figure for an optimizer is the mean over the runs that have it
(summary.csv's rule, so the two agree); runs.csv from before nncmp measured costs leaves them empty (NaN), and
every figure below is over the problems that have it — never an error.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from nncmp.results import schema, store
from nncmp.results.store import StoreError

if TYPE_CHECKING:
    import pandas as pd

# The costs times.csv carries per run (ms_step also makes --by step-time's time).
RUN_COSTS = ["ms_step", "state_bytes_per_param", "peak_mib"]
# suite.csv's cost columns, per optimizer.
TABLE_COSTS = ["state_bytes_per_param", "state_bytes_per_param_min", "state_bytes_per_param_max", "ms_step_ratio",
               "peak_mib_max"]

PerProblem = dict[str, dict[str, float]]  # optimizer → problem → a figure (absent: not measured)


def read_costs(folder: Path) -> pd.DataFrame:
    """run_id → RUN_COSTS from the folder's runs.csv; empty where there is none, it cannot be read, or it is from
    before the costs (a suite judged from older folders still judges, without costs)."""
    import pandas as pd

    path = Path(folder) / schema.RUNS
    try:
        runs = store.read_csv(path) if path.is_file() else None
    except StoreError:
        runs = None
    if runs is None or "run_id" not in runs.columns:
        return pd.DataFrame(columns=RUN_COSTS, index=pd.Index([], name="run_id"), dtype=float)
    out = runs.drop_duplicates("run_id", keep="last").set_index("run_id")
    for c in RUN_COSTS:
        out[c] = pd.to_numeric(out[c], errors="coerce") if c in out.columns else math.nan
    return out[RUN_COSTS].astype(float)


def per_problem(times: pd.DataFrame, column: str) -> PerProblem:
    """optimizer → problem → the mean of `column` over its runs there that have it."""
    out: PerProblem = {}
    if column not in times.columns:
        return out
    for (opt, problem), g in times.groupby(["optimizer", "problem"], sort=False):
        values = g[column].astype(float).dropna()
        if len(values):
            out.setdefault(str(opt), {})[str(problem)] = float(values.mean())
    return out


def geomean_ratio(mine: Mapping[str, float], theirs: Mapping[str, float], problems: list[str]) -> tuple[float, int]:
    """The geometric mean over `problems` of mine[p] / theirs[p], over those both have with a positive value; and
    how many that was (nan, 0: none)."""
    logs = [math.log(mine[p] / theirs[p]) for p in problems
            if p in mine and p in theirs and mine[p] > 0 and theirs[p] > 0]
    return (math.exp(sum(logs) / len(logs)), len(logs)) if logs else (math.nan, 0)


def table_costs(times: pd.DataFrame, optimizers: list[str], problems: list[str], reference: str
                ) -> dict[str, dict[str, float]]:
    """optimizer → suite.csv's TABLE_COSTS: state bytes per parameter (mean over problems, and the smallest and
    largest problem's: it depends on the model's shapes for some optimizers), time per step over the reference's
    (geometric mean over the problems both have), and the peak memory of the most demanding problem (the max over
    problems of its runs' mean peak, MiB)."""
    state, step, peak = (per_problem(times, c) for c in ("state_bytes_per_param", "ms_step", "peak_mib"))
    out = {}
    for s in optimizers:
        mine = [state.get(s, {})[p] for p in problems if p in state.get(s, {})]
        peaks = [peak.get(s, {})[p] for p in problems if p in peak.get(s, {})]
        out[s] = {"state_bytes_per_param": sum(mine) / len(mine) if mine else math.nan,
                  "state_bytes_per_param_min": min(mine, default=math.nan),
                  "state_bytes_per_param_max": max(mine, default=math.nan),
                  "ms_step_ratio": geomean_ratio(step.get(s, {}), step.get(reference, {}), problems)[0],
                  "peak_mib_max": max(peaks, default=math.nan)}
    return out


def sentences(times: pd.DataFrame, steps: PerProblem, optimizers: list[str], problems: list[str], reference: str
              ) -> list[str]:
    """One sentence per optimizer but the reference: its steps to the targets, its time per step and its optimizer
    state, each as a multiple of the reference's (geometric means over the problems both solved). `steps`: the
    median steps to target, optimizer → problem (∞: missed)."""
    step, state = per_problem(times, "ms_step"), per_problem(times, "state_bytes_per_param")
    ref_steps = steps.get(reference, {})
    out = []
    for s in optimizers:
        if s == reference:
            continue
        mine = steps.get(s, {})
        both = [p for p in problems
                if math.isfinite(mine.get(p, math.inf)) and math.isfinite(ref_steps.get(p, math.inf))]
        if not both:
            costs = _costs(s, reference, step, state, problems, f"{reference}'s")
            out.append(f"{s} and {reference} reach no target in common (of {len(problems)} problems)"
                       + (f"; {s} takes {costs}" if costs else "") + ".")
            continue
        # A target met at the first evaluation (0 steps) counts as 1 step: a ratio to 0 would be meaningless.
        ratio, _ = geomean_ratio({p: max(mine[p], 1.0) for p in both}, {p: max(ref_steps[p], 1.0) for p in both}, both)
        costs = _costs(s, reference, step, state, both, "its")
        out.append(f"{s} reaches the targets in {_times(ratio)} {reference}'s steps"
                   + (f" at {costs}" if costs else "")
                   + f", on {len(both)} of {len(problems)} problems (those both solved; geometric means).")
    return out


def _costs(s: str, reference: str, step: PerProblem, state: PerProblem, problems: list[str], whose: str) -> str:
    """'1.3× its time per step and 0.5× its optimizer state' over `problems` (what is measured of it; "": none);
    `whose`: how the reference is named there (its, adamw's)."""
    parts = []
    ratio, n = geomean_ratio(step.get(s, {}), step.get(reference, {}), problems)
    if n:
        parts.append(f"{_times(ratio)} {whose} time per step" + (f" (measured on {n})" if n < len(problems) else ""))
    text = _state(state.get(s, {}), state.get(reference, {}), problems, reference, whose)
    if text:
        parts.append(text)
    return " and ".join(parts)


def _state(mine: Mapping[str, float], theirs: Mapping[str, float], problems: list[str], reference: str,
           whose: str) -> str:
    """The optimizer state against the reference's: a ratio, or, where either keeps none (plain SGD), bytes per
    parameter (a ratio to nothing says nothing)."""
    shared = [p for p in problems if p in mine and p in theirs]
    if not shared:
        return ""
    a = sum(mine[p] for p in shared) / len(shared)
    b = sum(theirs[p] for p in shared) / len(shared)
    if a == 0 and b == 0:
        return f"no optimizer state, like {reference}"
    if min(mine[p] for p in shared) == 0 or min(theirs[p] for p in shared) == 0:
        return f"{a:.3g} bytes of optimizer state per parameter to {reference}'s {b:.3g}"
    ratio, _ = geomean_ratio(mine, theirs, shared)
    return f"{_times(ratio)} {whose} optimizer state"


def _times(ratio: float) -> str:
    return f"{ratio:.2g}×" if ratio < 10 else f"{ratio:.0f}×"


def state_text(row: Mapping[str, float]) -> str:
    """A table cell: the bytes per parameter, with the range over problems where they differ by more than 1% ('—':
    not measured). Adam's 8 and a step counter per tensor is 8.0 on one model and 8.02 on another: not a range
    worth a reader's attention; Muon's, which depends on how many weights are matrices, is."""
    mean, low, high = (float(row.get(c, math.nan)) for c in TABLE_COSTS[:3])
    if not math.isfinite(mean):
        return "—"
    return f"{mean:.3g}" if high <= low * 1.01 else f"{mean:.3g} ({low:.3g}–{high:.3g})"


def number_text(x: float, suffix: str = "") -> str:
    return f"{x:.3g}{suffix}" if math.isfinite(x) else "—"
