"""Nothing lost: resume, signals, kill -9, locks, overwrite refusal, determinism, bad files, disk full."""

import json
import os
import random
import signal
import subprocess
import sys
import time

import pandas as pd
import pytest

from nncmp.results import store

# Eight groups of two batch-1 SGD runs on digits: long enough to be interrupted between groups.
GRID = ["compare", "--dataset", "digits", "--opts", "sgd", "--lrs", "0.001,0.002,0.003,0.005", "--inits",
        "xavier,he", "--seeds", "2", "--group-size", "2", "--epochs", "2", "--no-plot"]


def without_time(folder):
    """metrics.csv as text without its time column: what must match byte for byte."""
    return pd.read_csv(folder / "metrics.csv").drop(columns=["seconds"]).to_csv(index=False)


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
    out = tmp_path / "run"
    rng = random.Random(4)
    finished, kills = False, 0
    for cycle in range(6):
        # Until config.json exists there is nothing to resume: start over into the same folder.
        args = ["resume", out] if (out / "config.json").exists() else [*GRID, "--out", out]
        proc = start(*args)
        try:
            # Moments within the uninterrupted run's own duration on this machine, so kills land mid-grid
            # on a fast machine as on a slow one.
            proc.wait(timeout=rng.uniform(0.3, 0.8) * DURATION[reference] if cycle < 4 else 120)
        except subprocess.TimeoutExpired:
            proc.kill()  # SIGKILL: no handler runs, no file is finished off
            proc.wait()
            kills += 1
            continue
        assert proc.returncode == 0, proc.stderr.read()
        finished = True
        break
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


def test_an_interrupted_tuning_resumes_where_it_stopped(cli, tmp_path, monkeypatch):
    from nncmp.training import execute

    args = ["compare", "--dataset", "digits", "--opts", "minibatch,adam", "--inits", "he", "--seeds", "2",
            "--epochs", "2", "--lrs", "auto", "--no-plot", "--quiet"]
    code, out, _ = cli(*args, "--out", tmp_path / "whole")
    assert code == 0, out
    from tests.faults import InterruptGroup

    interrupt = InterruptGroup(at=3)
    monkeypatch.setattr(execute, "run_group", interrupt)
    code, out, _ = cli(*args, "--out", tmp_path / "cut")
    assert code == 130 and "interrupted while tuning" in out and "resume with" in out
    assert not (tmp_path / "cut" / "tuning.csv").exists()
    monkeypatch.setattr(execute, "run_group", interrupt.real)
    code, out, _ = cli(*[a for a in args if a != "--quiet"], "--resume", tmp_path / "cut")
    assert code == 0, out
    assert "resuming: 2 of 14 tuning runs already finished" in out
    for name in ("metrics.csv", "tuning_metrics.csv"):
        whole = pd.read_csv(tmp_path / "whole" / name).drop(columns=["seconds"])
        cut = pd.read_csv(tmp_path / "cut" / name).drop(columns=["seconds"])
        assert whole.to_csv(index=False) == cut.to_csv(index=False), name
    config = json.loads((tmp_path / "cut" / "config.json").read_text())
    assert len(config["resumed"]) == 1 and config["created"]


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


def test_a_non_empty_out_is_refused_unless_resume_or_overwrite(cli, tmp_path):
    args = ["train", "--dataset", "toy-regression", "--model", "linear", "--epochs", "2", "--no-plot"]
    assert cli(*args, "--out", tmp_path / "a")[0] == 0
    before = (tmp_path / "a" / "metrics.csv").read_text()
    code, _, result = cli(*args, "--out", tmp_path / "a")
    assert code == 2 and "is not empty; add --resume to continue it or --overwrite" in result.stderr
    assert (tmp_path / "a" / "metrics.csv").read_text() == before
    (tmp_path / "a" / "notes.txt").write_text("mine")
    code, out, _ = cli(*args, "--epochs", "3", "--out", tmp_path / "a", "--overwrite")
    assert code == 0, out
    assert pd.read_csv(tmp_path / "a" / "metrics.csv")["epoch"].max() == 3
    assert (tmp_path / "a" / "notes.txt").read_text() == "mine"  # only nncmp's own files are replaced
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "thesis.tex").write_text("precious")
    code, _, result = cli(*args, "--out", tmp_path / "b", "--overwrite")
    assert code == 2 and "not an nncmp results folder" in result.stderr
    assert (tmp_path / "b" / "thesis.tex").read_text() == "precious"


