"""The Python API checks every argument's type and range in the request builder, as the command line's options
are: a wrong value raises nncmp's own exception (never Python's TypeError, AttributeError or ValueError from deep
inside, never a comparison whose every run failed) naming the option, before the command starts and so before
anything is written. The fast tier's tests stop each command where it would start (nothing trains, torch is not
imported); the others read data or register a model, which imports torch."""

from __future__ import annotations

import math
import types
import typing
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest

import nncmp
from nncmp.config import arguments
from nncmp.errors import NncmpError, SpecError, StoreError

FAST = pytest.mark.fast


class Reached(Exception):
    """The command was called: every check of the request builder had passed."""


@pytest.fixture
def stopped(monkeypatch):
    """Each command replaced by one that stops where it would start (nothing trains, nothing is written)."""
    import nncmp.commands.compare
    import nncmp.commands.inspect
    import nncmp.commands.suite
    import nncmp.commands.train

    def reached(*args, **kwargs):
        raise Reached

    for module, name in [(nncmp.commands.compare, "compare"), (nncmp.commands.train, "train"),
                         (nncmp.commands.suite, "run_suite"), (nncmp.commands.suite, "calibrate"),
                         (nncmp.commands.inspect, "inspect")]:
        monkeypatch.setattr(module, name, reached)


def bases(out: Path) -> dict[str, tuple[Callable, dict]]:
    """Each API function with arguments it takes (and would run)."""
    common = {"out": out, "plot": False}
    return {
        "compare": (nncmp.compare, {"opts": ["sgd"], "inits": ["he"], "dataset": "digits", "seeds": 1, "epochs": 1,
                                    "progress": False, **common}),
        "train": (nncmp.train, {"optimizer": "sgd", "dataset": "digits", "hidden": (8,), "epochs": 1,
                                "progress": False, **common}),
        "suite": (nncmp.compare_suite, {"opts": ["sgd"], "progress": False, **common}),
        "inspect": (nncmp.inspect, {"inits": ["he"], "dataset": "digits", **common}),
    }


def kinds(annotation) -> set:
    """What an annotation accepts, read independently of the code under test: int, float, str, bool, None, Path,
    dict, list, callable, Any."""
    if annotation is typing.Any:
        return {typing.Any}
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        return set().union(*(kinds(a) for a in typing.get_args(annotation)))
    if annotation is type(None) or annotation is None:
        return {None}
    if origin is dict:
        return {dict}
    if origin in (list, tuple, Sequence):
        return {list}
    if origin is Callable or annotation is Callable:
        return {callable}
    return {annotation}


def wrong_values(annotation) -> list:
    """Values of the wrong type for an annotation: text for a number, a float for an integer, a bool for either,
    None where a value is required, a list of mixed types, a dict where a list is asked, a set, an object."""
    k = kinds(annotation)
    if typing.Any in k:
        return []
    out: list = [["x", 1, {}], {1, 2}, object()]
    if not k & {str, Path}:
        out.append("ten")
    if float not in k:
        out.append(1.5)
    if bool not in k:
        out.append(True)
    if not k & {int, float}:
        out.append(7)
    if None not in k:
        out.append(None)
    if dict not in k:
        out.append({"k": 1})
    if float in k:
        out += [math.nan, math.inf]
    if list in k and int in k and float not in k:  # a list of integers (batch sizes, depths, architectures)
        out.append([8, 1.5])
    return out


# Out of range: (API function's argument, value), each refused as its option is on the command line.
OUT_OF_RANGE = {
    "epochs": [0, -1], "seeds": [0, -1], "seed": [-1], "steps": [0], "eval_every": [0], "n": [0], "classes": [0],
    "block_size": [0], "batch_size": [0], "batch_sizes": [[0], [32, -1]], "trials": [0], "studies": [0],
    "depth": [0], "width": [0], "depths": [[0], [2, -1]], "jobs": [0], "group_size": [0], "retries": [-1],
    "threads": [0], "track_every": [0], "lrs": [[0], [0.1, -0.1]], "lr": [0, -1], "dropouts": [[1.5], [-0.1]],
    "dropout": [1.0, -0.1], "label_smoothing": [1.0, -0.1], "clip_grad_norm": [0, -1], "momentum": [-0.1],
    "momenta": [[-0.1]], "weight_decay": [-1], "weight_decays": [[-1]], "eps": [0, -1], "epsilons": [[0]],
    "alpha": [-0.1], "beta2s": [[1.5]], "betas": [(0.9, 1.5)], "warmup": [-1], "slack": [0, 1.5],
    "gpus_per_task": [0, -1], "hiddens": [[(0,)]], "hidden": [0, (8, 0)], "inits": [[]], "opts": [[]],
    "problems": [[]], "baselines": [[]],
}
# inspect takes the network's settings as **run; their types are RunSpec's.
INSPECT_RUN = {"act": str, "hidden": int | tuple[int, ...] | str | None, "batchnorm": bool,
               "target_column": str | None, "task": str | None, "seed": int, "n": int | None}


