"""Process pool and Ray backends: the same numbers as the local backend, retries, failures, resume."""

import os
import re
import signal
import subprocess
import sys
import time

import numpy as np
import pandas as pd
import pytest

from nncmp.training import weights, workers
from tests.conftest import without_time
from tests.faults import AlwaysFail, CrashOnce, task_for_ray

pytestmark = pytest.mark.slow  # worker pools, Ray, subprocesses

# One torch thread everywhere (this process and every worker): then backends agree byte for byte.
GRID = ["compare", "--dataset", "digits", "--opts", "sgd,adam", "--inits", "xavier,he", "--seeds", "2",
        "--epochs", "2", "--no-plot", "--quiet", "--threads", "1"]
LOUD = [a for a in GRID if a != "--quiet"]  # --verbose says how many groups were retried


@pytest.fixture(scope="module")
def local(tmp_path_factory):
    from tests.conftest import run_cli

    out = tmp_path_factory.mktemp("local") / "run"
    code, text, _ = run_cli(*GRID, "--track-layers", "--track-weights", "--out", out)
    assert code == 0, text
    return out


@pytest.mark.parametrize("backend", ["processes", "ray"])
def test_backends_give_the_local_numbers(cli, local, tmp_path, backend, request):
    if backend == "ray":
        request.getfixturevalue("ray_session")
    code, out, _ = cli(*GRID, "--track-layers", "--track-weights", "--backend", backend,
                       "--jobs", "2", "--out", tmp_path)
    assert code == 0, out
    assert without_time(tmp_path) == without_time(local)
    # Same thread count, same numbers: the layer statistics and the tracked weights too.
    assert (tmp_path / "layers.csv").read_text() == (local / "layers.csv").read_text()
    mine, theirs = weights.read(local), weights.read(tmp_path)
    assert len(mine) == 4 and [r["meta"] for r in mine] == [r["meta"] for r in theirs]
    for a, b in zip(mine, theirs):
        assert np.array_equal(a["step"], b["step"]) and np.array_equal(a["weights"], b["weights"])
    runs = pd.read_csv(tmp_path / "runs.csv")
    assert (runs["status"] == "ok").all()
    # What each run cost comes back from the workers with its records.
    sizes = ["params", "state_bytes"]
    assert runs[sizes].equals(pd.read_csv(local / "runs.csv")[sizes]) and runs["ms_step"].notna().all()


def test_workers_with_other_thread_counts_agree_to_rounding(cli, local, tmp_path):
    from nncmp.registry.datasets import load
    from tests.numerics import assert_frames_close

    code, out, _ = cli(*GRID[:-1], "2", "--backend", "processes", "--jobs", "2", "--out", tmp_path)
    assert code == 0, out
    data = load("digits")
    assert_frames_close(pd.read_csv(local / "metrics.csv"), pd.read_csv(tmp_path / "metrics.csv"), data.n_train,
                        len(data.x_val), 64)


@pytest.mark.parametrize("backend", ["processes", "ray"])
def test_a_worker_killed_mid_task_is_retried(cli, local, tmp_path, monkeypatch, backend, request):
    if backend == "ray":
        request.getfixturevalue("ray_session")
    task = CrashOnce(str(tmp_path / "crashed"))
    monkeypatch.setattr(workers, "work", task_for_ray(task) if backend == "ray" else task)
    code, out, _ = cli(*LOUD, "--backend", backend, "--out", tmp_path / "run", "--verbose")
    assert code == 0, out
    assert (tmp_path / "crashed").exists()  # a worker did die
    # Its group was tried again, counted by the driver. A dead pool worker breaks the whole pool, so with
    # the process pool every group in flight (here both) is retried; Ray loses only the crashed task.
    retried = int(re.search(r"; (\d+) retried group\(s\)", out).group(1))
    assert retried == 1 if backend == "ray" else 1 <= retried <= 2
    assert without_time(tmp_path / "run") == without_time(local)


