"""nncmp compare and resume end to end: the grid, its ranking and baseline, JSON output, grouping, failures,
and nothing lost (the same numbers twice, resume, signals, kill -9, a full disk)."""

import json
import math
import random
import signal
import subprocess
import sys
import time

import pandas as pd
import pytest
import torch

from nncmp.config.run import RunSpec
from nncmp.registry.datasets import load
from nncmp.results import store
from nncmp.training.stepping import build_for
from tests.conftest import PNG_MAGIC, without_time
from tests.numerics import THREADS, assert_frames_close


def test_compare_writes_summary_plots_and_baseline(compared):
    out, text = compared
    summary = pd.read_csv(out / "summary.csv")
    for col in ("final_val_acc_ci95", "best_val_acc_std", "final_train_loss_mean", "n_diverged",
                "epochs_to_target", "examples_to_target", "seconds_to_target", "diff_vs_baseline", "diff_ci95"):
        assert col in summary.columns, col
    base = summary[summary["config"] == "minibatch/he-normal/lr=0.01/bs=64"].iloc[0]
    assert base["diff_vs_baseline"] == 0 and not base["diff_excludes_0"]
    for name in ("curves_epochs.png", "final_val_acc.png"):
        assert (out / name).read_bytes()[:8] == PNG_MAGIC
    assert "Δ vs baseline" in text and "95% CI" in text


def test_compare_json_is_the_only_stdout(cli, tmp_path):
    code, _, result = cli("compare", "--dataset", "digits", "--opts", "adam", "--inits", "he", "--seeds", "1",
                          "--epochs", "1", "--json", "--no-plot", "--out", tmp_path)
    assert code == 0
    doc = json.loads(result.stdout)
    assert doc["summary"][0]["optimizer"] == "adam" and doc["results_dir"] == str(tmp_path)
    assert not list(tmp_path.glob("*.png"))


def test_compare_runs_grid_and_ranks(cli, tmp_path):
    code, out, _ = cli("compare", "--dataset", "digits", "--opts", "minibatch,adam", "--inits", "xavier,he",
                       "--seeds", "2", "--epochs", "2", "--out", tmp_path)
    assert code == 0, out
    metrics = pd.read_csv(tmp_path / "metrics.csv")
    assert metrics["run_id"].nunique() == 8
    summary = pd.read_csv(tmp_path / "summary.csv")
    assert len(summary) == 4 and (summary["n_seeds"] == 2).all()
    assert summary["rank"].tolist() == [1, 2, 3, 4]
    assert summary["final_val_acc_mean"].is_monotonic_decreasing
    assert "Summary" in out and "xavier-normal" in out and "[8/8]" in out


def test_compare_lr_and_batch_size_lists(cli, tmp_path):
    code, out, _ = cli("compare", "--dataset", "toy-regression", "--model", "linear", "--opts", "minibatch",
                       "--inits", "zeros", "--lrs", "0.01,0.001", "--batch-sizes", "1,5", "--seeds", "1",
                       "--epochs", "3", "--out", tmp_path, "--quiet")
    assert code == 0, out
    summary = pd.read_csv(tmp_path / "summary.csv")
    assert sorted(zip(summary["lr"], summary["batch_size"])) == [(0.001, 1), (0.001, 5), (0.01, 1), (0.01, 5)]
    # Regression: no accuracy, ranked by val loss.
    assert summary["final_val_acc_mean"].isna().all()
    assert summary["final_val_loss_mean"].is_monotonic_increasing


def test_compare_keeps_going_after_a_diverged_run(cli, tmp_path):
    code, out, _ = cli("compare", "--dataset", "toy-regression", "--model", "linear", "--opts", "gd",
                       "--inits", "zeros", "--lrs", "1,0.01", "--seeds", "1", "--epochs", "30", "--out", tmp_path)
    assert code == 0, out
    summary = pd.read_csv(tmp_path / "summary.csv")
    assert summary["status"].tolist() == ["ok", "diverged"]  # the diverged one ranks last
    assert summary["lr"].tolist() == [0.01, 1.0]


