"""What each optimizer costs across a suite (suite/costs.py) and --by step-time, on fake problem folders whose
runs.csv holds the costs: every number below is worked by hand from the data."""

import math

import pandas as pd
import pytest

from nncmp.config.arguments import MEASURES
from nncmp.config.request import SuiteRequest
from nncmp.config.run import RunSpec
from nncmp.errors import SpecError
from nncmp.suite import costs, report
from nncmp.suite.problems import Problem, Suite
from nncmp.suite.times import run_times
from nncmp.suite.verdict import verdict

pytestmark = pytest.mark.fast

# run → (the epoch it first reaches 0.9, or None: a miss; ms_step, state bytes per parameter, peak MiB)
# Each epoch is 10 steps of 10 examples (100 examples, batch 10), 3 epochs.
RUNS = {
    "p": {("a", 0): (2, 2.0, 8.0, 10.0), ("a", 1): (2, 4.0, 8.0, 12.0),
          ("b", 0): (1, 5.0, 4.0, 20.0), ("b", 1): (1, 7.0, 4.0, 30.0)},
    "q": {("a", 0): (1, 1.0, 8.0, 5.0), ("a", 1): (1, 1.0, 8.0, 5.0),
          ("b", 0): (None, 3.0, 12.0, 6.0), ("b", 1): (None, 3.0, 12.0, 6.0)},
}


def problem_folder(root, name, with_costs=True):
    """A problem's folder: its records (as metrics.csv would hold them) and, `with_costs`, runs.csv's costs."""
    folder = root / name
    folder.mkdir()
    rows, runs = [], []
    for (opt, seed), (hit, ms, state, peak) in RUNS[name].items():
        run_id = f"{opt}/s{seed}"
        for e in range(4):
            acc = 0.95 if hit is not None and e >= hit else 0.5
            rows.append({"run_id": run_id, "config": opt, "optimizer": opt, "seed": seed, "epoch": e, "step": 10 * e,
                         "val_acc": acc, "val_loss": 1 - acc, "examples": 100 * e, "seconds": 0.1 * e,
                         "batch_size": 10, "status": "ok"})
        runs.append({"run": len(runs), "run_id": run_id, "status": "ok", "ms_step": ms,
                     "state_bytes_per_param": state, "peak_mib": peak})
    if with_costs:
        pd.DataFrame(runs).to_csv(folder / "runs.csv", index=False)
    else:  # runs.csv from before the costs
        pd.DataFrame(runs)[["run", "run_id", "status"]].to_csv(folder / "runs.csv", index=False)
    return folder, pd.DataFrame(rows)


def judged(tmp_path, by, with_costs=True):
    problems = [Problem(n, RunSpec(dataset="digits", epochs=3), target=0.9) for n in ("p", "q")]
    times = pd.concat([run_times(p, *problem_folder(tmp_path, p.name, with_costs)) for p in problems],
                      ignore_index=True)
    return verdict(times, ["p", "q"], ["a", "b"], by, "a"), times, Suite("fake", problems)


def test_times_carry_each_runs_costs_and_step_time(tmp_path):
    _, times, _ = judged(tmp_path, "steps")
    t = times.set_index(["problem", "run_id"])
    assert t.loc[("p", "a/s1"), "steps"] == 20 and t.loc[("p", "a/s1"), "ms_step"] == 4.0
    assert t.loc[("p", "a/s1"), "step_time"] == pytest.approx(20 * 4.0 / 1000)  # steps × its own ms_step, in s
    assert t.loc[("p", "b/s0"), "step_time"] == pytest.approx(10 * 5.0 / 1000)
    assert t.loc[("q", "b/s0"), "step_time"] == math.inf  # a miss, whatever its step time
    assert t.loc[("q", "b/s0"), "budget_step_time"] == pytest.approx(30 * 3.0 / 1000)  # 3 epochs of 10 steps
    assert t.loc[("p", "b/s1"), "peak_mib"] == 30 and t.loc[("q", "b/s1"), "state_bytes_per_param"] == 12


