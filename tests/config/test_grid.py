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


def test_hyperparameters_are_grid_dimensions_for_the_optimizers_that_have_them():
    from nncmp.config.grid import Grid
    from nncmp.config.run import RunSpec

    grid = Grid(base=RunSpec(), dims={"optimizer": ("adamw", "lion", "momentum"), "weight_decay": (0.0, 1.0)},
                seeds=1)
    runs = grid.runs()
    assert [(r.optimizer, r.weight_decay) for r in runs] == [("adamw", 0.0), ("adamw", 1.0), ("lion", 0.0),
                                                              ("lion", 1.0), ("momentum", 0.0), ("momentum", 1.0)]
    assert len({r.run_id for r in runs}) == 6
    # beta2 varies the pair's last number; an optimizer without betas runs once
    grid = Grid(base=RunSpec(), dims={"optimizer": ("adam", "sgd"), "betas": (0.95, 0.999)}, seeds=2)
    assert [(r.optimizer, r.betas) for r in grid.runs()] == [
        ("adam", (0.9, 0.95)), ("adam", (0.9, 0.95)), ("adam", (0.9, 0.999)), ("adam", (0.9, 0.999)),
        ("sgd", None), ("sgd", None)]
    beta1 = Grid(base=RunSpec(), dims={"optimizer": ("adam",), "betas": (0.95,)}, hyper={}, seeds=1)
    assert beta1.runs()[0].betas == (0.9, 0.95) and beta1.to_json()["beta2s"] == [0.95]
    assert Grid.from_json(RunSpec(), beta1.to_json()).runs() == beta1.runs()
