"""Search spaces: derived from what each optimizer takes (conditional), read from AlgoPerf-shaped files,
and every bad file refused in one line before training."""

import json

import pytest

from nncmp.config.run import RunSpec
from nncmp.config.space import apply, check_space, default_space, load_space, space_for
from nncmp.errors import SpecError


def test_each_optimizer_gets_only_the_hyperparameters_it_has():
    names = {o: set(default_space(o)) for o in ("sgd", "momentum", "adam", "adamw", "rmsprop", "lion")}
    assert names["sgd"] == {"learning_rate", "weight_decay"}  # momentum 0 by default: it stays plain SGD
    assert names["momentum"] == {"learning_rate", "one_minus_momentum", "weight_decay"}
    assert names["adam"] == names["adamw"] == names["lion"] == {"learning_rate", "one_minus_beta1",
                                                                "one_minus_beta2", "weight_decay"}
    assert names["rmsprop"] == {"learning_rate", "weight_decay"}  # alpha and eps only from a space file
    assert "warmup_factor" in default_space("adam", "warmup-cosine") and "warmup_factor" not in default_space("adam")


def test_the_default_bounds_are_the_documented_ones():
    adam = default_space("adam")
    lr = adam["learning_rate"]
    assert (lr.low, lr.high, lr.scaling) == (3.16e-05, 0.0316, "log")  # 3 decades around 1e-3
    assert (adam["one_minus_beta1"].low, adam["one_minus_beta1"].high) == (1e-3, 1.0)
    assert (adam["one_minus_beta2"].low, adam["one_minus_beta2"].high) == (1e-4, 1e-1)
    assert (adam["weight_decay"].low, adam["weight_decay"].high) == (1e-5, 1e-1)
    assert default_space("lion")["learning_rate"].low == pytest.approx(1e-4 / 10 ** 1.5, rel=1e-2)


def test_a_trial_sets_the_runs_hyperparameters_rounded():
    spec = RunSpec(optimizer="adam", dataset="digits").resolved(1000)
    space = default_space("adam")
    tuned = apply(spec, space, {"learning_rate": 0.0012345, "one_minus_beta1": 0.123456, "one_minus_beta2": 0.00212,
                                "weight_decay": 3.3333e-4})
    assert tuned.lr == 0.00123 and tuned.betas == (0.877, 0.99788) and tuned.weight_decay == 0.000333
    assert tuned.config_id.endswith("/betas=0.877,0.99788/weight_decay=0.000333")


def test_a_space_file_replaces_the_defaults_it_names(tmp_path):
    path = tmp_path / "space.json"
    path.write_text(json.dumps({"learning_rate": {"min": 1e-4, "max": 1e-2, "scaling": "log"},
                                "adam": {"beta1": [0.8, 0.9], "eps": {"min": 1e-9, "max": 1e-6, "scaling": "log"}}}))
    doc = load_space(path, ["adam", "sgd"], ["constant"])
    adam, sgd = space_for("adam", "constant", doc), space_for("sgd", "constant", doc)
    assert adam["learning_rate"].high == 1e-2 and sgd["learning_rate"].high == 1e-2
    assert "one_minus_beta1" not in adam and adam["beta1"].values == (0.8, 0.9) and "eps" in adam
    assert "beta1" not in sgd and "eps" not in sgd
    toml = tmp_path / "space.toml"
    toml.write_text('[adamw]\nweight_decay = [0.0, 0.01]\n')
    assert space_for("adamw", "constant", load_space(toml, ["adamw"], ["constant"]))["weight_decay"].values == (0, 0.01)


@pytest.mark.parametrize("doc, message", [
    ({"learning_rate": {"min": 1e-2, "max": 1e-3, "scaling": "log"}}, "min 0.01 must be below max 0.001"),
    ({"learning_rate": {"min": 0, "max": 1e-3, "scaling": "log"}}, "a log scale needs min > 0"),
    ({"weight_decay": []}, "an empty list of values"),
    ({"dropout_rate": [0.1]}, "is neither a hyperparameter"),
    ({"adam": {"dropout_rate": [0.1]}}, "unknown hyperparameter"),
    ({"adam": {"momentum": [0.9]}}, "adam has no momentum to tune"),
    ({"warmup_factor": {"min": 0, "max": 0.1}}, "a warm-up needs --schedule"),
    ({"learning_rate": {"min": 1e-3, "max": 1e-1, "scaling": "cubic"}}, "scaling must be log or linear"),
    ({"sgd": {"learning_rate": [0.1]}}, "sgd is not among the optimizers compared"),
    ({"learning_rate": 0.1}, "give {min, max, scaling} or a list of values"),
])
def test_bad_space_files_are_refused(doc, message):
    with pytest.raises(SpecError, match=message.replace("{", r"\{").replace("}", r"\}")):
        check_space(doc, ["adam"], ["constant"])


def test_a_file_that_does_not_parse(tmp_path):
    bad = tmp_path / "s.json"
    bad.write_text("{learning_rate: ")
    with pytest.raises(SpecError, match="is not valid JSON"):
        load_space(bad, ["adam"], ["constant"])
    with pytest.raises(SpecError, match="No such file"):
        load_space(tmp_path / "missing.toml", ["adam"], ["constant"])