def test_by_step_time_ranks_by_steps_times_their_measured_time(tmp_path):
    v, _, _ = judged(tmp_path, "step-time")
    table = v.table.set_index("optimizer")
    # p: a's seeds 20 steps × 2 and 4 ms = 0.04 and 0.08 s, median 0.06; b's 10 × 5 and 7 ms: 0.05, 0.07 → 0.06
    assert table.loc["a", "step_time:p"] == pytest.approx(0.06) and table.loc["b", "step_time:p"] == pytest.approx(0.06)
    assert table.loc["a", "step_time:q"] == pytest.approx(0.01) and table.loc["b", "step_time:q"] == math.inf
    # By steps a is twice as slow on p; by step-time the two tie there: a scores 1, b (1 + 0) / 2
    assert table.loc["a", "score"] == pytest.approx(1.0) and table.loc["b", "score"] == pytest.approx(0.5)
    # speed-up of b against a: p 0.06 / 0.06; q a's 0.01 over b's miss, the budget + 1 (the slowest run's 30 × 3 ms)
    assert table.loc["b", "speedup"] == pytest.approx(math.sqrt(1 * 0.01 / (0.09 + 1)))
    # By steps, a is twice as slow as b on p (r = 2): a scores ((4 − 2) + 3) / 6, b still (3 + 0) / 6
    (tmp_path / "steps").mkdir()
    by_steps = judged(tmp_path / "steps", "steps")[0].table.set_index("optimizer")
    assert by_steps.loc["a", "score"] == pytest.approx(5 / 6) and by_steps.loc["b", "score"] == pytest.approx(0.5)


def test_the_table_carries_each_optimizers_costs(tmp_path):
    v, _, suite = judged(tmp_path, "examples")
    table = v.table.set_index("optimizer")
    # b: state 4 on p, 12 on q → mean 8, range 4–12; time per step p 6/3 = 2, q 3/1 = 3 → √6; peak max(25, 6)
    assert table.loc["b", "state_bytes_per_param"] == 8 and table.loc["b", "state_bytes_per_param_min"] == 4
    assert table.loc["b", "state_bytes_per_param_max"] == 12
    assert table.loc["b", "ms_step_ratio"] == pytest.approx(math.sqrt(6))
    assert table.loc["b", "peak_mib_max"] == 25
    assert table.loc["a", "ms_step_ratio"] == 1 and table.loc["a", "peak_mib_max"] == 11
    headers, rows = report.rows(v, suite)
    shown = dict(zip(headers, next(r for r in rows if r[0] == "b")))
    assert shown["state B/param"] == "8 (4–12)" and shown["time/step vs a"] == "2.45×"
    assert shown["peak MiB (max)"] == "25"
    assert dict(zip(headers, next(r for r in rows if r[0] == "a")))["state B/param"] == "8"


def test_one_sentence_per_optimizer_against_the_reference(tmp_path):
    v, _, suite = judged(tmp_path, "examples")
    # Both solved p only: b 10 steps to a's 20, 6 ms a step to a's 3, 4 bytes of state a parameter to a's 8.
    expected = ("b reaches the targets in 0.5× a's steps at 2× its time per step and 0.5× its optimizer state, on 1 "
                "of 2 problems (those both solved; geometric means).")
    assert v.sentences == [expected]
    assert expected in report.markdown(v, suite)
    assert '"sentences": [' in report.to_json(v, suite, tmp_path)


def test_an_older_folder_without_costs_is_judged_without_them(tmp_path):
    v, times, suite = judged(tmp_path, "examples", with_costs=False)
    assert times["ms_step"].isna().all()
    table = v.table.set_index("optimizer")
    assert table[costs.TABLE_COSTS].isna().all().all()
    assert table.loc["a", "examples:p"] == 200  # the verdict itself as before
    assert v.sentences == ["b reaches the targets in 0.5× a's steps, on 1 of 2 problems (those both solved; "
                           "geometric means)."]
    headers, rows = report.rows(v, suite)
    assert dict(zip(headers, rows[0]))["state B/param"] == "—"
    with pytest.raises(SpecError, match="--by step-time: 6 run"):  # reached runs with no time per step
        verdict(times, ["p", "q"], ["a", "b"], "step-time", "a")


def test_optimizer_state_against_a_reference_that_keeps_none():
    times = pd.DataFrame([{"optimizer": o, "problem": "p", "seed": 0, "ms_step": 1.0, "state_bytes_per_param": s}
                          for o, s in (("sgd", 0.0), ("momentum", 4.0), ("plain", 0.0))])
    steps = {"sgd": {"p": 100.0}, "momentum": {"p": 50.0}, "plain": {"p": math.inf}}
    said = costs.sentences(times, steps, ["sgd", "momentum", "plain"], ["p"], "sgd")
    assert said == ["momentum reaches the targets in 0.5× sgd's steps at 1× its time per step and 4 bytes of "
                    "optimizer state per parameter to sgd's 0, on 1 of 1 problems (those both solved; geometric "
                    "means).",
                    "plain and sgd reach no target in common (of 1 problems); plain takes 1× sgd's time per step "
                    "and no optimizer state, like sgd."]


def test_the_measures_are_one_list():
    assert set(report.UNITS) == set(MEASURES)
    assert SuiteRequest(by="step-time").by == "step-time"
    with pytest.raises(SpecError, match="step-time"):
        SuiteRequest(by="step_times")
    from nncmp.config.arguments import SUITE

    by = next(a for a in SUITE if getattr(a, "name", None) == "by")
    assert all(m in by.help for m in MEASURES)
