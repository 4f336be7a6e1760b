"""Tuning that cannot fool itself: a split too small to score on is refused before anything is written; the
--lrs auto grid widens beyond the edge where its best rate lies, with the same number of trials for every
configuration, and a rate still at the edge is flagged; a --baseline that tuning would make ambiguous is refused
before the tuning."""

from __future__ import annotations

import math
from dataclasses import replace

import pandas as pd
import pytest

from nncmp.config.space import POINTS, WIDEN, Param, lr_grid, widening
from nncmp.config.tuning import GRID, Tuning

FAST = pytest.mark.fast
INF = math.inf


@FAST
@pytest.mark.parametrize("scores, expected", [
    ({2: 0.1, 3: 0.5, 4: 0.9}, [5, 6]),  # the best at the top edge: two more rates above it
    ({2: 0.9, 3: 0.5, 4: 0.1}, [1, 0]),  # at the bottom edge: two below
    ({2: 0.1, 3: 0.9, 4: 0.1}, [1, 5]),  # inside: one each side
    ({2: -INF, 3: -INF, 4: -INF}, [1, 0]),  # every trial diverged or collapsed: ties go to the smaller rate
    ({2: 0.5, 3: 0.1, 4: 0.5}, [1, 0]),  # the ends tie: the smaller rate's side, as the choice breaks ties
])
def test_the_grid_widens_beyond_the_edge_where_its_best_rate_lies(scores, expected):
    assert widening(scores, 2, 4, 2) == expected


@FAST
def test_every_configuration_trains_the_same_number_of_rates_on_one_ladder():
    """Whatever the scores, a grid study asks POINTS + WIDEN rates, each a half-decade step of the one ladder
    (the POINTS in the middle are the grid --lrs auto has always had)."""
    from nncmp.tuning.study import Study

    ladder = lr_grid(0.01, beyond=WIDEN)
    assert ladder[WIDEN:WIDEN + POINTS] == lr_grid(0.01) and (ladder[0], ladder[-1]) == (3.16e-05, 3.16)
    for best in range(POINTS):
        study = Study(Tuning(GRID, POINTS + WIDEN), {"learning_rate": Param("learning_rate", values=tuple(ladder))}, 0)
        first = study.ask()
        assert [s["learning_rate"] for _, s, _ in first] == lr_grid(0.01)
        for _, _, position in first:
            study.tell(position, 1.0 if position == WIDEN + best else 0.0)
        second = study.ask()
        assert len(first) + len(second) == POINTS + WIDEN and study.done and study.ask() == []
        tried = sorted(s["learning_rate"] for _, s, _ in first + second)
        start = ladder.index(tried[0])
        assert tried == ladder[start:start + POINTS + WIDEN]  # contiguous on the ladder
        below = WIDEN if best == 0 else 0 if best == POINTS - 1 else 1  # widened downwards, upwards, both
        assert start == WIDEN - below


def _table(scores: dict[float, float]):
    """tuning.csv's table for one --lrs auto configuration whose trials scored `scores` (rate → val acc)."""
    from nncmp.config.run import RunSpec
    from nncmp.tuning.search import Trial, spaces, trial_table, tuning_key

    rep = RunSpec(dataset="digits", optimizer="minibatch", init="he", epochs=1).resolved(1000)
    reps = {tuning_key(rep): rep}
    space_of = spaces(reps, Tuning(GRID, POINTS + WIDEN))
    trials, results = [], {}
    for i, (lr, acc) in enumerate(scores.items()):
        spec = replace(rep, lr=lr)
        trials.append(Trial(tuning_key(rep), "trial", 0, i, {"learning_rate": lr}, spec))
        results[spec.run_id] = [{"val_acc": acc, "val_loss": 1 - acc, "status": "ok", "seconds": 1.0,
                                 "examples": 100}]
    return trial_table(trials, results, reps, space_of, Tuning(GRID, POINTS + WIDEN))


@pytest.mark.parametrize("best, edge", [(1.0, False), (3.16, True), (3.16e-05, True)])
def test_a_rate_still_at_the_widened_edge_is_flagged(best, edge):
    tried = lr_grid(0.01) + [1.0, 3.16] if best != 3.16e-05 else [3.16e-05, 0.0001] + lr_grid(0.01)
    table = _table({lr: 0.9 if lr == best else 0.5 for lr in tried})
    chosen = table[table["chosen"]].iloc[0]
    assert chosen["lr"] == best and bool(chosen["at_edge"]) is edge


def test_ties_go_to_the_smaller_rate_wherever_it_sits_in_the_table():
    # The widened rates come after the grid's in the table; a widened smaller rate that ties still wins.
    tried = lr_grid(0.01) + [0.0001, 3.16e-05]
    table = _table({lr: 0.9 if lr in (0.0001, 0.1) else 0.5 for lr in tried})
    assert table.loc[table["chosen"], "lr"].item() == 0.0001


