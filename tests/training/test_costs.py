"""What a run costs (training/costs.py): parameters and optimizer state against counts made by hand, the same
per member of a stack as alone, step times and peak memory recorded, runs.csv and summary.csv carrying them,
and folders from before the costs still read."""

import math

import pandas as pd
import pytest

import nncmp
from nncmp.config.run import RunSpec
from nncmp.registry.datasets import load
from nncmp.results import schema
from nncmp.training.execute import train_with
from nncmp.training.plan import as_group

HIDDEN = (16, 8)


@pytest.fixture(scope="module")
def synthetic():
    return load("synthetic", n=300)


def by_hand(data) -> tuple[int, int]:
    """The MLP's parameter count and number of parameter tensors (a weight and a bias per layer)."""
    widths = [math.prod(data.shape), *HIDDEN, data.n_out]
    params = sum(a * b + b for a, b in zip(widths, widths[1:]))
    return params, 2 * (len(widths) - 1)


def costs_of(engine, specs, data):
    return [run.costs for run in train_with(as_group(engine, [s.resolved(data.n_train) for s in specs], data), data)]


def spec(optimizer, **extra):
    return RunSpec(**{"dataset": "synthetic", "n": 300, "epochs": 2, "hidden": HIDDEN, "optimizer": optimizer,
                      "batch_size": 32, **extra})


def test_state_bytes_are_the_optimizers_buffers_counted_by_hand(synthetic):
    params, tensors = by_hand(synthetic)
    (adam,) = costs_of("single", [spec("adam")], synthetic)
    assert adam["params"] == params
    # exp_avg and exp_avg_sq in float32 (8 bytes a parameter), and a float32 step counter per tensor.
    assert adam["state_bytes"] == 8 * params + 4 * tensors
    assert adam["state_bytes_per_param"] == pytest.approx(8 + 4 * tensors / params)
    (sgd,) = costs_of("single", [spec("minibatch")], synthetic)
    assert sgd["state_bytes"] == 0 and sgd["state_bytes_per_param"] == 0
    (momentum,) = costs_of("single", [spec("momentum")], synthetic)
    assert momentum["state_bytes"] == 4 * params and momentum["state_bytes_per_param"] == 4


def test_time_per_step_and_peak_memory_are_recorded(synthetic):
    (run,) = costs_of("single", [spec("adam")], synthetic)
    assert run["ms_fwd_bwd"] > 0 and run["ms_opt_step"] > 0
    assert run["ms_step"] == pytest.approx(run["ms_fwd_bwd"] + run["ms_opt_step"])
    assert run["peak_mib"] is None or run["peak_mib"] >= 0
    # A run of one step has no step to time after its first (which allocates the state): empty, not a guess.
    (one,) = costs_of("single", [spec("adam", steps=1)], synthetic)
    assert one["ms_step"] is None and one["state_bytes"] is not None


# Different rates: an optimizer per member (engines/members.py); otherwise one optimizer over the stack.
@pytest.mark.parametrize("optimizer,lrs", [("adam", (0.01, 0.01)), ("momentum", (0.01, 0.01)),
                                           ("adam", (0.01, 0.001))])
def test_a_stacks_members_have_their_single_runs_sizes(synthetic, optimizer, lrs):
    specs = [spec(optimizer, seed=s, lr=lr) for s, lr in zip((0, 1), lrs)]
    alone = costs_of("single", specs[:1], synthetic)[0]
    members = costs_of("stacked", specs, synthetic)
    for member in members:
        assert (member["params"], member["state_bytes"]) == (alone["params"], alone["state_bytes"])
        assert member["ms_fwd_bwd"] > 0 and member["ms_opt_step"] > 0
    assert members[0]["ms_step"] == members[1]["ms_step"]  # the stack's time, shared


def test_the_fast_path_knows_its_whole_step_only(synthetic):
    specs = [spec("sgd", batch_size=1, epochs=1, seed=s) for s in (0, 1)]
    params, _ = by_hand(synthetic)
    for member in costs_of("fast-sgd", specs, synthetic):
        assert member["params"] == params and member["state_bytes"] == 0
        assert member["ms_fwd_bwd"] is None and member["ms_opt_step"] is None and member["ms_step"] > 0


def test_runs_and_summary_carry_the_costs_and_an_older_folder_still_reports(tmp_path, cli):
    out = tmp_path / "r"
    result = nncmp.compare(opts=["sgd", "adam"], inits=["he"], seeds=2, epochs=1, dataset="digits", hidden=(8,),
                           out=out, progress=False, plot=False)
    runs = pd.read_csv(out / schema.RUNS)
    assert set(schema.COST_COLUMNS) <= set(runs.columns) and runs["state_bytes"].notna().all()
    summary = pd.read_csv(out / schema.SUMMARY)
    assert set(schema.COST_COLUMNS) <= set(summary.columns)
    adam = summary.set_index("optimizer").loc["adam"]
    assert adam["state_bytes_per_param"] == pytest.approx(runs.loc[runs["run_id"].str.startswith("adam/"),
                                                                   "state_bytes_per_param"].mean())
    assert adam["state_bytes_per_param"] > 8 and summary.set_index("optimizer").loc["sgd", "state_bytes"] == 0
    assert "state B/param" in result._repr_html_()
    # A resume keeps the costs of the runs it finds finished.
    before = (out / schema.RUNS).read_text()
    nncmp.compare(opts=["sgd", "adam"], inits=["he"], seeds=2, epochs=1, dataset="digits", hidden=(8,),
                  out=out, progress=False, plot=False, resume=True)
    assert (out / schema.RUNS).read_text() == before
    # runs.csv as written before the costs: it reads, and report summarises without them.
    runs.drop(columns=schema.COST_COLUMNS).to_csv(out / schema.RUNS, index=False)
    code, text, result = cli("report", out, "--format", "csv", "--no-plot")
    assert code == 0, text
    assert not set(schema.COST_COLUMNS) & set(result.stdout.splitlines()[0].split(","))
