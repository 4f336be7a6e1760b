"""The verdict over a suite's problems: performance profiles, the AlgoPerf score, and the speed-up against a
reference optimizer. Plain arithmetic on a table of times; nothing here trains or reads a folder.

Times are per optimizer and problem (the median over seeds of each run's time to the target), a miss is
`math.inf`. Following Dolan & Moré (2002) and AlgoPerf (Dahl et al. 2023, section 4.5):

    r(s, p)  = t(s, p) / min over s' of t(s', p)        (or / t(reference, p))
               ∞ when s missed the target, or when r > MAX_RATIO
    ρ_s(τ)   = |{p : r(s, p) ≤ τ}| / n                   for τ in [1, MAX_RATIO]
    score_s  = ∫₁⁴ ρ_s(τ) dτ / 3  =  (1 / 3n) Σ_p max(0, 4 − r(s, p))

The speed-up is the geometric mean over problems of t(reference, p) / t(s, p), a miss counted as the
problem's budget + 1 (AlgoPerf's rule for its speed-up figures), with a bootstrap interval over seeds.

Hand-written rather than taken from a library: AlgoPerf's scoring module needs its own log format and
JAX-era dependencies, and the whole computation is a few lines of NumPy that the tests work by hand.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np

MAX_RATIO = 4.0  # AlgoPerf's τ_max: slower than 4× the best counts as not solved
BOOTSTRAP = 2000  # resamples of the seeds for the speed-up's interval

Times = Mapping[str, Mapping[str, float]]  # optimizer → problem → time to target (inf: missed)


def ratios(times: Times, reference: str | None = None) -> dict[str, dict[str, float]]:
    """r(s, p) for every optimizer and problem: the time over the fastest optimizer's on that problem (or the
    reference's), ∞ for a miss or a ratio above MAX_RATIO. A problem nobody solved gives ∞ for everyone.

    A time of 0 (the target met at the first evaluation, before any step) has ratio 1 when the best is 0 too;
    any positive time against a best of 0 is ∞: it is infinitely slower than not training at all."""
    problems = _problems(times)
    out: dict[str, dict[str, float]] = {s: {} for s in times}
    for p in problems:
        column = {s: float(times[s].get(p, math.inf)) for s in times}
        best = column[reference] if reference is not None else min(column.values())
        for s, t in column.items():
            if not math.isfinite(t) or not math.isfinite(best):
                r = math.inf
            elif best == 0:
                r = 1.0 if t == 0 else math.inf
            else:
                r = t / best
            out[s][p] = r if r <= MAX_RATIO else math.inf
    return out


def profile(ratios_of: Mapping[str, float], taus: Sequence[float]) -> list[float]:
    """ρ(τ) of one optimizer at each τ: the fraction of problems with r ≤ τ."""
    values = list(ratios_of.values())
    n = len(values)
    return [sum(r <= tau for r in values) / n if n else 0.0 for tau in taus]


def breakpoints(all_ratios: Mapping[str, Mapping[str, float]]) -> list[float]:
    """The τ at which some profile steps, with 1 and MAX_RATIO: a step curve drawn through these is exact."""
    finite = {r for rs in all_ratios.values() for r in rs.values() if 1.0 <= r <= MAX_RATIO}
    return sorted(finite | {1.0, MAX_RATIO})


def score(ratios_of: Mapping[str, float]) -> float:
    """The normalised area under ρ over [1, MAX_RATIO]: exactly (1 / 3n) Σ max(0, 4 − r) for a step profile."""
    values = list(ratios_of.values())
    if not values:
        return 0.0
    span = MAX_RATIO - 1.0
    return sum(max(0.0, MAX_RATIO - max(r, 1.0)) for r in values) / (span * len(values))


def speedup(times: Times, reference: str, budgets: Mapping[str, float]) -> dict[str, float]:
    """The geometric mean over problems of t(reference, p) / t(s, p), each miss counted as budgets[p] + 1."""
    problems = _problems(times)
    out = {}
    for s in times:
        logs = []
        for p in problems:
            t_ref, t_s = (_counted(times[x].get(p, math.inf), budgets[p]) for x in (reference, s))
            logs.append(math.log(max(t_ref, 1e-12) / max(t_s, 1e-12)))  # 0 examples (met at epoch 0): a tiny time
        out[s] = math.exp(sum(logs) / len(logs)) if logs else math.nan
    return out


def bootstrap_speedup(run_times: Mapping[str, Mapping[str, Sequence[float]]], reference: str,
                      budgets: Mapping[str, float], draws: int = BOOTSTRAP, seed: int = 0,
                      level: float = 0.95) -> dict[str, tuple[float, float]]:
    """A percentile interval of each optimizer's speed-up, resampling the seeds with replacement.

    `run_times`: optimizer → problem → the time of each seed, in seed order. Seeds are paired (the same seed
    gives every optimizer the same initial weights and batches), so one draw takes the same seed indices for
    every optimizer and problem; the median over the drawn seeds is each time, as in the point estimate."""
    problems = _problems(run_times)
    n_seeds = max((len(v) for per in run_times.values() for v in per.values()), default=0)
    if n_seeds == 0:
        return {s: (math.nan, math.nan) for s in run_times}
    rng = np.random.default_rng(seed)
    draws_of: dict[str, list[float]] = {s: [] for s in run_times}
    for _ in range(draws):
        pick = rng.integers(0, n_seeds, n_seeds)
        times = {s: {p: _median([seq[i] for i in pick if i < len(seq)])
                     for p in problems if (seq := list(run_times[s].get(p, ())))} for s in run_times}
        for s, v in speedup(times, reference, budgets).items():
            draws_of[s].append(v)
    tail = (1 - level) / 2 * 100
    return {s: (float(np.percentile(v, tail)), float(np.percentile(v, 100 - tail))) for s, v in draws_of.items()}


def median_time(seed_times: Sequence[float]) -> float:
    """The median over seeds, a miss being ∞: with more misses than hits the median is ∞ too."""
    return _median(list(seed_times))


def _median(values: list[float]) -> float:
    if not values:
        return math.inf
    ordered = sorted(values)
    mid = len(ordered) // 2
    if len(ordered) % 2:
        return ordered[mid]
    low, high = ordered[mid - 1], ordered[mid]
    return math.inf if math.isinf(high) else (low + high) / 2


def _counted(t: float, budget: float) -> float:
    return t if math.isfinite(t) else budget + 1


def _problems(times: Mapping[str, Mapping[str, object]]) -> list[str]:
    seen: dict[str, None] = {}
    for per in times.values():
        seen.update(dict.fromkeys(per))
    return list(seen)
