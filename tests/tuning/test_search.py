"""compare --tune: an equal budget of trials per optimizer on a split of the training data (never the
validation set), conditional spaces, the median study's winner, the budget curves and the checklist, a
diverged trial recorded, and a resume in the middle of a study."""

import json
import math

import numpy as np
import pandas as pd
import pytest

from tests.conftest import PNG_MAGIC

TINY = ["--dataset", "digits", "--inits", "he", "--hidden", "16", "--epochs", "1"]


@pytest.fixture(scope="module")
def tuned(tmp_path_factory):
    from tests.conftest import run_cli

    out = tmp_path_factory.mktemp("tuned") / "c"
    code, text, _ = run_cli("compare", *TINY, "--opts", "minibatch,momentum,adam,lion", "--tune", "halton",
                            "--trials", "4", "--studies", "2", "--seeds", "2", "--out", out)
    assert code == 0, text
    return out, text


def test_every_optimizer_gets_the_same_budget_in_trials_and_examples(tuned):
    out, _ = tuned
    table = pd.read_csv(out / "tuning.csv")
    trials = table[table["kind"] == "trial"]
    assert trials.groupby("optimizer").size().to_dict() == {"adam": 8, "lion": 8, "minibatch": 8, "momentum": 8}
    assert trials.groupby("optimizer")["examples"].sum().nunique() == 1
    assert (table[table["kind"] == "default"].groupby("optimizer").size() == 1).all()  # the one-shot, outside
    assert sorted(trials.groupby("optimizer")["study"].unique().map(list).map(sorted).map(tuple).unique()) == [(0, 1)]
    # Halton points: within a study every trial is another point.
    assert (trials.groupby(["optimizer", "study"])["lr"].nunique() == 4).all()


def test_each_optimizer_samples_only_what_it_has(tuned):
    out, _ = tuned
    trials = pd.read_csv(out / "tuning.csv").query("kind == 'trial'").set_index("optimizer")
    assert trials.loc["lion", "momentum"].isna().all() and trials.loc["momentum", "beta1"].isna().all()
    assert (trials.loc["minibatch", "momentum"] == 0).all()  # plain SGD keeps momentum 0
    assert trials.loc["adam", "beta2"].nunique() > 1 and trials.loc["momentum", "momentum"].nunique() > 1
    for o in ("minibatch", "momentum", "adam", "lion"):
        assert trials.loc[o, "weight_decay"].between(1e-5, 1e-1).all()


def test_the_tuned_configuration_is_the_median_studys_winner_and_is_reported(tuned):
    out, _ = tuned
    table = pd.read_csv(out / "tuning.csv")
    summary = pd.read_csv(out / "summary.csv")
    for optimizer, g in table[table["kind"] == "trial"].groupby("optimizer"):
        bests = g[g["study_best"]]
        assert len(bests) == 2 and set(bests["study"]) == {0, 1}
        assert g.groupby("study")["score"].max().min() == g[g["chosen"]]["score"].item()  # 2 studies: the lower
        chosen = g[g["chosen"]].iloc[0]
        rows = summary[summary["optimizer"] == optimizer].set_index("lr_choice")
        assert set(rows.index) == {"default", "tuned"}
        assert rows.loc["tuned", "config"] == chosen["tuned_config"] and rows.loc["tuned", "lr"] == chosen["lr"]
        assert rows.loc["default", "config"] == chosen["default_config"]
        assert not math.isnan(rows.loc["tuned", "tuned_minus_default"])
    adam = summary[(summary["optimizer"] == "adam") & (summary["lr_choice"] == "tuned")]["config"].item()
    assert "/betas=" in adam and "/weight_decay=" in adam  # the id says what was tuned


def test_budget_curves_checklist_and_figures(tuned):
    out, text = tuned
    budget = pd.read_csv(out / "budget.csv")
    table = pd.read_csv(out / "tuning.csv")
    from nncmp.tuning.budget import expected_max

    for optimizer, g in budget.groupby("optimizer"):
        assert list(g["n"]) == list(range(1, 9))
        scores = table[(table["optimizer"] == optimizer) & (table["kind"] == "trial")]["budget_score"].tolist()
        assert g["expected_best"].iloc[3] == pytest.approx(expected_max(scores, 4)[0])
        assert g["expected_best"].is_monotonic_increasing
    doc = json.loads((out / "tuning.json").read_text())
    assert doc["sampler"] == "halton" and doc["studies"] == 2 and doc["trials_per_configuration_per_study"] == 4
    assert doc["sampler_seeds"] == [0, 1] and "never seen" in doc["selection"]
    bounds = {c["optimizer"]: c["bounds"] for c in doc["configurations"]}
    assert bounds["adam"]["one_minus_beta2"] == "log [0.0001, 0.1]" and "one_minus_beta1" not in bounds["momentum"]
    for name in ("budget.png", "sensitivity.png"):
        assert (out / name).read_bytes()[:8] == PNG_MAGIC
    assert "Tuning: what each budget buys" in text and "best of 4" in text and "space of lion" in text
    assert "tuned − default" in text