@pytest.mark.parametrize("backend", ["processes", "ray"])
def test_a_run_that_keeps_failing_is_recorded_and_the_rest_finish(cli, local, tmp_path, monkeypatch, backend,
                                                                   request):
    if backend == "ray":
        request.getfixturevalue("ray_session")
    task = AlwaysFail("adam/he-normal/lr=0.001/bs=64/seed=1")
    monkeypatch.setattr(workers, "work", task_for_ray(task) if backend == "ray" else task)
    code, out, result = cli(*LOUD, "--backend", backend, "--retries", "1", "--out", tmp_path, "--verbose")
    assert code == 1
    # The group failed twice (one retry), then the failing run alone twice (one retry): 2 retries counted.
    assert "; 2 retried group(s)" in out
    assert "1 run(s) failed on every attempt" in result.stderr and "injected failure" in result.stderr
    assert "Traceback" not in out
    runs = pd.read_csv(tmp_path / "runs.csv")
    failed = runs[runs["status"] == "failed"]
    assert failed["run_id"].tolist() == ["adam/he-normal/lr=0.001/bs=64/seed=1"]
    assert "injected failure" in failed["error"].iloc[0]
    assert (runs.drop(failed.index)["status"] == "ok").all()
    assert (tmp_path / "summary.csv").exists()
    # Its group-mates were retried alone and finished; a resume (here, without another pool) completes the grid.
    code, out, _ = cli("resume", tmp_path, "--backend", "local")
    assert code == 0, out
    metrics = pd.read_csv(tmp_path / "metrics.csv")
    assert metrics["run_id"].nunique() == 8


def test_resume_after_the_driver_is_killed(local, tmp_path):
    out = tmp_path / "run"
    cmd = [sys.executable, "-m", "nncmp", *GRID, "--backend", "processes", "--jobs", "1", "--out", str(out)]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, start_new_session=True)
    deadline = time.time() + 90
    while not (out / "metrics.csv").exists() and time.time() < deadline:
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)  # the driver and its workers
    proc.wait()
    finished = pd.read_csv(out / "metrics.csv")["run_id"].nunique()
    assert 1 <= finished < 8
    done = subprocess.run([sys.executable, "-m", "nncmp", "resume", str(out), "--quiet"], capture_output=True,
                          text=True, check=False)
    assert done.returncode == 0, done.stderr
    assert without_time(out) == without_time(local)


def test_missing_ray_says_how_to_install(monkeypatch):
    import builtins

    from nncmp.training.backends import BackendError, start_ray

    real_import = builtins.__import__

    def no_ray(name, *args, **kwargs):
        if name == "ray":
            raise ImportError("No module named 'ray'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_ray)
    with pytest.raises(BackendError, match=r"pip install 'nncmp\[ray\]'"):
        start_ray(None, 2)


def test_progress_counts_runs_done_running_and_waiting(cli, tmp_path):
    code, out, _ = cli("compare", "--dataset", "digits", "--opts", "sgd,adam", "--inits", "he", "--seeds", "2",
                       "--epochs", "1", "--no-plot", "--backend", "processes", "--jobs", "1", "--out", tmp_path)
    assert code == 0, out
    # One worker: the second group waits while the first runs, then runs alone.
    assert "2/4 runs done; 1 group(s) running, 0 waiting" in out
    assert "4/4 runs done; 0 group(s) running, 0 waiting" in out and "[4/4]" in out


MODERN = ["compare", "--dataset", "digits", "--opts", "lion,schedulefreeadamw", "--inits", "he", "--seeds", "2",
          "--epochs", "2", "--schedule", "warmup-cosine", "--no-plot", "--quiet", "--threads", "1"]


@pytest.mark.slow
def test_pytorch_optimizer_runs_on_the_process_backend_and_resume(cli, tmp_path, monkeypatch):
    from nncmp.training import execute

    code, out, _ = cli(*MODERN, "--out", tmp_path / "local")
    assert code == 0, out
    code, out, _ = cli(*MODERN, "--backend", "processes", "--jobs", "2", "--out", tmp_path / "pool")
    assert code == 0, out
    assert without_time(tmp_path / "pool") == without_time(tmp_path / "local")

    from tests.faults import InterruptGroup

    interrupt = InterruptGroup(at=3)
    monkeypatch.setattr(execute, "run_group", interrupt)
    code, out, _ = cli(*MODERN, "--out", tmp_path / "cut")
    assert code == 130, out
    monkeypatch.setattr(execute, "run_group", interrupt.real)
    code, out, _ = cli("resume", tmp_path / "cut", "--threads", "1")
    assert code == 0, out
    # lion's two seeds train as one stack (an optimizer per member), then each schedule-free run: 3 groups.
    assert "resuming: 3 of 4 training runs already finished" in out
    assert without_time(tmp_path / "cut") == without_time(tmp_path / "local")
