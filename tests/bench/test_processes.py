"""bench's whole-process case (bench/processes.py): one `nncmp compare` process against course-loop processes,
each side a real process; and the figure it adds to the standard benchmark. Ratios of measured times only."""

import sys

import pytest

from nncmp.bench import processes
from nncmp.commands import bench as commands


@pytest.mark.slow  # three fresh processes that import torch and train
def test_one_compare_process_against_a_course_process_per_run():
    measured = processes.bench_processes(epochs=1, threads=1, seeds=1)
    assert measured["runs"] == 2 and measured["dataset"] == "mnist5k" and measured["epochs"] == 1
    assert measured["compare seconds"] > 0 and measured["course processes seconds"] > 0
    assert measured[processes.FIGURE] == pytest.approx(
        measured["course processes seconds"] / measured["compare seconds"])


def test_a_course_process_that_fails_is_an_error_not_a_time():
    with pytest.raises(RuntimeError, match="exited 1"):
        processes._run([sys.executable, "-c", "import sys; sys.exit(1)"], {})


def test_the_figure_and_its_target_join_the_standard_benchmarks(monkeypatch):
    seen = []
    monkeypatch.setattr(processes, "bench_processes", lambda threads=None: {
        "runs": 8, "epochs": 3, "dataset": "mnist5k", "compare seconds": 2.0, "course processes seconds": 14.0,
        processes.FIGURE: 7.0})
    result = {"repeats": 1, "figures": {"speedup_vs_reference_bs64": 9.0}, "targets": {"speedup_vs_reference_bs64": 7}}
    targets = result["targets"]
    commands._processes(result, None, seen.append)
    assert result["figures"] == {"speedup_vs_reference_bs64": 9.0, processes.FIGURE: 7.0}
    assert result["targets"][processes.FIGURE] == processes.TARGET == 6.0 and processes.FIGURE not in targets
    assert result["processes"]["course processes seconds"] == 14.0 and seen[0]["case"] == "processes"
