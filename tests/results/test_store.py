"""The results folder: locks, refusing someone else's files, --overwrite replacing only nncmp's own, and
corrupt files named and left alone."""

import os
import subprocess
import sys

import pandas as pd

from nncmp.results import store


def test_lock_unit(tmp_path):
    with store.Lock(tmp_path):
        assert (tmp_path / store.LOCK).read_text().strip() == str(os.getpid())
        code = f"from nncmp.results.store import Lock\nwith Lock('{tmp_path}'): pass"
        child = subprocess.run([sys.executable, "-c", code],
                               capture_output=True, text=True, check=False)
        assert child.returncode != 0 and "LockedError" in child.stderr
    assert not (tmp_path / store.LOCK).exists()


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


def test_overwrite_removes_layer_statistics_of_the_old_results(cli, tmp_path):
    args = ["compare", "--dataset", "digits", "--opts", "adam", "--inits", "he", "--seeds", "1", "--epochs", "1",
            "--quiet", "--out", tmp_path]
    assert cli(*args, "--track-layers")[0] == 0
    assert (tmp_path / "layers.csv").exists() and (tmp_path / "layers_tracks.png").exists()
    code, out, _ = cli(*args, "--overwrite")
    assert code == 0, out
    assert not (tmp_path / "layers.csv").exists() and not (tmp_path / "layers_tracks.png").exists()
    assert cli("report", tmp_path)[0] == 0
    assert not (tmp_path / "layers_tracks.png").exists()  # report found no old layers to plot


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