def test_compare_grids_activation_and_normalisation(cli, tmp_path):
    code, out, _ = cli("compare", "--dataset", "digits", "--opts", "adam", "--inits", "xavier,he", "--acts",
                       "relu,tanh", "--norms", "none,batchnorm", "--seeds", "1", "--epochs", "1", "--no-plot",
                       "--quiet", "--out", tmp_path)
    assert code == 0, out
    summary = pd.read_csv(tmp_path / "summary.csv")
    assert len(summary) == 8
    assert {"adam/he-normal/lr=0.001/bs=64", "adam/he-normal/lr=0.001/bs=64/act=tanh/norm=batchnorm"} <= set(
        summary["config"])
    assert set(summary["act"]) == {"relu", "tanh"} and set(summary["norm"]) == {"none", "batchnorm"}
    assert "act" in out and "norm" in out
    code, out, _ = cli("report", tmp_path, "--by", "norm", "--format", "csv", "--no-plot")
    assert code == 0
    pivot = pd.read_csv(__import__("io").StringIO(out))
    assert {"none_mean", "batchnorm_mean", "act", "init"} <= set(pivot.columns) and len(pivot) == 4
    for bad, message in ((["--acts", "gelu"], "unknown activation 'gelu'"),
                         (["--norms", "layernorm"], "unknown normalisation 'layernorm'")):
        code, _, result = cli("compare", *bad)
        assert code == 2 and message in result.stderr
    assert math.isfinite(summary["final_val_acc_mean"].min())


def test_opt_args_reach_the_optimizer_the_config_id_and_the_metrics(cli, tmp_path, digits):
    spec = RunSpec(optimizer="lbfgs", opt_args={"history_size": 5, "line_search_fn": "strong_wolfe"}).resolved(100)
    opt = build_for(spec, [torch.nn.Parameter(torch.zeros(3))])
    assert opt.param_groups[0]["history_size"] == 5 and opt.param_groups[0]["line_search_fn"] == "strong_wolfe"
    code, out, _ = cli("compare", "--dataset", "digits", "--opts", "adam,adamw", "--inits", "he", "--seeds", "1",
                       "--epochs", "1", "--opt-arg", "amsgrad=true", "--no-plot", "--out", tmp_path)
    assert code == 0, out
    metrics = pd.read_csv(tmp_path / "metrics.csv", keep_default_na=False)
    assert set(metrics["opt_args"]) == {"amsgrad=true"}
    assert set(metrics["config"]) == {"adam/he-normal/lr=0.001/bs=64/amsgrad=true",
                                      "adamw/he-normal/lr=0.001/bs=64/amsgrad=true"}
    summary = pd.read_csv(tmp_path / "summary.csv", keep_default_na=False)
    assert set(summary["opt_args"]) == {"amsgrad=true"}
    # Two settings of one optimizer are two configurations.
    assert RunSpec(optimizer="adam").config_id != RunSpec(optimizer="adam", opt_args={"amsgrad": True}).config_id


@pytest.mark.parametrize("threads", THREADS)
def test_compare_results_do_not_depend_on_grouping(cli, tmp_path, threads):
    args = ["compare", "--dataset", "digits", "--opts", "sgd,adam", "--inits", "xavier,he", "--seeds", "2",
            "--epochs", "2", "--no-plot", "--quiet", "--threads", str(threads)]
    code, out, _ = cli(*args, "--out", tmp_path / "grouped", "--verbose")
    assert code == 0, out
    code, out, _ = cli(*args, "--out", tmp_path / "alone", "--group-size", "1")
    assert code == 0, out
    grouped, alone = (pd.read_csv(tmp_path / d / "metrics.csv") for d in ("grouped", "alone"))
    assert grouped["run_id"].tolist() == alone["run_id"].tolist()  # grid order either way
    data = load("digits")
    assert_frames_close(alone, grouped, data.n_train, len(data.x_val), 64)
    config = json.loads((tmp_path / "alone" / "config.json").read_text())
    assert config["environment"]["threads"] == str(threads)