def cases() -> list[tuple[str, str, object]]:
    out = []
    for command, function in [("compare", nncmp.compare), ("train", nncmp.train), ("suite", nncmp.compare_suite),
                              ("inspect", nncmp.inspect)]:
        params = dict(typing.get_type_hints(function, localns={"InspectResult": object})
                      if command == "inspect" else
                      {n: p.annotation for n, p in function.__signature__.parameters.items()})
        params.pop("return", None)
        if command == "inspect":
            params.pop("run")
            params.update(INSPECT_RUN)
        for name, annotation in params.items():
            if name in ("calibrate", "resume", "overwrite") and command == "suite":
                continue  # they choose another path through the builder; their types are checked below
            values = wrong_values(annotation) + OUT_OF_RANGE.get(name, [])
            out += [(command, name, value) for value in values]
    return out


CASES = cases()


def option_names(command: str, name: str) -> set[str]:
    """How a message may name the argument: its option (a grid's one-value option too), or its Python name."""
    item = next((i for i in arguments.COMMANDS.get(command, []) if i.name == name), None)
    names = {arguments.flag_of(name, item), name}
    if isinstance(item, (arguments.Dim, arguments.Field)) and item.declared.flag:
        names.add(item.declared.flag)
    if name in ("inits", "model_args", "hidden", "depth", "width", "depths"):
        names |= {"--init", "--model-arg", "--hidden", "--depth", "--width"}
    return names


@FAST
def test_the_valid_arguments_reach_each_command(stopped, tmp_path):
    for function, base in bases(tmp_path / "out").values():
        with pytest.raises(Reached):
            function(**base)


ARGUMENTS = sorted({(c, n) for c, n, _ in CASES})


@FAST
@pytest.mark.parametrize(("command", "name"), ARGUMENTS, ids=[f"{c}-{n}" for c, n in ARGUMENTS])
def test_every_wrong_argument_is_an_nncmp_error_naming_its_option_before_the_command_starts(
        stopped, tmp_path, command, name):
    function, base = bases(tmp_path / "out")[command]
    for value in [v for c, n, v in CASES if (c, n) == (command, name)]:
        with pytest.raises(NncmpError) as caught:
            function(**{**base, name: value})
        message = str(caught.value)
        assert "\n" not in message and any(n in message for n in option_names(command, name)), (value, message)
        assert not (tmp_path / "out").exists()


@FAST
def test_every_argument_has_wrong_values_to_try():
    """Only `data` takes anything (its objects are checked when they are read); every other argument's
    annotation is narrow enough to have wrong values."""
    tried = {(c, n) for c, n, _ in CASES}
    for command, function in [("compare", nncmp.compare), ("train", nncmp.train), ("suite", nncmp.compare_suite)]:
        untried = {n for n in function.__signature__.parameters if (command, n) not in tried}
        assert untried <= {"data", "calibrate", "resume", "overwrite"}, untried


@FAST
@pytest.mark.parametrize(("given", "message"), [
    ({"epochs": "ten"}, "--epochs must be an integer, got 'ten'"),
    ({"epochs": 1.5}, "--epochs must be an integer, got 1.5"),
    ({"epochs": True}, "--epochs must be an integer, got True"),
    ({"opts": 5}, "--opts: 5 is not a list of optimizer names"),
    ({"lrs": [0.1, "fast"]}, "--lrs: [0.1, 'fast'] is not a list of numbers (or 'auto')"),
    ({"model_args": [1, 2]}, "--model-arg must be a dict with string keys, a list of strings or None, got [1, 2]"),
    ({"space": 42, "tune": "random"}, "--space must be a string, a Path, a dict with string keys or None, got 42"),
    ({"seeds": None}, "--seeds must be an integer, got None"),
    ({"progress": 1}, "progress= must be True or False, got 1"),
    ({"inits": {"he": 1}}, "--inits: {'he': 1} is not a list of init names"),
])
def test_the_reported_faults_are_one_line_spec_errors(stopped, tmp_path, given, message):
    function, base = bases(tmp_path / "out")["compare"]
    with pytest.raises(SpecError) as caught:
        function(**{**base, **given})
    assert str(caught.value) == message


@FAST
@pytest.mark.parametrize("given", [{"seeds": 0}, {"seeds": 0, "calibrate": True}, {"calibrate": 1},
                                   {"resume": 1}, {"overwrite": "yes"}, {"seeds": True}, {"by": 5}])
