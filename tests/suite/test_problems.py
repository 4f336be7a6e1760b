"""Suite files: the built-in suites, a user's file, the checks of bad input, and writing targets back."""

from dataclasses import replace

import pytest

from nncmp.config.run import RunSpec
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


NEW = ("modadd-transformer", "mqar-transformer")  # the default suite's token problems, on budgets of steps


def test_builtin_suites_read_and_every_default_problem_has_a_calibrated_target():
    default = load_suite("default")
    assert len(default.problems) == 9 and default.builtin
    assert [p.name for p in default.problems][-2:] == list(NEW)
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
    ("[problems.a]\ndataset = 'digits'\nsteps = 100\neval_every = 500\n", "more than --steps 100"),
    ("[problems.a]\ndataset = 'digits'\neval_every = 5\n", "give --steps too"),
    ("[problems.a]\ndataset = 'digits'\nsteps = 100\nepochs = 2\n", "epochs or as steps, not both"),
    ("[problems.a]\ndataset = 'digits'\nsteps = 1.5e3\n", "steps must be a whole number"),
    ("[problems.a]\ndataset = 'digits'\nsteps = '1500'\n", "steps must be a whole number"),
    ("[problems.a]\ndataset = 'modadd'\nmodel = 'transformer'\ndata_args = 31\n", "data_args must be a table"),
    ("[problems.a]\ndataset = 'modadd'\nmodel = 'transformer'\ndata_args = { q = 31 }\n",
     "the dataset modadd takes no argument 'q'"),
    ("[problems.a]\ndataset = 'modadd'\nmodel = 'transformer'\nmodel_args = { width = 3 }\n",
     "transformer takes no argument 'width'"),
    ("[problems.a]\ndataset = 'modadd'\nmodel = 'mlp'\n", "token ids"),
    ("[problems.a]\ndataset = 'digits'\nbaseline_settings = { adamw = 1.0 }\n", "a table of tables"),
    ("[problems.a]\ndataset = 'digits'\nbaseline_settings = { adamw = { lr = 0.1 } }\n",
     "--calibrate tunes the rate"),
    ("[problems.a]\ndataset = 'digits'\nbaseline_settings = { adamw = { depth = 2 } }\n",
     "baseline_settings.adamw: depth cannot be set here"),
    ("[problems.a]\ndataset = 'digits'\nbaseline_settings = { nesterov = { betas = [0.9, 0.95] } }\n",
     "baseline_settings.nesterov: --betas does not apply to nesterov"),
    ("[problems.a]\ndataset = 'digits'\nbaseline_settings = { nosuchopt = { weight_decay = 1 } }\n",
     "unknown optimizer 'nosuchopt'"),
    ("[problems.a]\ndataset = 'digits'\nstep = 100\n", "unknown setting.*step; known settings: .*steps"),
])
def test_bad_suite_files_say_what_and_where(tmp_path, text, message):
    path = write(tmp_path, text)
    with pytest.raises(SpecError, match=message) as e:
        load_suite(path)
    assert str(path) in str(e.value) and "\n" not in str(e.value)  # one line


