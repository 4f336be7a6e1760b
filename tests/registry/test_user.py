"""A user's model and data: references resolved, built, checked; data files and functions read and checked;
MNIST-1D generated offline. Every bad input is one line and exit 2 before anything trains."""

import hashlib
import textwrap

import numpy as np
import pandas as pd
import pytest
import torch

from nncmp.config.run import RunSpec
from nncmp.errors import DataError, SpecError, UserCodeStopped
from nncmp.registry import user
from nncmp.registry.datasets import load
from nncmp.registry.models import build_model
from nncmp.registry.user_data import make_data

NET = textwrap.dedent("""
    from torch import nn

    class Net(nn.Module):
        def __init__(self, input_shape, n_classes, width=8):
            super().__init__()
            c, length = input_shape
            self.conv = nn.Conv1d(c, 4, 3, padding=1)
            self.act = nn.ReLU()
            self.flat = nn.Flatten()
            self.fc = nn.Linear(4 * length, width)
            self.act2 = nn.Tanh()
            self.out = nn.Linear(width, n_classes)

        def forward(self, x):
            return self.out(self.act2(self.fc(self.flat(self.act(self.conv(x))))))

    def small(input_shape, n_outputs):
        return nn.Sequential(nn.Flatten(), nn.Linear(input_shape[-1], n_outputs))

    def vector(input_shape, n_outputs):
        class Squeeze(nn.Module):
            def forward(self, x):
                return x.squeeze(1)
        return nn.Sequential(nn.Flatten(), nn.Linear(input_shape[-1], 1), Squeeze())

    def wrong_width(input_shape, n_classes):
        return nn.Sequential(nn.Flatten(), nn.LazyLinear(n_classes + 1))

    def fails(input_shape):
        raise RuntimeError("out of\\nmemory")

    def broken_forward():
        class Bad(nn.Module):
            def __init__(self):
                super().__init__()
                self.fc = nn.Linear(2, 2)

            def forward(self, x):
                raise ValueError("shapes do not match")
        return Bad()

    def not_a_module():
        return 42

    def no_parameters(input_shape, n_classes):
        return nn.Sequential(nn.Flatten(), nn.Identity())

    class Detached(nn.Module):
        def __init__(self, input_shape, n_classes):
            super().__init__()
            self.fc = nn.Linear(12, n_classes)

        def forward(self, x):
            return self.fc(x.flatten(1)).detach()

    def with_batchnorm(input_shape, n_classes):
        return nn.Sequential(nn.Flatten(), nn.Linear(12, 4), nn.BatchNorm1d(4), nn.Linear(4, n_classes))

    def exits(input_shape):
        import sys
        sys.exit(3)

    def classifier_only(input_shape, n_classes):
        return nn.Linear(input_shape[-1], n_classes)

    INSTANCE = nn.Linear(2, 2)
    NUMBER = 3
""")


@pytest.fixture
def net_file(tmp_path):
    path = tmp_path / "net.py"
    path.write_text(NET)
    return path


@pytest.fixture
def blobs():
    rng = np.random.RandomState(0)
    x = rng.randn(200, 6).astype("float32")
    y = (x[:, 0] > 0).astype(int) + (x[:, 1] > 1).astype(int)
    return x, y


def signals(n=20, length=12, classes=3):
    rng = np.random.RandomState(1)
    x = rng.randn(n, 1, length).astype("float32")
    return make_data("signals", x[:15], np.arange(15) % classes, x[15:], np.arange(5) % classes)


def test_a_file_reference_is_absolute_and_names_the_class(net_file, monkeypatch):
    monkeypatch.chdir(net_file.parent)
    spec = RunSpec(model="net.py:Net", model_args={"width": 5})
    assert spec.model == f"{net_file}:Net"
    assert spec.model_args == (("width", 5),)
    assert spec.config_id.endswith("model.width=5")
    model = build_model(spec, (1, 12), 3)
    assert model.fc.out_features == 5 and model.out.out_features == 3


def test_the_model_gets_only_the_arguments_it_accepts(net_file):
    model = build_model(RunSpec(model=f"{net_file}:small"), (7,), 2, "regression")
    assert model(torch.zeros(4, 7)).shape == (4, 2)


