"""What each tuning budget buys: the expected best score of n trials (Dodge et al. 2019, "Show your work").

From the N scores of an optimizer's trials, sorted v(1) ≤ … ≤ v(N), the best of n trials drawn from
them (with replacement) is v(i) with probability (i/N)^n − ((i−1)/N)^n, so

    E[max of n] = Σ_i ((i/N)^n − ((i−1)/N)^n) · v(i),   Var = Σ_i w_i · v(i)² − E²,

computed from the trials already run, without training again. nncmp pools the trials of every study of
a configuration (they sample one space), so n runs from 1 to all of them.
"""

from __future__ import annotations

import math
from collections.abc import Sequence


def weights(n_scores: int, n: int) -> list[float]:
    """The probability that the i-th smallest of `n_scores` values is the best of `n` draws."""
    return [((i / n_scores) ** n - ((i - 1) / n_scores) ** n) for i in range(1, n_scores + 1)]


def expected_max(scores: Sequence[float], n: int) -> tuple[float, float]:
    """(E[max of n], its standard deviation) over draws with replacement from `scores` (finite numbers)."""
    if not scores:
        raise ValueError("expected_max needs at least one score")
    if n < 1:
        raise ValueError(f"n must be >= 1, got {n}")
    v = sorted(scores)
    w = weights(len(v), n)
    mean = sum(wi * vi for wi, vi in zip(w, v))
    var = sum(wi * vi * vi for wi, vi in zip(w, v)) - mean * mean
    return mean, math.sqrt(max(var, 0.0))


def curve(scores: Sequence[float], n_max: int | None = None) -> list[tuple[int, float, float]]:
    """(n, E[max of n], sd) for n = 1 … n_max (default: every score)."""
    return [(n, *expected_max(scores, n)) for n in range(1, (n_max or len(scores)) + 1)]
