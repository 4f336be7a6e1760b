"""Performance profiles, the AlgoPerf score and the speed-up, against cases worked by hand."""

import math

import pytest

from nncmp.suite import profiles
from nncmp.suite.profiles import MAX_RATIO, bootstrap_speedup, breakpoints, median_time, profile, ratios, score, speedup

pytestmark = pytest.mark.fast
INF = math.inf


def test_ratios_divide_by_the_fastest_on_each_problem():
    times = {"a": {"p": 100, "q": 300}, "b": {"p": 200, "q": 100}, "c": {"p": 500, "q": INF}}
    r = ratios(times)
    assert r["a"] == {"p": 1.0, "q": 3.0}
    assert r["b"] == {"p": 2.0, "q": 1.0}
    # 500 / 100 = 5 > 4: not solved in the profile's sense; a miss is infinite.
    assert r["c"] == {"p": INF, "q": INF}


def test_ties_share_the_best_ratio():
    r = ratios({"a": {"p": 50}, "b": {"p": 50}, "c": {"p": 200}})
    assert r == {"a": {"p": 1.0}, "b": {"p": 1.0}, "c": {"p": 4.0}}  # exactly 4 still counts
    assert score(r["c"]) == 0.0  # but adds no area: max(0, 4 - 4) = 0
    assert profile(r["c"], [4.0]) == [1.0]


def test_ratio_to_a_reference_may_be_below_one():
    r = ratios({"ref": {"p": 200, "q": INF}, "x": {"p": 100, "q": 50}}, reference="ref")
    assert r["ref"]["p"] == 1.0 and r["x"]["p"] == 0.5
    assert r["x"]["q"] == INF  # the reference missed: no ratio to it
    assert score(r["x"]) == pytest.approx((3 + 0) / (3 * 2))  # r < 1 counts as 1


def test_score_is_the_normalised_area_under_the_step_profile():
    r = {"p": 1.0, "q": 2.5, "s": INF}
    by_hand = (3.0 + 1.5 + 0.0) / (3 * 3)  # (1/3n) Σ max(0, 4 - r)
    assert score(r) == pytest.approx(by_hand)
    # the same number as the integral of ρ(τ) over [1, 4] / 3, by a fine Riemann sum
    taus = [1 + 3 * (k + 0.5) / 30000 for k in range(30000)]
    assert sum(profile(r, taus)) * (3 / 30000) / 3 == pytest.approx(by_hand, abs=1e-4)


def test_a_single_problem():
    r = ratios({"a": {"p": 10}, "b": {"p": 30}})
    assert score(r["a"]) == 1.0
    assert score(r["b"]) == pytest.approx(1 / 3)
    assert profile(r["b"], [1, 2.99, 3, 4]) == [0, 0, 1, 1]


def test_a_problem_nobody_solved_counts_for_no_one():
    r = ratios({"a": {"p": INF, "q": 10}, "b": {"p": INF, "q": 20}})
    assert r["a"]["p"] == r["b"]["p"] == INF
    assert score(r["a"]) == pytest.approx(0.5)


def test_met_before_training_is_a_time_of_zero():
    r = ratios({"a": {"p": 0.0}, "b": {"p": 0.0}, "c": {"p": 10.0}})
    assert r == {"a": {"p": 1.0}, "b": {"p": 1.0}, "c": {"p": INF}}


def test_breakpoints_make_the_step_curve_exact():
    r = {"a": {"p": 1.0, "q": 2.5}, "b": {"p": 3.0, "q": INF}}
    assert breakpoints(r) == [1.0, 2.5, 3.0, MAX_RATIO]
    assert profile(r["a"], breakpoints(r)) == [0.5, 1.0, 1.0, 1.0]


def test_median_time_with_misses():
    assert median_time([3, 1, 2]) == 2
    assert median_time([1, 2, INF]) == 2  # two of three reached it
    assert median_time([1, INF, INF]) == INF
    assert median_time([1, 3]) == 2
    assert median_time([1, INF]) == INF


def test_speedup_is_a_geometric_mean_with_misses_at_budget_plus_one():
    times = {"ref": {"p": 100, "q": 400}, "x": {"p": 50, "q": INF}}
    budgets = {"p": 1000, "q": 1000}
    s = speedup(times, "ref", budgets)
    assert s["ref"] == pytest.approx(1.0)
    assert s["x"] == pytest.approx(math.sqrt((100 / 50) * (400 / 1001)))


def test_bootstrap_interval_contains_the_point_and_is_paired():
    per_seed = {"ref": {"p": [100, 110, 90], "q": [200, 220, 180]},
                "x": {"p": [50, 55, 45], "q": [100, 110, 90]}}
    budgets = {"p": 1000, "q": 1000}
    band = bootstrap_speedup(per_seed, "ref", budgets, draws=200)
    # x is exactly twice as fast on every seed: every resample says 2.
    assert band["x"] == pytest.approx((2.0, 2.0))
    assert band["ref"] == pytest.approx((1.0, 1.0))


def test_bootstrap_widens_with_disagreeing_seeds():
    per_seed = {"ref": {"p": [100, 100, 100]}, "x": {"p": [50, 100, 200]}}
    low, high = bootstrap_speedup(per_seed, "ref", {"p": 1000}, draws=500)["x"]
    point = profiles.speedup({"ref": {"p": 100}, "x": {"p": 100}}, "ref", {"p": 1000})["x"]
    assert low < point < high or low <= point <= high
    assert low == pytest.approx(0.5) and high == pytest.approx(2.0)