def test_the_token_problems_have_step_budgets_and_data_and_model_args():
    default = load_suite("default")
    modadd, mqar = (default.problem(n) for n in NEW)
    assert modadd.spec.dataset == "modadd" and modadd.spec.model == "transformer"
    assert dict(modadd.spec.data_args) == {"p": 31, "train_fraction": 0.7}
    assert dict(modadd.spec.model_args) == {"n_layer": 1, "d_model": 64}
    assert (modadd.spec.steps, modadd.spec.eval_every) == (1500, 50) and modadd.step_budget
    assert modadd.budget_text() == "1500 steps"
    assert mqar.spec.dataset == "mqar" and mqar.spec.model == "transformer" and mqar.step_budget
    assert dict(mqar.spec.data_args) == {"vocab": 32, "seq_len": 16, "pairs": 4}
    assert dict(mqar.spec.model_args) == {"n_layer": 2, "d_model": 32}
    assert mqar.budget_text() == "450 steps"
    assert not default.problem("digits-mlp").step_budget and default.problem("digits-mlp").budget_text() == "6 epochs"
    for p in (modadd, mqar):
        # The runs the suite makes of it are valid RunSpecs, resolved as on its data (modadd: 673 pairs of 961 to
        # train on; mqar: 2,000 sequences) and as tuning's holdout split resolves them.
        for opt in ("adamw", "sgd", "nesterov", "momentum", "adam"):
            for n_train in ({"modadd": 673, "mqar": 2000}[p.spec.dataset], 400):
                spec = RunSpec(**{**p.spec.to_dict(), "optimizer": opt}).resolved(n_train)
                assert spec.steps == p.spec.steps and spec.batch_size == 64 and spec.run_id
    # --calibrate's AdamW on modadd runs with weight decay 1 (nothing groks in the budget without a strong decay);
    # the other baselines, and every optimizer the suite itself runs, keep their defaults.
    assert modadd.baseline_spec("adamw").weight_decay == 1.0
    assert modadd.baseline_spec("AdamW").weight_decay == 1.0
    assert modadd.baseline_spec("nesterov").weight_decay is None and modadd.spec.weight_decay is None
    assert mqar.baseline_spec("adamw") == replace(mqar.spec, optimizer="adamw")
    calibrated = default.calibration["problems"]
    assert calibrated["modadd-transformer"]["settings"] == {"weight_decay": 1.0}
    assert calibrated["modadd-transformer"]["baseline"] == "adamw"


def test_a_step_budget_in_a_users_file_and_through_extends(tmp_path):
    text = ("[problems.m]\ndataset = 'modadd'\nmodel = 'transformer'\ndata_args = { p = 23, train_fraction = 0.5 }\n"
            "model_args = { n_layer = 1, d_model = 64 }\nsteps = 3000\neval_every = 100\nbatch_size = 264\n"
            "baseline_settings = { adamw = { weight_decay = 1.0, betas = [0.9, 0.98] } }\ntarget = 0.95\n")
    m = load_suite(write(tmp_path, text)).problem("m")
    assert m.spec == RunSpec(dataset="modadd", data_args={"p": 23, "train_fraction": 0.5}, model="transformer",
                             model_args={"n_layer": 1, "d_model": 64}, steps=3000, eval_every=100, batch_size=264)
    assert m.baseline_spec("adamw").betas == (0.9, 0.98)
    child = write(tmp_path, "[suite]\nextends = 's.toml'\n[problems.m]\ntarget = 0.9\n", "child.toml")
    again = load_suite(child).problem("m")
    assert again.spec == m.spec and again.baseline_settings == m.baseline_settings and again.target == 0.9


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


# Issue 30: bad suite files that went through, or ended in a traceback after training. Each is one line naming
# the file, the problem and the setting, raised while the file is read (so before anything is written).
@pytest.mark.parametrize(("setting", "message"), [
    ("epochs = 'two'", "problem a: epochs must be a whole number, got 'two'"),  # was: '>=' not supported ...
    ("batch_size = 'two'", "problem a: batch_size must be a whole number, got 'two'"),
    ("batch_size = 1.5", "problem a: batch_size must be a whole number, got 1.5"),  # was accepted
    ("batch_size = true", "problem a: batch_size must be a whole number, got True"),  # was accepted
    ("batchnorm = 'yes'", "problem a: batchnorm must be true or false, got 'yes'"),  # was accepted
    ("dropout = 'x'", "problem a: dropout must be a number, got 'x'"),
    ("hidden = 'x'", "problem a: hidden must be a list of whole numbers, got 'x'"),
    ("hidden = [8, true]", "problem a: hidden must be a list of whole numbers"),
    ("n = '5'", "problem a: n must be a whole number, got '5'"),
    ("act = 3", "problem a: act must be text, got 3"),
    ("model = 5", "problem a: model must be text, got 5"),  # was: AttributeError
    ("clip_grad_norm = 'x'", "problem a: clip_grad_norm must be a number, got 'x'"),
    ("description = 5", "problem a: description must be text, got 5"),
    ("baseline_settings = { adamw = { weight_decay = 'x' } }",
     "problem a: baseline_settings.adamw: weight_decay must be a number, got 'x'"),
    ("baseline_settings = { adamw = { betas = [0.9] } }", "baseline_settings.adamw: betas must be a list of 2 numbers"),
])
def test_every_setting_of_a_suite_file_has_its_type_checked(tmp_path, setting, message):
    path = write(tmp_path, f"[problems.a]\ndataset = 'digits'\n{setting}\n")
    with pytest.raises(SpecError) as e:
        load_suite(path)
    assert message in str(e.value) and str(path) in str(e.value) and "\n" not in str(e.value)


