"""The hyperparameter table is the only list of hyperparameters: a row laid over a copy of it reaches the
command line's options, the run id, the default search space, tuning.csv's columns and a trial's run; and no
other module spells a list of them."""

from __future__ import annotations

import ast
import dataclasses
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from nncmp.cli.declared import declares, single
from nncmp.config import space
from nncmp.config.run import RunSpec, hyperparameter
from nncmp.registry import hyperparameters as hp
from nncmp.registry import optimizers as optim
from nncmp.results import schema

ROOT = Path(__file__).resolve().parents[2] / "nncmp"
TORCH_SGD = "torch:sgd"  # torch.optim.SGD: it has `dampening`, which nncmp's table has not (yet)


@pytest.fixture
def dampening(monkeypatch):
    """torch.optim.SGD's dampening as a new row (a linear range over [0, 0.5]), and a RunSpec with its field,
    declared as every hyperparameter field is: one line."""
    row = hp.Hyperparameter("dampening", hp.OPTIMIZER, "Dampening of SGD's momentum.", "0", ("dampening",),
                            ((hp.Spelling("dampening"),),), (hp.Search("dampening", 0.0, 0.5, "linear"),), low=0.0)
    monkeypatch.setattr(hp, "TABLE", (*hp.TABLE, row))
    optim._external.cache_clear()  # library entries read the table's names from their constructors
    yield dataclasses.make_dataclass("Spec", [("dampening", float | None, hyperparameter("dampening"))],
                                     bases=(RunSpec,), frozen=True)
    optim._external.cache_clear()


def test_a_new_row_reaches_the_options_the_id_the_space_and_the_columns(dampening):
    # The command line: compare's and train's hyperparameter options are built from optimizer_own().
    app = typer.Typer()
    app.command()(declares(single(dampening, hp.optimizer_own()))(lambda **kwargs: print(kwargs["dampening"])))
    shown = CliRunner().invoke(app, ["--help"], env={"COLUMNS": "200"}).output
    assert "--dampening" in shown and "Dampening of SGD's momentum." in shown
    assert CliRunner().invoke(app, ["--dampening", "0.5"]).output == "0.5\n"
    # The optimizer registry reads its default from torch.optim.SGD's constructor.
    assert optim.entry(TORCH_SGD).defaults["dampening"] == 0
    # The run id names it when it is not the optimizer's default.
    spec = dampening(optimizer=TORCH_SGD, dampening=0.25, momentum=0.9)
    assert "/dampening=0.25" in spec.config_id
    assert "dampening" not in dampening(optimizer=TORCH_SGD, dampening=0.0).config_id
    # The default space searches it, and a trial's number becomes the run's.
    searched = space.default_space(TORCH_SGD)
    assert (searched["dampening"].low, searched["dampening"].high, searched["dampening"].scaling) == (0.0, 0.5,
                                                                                                      "linear")
    assert space.apply(spec, searched, {"dampening": 0.125}).dampening == 0.125
    # tuning.csv: its column, after the table's others; a run's value in it; a row's value back into a run.
    assert schema.tuning_hyper_columns()[-1] == "dampening"
    assert space.columns_of(spec)["dampening"] == 0.25
    assert space.with_values(spec, {"lr": 0.1, "dampening": 0.5}).dampening == 0.5
    # The optimizers that do not have it do not search it.
    assert "dampening" not in space.default_space("adam")


def test_the_pair_is_two_columns():
    betas = hp.row("betas")
    assert betas.columns == ("beta1", "beta2")
    assert hp.values_of(betas, (0.8, 0.99)) == {"beta1": 0.8, "beta2": 0.99}
    assert hp.with_columns(betas, (0.9, 0.999), {"beta2": 0.95}) == (0.9, 0.95)
    assert betas.problem((0.9, 1.0), builtin=True) == "--betas must be two numbers in [0, 1), got 0.9,1.0"
    assert hp.row("eps").problem(-1.0, builtin=True) == "--eps must be >= 0, got -1"
    assert hp.row("eps").problem(-1.0, builtin=False) is None  # a library checks its own


def _names() -> set[str]:
    """The optimizers' own hyperparameters, their columns and space names. The rate and the warm-up are left
    out: they are run settings that lists of a run's fields (an engine's per-member settings, a command's
    options) name among others."""
    own = [h for h in hp.TABLE if h.belongs == hp.OPTIMIZER]
    return {n for h in own for n in (h.name, *h.columns)} | {s for s, (h, _, _) in hp.spellings().items() if h in own}


def test_no_other_module_lists_hyperparameters():
    """A literal list, tuple or set naming two or more of the optimizers' hyperparameters (or their columns or
    space names) anywhere in nncmp but the table is a copy of it."""
    names, copies = _names(), []
    for path in ROOT.rglob("*.py"):
        if path == ROOT / "registry" / "hyperparameters.py":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.List, ast.Tuple, ast.Set)):
                strings = {e.value for e in node.elts if isinstance(e, ast.Constant) and isinstance(e.value, str)}
                if len(strings & names) >= 2:
                    copies.append(f"{path.relative_to(ROOT.parent)}:{node.lineno} {sorted(strings & names)}")
    assert not copies, copies