def test_a_run_whose_optimizer_raises_is_recorded_as_failed_and_the_rest_finish(cli, tmp_path, monkeypatch):
    from nncmp.training import stepping

    original = stepping.Stepper.step

    def step(self, forward_backward, n):
        if isinstance(self.optimizer, torch.optim.NAdam):
            raise RuntimeError("injected: NAdam broke")
        return original(self, forward_backward, n)

    monkeypatch.setattr(stepping.Stepper, "step", step)
    code, out, result = cli("compare", "--dataset", "digits", "--opts", "nadam,radam", "--inits", "he", "--seeds",
                            "1", "--epochs", "1", "--no-plot", "--out", tmp_path)
    assert code == 1, out
    runs = pd.read_csv(tmp_path / "runs.csv")
    assert list(runs["status"]) == ["failed", "ok"]
    assert runs["error"].iloc[0] == "RuntimeError: injected: NAdam broke"
    assert set(pd.read_csv(tmp_path / "metrics.csv")["optimizer"]) == {"radam"}
    assert "Traceback" not in out
    code, out, _ = cli("train", "--dataset", "digits", "--opt", "nadam", "--epochs", "1", "--no-plot",
                       "--out", tmp_path / "train")
    assert code == 1 and "failed: RuntimeError: injected: NAdam broke" in out


def test_the_default_grid_trains_on_a_users_regression_npz(cli, tmp_path):
    """scikit-learn's diabetes data as an npz (a regression task, whatever the file is called): every run of the
    default grid finishes. Batch-1 SGD on it trains with autograd, not on the fast path, whose output delta
    (softmax minus one-hot) is cross-entropy's."""
    import numpy as np
    from sklearn.datasets import load_diabetes

    x, y = load_diabetes(return_X_y=True)
    y = (y - y.mean()) / y.std()  # standardised: the default rates are for targets of order one
    x, y = x.astype("float32"), y.astype("float32")
    np.savez(tmp_path / "diabetes.npz", x_train=x[:352], y_train=y[:352], x_val=x[352:], y_val=y[352:])
    code, out, _ = cli("compare", "--dataset", tmp_path / "diabetes.npz", "--seeds", "1", "--epochs", "1",
                       "--no-plot", "--verbose", "--out", tmp_path / "run")
    assert code == 0, out
    runs = pd.read_csv(tmp_path / "run" / "runs.csv")
    assert len(runs) == 8 and (runs["status"] == "ok").all(), runs
    assert {r.split("/")[0] for r in runs["run_id"]} == {"sgd", "minibatch", "rmsprop", "adam"}
    (sgd,) = [line for line in out.splitlines() if line.startswith("group ") and ": sgd/" in line]
    assert "on the stacked engine" in sgd and "fast" not in sgd


def test_a_huge_rate_diverges_alone_and_says_where(cli, tmp_path):
    code, out, _ = cli("compare", "--dataset", "digits", "--opts", "minibatch", "--inits", "he", "--seeds", "2",
                       "--lrs", "0.01,1e6", "--epochs", "2", "--no-plot", "--quiet", "--out", tmp_path)
    assert code == 0, out
    metrics = pd.read_csv(tmp_path / "metrics.csv")
    huge = metrics[metrics["lr"] == 1e6]
    assert (huge["status"] == "diverged").all() and huge["epoch"].max() == 1
    steps = huge["diverged_step"].dropna().astype(int).tolist()  # the first non-finite step of epoch 1
    assert len(steps) == 2 and all(1 <= s <= 23 for s in steps)
    sane = metrics[metrics["lr"] == 0.01]
    assert (sane["status"] == "ok").all() and sane["epoch"].max() == 2 and sane["diverged_step"].isna().all()


# --- nothing lost -----------------------------------------------------------------------------------


# Eight groups of two batch-1 SGD runs on digits: long enough to be interrupted between groups.
GRID = ["compare", "--dataset", "digits", "--opts", "sgd", "--lrs", "0.001,0.002,0.003,0.005", "--inits",
        "xavier,he", "--seeds", "2", "--group-size", "2", "--epochs", "2", "--no-plot"]


def start(*args, out=None):
    cmd = [sys.executable, "-m", "nncmp", *map(str, args)] + (["--out", str(out)] if out else [])
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


