"""Grids: --opt-arg keys go to the optimizers that take them; schedules are a dimension with their own ids."""

import pytest

from nncmp.config.grid import Grid
from nncmp.config.run import RunSpec


def test_on_compare_each_key_goes_to_the_optimizers_that_take_it():
    grid = Grid(base=RunSpec(dataset="digits"), dims={"optimizer": ("adam", "lion", "sgd"), "init": ("he",)}, seeds=1,
                opt_args={"amsgrad": True, "weight_decouple": False})
    args = {s.optimizer: dict(s.opt_args) for s in grid.runs()}
    assert args == {"adam": {"amsgrad": True}, "lion": {"weight_decouple": False}, "sgd": {}}


@pytest.mark.fast
def test_schedules_are_a_grid_dimension_with_their_own_config_ids():
    grid = Grid(base=RunSpec(dataset="digits"), dims={"optimizer": ("adam",), "init": ("he",),
                "schedule": ("constant", "warmup-cosine")}, seeds=1, warmup=0.1)
    ids = [s.config_id for s in grid.runs()]
    # --warmup is named where it is not the default: a tuned warm-up is another configuration.
    assert ids == ["adam/he-normal/lr=default/bs=default",
                   "adam/he-normal/lr=default/bs=default/sched=warmup-cosine/warmup=0.1"]
    assert [s.warmup for s in grid.runs()] == [None, 0.1]


@pytest.mark.fast
def test_dropout_and_architecture_are_grid_dimensions_paired_by_seed():
    grid = Grid(base=RunSpec(dataset="digits"), dims={"optimizer": ("sgd", "adam"), "init": ("he",),
                                                     "hidden": ((64, 64), (64,) * 6), "dropout": (0.0, 0.5)}, seeds=2)
    runs = grid.runs()
    assert len(runs) == 2 * 2 * 2 * 2
    assert {r.hidden for r in runs} == {(64, 64), (64,) * 6} and {r.dropout for r in runs} == {0.0, 0.5}
    assert len({r.config_id for r in runs}) == 8
    doc = grid.to_json()
    assert doc["hiddens"] == [[64, 64], [64] * 6] and doc["dropouts"] == [0.0, 0.5]
    assert Grid.from_json(grid.base, doc).runs() == runs