@pytest.mark.parametrize("name, args, message", [
    ("Nope", {}, "has no 'Nope' (it defines: "),
    ("NUMBER", {}, "NUMBER is of type int, not an nn.Module class"),
    ("INSTANCE", {}, "is a model instance; pass its class"),
    ("fails", {}, "building it raised RuntimeError: out of memory"),
    ("not_a_module", {}, "not_a_module(...) returned an object of type int, not an nn.Module"),
    ("Net", {"depth": 3}, "--model-arg depth: Net takes no argument 'depth' (it takes: input_shape, n_classes, width)"),
])
def test_a_bad_model_is_one_line_naming_what_is_wrong(net_file, name, args, message):
    with pytest.raises(SpecError) as e:
        build_model(RunSpec(model=f"{net_file}:{name}", model_args=args), (1, 12), 3)
    assert message in str(e.value) and "\n" not in str(e.value)


def test_a_missing_file_or_module_is_named(tmp_path):
    with pytest.raises(SpecError, match="no such file"):
        build_model(RunSpec(model=f"{tmp_path}/none.py:Net"), (4,), 2)
    with pytest.raises(SpecError, match="no module named 'no_such_package'"):
        build_model(RunSpec(model="no_such_package.models:Net"), (4,), 2)


def test_a_file_that_raises_on_import_is_one_line(tmp_path):
    (tmp_path / "bad.py").write_text("import torch\nraise ImportError('needs\\ncuda')\n")
    with pytest.raises(SpecError, match=r"importing .*bad.py raised ImportError: needs cuda$"):
        build_model(RunSpec(model=f"{tmp_path}/bad.py:Net"), (4,), 2)


def test_the_check_before_training_runs_one_forward_pass(net_file):
    from nncmp.commands.common import check_models

    data = signals()
    check_models([RunSpec(model=f"{net_file}:Net")], data)
    with pytest.raises(SpecError, match=r"output has shape \(8, 4\) on a batch of 8; signals needs \(8, 3\)"):
        check_models([RunSpec(model=f"{net_file}:wrong_width")], data)
    with pytest.raises(SpecError, match="forward pass on a batch of signals .* raised ValueError: shapes do not match"):
        check_models([RunSpec(model=f"{net_file}:broken_forward")], data)


def test_models_that_could_not_train_are_refused_before_training(net_file):
    from nncmp.commands.common import check_models

    data = signals()  # 15 training examples
    for name, message in (("no_parameters", "no trainable parameters"),
                          ("Detached", "does not depend on its parameters")):
        with pytest.raises(SpecError, match=message):
            check_models([RunSpec(model=f"{net_file}:{name}")], data)
    with pytest.raises(SpecError, match="last batch of one example of the 15"):
        check_models([RunSpec(model=f"{net_file}:with_batchnorm", batch_size=7).resolved(15)], data)
    check_models([RunSpec(model=f"{net_file}:with_batchnorm", batch_size=5).resolved(15)], data)
    with pytest.raises(UserCodeStopped, match=r"building it called sys.exit\(3\) in exits \(.*net.py:\d+\)"):
        build_model(RunSpec(model=f"{net_file}:exits"), (1, 12), 3)
    with pytest.raises(SpecError, match="--model-arg input_shape: nncmp passes input_shape itself"):
        build_model(RunSpec(model=f"{net_file}:Net", model_args={"input_shape": 3}), (1, 12), 3)
    with pytest.raises(SpecError, match="taken as regression .* pass --task classification"):
        build_model(RunSpec(model=f"{net_file}:classifier_only"), (4,), 1, "regression")


def test_a_regression_model_may_return_one_value_per_example(net_file):
    from nncmp.commands.common import check_models

    x = np.random.RandomState(0).randn(30, 3)
    data = make_data("r", x[:20], x[:20, 0], x[20:], x[20:, 0])
    assert data.task == "regression" and data.y_train.shape == (20, 1)
    check_models([RunSpec(model=f"{net_file}:vector")], data)
    model = build_model(RunSpec(model=f"{net_file}:vector"), data.shape, data.n_out, data.task)
    assert model(data.x_train).shape == (20, 1)