DURATION = {}  # the reference run's wall time on this machine


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """The grid run once, uninterrupted; and how long it took on this machine (start-up included)."""
    out = tmp_path_factory.mktemp("reference") / "run"
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "nncmp", *GRID, "--out", str(out), "--quiet"],
                          capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr
    DURATION[out] = time.perf_counter() - start
    return out


def test_the_same_command_twice_gives_the_same_numbers(cli, tmp_path):
    args = ["compare", "--dataset", "digits", "--opts", "minibatch,adam", "--inits", "xavier,he", "--seeds", "2",
            "--epochs", "2", "--no-plot", "--quiet", "--dropout", "0.1"]
    for name in ("a", "b"):
        code, out, _ = cli(*args, "--out", tmp_path / name)
        assert code == 0, out
    assert without_time(tmp_path / "a") == without_time(tmp_path / "b")
    environment = json.loads((tmp_path / "a" / "config.json").read_text())["environment"]
    assert {"torch", "platform", "threads"} <= set(environment)


@pytest.mark.slow
def test_kill_9_at_random_moments_then_resume_loses_and_repeats_nothing(reference, tmp_path):
    """A preempted job: killed at any moment, the first second included (before config.json exists), and
    re-run with the same command line each time, as a cluster scheduler re-runs it."""
    out = tmp_path / "run"
    rng = random.Random(4)
    finished, kills, early = False, 0, False
    for cycle in range(5):
        proc = start(*GRID, "--resume", out)
        # The first kill within the first second (start-up, nothing written yet); then moments within the
        # uninterrupted run's own duration on this machine, so kills land mid-grid on a fast machine as on a
        # slow one; the last attempt runs to the end.
        wait = rng.uniform(0.2, 1.0) if cycle == 0 else rng.uniform(0.3, 0.8) * DURATION[reference]
        try:
            proc.wait(timeout=wait if cycle < 3 else 120)
        except subprocess.TimeoutExpired:
            early = early or (cycle == 0 and not (out / "config.json").exists())
            proc.kill()  # SIGKILL: no handler runs, no file is finished off
            proc.wait()
            kills += 1
            continue
        assert proc.returncode == 0, proc.stderr.read()
        finished = True
        break
    assert early  # one kill came before the comparison had written anything to resume from
    assert finished
    assert kills >= 1  # the test killed something: a grid that finishes first proves nothing
    assert without_time(out) == without_time(reference)
    metrics = pd.read_csv(out / "metrics.csv")
    assert not metrics.duplicated(["run_id", "epoch"]).any()
    assert (pd.read_csv(out / "runs.csv")["status"] == "ok").all()
    assert not (out / store.LOCK).exists()


@pytest.mark.parametrize("sig, code, twice", [(signal.SIGINT, 130, False), (signal.SIGTERM, 143, False),
                                              (signal.SIGINT, 130, True)])
@pytest.mark.slow
def test_signals_save_mark_and_say_how_to_resume(reference, tmp_path, sig, code, twice):
    out = tmp_path / "run"
    proc = start(*GRID, out=out)
    deadline = time.time() + 60
    while not (out / "metrics.csv").exists() and time.time() < deadline:
        time.sleep(0.05)
    proc.send_signal(sig)
    if twice:  # an impatient second Ctrl-C while the last files are being written
        time.sleep(0.2)
        proc.send_signal(sig)
    stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == code, stderr
    assert "Traceback" not in stderr and f"resume with: nncmp resume {out}" in stdout
    runs = pd.read_csv(out / "runs.csv")
    assert set(runs["status"]) == {"ok", "interrupted"}
    finished = set(pd.read_csv(out / "metrics.csv")["run_id"])
    assert finished == set(runs.loc[runs["status"] == "ok", "run_id"])
    if not twice:  # resuming is the same after either signal: the most disturbed case checks it (time)
        return
    proc = subprocess.run([sys.executable, "-m", "nncmp", "resume", str(out), "--quiet"], capture_output=True,
                          text=True, check=False)
    assert proc.returncode == 0, proc.stderr
    assert without_time(out) == without_time(reference)