def test_json_and_html_carry_the_checklist(tuned, cli):
    out, _ = tuned
    code, text, _ = cli("report", out, "--format", "json")
    assert code == 0, text
    doc = json.loads(text)
    assert doc["tuning"]["studies"] == 2 and len(doc["tuning"]["table"]) == 4
    code, text, _ = cli("report", out, "--html", out / "page.html")
    assert code == 0, text
    page = (out / "page.html").read_text()
    assert "Tuning: what each budget buys" in page and "Reporting checklist" in page and "sensitivity" in page


def test_the_search_never_sees_the_validation_set(tmp_path, cli, digits):
    """Two datasets with the same training part and different validation parts: the same trials, the same
    scores, the same choice."""
    x, y = digits.x_train.numpy(), digits.y_train.numpy()
    rng = np.random.default_rng(0)
    for name, (xv, yv) in {"a": (digits.x_val.numpy(), digits.y_val.numpy()),
                           "b": (rng.normal(size=digits.x_val.shape).astype("float32"),
                                 rng.permutation(digits.y_val.numpy()))}.items():
        np.savez(tmp_path / f"{name}.npz", x_train=x, y_train=y, x_val=xv, y_val=yv)
        code, text, _ = cli("compare", "--dataset", tmp_path / f"{name}.npz", "--inits", "he", "--hidden", "16",
                            "--epochs", "1", "--opts", "adam", "--tune", "random", "--trials", "3", "--seeds", "1",
                            "--no-plot", "--quiet", "--out", tmp_path / name)
        assert code == 0, text
    a, b = (pd.read_csv(tmp_path / n / "tuning.csv").drop(columns=["seconds"]) for n in "ab")
    pd.testing.assert_frame_equal(a, b)


def test_a_diverged_trial_is_recorded_and_scores_as_its_untrained_model(tmp_path, cli):
    space = tmp_path / "space.json"
    space.write_text(json.dumps({"learning_rate": {"min": 0.01, "max": 1.0, "scaling": "log"}}))
    code, text, _ = cli("compare", "--dataset", "toy-regression", "--model", "linear", "--opts", "gd", "--inits",
                        "zeros", "--tune", "halton", "--trials", "6", "--space", space, "--seeds", "1",
                        "--epochs", "40", "--no-plot", "--out", tmp_path / "c")
    assert code == 0, text
    table = pd.read_csv(tmp_path / "c" / "tuning.csv")
    diverged = table[table["status"] == "diverged"]
    assert len(diverged) and not diverged["chosen"].any() and (diverged["score"] == -math.inf).all()
    records = pd.read_csv(tmp_path / "c" / "tuning_metrics.csv")
    start = -records[records["epoch"] == 0]["val_loss"].iloc[0]  # zeros init: every trial starts the same
    assert diverged["budget_score"].tolist() == pytest.approx([start] * len(diverged))
    assert table[table["chosen"]]["lr"].item() < 0.05  # the largest stable rates win on these five points


@pytest.mark.parametrize("sampler", ["halton", "tpe"])
def test_an_interrupted_study_resumes_without_training_a_finished_trial_again(tmp_path, cli, monkeypatch, sampler):
    from nncmp.training import execute
    from tests.faults import InterruptGroup

    # TPE asks 4 trials at a time: 7 trials and the default are 2 rounds; the cut falls in the second.
    args = ["compare", *TINY, "--opts", "adam", "--tune", sampler, "--trials", "7", "--seeds", "1", "--no-plot",
            "--quiet", "--group-size", "1"]
    code, out, _ = cli(*args, "--out", tmp_path / "whole")
    assert code == 0, out
    interrupt = InterruptGroup(at=7)
    monkeypatch.setattr(execute, "run_group", interrupt)
    code, out, _ = cli(*args, "--out", tmp_path / "cut")
    assert code == 130 and "interrupted while tuning" in out
    monkeypatch.setattr(execute, "run_group", interrupt.real)
    calls = []
    monkeypatch.setattr(execute, "run_group", lambda *a, **k: calls.append(a) or interrupt.real(*a, **k))
    code, out, _ = cli(*[a for a in args if a != "--quiet"], "--resume", tmp_path / "cut")
    assert code == 0, out
    assert "resuming: 6 of" in out
    assert len(calls) == 2 + 2  # the 2 trials not finished, then the default and the tuned run
    for name in ("tuning_metrics.csv", "tuning.csv", "metrics.csv"):
        whole = pd.read_csv(tmp_path / "whole" / name).drop(columns=["seconds"])
        cut = pd.read_csv(tmp_path / "cut" / name).drop(columns=["seconds"])
        assert whole.to_csv(index=False) == cut.to_csv(index=False), name


@pytest.mark.slow
def test_trials_on_worker_processes_give_the_local_numbers(tmp_path, cli):
    args = ["compare", *TINY, "--opts", "minibatch,adam", "--tune", "random", "--trials", "3", "--seeds", "1",
            "--no-plot", "--quiet"]
    for name, extra in (("local", []), ("processes", ["--backend", "processes", "--jobs", "2"])):
        code, out, _ = cli(*args, *extra, "--out", tmp_path / name)
        assert code == 0, out
    local, pool = (pd.read_csv(tmp_path / n / "tuning.csv").drop(columns=["seconds"]) for n in ("local", "processes"))
    assert list(local["tuned_config"]) == list(pool["tuned_config"])
    pd.testing.assert_frame_equal(local, pool, rtol=1e-5)