def test_a_live_lock_is_refused_and_a_stale_one_taken_over(cli, tmp_path):
    args = ["compare", "--dataset", "digits", "--opts", "adam", "--inits", "he", "--seeds", "1", "--epochs", "1",
            "--no-plot", "--quiet"]
    assert cli(*args, "--out", tmp_path)[0] == 0
    holder = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        (tmp_path / store.LOCK).write_text(f"{holder.pid}\n")
        code, _, result = cli(*args, "--resume", tmp_path)
        assert code == 1 and f"in use by process {holder.pid}" in result.stderr
        assert (tmp_path / store.LOCK).read_text() == f"{holder.pid}\n"
    finally:
        holder.kill()
        holder.wait()
    # The holder is gone: its lock is stale and taken over; released when the command ends.
    code, out, _ = cli(*args, "--resume", tmp_path)
    assert code == 0, out
    assert not (tmp_path / store.LOCK).exists()


def test_lock_unit(tmp_path):
    with store.Lock(tmp_path):
        assert (tmp_path / store.LOCK).read_text().strip() == str(os.getpid())
        code = f"from nncmp.results.store import Lock\nwith Lock('{tmp_path}'): pass"
        child = subprocess.run([sys.executable, "-c", code],
                               capture_output=True, text=True, check=False)
        assert child.returncode != 0 and "LockedError" in child.stderr
    assert not (tmp_path / store.LOCK).exists()


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


def test_corrupt_files_in_a_resume_folder_are_named_and_left_alone(cli, tmp_path):
    args = ["compare", "--dataset", "digits", "--opts", "adam", "--inits", "he", "--seeds", "1", "--epochs", "1",
            "--no-plot", "--quiet"]
    assert cli(*args, "--out", tmp_path)[0] == 0
    metrics = tmp_path / "metrics.csv"
    metrics.write_text('run_id,epoch\n"unterminated,1\n')
    code, _, result = cli("resume", tmp_path)
    assert code == 2 and str(metrics) in result.stderr
    assert metrics.read_text() == 'run_id,epoch\n"unterminated,1\n'
    config = tmp_path / "config.json"
    config.write_text('{"command": "compare", "grid": ')
    code, _, result = cli("resume", tmp_path)
    assert code == 2 and f"{config}: not valid JSON" in result.stderr
    assert config.read_text() == '{"command": "compare", "grid": '


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


def test_a_folder_from_before_act_norm_and_diverged_step_still_reports(cli, tmp_path):
    args = ["compare", "--dataset", "digits", "--opts", "adam", "--inits", "he", "--seeds", "2", "--epochs", "1",
            "--act", "tanh", "--no-plot", "--quiet", "--out", tmp_path]
    assert cli(*args)[0] == 0
    metrics = pd.read_csv(tmp_path / "metrics.csv")
    later = ["act", "norm", "diverged_step", "schedule", "opt_args", "lr_end"]
    metrics.drop(columns=later).to_csv(tmp_path / "metrics.csv", index=False)
    config = json.loads((tmp_path / "config.json").read_text())  # and a config.json from before schedules
    for key in ("opt_args", "schedules", "warmup"):
        del config["grid"][key]
    for key in ("opt_args", "schedule", "warmup"):
        del config["base"][key]
    (tmp_path / "config.json").write_text(json.dumps(config))
    before = pd.read_csv(tmp_path / "summary.csv")
    code, out, _ = cli("report", tmp_path, "--format", "csv", "--no-plot")
    assert code == 0, out
    read = store.read_metrics(tmp_path)
    assert set(read["act"]) == {"tanh"} and set(read["schedule"]) == {"constant"} and set(read["opt_args"]) == {""}
    assert (read["lr_end"] == read["lr"]).all()
    assert len(before) == 1 and "adam" in out
    code, out, _ = cli("resume", tmp_path)  # nothing left to train, but it reads and rewrites everything
    assert code == 0, out
    assert "resuming: 2 of 2 training runs already finished" in out
