"""Learning-rate transfer across width (results/transfer.py), on records whose best rates are known by
construction: each run's final loss is a parabola in log2(rate) around the width's best rate."""

import math

import pytest

from nncmp.config.grid import Grid
from nncmp.config.run import RunSpec
from nncmp.results import transfer
from nncmp.results.schema import records_frame

pytestmark = pytest.mark.fast

WIDTHS = (64, 128, 256, 512)
LRS = tuple(2.0 ** k for k in range(-12, -1))  # 2^-12 … 2^-2


def best_log2(spec: RunSpec) -> float:
    """The best rate's log2 by construction: halves per doubling of width under sp, fixed under mup; seed 1's
    best sits one grid step higher at the widest width (a seed that disagrees)."""
    log2_width = math.log2((spec.model_width() or 64) / 64)
    best = -5.0 if spec.param == "mup" else -5.0 - log2_width
    return best + (1.0 if spec.seed == 1 and spec.model_width() == 512 else 0.0)


def records(grid: Grid, diverged: set[tuple[int, float]] = frozenset()) -> list[dict]:
    out = []
    for spec in grid.runs():
        resolved = spec.resolved(1000)
        loss = (math.log2(spec.lr) - best_log2(spec)) ** 2 / 10 + 0.1
        status = "diverged" if (spec.model_width(), spec.lr) in diverged else "ok"
        for epoch, value in ((0, 2.3), (1, math.nan if status == "diverged" else loss)):
            out.append({"run_id": resolved.run_id, "config": resolved.config_id, **resolved.columns(), "epoch": epoch,
                        "train_loss": value, "train_acc": math.nan, "val_loss": value, "val_acc": math.nan,
                        "examples": 1000 * epoch, "seconds": float(epoch), "status": status})
    return out


def sweep(params: tuple[str, ...] = ("sp", "mup"), seeds: int = 2) -> Grid:
    return Grid(base=RunSpec(dataset="digits"), dims={"width": WIDTHS, "param": params, "lr": LRS}, seeds=seeds)


def test_the_best_rate_per_width_and_the_slope_follow_the_construction():
    table = transfer.transfer(records_frame(records(sweep())), "final_val_loss")
    assert list(table.columns) == transfer.COLUMNS
    assert list(dict.fromkeys(table["series"])) == ["adam sp", "adam mup"]  # sp first, whatever the order
    sp, mup = (table[table["param"] == p].set_index("width") for p in ("sp", "mup"))
    assert [math.log2(sp.loc[w, "best_lr"]) for w in WIDTHS] == [-5, -6, -7, -8]
    assert [math.log2(mup.loc[w, "best_lr"]) for w in WIDTHS] == [-5, -5, -5, -5]
    # The mean over seeds still picks the construction's rate at 512, where seed 1 prefers one step up.
    assert sp.loc[512, "best_lr_lo"] == 2.0 ** -8 and sp.loc[512, "best_lr_hi"] == 2.0 ** -7
    assert sp["slope"].iloc[0] == pytest.approx(-1.0) and mup["slope"].iloc[0] == pytest.approx(0.0)
    # seed 0: exactly -1 and 0; seed 1: its widest point one step up.
    assert sp["slope_lo"].iloc[0] == pytest.approx(-1.0) and sp["slope_hi"].iloc[0] > -1.0
    assert sp["lr_ratio"].iloc[0] == pytest.approx(8.0) and mup["lr_ratio"].iloc[0] == pytest.approx(1.0)
    assert not table["at_edge"].any() and (table["n_seeds"] == 2).all() and (table["n_lrs"] == len(LRS)).all()
    lines = transfer.verdicts(table)
    assert lines[0].startswith("adam sp: best rate 0.0312 at width 64 → 0.00391 at 512, slope -1.00")
    assert "edge" not in " ".join(lines)


