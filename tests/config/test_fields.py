"""Each option declared once: a field added to RunSpec (here to a subclass of it) appears on the command
line, in config.json's grid section and back, in the config id and in the record columns, with nothing
else edited."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from nncmp.cli.declared import declares, dimensions, grid, single, values
from nncmp.config.fields import declared, option
from nncmp.config.grid import Grid
from nncmp.config.run import RunSpec

pytestmark = pytest.mark.fast


@dataclasses.dataclass(frozen=True)
class Wider(RunSpec):
    """RunSpec with one more grid option, declared as the built-in ones are."""

    width_mult: float = option(1.0, flag="--width-mult", grid="--width-mults", key="width_mults", item=float,
                               kind="numbers", column="width_mult", help="Multiply every hidden width.",
                               label=lambda v: None if v == 1.0 else f"wm={v:g}",
                               check=lambda v: None if v > 0 else f"--width-mult must be > 0, got {v:g}")


def test_a_new_field_is_an_option_of_train_and_a_grid_dimension_of_compare():
    app = typer.Typer()
    seen: dict[str, Any] = {}

    @app.command()
    @declares(single(Wider, ["width_mult"]))
    def train(**given: Any) -> None:
        seen["train"] = values(Wider, given, ["width_mult"])

    @app.command()
    @declares(grid(Wider, ["optimizer", "width_mult"]))
    def compare(**given: Any) -> None:
        seen["compare"] = dimensions(Wider, given, ["optimizer", "width_mult"])

    runner = CliRunner()
    assert runner.invoke(app, ["train", "--width-mult", "2"]).exit_code == 0
    assert seen["train"] == {"width_mult": 2.0}
    help_text = runner.invoke(app, ["compare", "--help"]).output
    assert "--width-mults" in help_text and "Multiply every hidden width." in help_text
    assert runner.invoke(app, ["compare", "--width-mults", "1,2", "--opts", "adam"]).exit_code == 0
    assert seen["compare"] == {"optimizer": ("adam",), "width_mult": (1.0, 2.0)}


def test_a_new_field_is_in_the_id_the_columns_the_json_and_its_checks():
    base = Wider(dataset="digits")
    the_grid = Grid(base=base, dims={"optimizer": ("adam",), "init": ("he",), "width_mult": (1.0, 2.0)}, seeds=1)
    runs = the_grid.runs()
    assert [r.width_mult for r in runs] == [1.0, 2.0]
    assert runs[1].config_id == "adam/he-normal/lr=default/bs=default/wm=2"
    assert runs[1].columns()["width_mult"] == 2.0
    doc = the_grid.to_json()
    assert doc["width_mults"] == [1.0, 2.0]
    again = Grid.from_json(base, doc)
    assert again.runs() == runs
    with pytest.raises(Exception, match="--width-mult must be > 0"):
        Wider(width_mult=-1.0)
    assert "width_mult" in declared(Wider) and "width_mult" not in declared(RunSpec)


def test_an_unknown_choice_names_the_closest_ones():
    """One helper for every option that takes one of a list of names: the closest (difflib's ratio, case
    ignored) first, then every choice."""
    from nncmp.config.fields import one_of
    from nncmp.registry.closest import closest, unknown

    # ratio 2·matches / total length: xavier 2·5/11 = 0.91; xavier-normal 2·5/18 = 0.56, below the cutoff 0.6
    assert closest("xaver", ["he-normal", "xavier-normal", "xavier"]) == ["xavier"]
    assert closest("ADAM", ["adam", "sgd"]) == ["adam"]  # case ignored, the choice's own spelling returned
    assert closest("resnet", ["mlp", "cnn", "logreg"]) == []
    assert unknown("init", "xaver", ["he", "xavier"]) == \
        "unknown init 'xaver'; closest: xavier; choose from: he, xavier"
    assert unknown("model", "resnet", ["mlp", "cnn"]) == "unknown model 'resnet'; choose from: mlp, cnn"
    assert one_of("--x", ("epochs", "steps"))("step") == "--x: unknown value 'step'; closest: steps; choose from: " \
                                                       "epochs, steps"
    assert one_of("--x", ("epochs", "steps"))("epochs") is None
