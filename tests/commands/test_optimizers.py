"""nncmp optimizers: every name it lists, whether it runs here, and the command's output."""

import json

import pytest

from nncmp.config.run import RunSpec
from nncmp.errors import SpecError
from nncmp.training.engines.single import train
from tests.conftest import TINY


def test_every_optimizer_that_runs_here_trains_an_epoch_and_the_others_are_refused(tiny):
    """The contract of `nncmp optimizers`' last column, for every name it lists."""
    from nncmp.commands.optimizers import catalog

    rows = catalog()
    assert len(rows) > 130
    for row in rows:
        spec = RunSpec(**TINY, optimizer=row["name"]) if row["available"] else None
        if not row["available"]:
            assert row["why_not"]
            with pytest.raises(SpecError, match="cannot run here"):
                RunSpec(**TINY, optimizer=row["name"])
            continue
        records = train(spec, tiny)
        assert [r["epoch"] for r in records] == [0, 1], row["name"]
        assert records[-1]["status"] in ("ok", "diverged"), row["name"]


def test_optimizers_command_lists_sources_rates_hyperparameters_and_availability(cli):
    code, out, _ = cli("optimizers", "--json")
    assert code == 0, out
    rows = {r["name"]: r for r in json.loads(out)}
    assert {"adam", "nadam", "lion", "adan", "lamb", "prodigy", "muon", "soap", "schedulefreeadamw", "sophiah",
            "ademamix", "lbfgs", "sam"} <= set(rows)
    assert rows["lion"]["source"] == "pytorch-optimizer" and rows["lion"]["lr"] == 1e-4
    assert rows["lion"]["hyperparameters"]["betas"] == [0.9, 0.99]
    assert "muon-groups" in rows["adamuon"]["handling"] and "matrices+adamw" in rows["muon"]["handling"]
    assert "closure" in rows["lbfgs"]["handling"] and "hessian" in rows["sophiah"]["handling"]
    assert "schedule-free" in rows["schedulefreeadamw"]["handling"]
    assert rows["distributedmuon"]["available"] is False and "process group" in rows["distributedmuon"]["why_not"]
    # State bytes per parameter, measured on the tiny MLP 8 → 16 → 4: 212 parameters in 4 tensors, float32.
    params, tensors = 8 * 16 + 16 + 16 * 4 + 4, 4
    state = {name: r["state_bytes_per_param"] for name, r in rows.items()}
    assert state["sgd"] == 0 and state["momentum"] == 4 and state["lion"] == 4
    assert state["adam"] == pytest.approx((8 * params + 4 * tensors) / params)  # two moments and a step counter
    assert state["distributedmuon"] is None
    code, out, _ = cli("optimizers", "--filter", "adam*")
    assert code == 0 and "adamw" in out and "lion" not in out and "runs here" in out and "state B/param" in out
    code, out, result = cli("optimizers", "--filter", "zzz*")
    assert code == 2 and "matches no optimizer" in result.stderr