def test_a_diverged_rate_is_never_best_and_an_edge_is_flagged():
    # At width 64 every rate from the best (2^-5) up diverges: the best that finished is the largest that did.
    diverged = {(64, lr) for lr in LRS if lr >= 2.0 ** -5}
    table = transfer.transfer(records_frame(records(sweep(("sp",), seeds=1), diverged)), "final_val_loss")
    at64 = table.set_index("width").loc[64]
    assert at64["best_lr"] == 2.0 ** -6 and not at64["at_edge"]  # inside the grid: diverged rates are worse
    edge = Grid(base=RunSpec(dataset="digits"), dims={"width": WIDTHS, "lr": LRS[5:]}, seeds=1)  # 2^-7 … 2^-2
    table = transfer.transfer(records_frame(records(edge)), "final_val_loss")
    assert table.set_index("width").loc[512, "at_edge"]  # 2^-8 is best there, below the grid
    assert "best at the grid's edge at some width: widen --lrs" in transfer.verdicts(table)[0]


def test_applies_only_to_two_widths_each_at_two_rates():
    assert transfer.applies(records_frame(records(sweep(("sp",), seeds=1))))
    one_rate = Grid(base=RunSpec(dataset="digits"), dims={"width": WIDTHS, "lr": (0.01,)}, seeds=1)
    assert not transfer.applies(records_frame(records(one_rate)))
    no_width = Grid(base=RunSpec(dataset="digits"), dims={"lr": LRS}, seeds=1)
    assert not transfer.applies(records_frame(records(no_width)))


def test_a_grid_of_widths_sets_what_the_model_is_built_with_and_mups_base():
    runs = sweep().runs()
    mup = [r for r in runs if r.param == "mup"]
    assert {r.hidden for r in runs} == {(w, w) for w in WIDTHS}
    assert {r.base_width for r in mup} == {64}  # the smallest width compared
    assert all("param=mup/base=64" in r.run_id for r in mup)
    assert all("param" not in r.run_id and "base" not in r.run_id for r in runs if r.param == "sp")
    columns = mup[-1].columns()
    assert (columns["width"], columns["param"], columns["base_width"]) == (512, "mup", 64)
    transformer = RunSpec(dataset="modadd", model="transformer", width=256, param="mup", base_width=64)
    assert dict(transformer.model_args)["d_model"] == 256 and transformer.at_width(64).model_width() == 64


def test_lrs_take_every_power_of_two_in_a_range():
    import nncmp
    from nncmp.config import arguments, request

    given = {"lrs": "2^-4..2^-1", "widths": "64,128"}
    request = request.build("compare", arguments.bind("compare", (), given, nncmp.compare.__signature__))
    assert request.config.grid.dims["lr"] == (0.0625, 0.125, 0.25, 0.5)


def test_a_sweep_over_depths_is_a_transfer_across_depth():
    depths = ((64,) * 2, (64,) * 4, (64,) * 8)
    grid = Grid(base=RunSpec(dataset="digits", hidden=depths[0], model_args={"residual": "depth-mup"}),
                dims={"hidden": depths, "lr": LRS}, seeds=1)
    rows = records(grid)  # width 64 throughout: the best rate is the construction's 2^-5 at every depth
    table = transfer.transfer(records_frame(rows), "final_val_loss")
    assert transfer.axis_of(records_frame(rows)) == "depth"
    assert list(table["depth"]) == [2, 4, 8] and set(table["width"]) == {64} and set(table["axis"]) == {"depth"}
    assert set(table["best_lr"]) == {2.0 ** -5} and table["slope"].iloc[0] == pytest.approx(0.0)
    # the residual scaling names the series (the width its model_args might hold would not)
    assert set(table["model_args"]) == {"residual=depth-mup"}
    assert transfer.verdicts(table)[0].startswith("adam sp: best rate 0.0312 at depth 2 → 0.0312 at 8, slope +0.00")


def test_rates_tied_on_accuracy_are_told_apart_by_the_validation_loss():
    grid = Grid(base=RunSpec(dataset="digits"), dims={"width": (64, 128), "lr": LRS[:4]}, seeds=1)
    frame = records_frame(records(grid))
    # every rate reaches accuracy 1: the loss (lowest at the largest of these four rates, 2^-9) decides
    frame["val_acc"] = frame["epoch"].map({0: 0.1, 1: 1.0})
    table = transfer.transfer(frame, "final_val_acc")
    assert set(table["best_lr"]) == {2.0 ** -9} and set(table["value"]) == {1.0}