@pytest.mark.parametrize(("name", "message"), [
    ('""', "a problem has an empty name"),  # was: refused after config.json was written, as "holds an nncmp suite"
    ('"a\\u0000b"', "cannot hold '/', '\\' or control characters"),  # was: a traceback after training
    ('"a\\tb"', "control characters"),
    ('"' + "x" * 300 + '"', "has a name of 300 characters"),
    ('"a\\\\b"', "cannot hold '/', '\\'"),
    ('".hidden"', "or start with '.'"),
    ('"times.csv"', "beside the suite's own files"),  # was: IsADirectoryError once the problem had trained
    ('"config.json"', "beside the suite's own files"),
    ('"Suite.CSV"', "beside the suite's own files"),  # one file to a file system that ignores case
    ('"suite.toml"', "beside the suite's own files"),
    ('"weights"', "beside the suite's own files"),  # --overwrite removes a folder of that name
    ('"curve.png"', "beside the suite's own files"),  # --overwrite removes figures
])
def test_a_problem_name_must_make_a_folder_of_its_own(tmp_path, name, message):
    path = write(tmp_path, f"[problems.{name}]\ndataset = 'digits'\n")
    with pytest.raises(SpecError) as e:
        load_suite(path)
    assert message in str(e.value) and "\n" not in str(e.value) and "\x00" not in str(e.value)
    assert len(str(e.value)) < 400


def test_two_problems_differing_only_in_case_are_refused(tmp_path):
    path = write(tmp_path, "[problems.mlp]\ndataset = 'digits'\n[problems.MLP]\ndataset = 'digits'\n")
    with pytest.raises(SpecError, match="problems mlp and MLP differ only in case"):
        load_suite(path)


def test_a_suite_that_extends_itself_or_a_cycle_is_refused(tmp_path):
    itself = write(tmp_path, "[suite]\nextends = 'self.toml'\n[problems.a]\ndataset = 'digits'\n", "self.toml")
    with pytest.raises(SpecError, match=r"extends self.toml, which extends it again \(self.toml → self.toml\)"):
        load_suite(itself)  # was: RecursionError
    write(tmp_path, "[suite]\nextends = 'two.toml'\n[problems.a]\ndataset = 'digits'\n", "one.toml")
    write(tmp_path, "[suite]\nextends = 'one.toml'\n[problems.b]\ndataset = 'digits'\n", "two.toml")
    with pytest.raises(SpecError, match=r"one.toml → two.toml → one.toml"):
        load_suite(tmp_path / "one.toml")
    with pytest.raises(SpecError, match="extends must name a built-in suite"):
        load_suite(write(tmp_path, "[suite]\nextends = 3\n[problems.a]\ndataset = 'digits'\n"))
    # a chain that ends is read: a file extending one that extends a built-in suite
    write(tmp_path, "[suite]\nextends = 'default'\n[problems.mine]\ndataset = 'digits'\n", "mid.toml")
    top = write(tmp_path, "[suite]\nextends = 'mid.toml'\n[problems.top]\ndataset = 'digits'\n", "top.toml")
    names = [p.name for p in load_suite(top).problems]
    assert names[-2:] == ["mine", "top"] and "mnist5k-mlp" in names


def test_problems_listed_twice_are_refused():
    with pytest.raises(SpecError, match="--problems lists digits-mlp more than once"):
        load_suite("default").only(["digits-mlp", "deep-tanh", "digits-mlp"])  # was: accepted
