"""A suite on a Ray cluster of two nodes (two raylets on this machine, on 127.0.0.1) that loses one of them
in the middle: it finishes, every run is there exactly once, and the numbers are the local backend's."""

import threading
import time

import pandas as pd
import pytest

from nncmp.commands.suite import SuiteRequest, run_suite
from nncmp.config.comparison import Options
from tests.commands.test_suite import TINY
from tests.conftest import without_time

pytestmark = pytest.mark.slow

# Targets fixed by hand: this test is about where the runs train, not about calibration.
SUITE = TINY.replace("epochs = 2\n", "epochs = 2\ntarget = 0.5\n")
OPTS = ("sgd", "adam", "momentum")


def request(path, out, backend):
    # One torch thread in every worker and here, groups of one run: then backends agree byte for byte.
    options = Options(backend=backend, jobs=2, threads=1, group_size=1, plot=False)
    return SuiteRequest(str(path), OPTS, seeds=2, options=options, out=out)


def test_a_suite_survives_losing_a_ray_node(tmp_path, monkeypatch):
    ray = pytest.importorskip("ray")
    import ray._private.ray_constants as ray_constants
    from ray.cluster_utils import Cluster

    # Every address on loopback: without this the driver and the head look the cluster up at the machine's
    # interface address (ray's get_node_ip_address), which a sandboxed machine may not let a process reach
    # itself on. Ray's own switch for single-machine clusters (its default on macOS and Windows).
    monkeypatch.setattr(ray_constants, "ENABLE_RAY_CLUSTER", False)

    path = tmp_path / "tiny.toml"
    path.write_text(SUITE)
    local = run_suite(request(path, tmp_path / "local", "local"))
    was_running = ray.is_initialized()
    if was_running:
        ray.shutdown()
    cluster = Cluster(initialize_head=True, head_node_args={"node_ip_address": "127.0.0.1", "num_cpus": 1,
                                                            "include_dashboard": False})
    worker = cluster.add_node(node_ip_address="127.0.0.1", num_cpus=1)
    removed: dict[str, bool] = {}
    out = tmp_path / "ray"

    def remove_when_the_first_runs_are_saved():
        while not (out / "digits" / "metrics.csv").exists():
            time.sleep(0.05)
        removed["second problem started"] = (out / "synth" / "metrics.csv").exists()
        cluster.remove_node(worker)  # its running task dies with it; the driver retries the group
        removed["done"] = True

    try:
        ray.init(address=cluster.address, log_to_driver=False)
        assert len([n for n in ray.nodes() if n["Alive"]]) == 2
        killer = threading.Thread(target=remove_when_the_first_runs_are_saved, daemon=True)
        killer.start()
        result = run_suite(request(path, out, "ray"))
        killer.join(timeout=60)
        alive = len([n for n in ray.nodes() if n["Alive"]])
    finally:
        ray.shutdown()
        cluster.shutdown()
        if was_running:
            ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    assert removed == {"second problem started": False, "done": True}, "the node was not removed mid-suite"
    assert alive == 1
    assert not result.failed
    for name in ("digits", "synth"):
        metrics = pd.read_csv(out / name / "metrics.csv")
        epochs = metrics.groupby("run_id")["epoch"].apply(list)
        assert len(epochs) == len(OPTS) * 2 and all(e == [0, 1, 2] for e in epochs), "a run missing or twice"
        assert without_time(out / name) == without_time(tmp_path / "local" / name)
    # Times measured on this machine (seconds to target, time per step, peak memory) differ between two runs of
    # the same suite; everything else is the runs' own numbers.
    measured = ("ms_step_ratio", "peak_mib_max")
    pd.testing.assert_frame_equal(result.verdict.table.drop(columns=[c for c in result.verdict.table
                                                                     if c.startswith("seconds") or c in measured]),
                                  local.verdict.table.drop(columns=list(measured)), check_exact=False)