def test_the_split_is_counted_as_tuning_carves_it(digits):
    from nncmp.registry.datasets import holdout, load
    from nncmp.tuning.search import MIN_SCORED, check_split, scored_examples

    assert scored_examples(digits) == (len(holdout(digits).y_val), "examples")
    assert scored_examples(digits)[0] >= MIN_SCORED
    check_split(digits, "--lrs auto")
    small = load("synthetic", n=200)  # 160 to train on: 32 held out
    assert scored_examples(small) == (32, "examples") == (len(holdout(small).y_val), "examples")
    toy = load("toy-regression")  # its validation set is its training set: its own split, no held-out sample
    assert scored_examples(toy) is None
    check_split(toy, "--lrs auto")


def test_a_split_too_small_is_refused_before_anything_is_written(cli, tmp_path):
    out = tmp_path / "out"
    for tune in (["--lrs", "auto"], ["--tune", "random", "--trials", "2"]):
        code, _, result = cli("compare", "--dataset", "synthetic", "--n", "200", "--opts", "sgd", *tune,
                              "--out", out)
        assert code == 2 and "Traceback" not in result.output
        what, settings = ("--lrs auto", "rates") if tune[0] == "--lrs" else ("--tune", "settings")
        assert [x for x in result.stderr.splitlines() if x.startswith("Error:")] == [
            f"Error: {what}: tuning would score its trials on 32 examples held out from the 160 training examples, too "
            f"few to tell {settings} apart (at least 100); give the {settings} to compare yourself "
            "(--lrs 0.001,0.01,0.1) or use more training data"]
        assert not out.exists()


LRS_AUTO, TUNE = ["--lrs", "auto"], ["--tune", "random", "--trials", "2"]


@pytest.mark.parametrize("tune, baseline, message", [
    (LRS_AUTO, "minibatch", "--baseline 'minibatch' is ambiguous: it matches minibatch/he-normal/lr=0.01/bs=64 (the "
                            "default rate) and, after tuning, minibatch at its tuned rate; name the default one in "
                            "full"),
    (LRS_AUTO, "adam/he/lr=0.001", None),  # the default rate, named: --lrs auto's tuned adam has another rate
    (TUNE, "adam/he/lr=0.001", "is ambiguous"),  # --tune's may keep the rate and differ in its betas
    (TUNE, "adam/he-normal/lr=0.001/bs=64", None),  # the default configuration's full id
    (LRS_AUTO, "minibatch/he/lr=0.1", "--baseline 'minibatch/he/lr=0.1' matches no configuration at the default "
                                      "rates (a tuned one is known only once the tuning chose it)"),
    (LRS_AUTO, "lbfgs", "--baseline 'lbfgs' matches no configuration"),
])
def test_a_baseline_is_checked_before_the_tuning(cli, tmp_path, monkeypatch, tune, baseline, message):
    from nncmp.tuning import search

    def never(*args, **kwargs):
        raise AssertionError("the tuning ran")

    if message is None:  # what passes the checks goes on to tune: stopped there
        monkeypatch.setattr(search, "tune", never)
    out = tmp_path / "out"
    code, text, result = cli("compare", "--dataset", "digits", "--opts", "minibatch,adam", "--inits", "he", *tune,
                             "--baseline", baseline, "--quiet", "--out", out)
    if message is None:
        assert isinstance(result.exception, AssertionError) and "the tuning ran" in str(result.exception)
        return
    assert code == 2 and message in result.stderr and "Traceback" not in text
    assert not out.exists()  # refused before the folder was made


def test_widening_a_grid_whose_best_rate_sat_at_its_edge(cli, tmp_path):
    # 2 epochs of plain SGD on digits: the grid's largest rate scores best, so two larger ones are tried too.
    code, text, _ = cli("compare", "--dataset", "digits", "--opts", "minibatch", "--inits", "he", "--lrs", "auto",
                        "--seeds", "1", "--epochs", "2", "--no-plot", "--out", tmp_path)
    assert code == 0, text
    tuning = pd.read_csv(tmp_path / "tuning.csv")
    grid = lr_grid(0.01)
    first = tuning[tuning["lr"].isin(grid)]
    assert first.loc[first["score"].idxmax(), "lr"] == max(grid)  # what makes the grid widen upwards
    assert sorted(tuning["lr"]) == grid + [1.0, 3.16] and len(tuning) == POINTS + WIDEN
    chosen = tuning[tuning["chosen"]].iloc[0]
    assert bool(chosen["at_edge"]) == (chosen["lr"] in (min(tuning["lr"]), max(tuning["lr"])))
    summary = pd.read_csv(tmp_path / "summary.csv")
    assert (summary["tuning_runs"] == POINTS + WIDEN).all()
    assert ("(edge!)" in text) == bool(chosen["at_edge"])  # the caption explains edge! either way
