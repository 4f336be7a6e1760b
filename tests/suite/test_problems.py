"""Suite files: the built-in suites, a user's file, the checks of bad input, and writing targets back."""

import pytest

from nncmp.errors import SpecError
from nncmp.suite.problems import BUILTIN, load_suite, write_targets

pytestmark = pytest.mark.fast

TWO = """# my suite: comments stay when targets are written
[suite]
name = "mine"

[problems.a]  # the first
dataset = "digits"
hidden = [16]
epochs = 2
batch_size = 32

[problems.b]
dataset = "synthetic"
n = 200
epochs = 1
target = 0.8
"""


def write(tmp_path, text, name="s.toml"):
    path = tmp_path / name
    path.write_text(text)
    return path


def test_builtin_suites_read_and_every_default_problem_has_a_calibrated_target():
    default = load_suite("default")
    assert len(default.problems) == 7 and default.builtin
    assert not default.uncalibrated(), "the built-in suite ships calibrated targets"
    for key in ("date", "nncmp", "torch", "machine", "baselines", "seeds", "slack"):
        assert key in default.calibration
    assert set(default.calibration["problems"]) == {p.name for p in default.problems}
    assert all(0 < p.target <= 1 for p in default.problems)
    large = load_suite("large")
    # large extends default: its problems first, with the very same settings and targets
    assert large.problems[: len(default.problems)] == default.problems
    assert large.uncalibrated() == ["mnist5k-cnn", "fashion-mnist-mlp", "cifar10-cnn"]
    assert set(BUILTIN) == {"default", "large"}


def test_a_users_suite_file(tmp_path):
    suite = load_suite(write(tmp_path, TWO))
    assert suite.name == "mine" and [p.name for p in suite.problems] == ["a", "b"]
    a = suite.problem("a")
    assert a.spec.hidden == (16,) and a.spec.epochs == 2 and a.spec.batch_size == 32 and a.target is None
    assert suite.uncalibrated() == ["a"]
    assert suite.only(["b"]).problems == (suite.problem("b"),)
    assert suite.problem("b").reached(0.8) and not suite.problem("b").reached(0.79)


def test_a_users_model_file_is_found_beside_the_suite(tmp_path):
    (tmp_path / "net.py").write_text("import torch\nclass Net(torch.nn.Linear):\n    pass\n")
    suite = load_suite(write(tmp_path, '[problems.x]\ndataset = "digits"\nmodel = "net.py:Net"\ntarget = 0.5\n'))
    assert suite.problem("x").spec.model == f"{tmp_path / 'net.py'}:Net"


@pytest.mark.parametrize(("text", "message"), [
    ("[problems.a\n", "not valid TOML"),
    ("[suite]\nname = 'x'\n", "no problems"),
    ("[problems.a]\nepochs = 2\n", "needs a dataset"),
    ("[problems.a]\ndataset = 'digits'\noptimizer = 'adam'\n", "optimizer is the suite's to set"),
    ("[problems.a]\ndataset = 'digits'\nepoch = 2\n", "unknown setting"),
    ("[problems.a]\ndataset = 'digits'\ntarget = 'high'\n", "target must be a number"),
    ("[problems.a]\ndataset = 'digits'\ntarget = 93\n", "not a val accuracy"),
    ("[problems.a]\ndataset = 'digits'\nmetric = 'f1'\n", "metric must be one of"),
    ("[problems.a]\ndataset = 'digits'\nepochs = 0\n", "problem a: --epochs"),
    ("[problems.a]\ndataset = 'digits'\n[extra]\n", "unknown section"),
])
def test_bad_suite_files_say_what_and_where(tmp_path, text, message):
    path = write(tmp_path, text)
    with pytest.raises(SpecError, match=message) as e:
        load_suite(path)
    assert str(path) in str(e.value)


def test_unknown_suite_and_problem(tmp_path):
    with pytest.raises(SpecError, match="unknown suite 'nope'.*default, large"):
        load_suite("nope")
    with pytest.raises(SpecError, match="does not exist"):
        load_suite(tmp_path / "missing.toml")
    with pytest.raises(SpecError, match="has no problem 'zz'.*mnist5k-mlp"):
        load_suite("default").problem("zz")


def test_targets_are_written_into_the_file_keeping_its_comments(tmp_path):
    path = write(tmp_path, TWO)
    write_targets(path, {"a": 0.912345678, "b": 0.75}, {"seeds": 3, "problems": {"a": {"baseline": "adamw"}}})
    text = path.read_text()
    assert "# my suite: comments stay" in text and "# the first" in text
    suite = load_suite(path)
    assert suite.problem("a").target == 0.9123 and suite.problem("b").target == 0.75
    assert suite.calibration["seeds"] == 3 and suite.calibration["problems"]["a"]["baseline"] == "adamw"


def test_an_extending_suite_can_override_a_target(tmp_path):
    path = write(tmp_path, '[suite]\nextends = "default"\n[problems.digits-mlp]\ntarget = 0.5\n')
    suite = load_suite(path)
    assert suite.problem("digits-mlp").target == 0.5
    assert suite.problem("digits-mlp").spec == load_suite("default").problem("digits-mlp").spec
    write_targets(path, {"mnist5k-mlp": 0.7}, {})
    assert load_suite(path).problem("mnist5k-mlp").target == 0.7