def test_resume_refuses_other_options_and_names_the_difference(cli, tmp_path):
    args = ["compare", "--dataset", "digits", "--opts", "adam", "--inits", "he", "--seeds", "1", "--epochs", "1",
            "--no-plot", "--quiet"]
    assert cli(*args, "--out", tmp_path)[0] == 0
    code, _, result = cli(*args[:-4], "--epochs", "2", "--no-plot", "--resume", tmp_path)
    assert code == 2
    assert "was run with --epochs 1, this command has 2" in result.stderr
    code, _, result = cli(*args, "--seeds", "3", "--resume", tmp_path)
    assert code == 2 and "--seeds 1, this command has 3" in result.stderr
    code, out, _ = cli(*[a for a in args if a != "--quiet"], "--resume", tmp_path)
    assert code == 0 and "resuming: 1 of 1 training runs already finished" in out


def test_disk_full_mid_run_keeps_earlier_results_and_exits_1(cli, tmp_path, monkeypatch):
    real, writes = store.atomic_write_text, []

    def full_on_third_metrics(path, text):
        if path.name == "metrics.csv":
            writes.append(path)
            if len(writes) == 3:
                raise OSError(28, "No space left on device")
        return real(path, text)

    monkeypatch.setattr(store, "atomic_write_text", full_on_third_metrics)
    code, _, result = cli("compare", "--dataset", "digits", "--opts", "minibatch,adam,adagrad", "--inits", "he",
                          "--seeds", "1", "--epochs", "1", "--no-plot", "--quiet", "--out", tmp_path)
    assert code == 1
    assert "cannot write" in result.stderr and "No space left on device" in result.stderr
    assert "Traceback" not in result.output
    assert pd.read_csv(tmp_path / "metrics.csv")["optimizer"].unique().tolist() == ["minibatch", "adam"]


def test_resume_into_a_missing_or_empty_folder_starts_the_comparison_there(cli, tmp_path):
    """One command line for the first attempt and every retry: --resume DIR starts DIR if it holds nothing
    yet (a lock or a temporary file left by a kill counts as nothing)."""
    args = ["compare", "--dataset", "digits", "--opts", "adam", "--inits", "he", "--seeds", "1", "--epochs", "1",
            "--no-plot"]
    code, out, _ = cli(*args, "--resume", tmp_path / "new")
    assert code == 0, out
    assert "holds no comparison yet: starting it there" in out and (tmp_path / "new" / "metrics.csv").exists()
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / ".lock").write_text("999999999\n")  # a killed process's lock
    (tmp_path / "empty" / ".config.json.x.tmp").write_text("{")  # an atomic write cut short
    code, out, _ = cli(*args, "--resume", tmp_path / "empty")
    assert code == 0, out
    assert without_time(tmp_path / "empty") == without_time(tmp_path / "new")
    code, out, _ = cli(*args, "--resume", tmp_path / "new")  # finished: nothing trains again
    assert code == 0 and "resuming: 1 of 1 training runs already finished" in out


def test_dropout_and_depth_grids_are_one_table_with_their_factors_and_paired_seeds(cli, tmp_path):
    code, out, _ = cli("compare", "--dataset", "digits", "--opts", "sgd,adam", "--dropouts", "0,0.5", "--depths",
                       "1,2", "--width", "32", "--inits", "he", "--seeds", "2", "--epochs", "1", "--no-plot",
                       "--out", tmp_path)
    assert code == 0, out
    metrics = pd.read_csv(tmp_path / "metrics.csv", dtype={"hidden": str})
    assert set(metrics["hidden"]) == {"32", "32x2"} and set(metrics["dropout"]) == {0.0, 0.5}
    assert metrics["config"].nunique() == 8 and all("/dropout=" in c for c in metrics["config"] if "0.5" in c)
    summary = pd.read_csv(tmp_path / "summary.csv", dtype={"hidden": str})
    assert {"hidden", "dropout"} <= set(summary.columns) and len(summary) == 8
    header = next(line for line in out.splitlines() if "optimizer" in line and "hidden" in line)
    assert "dropout" in header  # both vary, so both are columns of the table
    # Seeds are paired: the untrained model of a seed and an architecture is the same for every optimizer
    # and dropout rate (epoch 0 evaluates without dropout).
    start = metrics[metrics["epoch"] == 0]
    assert start.groupby(["hidden", "seed"])["val_loss"].nunique().eq(1).all()
    assert start.groupby("hidden")["val_loss"].nunique().eq(2).all()  # two seeds, two starting points


