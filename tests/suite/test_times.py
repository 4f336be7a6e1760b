"""Time to target from a problem's records: the first evaluation at or past it, in steps, examples, seconds."""

import math

import pandas as pd
import pytest

from nncmp.config.run import RunSpec
from nncmp.suite.problems import Problem
from nncmp.suite.times import budgets, medians, run_times
from nncmp.suite.verdict import verdict

pytestmark = pytest.mark.fast


def records(opt, seed, accs, n=100, batch=32, seconds=1.0, status="ok"):
    return [{"run_id": f"{opt}/s{seed}", "config": opt, "optimizer": opt, "seed": seed, "epoch": e,
             "val_acc": a, "val_loss": 1 - a, "examples": e * n, "seconds": e * seconds, "batch_size": batch,
             "status": status} for e, a in enumerate(accs)]


def frame(*runs):
    return pd.DataFrame([r for run in runs for r in run])


def test_first_evaluation_at_or_past_the_target(tmp_path):
    p = Problem("p", RunSpec(dataset="digits", epochs=3), target=0.9)
    m = frame(records("a", 0, [0.1, 0.85, 0.9, 0.95]), records("a", 1, [0.1, 0.95, 0.99, 0.99], seconds=2.0),
              records("b", 0, [0.1, 0.5, 0.6, 0.89]), records("b", 1, [0.1, 0.91, 0.5, 0.6]))
    t = run_times(p, tmp_path, m).set_index("run_id")
    assert t.loc["a/s0", "epoch"] == 2 and t.loc["a/s0", "examples"] == 200
    assert t.loc["a/s0", "steps"] == 2 * math.ceil(100 / 32)  # 4 steps an epoch, the last one short
    assert t.loc["a/s1", "seconds"] == 2.0
    assert t.loc["b/s0", "examples"] == math.inf and not t.loc["b/s0", "reached"]
    assert t.loc["b/s0", "best"] == 0.89
    assert t.loc["b/s1", "examples"] == 100  # reached once, even if it fell back after
    assert t.loc["a/s0", "budget_examples"] == 300 and t.loc["a/s0", "budget_steps"] == 12
    med = medians(t.reset_index(), "examples")
    assert med == {"a": {"p": 150.0}, "b": {"p": math.inf}}  # two seeds: b's median is a miss
    assert budgets(t.reset_index(), "examples") == {"p": 300.0}


def test_a_loss_target_is_met_from_below(tmp_path):
    p = Problem("r", RunSpec(dataset="toy-regression", epochs=2), target=0.2, metric="val_loss")
    t = run_times(p, tmp_path, frame(records("a", 0, [0.1, 0.5, 0.85])))
    assert t["epoch"].iloc[0] == 2 and t["best"].iloc[0] == pytest.approx(0.15)


def test_verdict_table_ranks_by_score(tmp_path):
    p = Problem("p", RunSpec(dataset="digits", epochs=3), target=0.9)
    q = Problem("q", RunSpec(dataset="digits", epochs=3), target=0.9)
    rows = []
    for prob, accs in ((p, {"a": [0, 0.95, 1, 1], "b": [0, 0, 0.95, 1]}), (q, {"a": [0, 0, 0, 0.5],
                                                                              "b": [0, 0, 0, 0.95]})):
        m = frame(*(records(o, s, acc) for o, acc in accs.items() for s in (0, 1, 2)))
        rows.append(run_times(prob, tmp_path, m))
    times = pd.concat(rows)
    v = verdict(times, ["p", "q"], ["a", "b"], "examples", "a")
    table = v.table.set_index("optimizer")
    # p: a 100, b 200 (r = 2); q: a misses, b 300 (r = 1)
    assert table.loc["a", "score"] == pytest.approx((3 + 0) / 6)
    assert table.loc["b", "score"] == pytest.approx((2 + 3) / 6)
    assert list(v.table["optimizer"]) == ["b", "a"]
    assert table.loc["b", "solved"] == 2 and table.loc["a", "solved"] == 1
    # b against a: p 100/200, q (300 + 1)/300 (a's miss is the budget + 1)
    assert table.loc["b", "speedup"] == pytest.approx(math.sqrt(0.5 * 301 / 300))
    assert table.loc["b", "examples:q"] == 300 and table.loc["a", "examples:q"] == math.inf
    assert v.unreached == []