def test_options_a_users_model_does_not_have_are_refused(net_file):
    for option, message in ((dict(dropout=0.5), "--dropout does not apply"), (dict(batchnorm=True), "--batchnorm"),
                            (dict(hidden=(8,)), "--hidden"), (dict(act="tanh"), "--act")):
        with pytest.raises(SpecError, match=message):
            RunSpec(model=f"{net_file}:Net", **option)
    with pytest.raises(SpecError, match="--model-arg applies to your own --model"):
        RunSpec(model="logreg", model_args={"width": 3})
    with pytest.raises(SpecError, match="the built-in model mlp takes no argument 'width' \\(it takes: residual\\)"):
        RunSpec(model="mlp", model_args={"width": 3})


def test_an_init_touches_every_linear_and_conv_weight_and_zeroes_their_biases(net_file):
    from nncmp.training.engines.single import make_model

    data = signals()
    model = make_model(RunSpec(model=f"{net_file}:Net", init="zeros"), data)
    for layer in (model.conv, model.fc, model.out):
        assert torch.count_nonzero(layer.weight) == 0 and torch.count_nonzero(layer.bias) == 0
    # default keeps the model's own init: PyTorch's, non-zero biases
    assert torch.count_nonzero(make_model(RunSpec(model=f"{net_file}:Net"), data).fc.bias) > 0


def test_seeds_are_paired_for_a_users_model(net_file):
    """Even though net.py draws random numbers when it is imported (INSTANCE): it is imported before the seed."""
    from nncmp.training.engines.single import make_model

    data = signals()
    a = make_model(RunSpec(model=f"{net_file}:Net", optimizer="sgd", seed=3), data)
    b = make_model(RunSpec(model=f"{net_file}:Net", optimizer="adam", seed=3), data)
    c = make_model(RunSpec(model=f"{net_file}:Net", optimizer="adam", seed=4), data)
    assert torch.equal(a.fc.weight, b.fc.weight) and not torch.equal(a.fc.weight, c.fc.weight)


def test_code_records_hash_the_file_and_notice_a_change(net_file):
    ref = user.canonical(f"{net_file}:Net")
    record = user.code_record(ref)
    assert record == {"ref": ref, "path": str(net_file), "sha256": hashlib.sha256(NET.encode()).hexdigest()}
    assert user.changed(record) is None
    net_file.write_text(NET + "\n# edited\n")
    assert "changed since the comparison started" in user.changed(record)
    net_file.unlink()
    assert "is gone" in user.changed(record)


def test_an_object_from_python_is_found_in_this_process_only():
    class Local(torch.nn.Module):
        pass

    ref = user.register(Local, "model")
    assert ref.startswith("python:") and user.resolve(ref, "--model") is Local
    assert user.register(Local, "model") == ref  # the same object: the same key
    with pytest.raises(SpecError, match="handed over from Python in another process"):
        user.resolve("python:NeverRegistered", "--model python:NeverRegistered")


def test_an_importable_object_is_referred_to_by_its_module():
    assert user.register(torch.nn.Linear, "model") == "torch.nn.modules.linear:Linear"


# --- data -----------------------------------------------------------------------------------------------


def test_npz_with_four_arrays_and_with_x_y(tmp_path, blobs):
    x, y = blobs
    np.savez(tmp_path / "four.npz", x_train=x[:150], y_train=y[:150], x_val=x[150:], y_val=y[150:])
    data = load(str(tmp_path / "four.npz"), standardize="off")  # the file's own values (auto standardises them)
    assert data.task == "classification" and data.classes == 3 and data.n_train == 150 and data.shape == (6,)
    np.testing.assert_array_equal(data.x_val.numpy(), x[150:])
    np.savez(tmp_path / "xy.npz", x=x, y=y)
    data = load(str(tmp_path / "xy.npz"))
    assert data.n_train == 160 and len(data.x_val) == 40
    # stratified: each class keeps its share
    shares = np.bincount(data.y_train.numpy()) / 160
    np.testing.assert_allclose(shares, np.bincount(y) / 200, atol=0.02)


