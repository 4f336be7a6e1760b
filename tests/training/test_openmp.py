"""The measured OpenMP choice where torch runs (training/openmp.py, load.py): in config.json and --verbose, in the
local backend's thread count between groups, and in every worker process. The choice itself, on a fake machine:
tests/training/test_load.py."""

import json
import os

import pytest
import torch

from nncmp.config.comparison import Options
from nncmp.config.run import RunSpec
from nncmp.training import devices, execute, load, openmp, workers
from nncmp.training.backends import ProcessBackend, RayBackend, train
from nncmp.training.plan import Group
from nncmp.training.probes import Tracking
from nncmp.training.progress import Silent
from nncmp.training.workers import DataRecipe, Setup
from tests.faults import report_openmp, task_for_ray
from tests.training.test_load import Machine, Torch, on

TINY = ["compare", "--dataset", "digits", "--hidden", "8", "--epochs", "1", "--seeds", "1", "--opts", "sgd",
        "--no-plot", "--quiet"]


@pytest.fixture
def own_threads(monkeypatch):
    """torch's threads as this process had them before the test, whatever the test's comparison chose."""
    before = torch.get_num_threads()
    monkeypatch.setattr(devices, "THREADS", load.Threads(torch.get_num_threads, torch.set_num_threads))
    yield
    torch.set_num_threads(before)


def test_config_json_records_how_torchs_threads_wait_and_why(cli, tmp_path, own_threads):
    code, out, _ = cli(*TINY, "--out", tmp_path / "a")
    assert code == 0, out
    doc = json.loads((tmp_path / "a" / "config.json").read_text())
    chosen = openmp.choice()  # this process's: torch is loaded here
    assert doc["openmp"]["wait_policy"] == chosen.wait_policy == os.environ.get(openmp.VARIABLE, "")
    assert doc["openmp"]["why"] == chosen.why and doc["openmp"]["busy_cores"] == chosen.busy_cores
    follows = "OMP_NUM_THREADS" not in os.environ  # set (OMP_NUM_THREADS=1 make test): the user's count is kept
    assert doc["openmp"]["threads_follow_load"] is follows and str(doc["openmp"]["threads"]) == \
        doc["environment"]["threads"]
    code, out, _ = cli(*[a for a in TINY if a != "--quiet"], "--threads", "1", "--out", tmp_path / "b", "--verbose")
    assert code == 0, out
    doc = json.loads((tmp_path / "b" / "config.json").read_text())
    assert doc["openmp"]["threads"] == 1 and doc["openmp"]["threads_follow_load"] is False
    assert doc["openmp"]["threads_fixed_by"] == "--threads 1"
    assert f"OpenMP threads wait {chosen.wait_policy}" in out and "torch threads: 1, kept by --threads 1" in out


@pytest.fixture
def machine(monkeypatch):
    fake = on(monkeypatch, Machine())
    load.start()
    return fake


@pytest.mark.parametrize("threads", [None, 2, 1])
def test_the_local_backend_follows_the_load_before_each_group_unless_threads_were_set(machine, monkeypatch,
                                                                                       threads):
    torch_ = Torch(2 if threads is None else threads)
    monkeypatch.setattr(devices, "THREADS", load.Threads(torch_.get, torch_.put))
    during = iter([1.0, 1.0, 0.0, 1.0])  # what other programs do while each group trains

    def run_group(group, specs, data, on_epoch=None, probe=None):
        machine.busy = next(during)
        return [[] for _ in group.specs]

    monkeypatch.setattr(execute, "run_group", run_group)
    groups = [Group((i,), (RunSpec(dataset="digits", seed=i),), "single", "alone") for i in range(4)]
    said: list[str] = []
    train(groups, None, Options(device="cpu", threads=threads), Silent(), lambda *a: None, say=said.append)
    changes = [line for line in said if line.startswith("torch threads")]
    if threads is None:  # busy for the second and third groups, idle again for the fourth
        assert torch_.set[:2] == [1, 2] and len(changes) == 2 and "2 → 1" in changes[0] and "1 → 2" in changes[1]
        # busy again after it: the next look would drop a thread, but torch is left as nncmp found it
        assert torch_.threads == 2
    else:  # --threads (even one equal to torch's own count) is never changed
        assert torch_.set == [] and changes == []


@pytest.mark.parametrize("threads", [None, 2])
def test_the_local_backend_gives_a_group_the_threads_its_engine_runs_best_on(machine, monkeypatch, threads):
    """Idle, two free cores: the batch-1 fast path's run alone on one thread (plan.fewest_threads), the next
    group on two again, and --verbose says why; a thread count the user set is kept for every engine."""
    torch_ = Torch(2)
    monkeypatch.setattr(devices, "THREADS", load.Threads(torch_.get, torch_.put))
    ran_on: list[int] = []
    monkeypatch.setattr(execute, "run_group", lambda group, *a, **k: ran_on.append(torch_.threads) or [[]])
    sgd, adam = RunSpec(dataset="digits", optimizer="sgd"), RunSpec(dataset="digits", optimizer="adam")
    groups = [Group((0,), (sgd,), "fast-sgd", "alone"), Group((1,), (adam,), "single", "alone"),
              Group((2,), (sgd,), "fast-sgd", "alone")]
    said: list[str] = []
    train(groups, None, Options(device="cpu", threads=threads), Silent(), lambda *a: None, say=said.append)
    if threads is None:
        assert ran_on == [1, 2, 1]
        assert [line for line in said if line.startswith("torch threads")] == [
            "torch threads 2 → 1: the batch-1 SGD fast path alone runs fastest on one thread",
            "torch threads 1 → 2: the free cores again",
            "torch threads 2 → 1: the batch-1 SGD fast path alone runs fastest on one thread"]
    else:
        assert ran_on == [2, 2, 2] and torch_.set == []


@pytest.mark.parametrize("options", [Options(threads=1), Options(deterministic=True),
                                     Options(backend="processes"), Options(device="cuda:0")])
def test_what_keeps_the_thread_count(options, monkeypatch):
    from nncmp.training.backends import threads_fixed_by

    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    assert threads_fixed_by(options) and not threads_fixed_by(Options(device="cpu"))
    monkeypatch.setenv("OMP_NUM_THREADS", "3")
    assert threads_fixed_by(Options(device="cpu")) == "OMP_NUM_THREADS=3"


@pytest.mark.slow  # a worker process (it imports torch) or Ray
@pytest.mark.parametrize("backend", ["processes", "ray"])
def test_a_worker_waits_as_this_process_chose_and_recorded(backend, request, monkeypatch):
    spec = RunSpec(dataset="digits", hidden=(8,), epochs=1)
    recipe = DataRecipe.of(spec, None)
    if backend == "ray":
        request.getfixturevalue("ray_session")
        monkeypatch.setattr(workers, "work", task_for_ray(report_openmp))
        pool = RayBackend(recipe, 1, Setup(1), Tracking(), None)
    else:
        monkeypatch.setattr(workers, "work", report_openmp)
        pool = ProcessBackend(recipe, 1, Setup(1), Tracking())
    try:
        pool.submit(Group((0,), (spec,), "single", "alone"))
        back = pool.next()
    finally:
        pool.close()
    assert back.error == "", back.error
    # the bound on spinning too (a Ray worker is not this process's child: it gets it with the task)
    assert back.tracked == {"policy": os.environ.get(openmp.VARIABLE), "choice": openmp.choice().to_json(),
                            "spin": {k: os.environ.get(k) for k in openmp.SPIN}}
