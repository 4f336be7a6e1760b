"""Ctrl-C messages that are true: the count of saved runs is read from the files, the tuning message says what is
tuned, and an interrupt at any moment, the last moments of the process included, prints one line."""

import os
import subprocess
import sys

import pandas as pd
import pytest

from nncmp.results import store

# Two groups of two runs (each optimizer's seeds train together).
TOY = ["compare", "--dataset", "toy-regression", "--model", "linear", "--opts", "minibatch,adam", "--inits", "zeros",
       "--seeds", "2", "--epochs", "2", "--no-plot"]


def test_ctrl_c_right_after_the_last_group_is_written_counts_what_is_on_disk(cli, tmp_path, monkeypatch):
    """The interrupt lands after metrics.csv holds all 4 runs but before the runner noted the last group: it used
    to say "2 of 4 runs finished"."""
    real, writes = store.write_csv, []

    def interrupted_after_the_last_write(path, frame):
        real(path, frame)
        if path.name == "metrics.csv":
            writes.append(path)
            if len(writes) == 2:
                raise KeyboardInterrupt

    monkeypatch.setattr(store, "write_csv", interrupted_after_the_last_write)
    code, out, _ = cli(*TOY, "--out", tmp_path)
    assert code == 130
    assert "all 4 runs finished and are saved" in out and "2 of 4" not in out
    assert f"nncmp report {tmp_path}" in out and "Traceback" not in out
    assert (pd.read_csv(tmp_path / "runs.csv")["status"] == "ok").all()


def test_ctrl_c_while_tuning_says_what_is_tuned(cli, tmp_path, monkeypatch):
    """--tune tunes every hyperparameter of each optimizer: the message used to say "tuning learning rates"."""
    from nncmp.training import execute
    from tests.faults import InterruptGroup

    monkeypatch.setattr(execute, "run_group", InterruptGroup(at=2))
    code, out, _ = cli("compare", "--dataset", "digits", "--hidden", "8", "--epochs", "1", "--opts", "adam,sgd",
                       "--inits", "he", "--seeds", "1", "--tune", "halton", "--trials", "2", "--group-size", "1",
                       "--no-plot", "--out", tmp_path)
    assert code == 130
    assert "interrupted while tuning lr, beta1, beta2, weight_decay (1 of " in out
    assert f"resume with: nncmp resume {tmp_path}" in out


@pytest.mark.slow
@pytest.mark.parametrize("when", ["before the results line", "while the process ends"])
def test_ctrl_c_after_the_work_is_done_prints_one_line(tmp_path, when):
    """A real SIGINT as the last line is printed, or while the process ends (its atexit functions): the process used
    to end by the signal, or with 130, saying nothing."""
    out = tmp_path / "run"
    if when == "before the results line":
        hook = ("real = signals.after_last_line\n"
                "def after_last_line(line):\n"
                "    real(line)\n"
                "    os.kill(os.getpid(), signal.SIGINT)\n"
                "signals.after_last_line = after_last_line\n")
    else:
        hook = "atexit.register(lambda: os.kill(os.getpid(), signal.SIGINT))\n"
    script = "import atexit, os, signal\nfrom nncmp.training import signals\n" + hook + \
        "from nncmp.cli.app import main\nmain()\n"
    done = subprocess.run([sys.executable, "-c", script, *TOY, "--out", str(out)], capture_output=True, text=True,
                          timeout=300, env={**os.environ, "COLUMNS": "300"})  # the results line on one line
    assert done.returncode == 130, done.stderr
    assert f"results: {out}" in done.stdout
    assert done.stderr == (f"interrupted after the comparison finished: everything is saved in {out}, nothing to "
                           "resume\n")
    assert (pd.read_csv(out / "runs.csv")["status"] == "ok").all() and (out / "summary.csv").is_file()