def test_csv_features_are_standardised_with_the_training_split(tmp_path):
    rng = np.random.RandomState(0)
    frame = pd.DataFrame({"a": rng.randn(100) * 5 + 3, "b": rng.rand(100), "kind": rng.choice(["cat", "dog"], 100)})
    frame.to_csv(tmp_path / "pets.csv", index=False)
    data = load(str(tmp_path / "pets.csv"), target="kind")
    assert data.task == "classification" and data.classes == 2 and data.shape == (2,)
    np.testing.assert_allclose(data.x_train.mean(0).numpy(), 0, atol=1e-5)
    np.testing.assert_allclose(data.x_train.std(0, unbiased=False).numpy(), 1, atol=1e-5)
    assert abs(float(data.x_val.mean())) > 1e-4  # validation uses the training split's statistics, not its own


def test_a_loader_function_may_return_a_tuple_a_dict_or_datasets(tmp_path, blobs):
    (tmp_path / "loaders.py").write_text(textwrap.dedent("""
        import numpy as np
        import torch
        from torch.utils.data import TensorDataset
        rng = np.random.RandomState(0)
        x = rng.randn(50, 3).astype("float32"); y = np.arange(50) % 2
        def four():
            return x[:40], y[:40], x[40:], y[40:]
        def as_dict():
            return {"x_train": x[:40], "y_train": y[:40], "x_val": x[40:], "y_val": y[40:]}
        def datasets():
            t = torch.as_tensor
            return TensorDataset(t(x[:40]), t(y[:40])), TensorDataset(t(x[40:]), t(y[40:]))
        def regression():
            return {"x": x, "y": x.sum(1)}
    """))
    first = load(f"{tmp_path}/loaders.py:four")
    for name in ("as_dict", "datasets"):
        other = load(f"{tmp_path}/loaders.py:{name}")
        assert torch.equal(other.x_train, first.x_train) and torch.equal(other.y_val, first.y_val)
    reg = load(f"{tmp_path}/loaders.py:regression")
    assert reg.task == "regression" and reg.y_train.shape == (40, 1) and reg.n_out == 1


@pytest.mark.parametrize("arrays, task, message", [
    ((np.zeros((5, 2)), np.zeros(4, int), np.zeros((2, 2)), np.zeros(2, int)), None,
     "the training split has 5 examples (x) but 4 labels"),
    ((np.zeros((0, 2)), np.zeros(0, int), np.zeros((2, 2)), np.zeros(2, int)), None, "the training split is empty"),
    ((np.array([[0.0, np.nan], [1, 2]]), np.array([0, 1]), np.zeros((2, 2)), np.array([0, 1])), None,
     "1 training example(s) have NaN or infinite features"),
    ((np.zeros((3, 2)), np.array([0.5, 1, 0]), np.zeros((2, 2)), np.array([0.0, 1])), "classification",
     "--task classification needs integer labels"),
    ((np.zeros((3, 2)), np.array([0, 1, 0]), np.zeros((2, 2)), np.array([0, 2])), None,
     "validation label(s) 2 never occur in the training data"),
])
def test_bad_data_is_one_line(arrays, task, message):
    with pytest.raises(DataError) as e:
        make_data("d", *arrays, task=task)
    assert message in str(e.value)


def test_lists_are_arrays_not_datasets():
    from nncmp.registry.user_data import from_value

    x, y = [[0.0, 1.0]] * 10, [0, 1] * 5
    arrays = from_value((x, y), "--dataset d")
    assert len(arrays[0]) == 8 and len(arrays[2]) == 2


def test_csv_messages_say_what_is_wrong(tmp_path):
    (tmp_path / "empty.csv").write_text("a,b,y\n")
    with pytest.raises(DataError, match="has a header but no rows"):
        load(str(tmp_path / "empty.csv"), target="y")
    pd.DataFrame({"a": np.arange(20.0), "y": [0.5] * 19 + [np.nan]}).to_csv(tmp_path / "nan.csv", index=False)
    with pytest.raises(DataError, match="example.s. have NaN or infinite targets"):
        load(str(tmp_path / "nan.csv"), target="y")


