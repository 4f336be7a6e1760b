"""tools/bench_table.py: the page's tables from a bench folder, each figure against its targets."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.fast

TOOL = Path(__file__).parents[2] / "tools" / "bench_table.py"
CASE = {"case": "single_bs1", "what": "nncmp, one run, sgd", "batch": 1, "models": 1, "examples": 10000,
        "seconds": 0.593, "samples/s": 16875.2, "GFLOP/s": 17.0, "ceiling fraction": 0.0468, "peak RSS MB": 1240.4,
        "threads": 1, "wait policy": "ACTIVE"}
DOC = {"cases": [CASE],
       "under_load": [{"case": "single_bs1_under_load", "what": "nncmp, one run, sgd", "seconds": 0.88, "threads": 1,
                       "wait policy": "ACTIVE"}],
       "figures": {"speedup_vs_reference_bs1": 10.63, "grid_vs_reference_bs64": 11.9,
                   "compare_vs_course_processes": 6.4, "processes_vs_local_runs": 0.39},
       "targets": {"speedup_vs_reference_bs1": 8.0, "grid_vs_reference_bs64": 18.0, "compare_vs_course_processes": 6.0}}


def run(*args):
    return subprocess.run([sys.executable, str(TOOL), *map(str, args)], capture_output=True, text=True, check=False)


def test_the_tables_of_a_bench_folder(tmp_path):
    (tmp_path / "bench.json").write_text(json.dumps(DOC))
    done = run(tmp_path)
    assert done.returncode == 0
    rows = done.stdout.splitlines()
    assert ("| `single_bs1` (nncmp, one run, sgd) | 1 | 1 | 10,000 | 0.59 | 16,875 | 17.0 | 0.05 | 1,240 | 1 | ACTIVE |"
            in rows)
    assert "| `single_bs1_under_load` (nncmp, one run, sgd) | 0.88 | 1 | ACTIVE |" in rows
    assert "| `speedup_vs_reference_bs1` | 10.63 | ≥ 8: met | ≥ 8: met |" in rows
    assert "| `grid_vs_reference_bs64` | 11.90 | ≥ 18: missed | ≥ 12: missed |" in rows
    assert "| `compare_vs_course_processes` | 6.40 | — | ≥ 6: met |" in rows
    assert "| `processes_vs_local_runs` | 0.39 | — | — |" in rows


def test_a_folder_without_a_bench_says_so(tmp_path):
    done = run(tmp_path)
    assert done.returncode == 2 and "bench.json is missing" in done.stderr and not done.stdout