def test_a_folder_from_before_architecture_columns_reports_and_keeps_its_ids(cli, tmp_path):
    code, out, _ = cli("compare", "--dataset", "digits", "--opts", "adam", "--inits", "he", "--seeds", "1",
                       "--epochs", "1", "--hidden", "64", "--dropout", "0.1", "--no-plot", "--quiet", "--out", tmp_path)
    assert code == 0, out
    metrics = pd.read_csv(tmp_path / "metrics.csv")
    old = metrics.drop(columns=["hidden", "dropout"])
    old["config"] = "adam/he-normal/lr=0.001/bs=64"  # ids then named neither
    old["run_id"] = old["config"] + "/seed=0"
    old.to_csv(tmp_path / "metrics.csv", index=False)
    read = store.read_metrics(tmp_path)
    assert set(read["hidden"]) == {"64"} and set(read["dropout"]) == {0.1}
    assert set(read["run_id"]) == {"adam/he-normal/lr=0.001/bs=64/hidden=64/dropout=0.1/seed=0"}
    code, out, _ = cli("resume", tmp_path)  # nothing to train: the old run is this comparison's run
    assert code == 0 and "resuming: 1 of 1 training runs already finished" in out


def test_piped_progress_says_something_every_few_seconds(cli, tmp_path, monkeypatch):
    """A notebook's !nncmp, CI, | tee: while a long group trains, a line at least every HEARTBEAT seconds."""
    import time as clock

    from nncmp.output.progress import RunProgress
    from nncmp.training import execute

    real = execute.run_group

    def slow(group, specs, data, on_epoch=None, probe=None):
        clock.sleep(0.6)  # a long epoch
        return real(group, specs, data, on_epoch, probe)

    monkeypatch.setattr(RunProgress, "HEARTBEAT", 0.1)
    monkeypatch.setattr(execute, "run_group", slow)
    code, out, _ = cli("compare", "--dataset", "digits", "--opts", "adam", "--inits", "he", "--seeds", "1",
                       "--epochs", "1", "--no-plot", "--out", tmp_path)
    assert code == 0, out
    beats = [line for line in out.splitlines() if "runs done; training" in line]
    assert len(beats) >= 3 and all("eta" in line and "elapsed" in line for line in beats)


@pytest.mark.slow
def test_ctrl_c_while_the_summary_is_written_says_what_is_saved_and_how_to_finish(tmp_path):
    """A real SIGINT in a real process, at the moment the last run is saved and the summary begins."""
    out = tmp_path / "run"
    script = (
        "import os, signal\n"
        "from nncmp.commands import compare\n"
        "real = compare._result\n"
        "def interrupted(*args):\n"
        "    os.kill(os.getpid(), signal.SIGINT)\n"
        "    return real(*args)\n"
        "compare._result = interrupted\n"
        "from nncmp.cli.app import main\n"
        "main()\n"
    )
    args = ["compare", "--dataset", "digits", "--opts", "adam", "--inits", "he", "--seeds", "2", "--epochs", "1",
            "--out", str(out)]
    done = subprocess.run([sys.executable, "-c", script, *args], capture_output=True, text=True, timeout=300)
    assert done.returncode == 130, done.stderr
    assert "all 2 runs finished and are saved" in done.stdout
    assert f"nncmp report {out}" in done.stdout and "Traceback" not in done.stderr
    assert (pd.read_csv(out / "runs.csv")["status"] == "ok").all()
    assert not list(out.glob(".*.tmp*"))  # nothing half-written
    code = subprocess.run([sys.executable, "-m", "nncmp", "report", str(out)], capture_output=True, text=True)
    assert code.returncode == 0 and (out / "curves_epochs.png").exists()
