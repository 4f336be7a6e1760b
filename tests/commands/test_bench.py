"""nncmp bench: the cases against the reference loop, and the whole suite of figures."""

import json
import os

import pandas as pd
import pytest


def test_bench_with_reference(cli, tmp_path):
    code, out, _ = cli("bench", "--opts", "minibatch,gd", "--dataset", "digits", "--reference", "--out", tmp_path)
    assert code == 0, out
    bench = pd.read_csv(tmp_path / "bench.csv")
    assert bench["optimizer"].tolist() == ["minibatch", "gd"]
    assert bench["batch_size"].tolist() == [64, 1437]
    for col in ("samples/s", "s/epoch", "peak MB", "ref samples/s", "speed-up"):
        assert (bench[col] > 0).all(), col
    assert "speed-up" in out


@pytest.mark.slow
def test_bench_suite_measures_every_figure_in_one_run(cli, tmp_path):
    import torch

    before = torch.get_num_threads()  # its threads follow the load (no --threads): this process's are put back
    # --no-processes: the whole-process case has its own test (tests/bench/test_processes.py), and takes a minute
    code, out, _ = cli("bench", "--n", "256", "--n-bs1", "32", "--repeats", "1", "--load", "--no-processes", "--json",
                       "--out", tmp_path)
    torch.set_num_threads(before)
    assert code == 0, out
    doc = json.loads(out)
    assert set(doc["figures"]) - set(doc["targets"]) == {
        "processes_vs_local_runs", "single_bs64_under_load", "single_bs1_under_load", "grid_bs64_batched_under_load",
        "grid_bs1_batched_under_load"}
    assert set(doc["targets"]) == {
        "speedup_vs_reference_bs64", "speedup_vs_reference_bs1", "grid_vs_reference_bs64", "grid_vs_reference_bs1",
        "batched_vs_sequential_bs64", "batched_vs_sequential_bs1", "ceiling_fraction_bs64_batched",
        "trials_stacked_vs_one_by_one_bs64"}
    assert all(v > 0 for v in doc["figures"].values()) and doc["ceiling_gflops"] > 0
    cases = {c["case"]: c for c in doc["cases"]}
    assert len(cases) == 10
    assert cases["trials_bs64_batched"]["models"] == 16  # --tune's trials: other rates, betas and decays
    assert doc["figures"]["trials_stacked_vs_one_by_one_bs64"] == pytest.approx(
        cases["trials_bs64_batched"]["samples/s"] / cases["trials_bs64_sequential"]["samples/s"])
    assert cases["grid_bs64_batched"]["models"] == 8 and cases["grid_bs1_sequential"]["batch"] == 1
    assert cases["single_bs64"]["examples"] == 256 and cases["reference_bs1"]["examples"] == 32
    # The figures are ratios of the cases' own rates.
    assert doc["figures"]["batched_vs_sequential_bs1"] == pytest.approx(
        cases["grid_bs1_batched"]["samples/s"] / cases["grid_bs1_sequential"]["samples/s"])
    assert doc["figures"]["ceiling_fraction_bs64_batched"] == pytest.approx(
        cases["grid_bs64_batched"]["GFLOP/s"] / doc["ceiling_gflops"])
    assert cases["single_bs64"]["GFLOP/s"] == pytest.approx(cases["single_bs64"]["samples/s"] * 1_007_104 / 1e9)
    assert all(c["peak RSS MB"] > 0 for c in cases.values())
    assert len(pd.read_csv(tmp_path / "bench.csv")) == 10 and len(pd.read_csv(tmp_path / "figures.csv")) == 13
    pool = doc["pool"]
    assert pool["processes_vs_local"] == pytest.approx(pool["local seconds"] / pool["processes seconds"])
    assert pool["driver ms per run"] > 0 and pool["jobs"] == 2
    assert json.loads((tmp_path / "bench.json").read_text())["figures"] == doc["figures"]
    # Each case, idle or under load, says how it ran: this process's wait policy, and its threads then.
    from nncmp.training.openmp import choice

    policy = choice().wait_policy or "default"
    assert len(doc["under_load"]) == 4
    assert all(c["wait policy"] == policy and c["threads"] >= 1 for c in [*cases.values(), *doc["under_load"]])
    config = json.loads((tmp_path / "config.json").read_text())
    follows = "OMP_NUM_THREADS" not in os.environ  # set (OMP_NUM_THREADS=1 make test): the user's count is kept
    assert config["openmp"]["wait_policy"] == choice().wait_policy
    assert config["openmp"]["threads_follow_load"] is follows and "processes" not in doc
    if follows:  # the batch-1 run alone, and 8 of them one by one, on their engine's one thread, idle or not
        assert cases["single_bs1"]["threads"] == cases["grid_bs1_sequential"]["threads"] == 1
    if follows:  # written again at the end: the threads each case ran with (10 idle, 4 under load)
        ran = config["openmp"]["groups_by_threads"]
        assert sum(ran.values()) == 14 and {int(n) for n in ran} == {c["threads"] for c in
                                                                       [*cases.values(), *doc["under_load"]]}


