"""Time to target from a problem's records: the first evaluation at or past it, in steps, examples, seconds."""

import json
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


def stepped(opt, seed, accs, every=50, batch=64, status="ok"):
    """A step budget's records: an evaluation every `every` steps, the `epoch` column counting evaluations."""
    return [{"run_id": f"{opt}/s{seed}", "config": opt, "optimizer": opt, "seed": seed, "epoch": e, "step": e * every,
             "val_acc": a, "val_loss": 1 - a, "examples": e * every * batch, "seconds": e * 0.5, "batch_size": batch,
             "status": status} for e, a in enumerate(accs)]


def test_a_step_budget_counts_time_to_target_in_the_records_steps(tmp_path):
    # 200 steps evaluated every 50 (4 evaluations after step 0) on 100 training examples at batch size 64: an
    # epoch is 2 steps, so epoch × steps per epoch would say 2 × 2 = 4 steps where 100 were taken.
    spec = RunSpec(dataset="modadd", model="transformer", steps=200, eval_every=50, batch_size=64)
    p = Problem("m", spec, target=0.9)
    assert p.step_budget and p.budget_text() == "200 steps"
    m = frame(stepped("a", 0, [0.0, 0.3, 0.95, 1.0, 1.0]), stepped("a", 1, [0.0, 0.2, 0.5, 0.92, 1.0]),
              stepped("b", 0, [0.0, 0.1, 0.1, 0.2, 0.3]),
              stepped("b", 1, [0.0, 0.1, float("nan")], status="diverged"))
    t = run_times(p, tmp_path, m).set_index("run_id")
    assert t.loc["a/s0", "steps"] == 100 and t.loc["a/s0", "epoch"] == 2 and t.loc["a/s0", "examples"] == 100 * 64
    assert t.loc["a/s1", "steps"] == 150 and t.loc["a/s1", "seconds"] == 1.5
    assert t.loc["b/s0", "steps"] == math.inf and t.loc["b/s0", "best"] == pytest.approx(0.3)
    # The budget: the problem's steps and the examples they train on, the diverged run's included; its epochs
    # are the evaluations after step 0.
    assert (t["budget_steps"] == 200).all() and (t["budget_examples"] == 200 * 64).all() and (t["epochs"] == 4).all()
    times = t.reset_index()
    assert medians(times, "steps") == {"a": {"m": 125.0}, "b": {"m": math.inf}}
    assert budgets(times, "steps") == {"m": 200.0}
    v = verdict(times, ["m"], ["a", "b"], "steps", "b")
    # a reaches it in 125 steps; b misses: counted as the budget + 1 for the speed-up
    assert v.table.set_index("optimizer").loc["a", "speedup"] == pytest.approx(201 / 125)


def test_an_epoch_budget_reads_the_step_column_where_the_records_have_it(tmp_path):
    p = Problem("p", RunSpec(dataset="digits", epochs=3), target=0.9)
    runs = records("a", 0, [0.1, 0.5, 0.95, 0.99])
    for r in runs:  # as recorded: the steps the run had taken (BatchNorm may skip a trailing batch of one)
        r["step"] = r["epoch"] * 3
    t = run_times(p, tmp_path, frame(runs))
    assert t["steps"].iloc[0] == 6 and t["budget_steps"].iloc[0] == 12 and t["epochs"].iloc[0] == 3


def test_the_report_shows_a_step_budget_in_steps(tmp_path):
    from nncmp.suite import report
    from nncmp.suite.problems import Suite

    p = Problem("m", RunSpec(dataset="modadd", model="transformer", steps=200, eval_every=50), target=0.9)
    q = Problem("d", RunSpec(dataset="digits", epochs=3), target=0.9)
    times = pd.concat([run_times(p, tmp_path, frame(stepped("a", 0, [0, 0.95, 1, 1, 1]))),
                       run_times(q, tmp_path, frame(records("a", 0, [0, 0.5, 0.95, 1])))])
    v = verdict(times, ["m", "d"], ["a"], "steps", "a")
    suite = Suite("s", (p, q))
    assert "every eval_every steps on a budget in steps" in report.caption(v, suite)
    doc = json.loads(report.to_json(v, suite, tmp_path))
    assert doc["problems"][0] == {"name": "m", "target": 0.9, "metric": "val_acc", "epochs": None, "steps": 200,
                                      "eval_every": 50, "budget": "200 steps"}
    assert doc["problems"][1]["epochs"] == 3 and doc["problems"][1]["budget"] == "3 epochs"
    assert doc["table"][0]["steps:m"] == 50
    assert "200 steps" in report.html(tmp_path, v, suite) and "3 epochs" in report.html(tmp_path, v, suite)


def test_the_caption_dates_a_problem_calibrated_later_by_its_own_date(tmp_path):
    """The default suite's token problems were calibrated three days after the rest: one date for all would be
    false for them."""
    from nncmp.suite import report
    from nncmp.suite.problems import load_suite

    p = Problem("m", RunSpec(steps=200, eval_every=50), target=0.9)
    v = verdict(run_times(p, tmp_path, frame(records("a", 0, [0, 0.95]))), ["m"], ["a"], "steps", "a")
    suite = load_suite("default")
    dates = {name: c["date"] for name, c in suite.calibration["problems"].items() if "date" in c}
    assert dates  # the token problems carry their own dates
    text = report.caption(v, suite)
    assert f"calibrated {suite.calibration['date']} (" in text
    for name, date in dates.items():
        assert name in text.split("calibrated", 1)[1] and date in text