def test_compare_suite_refuses_what_the_suite_command_refuses(stopped, tmp_path, given):
    function, base = bases(tmp_path / "out")["suite"]
    with pytest.raises(SpecError):
        function(**{**base, **given})
    assert not (tmp_path / "out").exists()


def test_what_the_docs_accept_is_accepted(stopped, tmp_path):
    """Lists or comma-separated text for grids, tuples, numpy's numbers and arrays, Paths, one value for a
    grid, an int as one hidden layer. (Not in the fast tier: checking opt_args and a model function imports
    torch.)"""
    import numpy as np

    function, base = bases(tmp_path / "out")["compare"]
    for given in [{"lrs": "0.1,0.01"}, {"lrs": (0.1, 0.01)}, {"lrs": np.array([0.1, 0.01])}, {"lrs": 0.1},
                  {"lrs": "auto"}, {"lr": np.float32(0.1)}, {"epochs": np.int64(2)}, {"seeds": np.int32(2)},
                  {"batch_sizes": [np.int64(32), 64]}, {"hiddens": [(8,), [8, 8], "16,16", "8x3", 16]},
                  {"hidden": 8}, {"hidden": None}, {"norms": [True, "none"], "batch_sizes": [32]},
                  {"dataset": Path("digits.npz")},
                  {"data_dir": tmp_path}, {"opt_args": {"nesterov": True}}, {"opt_args": ["nesterov=true"]},
                  {"space": {"sgd": {"lr": [0.1, 0.01]}}, "tune": "random"}, {"target": 1},
                  {"resume": True}, {"plot": np.bool_(False)}]:
        with pytest.raises(Reached):
            function(**{**base, **given})
    train, base = bases(tmp_path / "out")["train"]
    for given in [{"hidden": 8}, {"hidden": [8, 8]}, {"hidden": "8,8"}, {"betas": (0.9, 0.99), "optimizer": "adam"},
                  {"betas": "0.9,0.99", "optimizer": "adam"},
                  {"model": lambda input_shape, n_classes: None, "hidden": None}, {"epochs": np.int16(1)}]:
        with pytest.raises(Reached):
            train(**{**base, **given})


@FAST
def test_numpy_values_arrive_as_the_command_lines_python_numbers(tmp_path):
    """config.json is JSON: a numpy number must not reach it."""
    import numpy as np

    from nncmp.config import request

    values = arguments.bind("compare", (), {"epochs": np.int64(2), "lrs": np.array([0.1, 0.5]), "target": 1},
                            nncmp.compare.__signature__)
    config = request.build("compare", values).config
    assert type(config.grid.base.epochs) is int and config.grid.dims["lr"] == (0.1, 0.5)
    assert all(type(lr) is float for lr in config.grid.dims["lr"]) and type(config.target) is float


@FAST
def test_load_refuses_a_file_a_missing_folder_and_a_number(tmp_path):
    (tmp_path / "file.txt").write_text("x")
    for folder, error in [(tmp_path / "file.txt", StoreError), (tmp_path / "missing", StoreError), (5, SpecError)]:
        with pytest.raises(error, match="is not a results folder|must be a string or a Path"):
            nncmp.load(folder)


@FAST  # the real commands: the builder refuses before any is imported
@pytest.mark.parametrize("given", [{"epochs": "ten"}, {"epochs": 1.5}, {"opts": 5}, {"lrs": [0.1, "fast"]},
                                   {"model_args": [1, 2]}, {"space": 42, "tune": "random"}, {"epochs": True}])
def test_the_reported_faults_write_nothing_when_the_command_is_real(tmp_path, given):
    function, base = bases(tmp_path / "out")["compare"]
    with pytest.raises(SpecError):
        function(**{**base, **given})
    assert not (tmp_path / "out").exists()


def test_data_of_the_wrong_shape_is_a_data_error_before_anything_is_written(tmp_path):
    """`data` takes any object (checked where it is read, registry/user_data.py); still nncmp's error."""
    from nncmp.errors import DataError

    function, base = bases(tmp_path / "out")["compare"]
    for data in [5, (1, 2, 3), {"a": 1}]:
        with pytest.raises(DataError, match="expected|a dict needs"):
            function(**{**base, "dataset": "mnist5k", "data": data})
        assert not (tmp_path / "out").exists()


def test_a_comparisons_html_path_of_the_wrong_type_is_a_spec_error(tmp_path):
    with pytest.raises(SpecError, match="html: the path must be a string, a Path or None, got 5"):
        nncmp.api.Comparison(tmp_path, None, None, "final_val_acc", 0.9, {}).html(5)
