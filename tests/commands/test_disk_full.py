"""A full disk: the error names the file being written, says how many runs are saved, exits 1 without a traceback,
and a resume once there is space writes every file that is missing (weights/, figures, summary, the tuning's files).

The disk fills up on one file (its temporary file's open raises ENOSPC, as a write() on a full disk does): no real
full disk is needed.
"""

import builtins
import errno
import os
import re

import pandas as pd
import pytest

from nncmp.results import store

RUN = ["compare", "--dataset", "digits", "--opts", "sgd,adam", "--inits", "he", "--seeds", "1", "--epochs", "1",
       "--hidden", "8", "--quiet"]
FULL = "No space left on device"


def fill_disk(monkeypatch, full):
    """From now on, writing a file whose name `full` accepts fails as on a full disk."""
    real = builtins.open

    def open_on_a_full_disk(file, mode="r", *args, **kwargs):
        if isinstance(file, (str, os.PathLike)) and any(c in mode for c in "wax+") and full(os.path.basename(file)):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real(file, mode, *args, **kwargs)

    monkeypatch.setattr(builtins, "open", open_on_a_full_disk)


def written(name):
    """A file's atomic write: its temporary file is .NAME.XXXXXX.tmp beside it."""
    return lambda base: base.startswith(f".{name}.")


def test_track_weights_on_a_full_disk_names_the_weights_file_and_resume_trains_that_run_again(cli, tmp_path,
                                                                                                monkeypatch):
    """metrics.csv was written, adam's weights file was not: the error used to blame metrics.csv, and a resume
    found every run finished and left weights/ without adam (landscape then silently lacked it)."""
    out = tmp_path / "run"
    args = [*RUN, "--no-plot", "--track-weights", "--out", out]
    fill_disk(monkeypatch, lambda base: base.startswith(".adam") and ".npz" in base)
    code, _, result = cli(*args)
    assert code == 1 and "Traceback" not in result.output
    assert re.search(rf"cannot write {out}/weights/adam\S+\.npz: {FULL}", result.stderr), result.stderr
    assert f"1 of 2 runs saved in {out}" in result.stderr and f"nncmp resume {out}" in result.stderr
    assert pd.read_csv(out / "metrics.csv")["optimizer"].nunique() == 2  # both runs' rows were written
    monkeypatch.undo()  # space again
    code, text, _ = cli(*[a for a in args if a != "--quiet"], "--resume", out)
    assert code == 0, text
    assert "resuming: 1 of 2 training runs already finished" in text  # adam, whose weights are missing, again
    assert sorted(p.name.split("__")[0] for p in (out / "weights").iterdir()) == ["adam", "sgd"]
    metrics = pd.read_csv(out / "metrics.csv")
    assert not metrics.duplicated(["run_id", "epoch"]).any() and metrics["optimizer"].nunique() == 2
    assert (pd.read_csv(out / "runs.csv")["status"] == "ok").all()


def test_a_full_disk_at_config_json_saves_nothing_and_says_so(cli, tmp_path, monkeypatch):
    out = tmp_path / "run"
    fill_disk(monkeypatch, written("config.json"))
    code, _, result = cli(*RUN, "--no-plot", "--out", out)
    assert code == 1 and "Traceback" not in result.output
    assert result.stderr == (f"Error: cannot write {out}/config.json: {FULL}; the results saved before are intact; "
                             "nothing was saved: run the command again once there is space\n")
    assert not store.has_content(out)  # no lock, no temporary file
    monkeypatch.undo()
    assert cli(*RUN, "--no-plot", "--out", out)[0] == 0


@pytest.mark.parametrize("name", ["summary.csv", "curves_epochs.png"])
def test_a_full_disk_at_the_summary_or_a_figure_keeps_every_run_and_resume_writes_it(cli, tmp_path, monkeypatch,
                                                                                      name):
    out = tmp_path / "run"
    fill_disk(monkeypatch, written(name))
    code, _, result = cli(*RUN, "--out", out)
    assert code == 1 and "Traceback" not in result.output
    assert f"cannot write {out}/{name}: {FULL}" in result.stderr
    assert f"2 of 2 runs saved in {out}; once there is space, resume with: nncmp resume {out}" in result.stderr
    assert not (out / name).exists()
    monkeypatch.undo()
    code, text, _ = cli("resume", out)
    assert code == 0, text
    assert (out / name).is_file() and (out / "summary.csv").is_file()


def test_a_full_disk_at_the_lock_is_one_line_and_leaves_no_lock(cli, tmp_path, monkeypatch):
    out = tmp_path / "run"
    real = os.fdopen

    def fdopen(fd, mode="r", *args, **kwargs):  # the lock is the one file written through a descriptor
        if "w" in mode:
            os.close(fd)
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real(fd, mode, *args, **kwargs)

    monkeypatch.setattr(os, "fdopen", fdopen)
    code, _, result = cli(*RUN, "--no-plot", "--out", out)
    assert code == 1 and "Traceback" not in result.output
    assert f"cannot write {out}/{store.LOCK}: {FULL}" in result.stderr
    assert not (out / store.LOCK).exists()


def test_a_full_disk_after_the_tuning_trials_leaves_no_tuning_csv_so_resume_writes_all_its_files(cli, tmp_path,
                                                                                                   monkeypatch):
    """A resume takes tuning.csv for a finished tuning: it is written after tuning.json (and budget.csv), so a disk
    that fills up between them never leaves a tuning whose checklist is missing for good."""
    out = tmp_path / "run"
    args = ["compare", "--dataset", "digits", "--opts", "adam", "--inits", "he", "--seeds", "1", "--epochs", "1",
            "--hidden", "8", "--tune", "halton", "--trials", "2", "--no-plot", "--quiet", "--out", out]
    fill_disk(monkeypatch, written("tuning.json"))
    code, _, result = cli(*args)
    assert code == 1 and f"cannot write {out}/tuning.json: {FULL}" in result.stderr
    assert f"0 of 1 runs saved in {out}" in result.stderr
    assert not (out / "tuning.csv").exists()
    monkeypatch.undo()
    code, text, _ = cli(*args, "--resume", out)
    assert code == 0, text
    assert all((out / name).is_file() for name in ("tuning.csv", "tuning.json", "budget.csv", "summary.csv"))