def test_many_integer_labels_hint_at_regression():
    x = np.random.RandomState(0).randn(400, 2)
    y = np.arange(400) * 1000  # prices, stored as integers
    with pytest.raises(DataError, match="300 distinct integer labels were taken as classes: pass --task regression"):
        make_data("d", x[:300], y[:300], x[300:], y[300:])


def test_bad_csv_columns_are_named(tmp_path):
    pd.DataFrame({"a": [1, 2, 3, 4], "colour": ["r", "g", "b", "r"], "y": [0, 1, 0, 1]}).to_csv(tmp_path / "c.csv",
                                                                                              index=False)
    with pytest.raises(DataError, match="no column 'label' .*its columns: a, colour, y"):
        load(str(tmp_path / "c.csv"), target="label")
    with pytest.raises(DataError, match="feature column.s. colour are not numeric"):
        load(str(tmp_path / "c.csv"), target="y")


def test_a_csv_needs_its_target_column():
    with pytest.raises(SpecError, match="needs --target-column COLUMN"):
        RunSpec(dataset="data.csv")
    with pytest.raises(SpecError, match="--target-column names the column to predict of a --dataset data.csv"):
        RunSpec(target_column="y")


def test_mnist1d_is_generated_offline_as_its_paper_froze_it():
    data = load("mnist1d")
    assert data.shape == (1, 40) and data.n_train == 4000 and len(data.x_val) == 1000 and data.classes == 10
    np.testing.assert_allclose(data.x_train[0, 0, :5].numpy(),
                               [-0.33200567, -0.47191037, -0.77869708, -1.00974083, -0.88235257], rtol=1e-6)
    assert data.y_train[:10].tolist() == [2, 6, 4, 5, 6, 6, 6, 0, 3, 1]


def test_the_cnn_adapts_to_signals():
    model = build_model(RunSpec(model="cnn"), (1, 40), 10)
    assert isinstance(model[0], torch.nn.Conv1d) and isinstance(model[1], torch.nn.BatchNorm1d)
    assert model(torch.zeros(2, 1, 40)).shape == (2, 10)


@pytest.fixture
def installed_package(tmp_path, monkeypatch):
    """A package registering a model and a dataset under nncmp's entry-point groups, as pip would install it."""
    (tmp_path / "zoo").mkdir()
    (tmp_path / "zoo" / "__init__.py").write_text(textwrap.dedent("""
        import numpy as np
        from torch import nn

        def tiny(input_shape, n_classes):
            return nn.Sequential(nn.Flatten(), nn.Linear(int(np.prod(input_shape)), n_classes))

        def blobs():
            rng = np.random.RandomState(0)
            x = rng.randn(50, 3)
            return {"x": x, "y": (x[:, 0] > 0).astype(int)}
    """))
    info = tmp_path / "zoo-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: zoo\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text("[nncmp.models]\ntiny = zoo:tiny\n\n[nncmp.datasets]\nblobs = zoo:blobs\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    return tmp_path


def test_packages_register_models_and_datasets_by_entry_points(installed_package, cli):
    spec = RunSpec(model="tiny", dataset="blobs")
    assert spec.model == "zoo:tiny" and spec.dataset == "zoo:blobs"
    data = load(spec.dataset)
    assert data.n_train == 40 and build_model(spec, data.shape, data.n_out)(data.x_train).shape == (40, 2)
    code, out, _ = cli("models")
    assert code == 0 and "tiny" in out and "entry point of zoo" in out and "mlp" in out
    code, out, _ = cli("datasets")
    assert code == 0 and "blobs" in out and "entry point of zoo: zoo:blobs" in out


def test_datasets_that_would_not_fit_in_memory_are_refused(monkeypatch):
    from torch.utils.data import TensorDataset

    from nncmp.registry import user_data

    monkeypatch.setattr(user_data, "_memory", lambda: 1000)  # a machine of 1000 bytes
    data = TensorDataset(torch.zeros(100, 4), torch.zeros(100, dtype=torch.long))
    with pytest.raises(DataError, match="would take 0.0 GB as tensors, more than half of this machine's"):
        user_data.from_value((data, data), "--dataset d")
