"""One request builder for both faces: every option of compare, train and suite is an argument of nncmp.compare,
nncmp.train and nncmp.compare_suite by the same name with the same default, and the same values give the
same request."""

from __future__ import annotations

import inspect
from pathlib import Path

import pytest
from typer.main import get_command

import nncmp
from nncmp.cli.app import app
from nncmp.config import arguments, request
from nncmp.errors import SpecError

CLI_ONLY = {"json_out", "verbose", "quiet", "wide", "list_problems"}  # how much is printed; suite --list
API_ONLY = {"data", "progress"}  # Python objects; progress on stderr (the command line has --quiet)
FACES = [("compare", nncmp.compare), ("transfer", nncmp.transfer), ("train", nncmp.train),
         ("suite", nncmp.compare_suite)]


@pytest.mark.parametrize(("command", "function"), FACES)
def test_every_option_is_an_argument_with_the_same_default(command, function):
    cli = {p.name: p.default for p in get_command(app).commands[command].params if p.name not in CLI_ONLY}
    api = {name: p.default for name, p in inspect.signature(function).parameters.items() if name not in API_ONLY}
    assert list(cli) == list(api)  # the same names, in --help's order
    assert cli == api
    assert all(f"\n    {name}: " in function.__doc__ for name in cli)  # each documented


def test_compare_takes_depths_and_resume_a_folder():
    given = {"depths": "2,3", "width": 8, "resume": Path("r")}
    values = arguments.bind("compare", (), given, nncmp.compare.__signature__)
    asked = request.build("compare", values)
    assert asked.config.grid.dims["hidden"] == ((8, 8), (8, 8, 8))
    assert (asked.out, asked.resume) == (Path("r"), True)


def test_text_and_python_values_give_the_same_request():
    def built(**given):
        return request.build("compare", arguments.bind("compare", (), given, nncmp.compare.__signature__))

    text = built(opts="sgd,adam", lrs="0.1,0.01", hiddens="16;8,8", betas="0.8,0.99", opt_args=["amsgrad=true"])
    python = built(opts=["sgd", "adam"], lrs=[0.1, 0.01], hiddens=[(16,), (8, 8)], betas=(0.8, 0.99),
                   opt_args={"amsgrad": True})
    assert text == python
    assert text.config.grid.hyper == {"betas": (0.8, 0.99)}
    assert built(lr=0.1) == built(lrs="0.1")  # --lr is --lrs' one-value alias on both faces


@pytest.mark.parametrize(("given", "message"), [
    ({"hiden": "16"}, "unknown argument 'hiden'; did you mean: hidden"),
    ({"seeds": 0}, "--seeds must be >= 1, got 0"),
    ({"depths": "2", "depth": 2}, "--depths gives the architectures"),
    ({"resume": "a", "out": "b"}, "--resume DIR continues DIR"),
    ({"trials": 4}, "--trials applies only with --tune"),
    ({"lr": 0.1, "lrs": "0.2"}, "lr= and lrs= are the same argument"),
])
def test_bad_arguments_are_spec_errors(given, message):
    with pytest.raises(SpecError, match=message):
        request.build("compare", arguments.bind("compare", (), given, nncmp.compare.__signature__))


def test_suite_seeds_default_to_the_suites_on_resume():
    values = arguments.bind("suite", (), {"resume": True, "out": "s"}, nncmp.compare_suite.__signature__)
    asked = request.build("suite", values)
    assert asked.seeds is None and asked.resume  # the suite's own, not 3
    with pytest.raises(SpecError, match="--seeds must be >= 1"):
        request.build("suite", {**values, "seeds": 0})
    calibrate = request.build("suite", {**values, "calibrate": True, "baselines": ["adam"]})
    assert isinstance(calibrate, request.CalibrateRequest) and calibrate.baselines == ("adam",)