@pytest.mark.slow
def test_bench_suite_table(cli, tmp_path):
    code, out, _ = cli("bench", "--quick", "--n", "200", "--n-bs1", "20", "--repeats", "1", "--threads", "1",
                       "--out", tmp_path)
    assert code == 0, out
    for text in ("matmul ceiling", "Speed per case", "Figures", "grid_vs_reference_bs64", "1 threads"):
        assert text in out, text


def test_bench_a_users_model_stacked_one_by_one_and_against_the_plain_loop(tmp_path, cli):
    (tmp_path / "net.py").write_text("from torch import nn\n"
                                     "def net(input_shape, n_classes):\n"
                                     "    return nn.Sequential(nn.Flatten(), nn.Linear(64, 16), nn.ReLU(),"
                                     " nn.Linear(16, n_classes))\n")
    code, out, _ = cli("bench", "--model", f"{tmp_path}/net.py:net", "--dataset", "digits", "--repeats", "1",
                       "--out", tmp_path / "b")
    assert code == 0, out
    assert "8 runs stacked with torch.func" in out and "stacked vs one by one" in out
    import pandas as pd

    cases = pd.read_csv(tmp_path / "b" / "bench.csv")
    assert list(cases["case"]) == ["stacked", "one by one", "nncmp single run", "plain PyTorch loop"]
    assert (cases["seconds"] > 0).all()
    figures = pd.read_csv(tmp_path / "b" / "figures.csv")
    assert set(figures["figure"]) == {"stacked_vs_one_by_one", "nncmp_vs_plain_loop"}


def test_bench_cases_give_the_engine_its_fewer_threads_and_the_course_loop_the_loads(cli, tmp_path, monkeypatch):
    """Idle (measured as such here): the batch-1 SGD run alone on one thread (plan.fewest_threads), the course
    loop it is compared with on the two free cores, and torch's count as it was afterwards."""
    import torch

    from nncmp.bench import cases
    from nncmp.training import devices, load

    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    monkeypatch.setattr(devices, "THREADS", load.Threads(torch.get_num_threads, torch.set_num_threads))
    monkeypatch.setattr(load, "since_last", lambda: (0.0, 2))  # every look: two free cores
    course_threads = []
    real = cases.bench_reference
    monkeypatch.setattr(cases, "bench_reference",
                        lambda *a, **k: course_threads.append(torch.get_num_threads()) or real(*a, **k))
    try:
        code, out, _ = cli("bench", "--opts", "sgd", "--dataset", "digits", "--reference", "--out", tmp_path)
        after = torch.get_num_threads()
    finally:
        torch.set_num_threads(before)
    assert code == 0, out
    assert pd.read_csv(tmp_path / "bench.csv")["threads"].tolist() == [1] and course_threads == [2] and after == 2
