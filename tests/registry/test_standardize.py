"""--standardize: one policy for every source (npz, CSV, Python arrays, a loader, the built-ins), checked against
numpy's own mean and standard deviation; the same data give the same tensors from every source; constant columns,
token ids and class labels; and the criterion's standardised targets against torch's losses by hand."""

import numpy as np
import pandas as pd
import pytest
import torch
import torch.nn.functional as F
from sklearn.datasets import load_breast_cancer, load_diabetes

from nncmp.config.run import RunSpec
from nncmp.errors import DataError, SpecError
from nncmp.registry.data import statistics
from nncmp.registry.datasets import holdout, load
from nncmp.registry.losses import criterion, describe
from nncmp.registry.user import register
from nncmp.registry.user_data import make_data, split

U = 2.0**-24  # float32 unit roundoff


def sources(tmp_path, x, y, name):
    """The same (x, y) as an npz, a CSV (target column 'target'), Python arrays and a loader function: each
    loaded with --standardize auto."""
    np.savez(tmp_path / f"{name}.npz", x=x, y=y)
    frame = pd.DataFrame(x, columns=[f"f{i}" for i in range(x.shape[1])]).assign(target=y)
    frame.to_csv(tmp_path / f"{name}.csv", index=False)
    np.save(tmp_path / f"{name}_x.npy", x)
    np.save(tmp_path / f"{name}_y.npy", y)
    arrays = ", ".join(f"np.load({str(tmp_path / f'{name}_{a}.npy')!r})" for a in "xy")
    (tmp_path / f"{name}_loader.py").write_text(f"import numpy as np\ndef load():\n    return {arrays}\n")
    return {"npz": load(str(tmp_path / f"{name}.npz")),
            "csv": load(str(tmp_path / f"{name}.csv"), target="target"),
            "python": load(register((x, y), "data")),
            "loader": load(f"{tmp_path / f'{name}_loader.py'}:load")}


def expected_features(x, y):
    """What the policy promises, computed by numpy in float64 from the float32 values every source holds: the
    split of (x, y), standardised with the training split's population mean and standard deviation."""
    x_tr, _, x_va, _ = split(x.astype(np.float32).astype(np.float64), y)
    mean, std = x_tr.mean(0), x_tr.std(0)
    return (x_tr - mean) / std, (x_va - mean) / std, x_tr


def close(got, want, x_raw_train):
    """Equal to float32 rounding: each input rounded to float32 (one unit, 2u relative) moves a standardised value
    by at most 2u·max|x|/std, the mean by as much, and the result is rounded once more (u relative)."""
    std = x_raw_train.std(0)
    atol = 4 * U * np.abs(x_raw_train).max(0) / std + 2 * U * np.abs(want)
    assert (np.abs(got - want) <= atol).all()


@pytest.mark.parametrize("which", ["breast_cancer", "diabetes"])
def test_the_same_data_give_the_same_tensors_from_npz_csv_python_and_a_loader(tmp_path, which):
    x, y = (load_breast_cancer if which == "breast_cancer" else load_diabetes)(return_X_y=True)
    got = sources(tmp_path, x, y, which)
    want_tr, want_va, raw_tr = expected_features(x, y)
    for source, data in got.items():
        assert data.scaling.features and data.scaling.mode == "auto", source
        close(data.x_train.double().numpy(), want_tr, raw_tr)
        close(data.x_val.double().numpy(), want_va, raw_tr)
    first = got["npz"]
    for source, data in got.items():  # one split for every source: the labels, in the same order
        assert torch.equal(data.y_train, first.y_train) and torch.equal(data.y_val, first.y_val), source
        assert data.task == first.task and data.scaling == first.scaling, source


def test_regression_targets_keep_their_values_and_get_their_statistics(tmp_path):
    x, y = load_diabetes(return_X_y=True)
    y2 = np.stack([y, y / 100 + 3], axis=1)  # two outputs on different scales: statistics per output
    np.savez(tmp_path / "two.npz", x=x, y=y2)
    data = load(str(tmp_path / "two.npz"))
    _, y_tr, _, y_va = split(x, y2)
    np.testing.assert_array_equal(data.y_train.numpy(), y_tr.astype(np.float32))  # as given
    np.testing.assert_array_equal(data.y_val.numpy(), y_va.astype(np.float32))
    stored = y_tr.astype(np.float32).astype(np.float64)
    np.testing.assert_allclose(data.scaling.target_mean, stored.mean(0), rtol=4 * U)
    np.testing.assert_allclose(data.scaling.target_std, stored.std(0), rtol=4 * U)


def test_off_uses_every_source_as_given(tmp_path):
    x, y = load_breast_cancer(return_X_y=True)
    np.savez(tmp_path / "bc.npz", x=x, y=y)
    pd.DataFrame(x).assign(target=y).to_csv(tmp_path / "bc.csv", index=False)
    x_tr, _, x_va, _ = split(x, y)
    for data in (load(str(tmp_path / "bc.npz"), standardize="off"),
                 load(str(tmp_path / "bc.csv"), target="target", standardize="off")):
        np.testing.assert_array_equal(data.x_train.numpy(), x_tr.astype(np.float32))
        np.testing.assert_array_equal(data.x_val.numpy(), x_va.astype(np.float32))
        assert data.scaling.mode == "off" and not data.scaling.features and data.scaling.target_std == ()


def test_auto_leaves_the_built_ins_as_their_definitions_scale_them_and_on_standardises_them():
    auto, off, on = (load("digits", standardize=mode) for mode in ("auto", "off", "on"))
    assert torch.equal(auto.x_train, off.x_train) and not auto.scaling.features
    assert on.scaling.features and on.scaling.mode == "on"
    mean, std, constant = statistics(off.x_train)
    # digits' corner pixels are 0 in every training image: centred only (exactly 0), never divided by zero
    assert on.scaling.constant == int(constant.sum()) > 0
    assert (on.x_train.flatten(1)[:, constant.flatten()] == 0).all()
    assert torch.isfinite(on.x_train).all() and torch.isfinite(on.x_val).all()
    moving = ~constant.flatten()
    np.testing.assert_allclose(on.x_train.flatten(1)[:, moving].double().mean(0).numpy(), 0, atol=1e-6)
    np.testing.assert_allclose(on.x_train.flatten(1)[:, moving].double().std(0, unbiased=False).numpy(), 1,
                               rtol=1e-5)
    assert torch.equal(on.y_train, off.y_train) and torch.equal(on.y_val, off.y_val)


def test_toy_regression_auto_is_the_course_data_and_on_keeps_val_the_training_split():
    auto = load("toy-regression")
    assert auto.x_train.tolist()[0] == [1, 2] and auto.scaling.target_std == ()
    on = load("toy-regression", standardize="on")
    assert on.x_val is on.x_train and holdout(on) is on  # val = train survives, so tuning uses it whole
    np.testing.assert_allclose(on.x_train[:, 0].numpy(), (np.arange(1, 6) - 3) / np.sqrt(2), rtol=1e-6)
    np.testing.assert_allclose(on.scaling.target_mean, [9.0])
    np.testing.assert_allclose(on.scaling.target_std, [np.sqrt(8.0)])
    assert on.y_train.flatten().tolist() == [5, 7, 9, 11, 13]


def test_constant_columns_are_centred_not_divided_by_zero(tmp_path):
    rng = np.random.RandomState(0)
    x = rng.randn(50, 3)
    x[:, 1] = 7.3  # constant
    x[:, 2] = 0.1 + 0.2 * (np.arange(50) % 2) * 1e-17  # equal to float rounding: 0.1 in float32 everywhere
    x_val = x[:10].copy()
    x_val[:, 1] = 8.3
    y = np.arange(50) % 2
    np.savez(tmp_path / "c.npz", x_train=x, y_train=y, x_val=x_val, y_val=y[:10])
    data = load(str(tmp_path / "c.npz"))
    assert data.scaling.constant == 2
    assert (data.x_train[:, 1:] == 0).all()
    np.testing.assert_allclose(data.x_val[:, 1].numpy(), 1.0, rtol=1e-6)  # 8.3 − 7.3: centred, not scaled
    assert torch.isfinite(data.x_val).all()


def test_near_constant_columns_are_not_magnified():
    """A column whose values differ only by float rounding has a variance below what rounding its mean gives:
    constant, so rounding noise does not become a feature of standard deviation 1."""
    x = torch.full((1000, 2), 0.1, dtype=torch.float64)
    x[::2, 0] = np.nextafter(0.1, 1.0)
    x[:, 1] = torch.arange(1000.0)
    mean, std, constant = statistics(x)
    assert constant.tolist() == [True, False] and std[0] == 1.0


def test_token_ids_and_labels_are_never_touched(tmp_path):
    rng = np.random.RandomState(0)
    x = rng.randint(0, 20, size=(60, 5))
    y = rng.randint(0, 3, size=60)
    np.savez(tmp_path / "tokens.npz", x=x, y=y)
    data = load(str(tmp_path / "tokens.npz"), standardize="on")
    raw = load(str(tmp_path / "tokens.npz"), standardize="off")
    assert data.x_train.dtype == torch.long and torch.equal(data.x_train, raw.x_train)
    assert not data.scaling.features and torch.equal(data.y_train, raw.y_train)
    modadd, modadd_raw = load("modadd", standardize="on"), load("modadd", standardize="off")
    assert torch.equal(modadd.x_train, modadd_raw.x_train) and torch.equal(modadd.y_val, modadd_raw.y_val)


def test_the_tuning_split_keeps_the_statistics_of_the_training_split(tmp_path):
    x, y = load_diabetes(return_X_y=True)
    np.savez(tmp_path / "d.npz", x=x, y=y)
    data = load(str(tmp_path / "d.npz"))
    assert holdout(data).scaling == data.scaling


def test_a_bad_mode_is_refused_in_one_line():
    with pytest.raises(SpecError, match="--standardize: unknown value 'maybe'; choose from: auto, on, off"):
        RunSpec(standardize="maybe")
    with pytest.raises(DataError, match="--standardize: unknown value"):
        load("digits", standardize="maybe")


def test_a_mode_other_than_auto_is_part_of_the_run_id_and_reaches_the_loader():
    assert RunSpec().run_id == RunSpec(standardize="auto").run_id  # folders from before it keep their ids
    off = RunSpec(standardize="off")
    assert "/standardize=off" in off.run_id and off.data_kwargs()["standardize"] == "off"
    assert RunSpec(standardize="on").run_id != off.run_id


# --- the criterion on standardised targets ---------------------------------------------------------------


@pytest.fixture(scope="module")
def scaled():
    rng = np.random.RandomState(0)
    x = rng.randn(40, 3)
    y = np.stack([rng.randn(40) * 50 + 150, rng.randn(40) * 0.1 - 2], axis=1)  # two outputs, two scales
    data = make_data("r", x[:30], y[:30], x[30:], y[30:])
    from nncmp.registry.data import standardized

    return standardized(data, "auto", built_in=False)


def test_mse_trains_on_standardised_targets_and_reports_the_original_units(scaled):
    crit = criterion(scaled, "mse")
    mean, std = (torch.tensor(v) for v in crit.scale)
    out = torch.randn(10, 2, dtype=torch.float32)
    y = scaled.y_val
    torch.testing.assert_close(crit.mean(out, y), F.mse_loss(out, (y - mean) / std))
    # reported: the mean squared error of the de-standardised prediction against the targets as given
    by_hand = F.mse_loss(out.double() * std.double() + mean.double(), y.double())
    torch.testing.assert_close(crit.reported(out, y).double(), by_hand, rtol=8 * U, atol=0)
    total, n = crit.sum(out, y)
    torch.testing.assert_close(total.double() / n, by_hand, rtol=8 * U, atol=0)
    stacked = torch.stack([out, 2 * out])
    ys = y.expand(2, *y.shape)
    each = crit.members(stacked, ys, reported=True)
    torch.testing.assert_close(each[1], crit.reported(2 * out, y))
    torch.testing.assert_close(crit.members(stacked, ys)[0], crit.mean(out, y))


def test_huber_reports_the_loss_it_trains_in_the_targets_units(scaled):
    """Huber with delta 1 on the standardised scale is, in the targets' units, Huber with delta one standard
    deviation: s² · huber_1(r / s) = huber_s(r)."""
    crit = criterion(scaled, "huber")
    mean, std = (torch.tensor(v, dtype=torch.float64) for v in crit.scale)
    out = torch.randn(10, 2) * 2
    y = scaled.y_val
    pred = out.double() * std + mean
    by_hand = torch.stack([F.huber_loss(pred[:, d], y[:, d].double(), delta=float(std[d]), reduction="none")
                           for d in range(2)], 1).mean()
    torch.testing.assert_close(crit.reported(out, y).double(), by_hand, rtol=16 * U, atol=0)
    torch.testing.assert_close(crit.mean(out, y), F.huber_loss(out, (y - mean.float()) / std.float()))


def test_bce_and_a_users_loss_see_the_targets_as_given(scaled, tmp_path):
    (tmp_path / "losses.py").write_text("import torch\n"
                                        "def mae(output, target):\n    return (output - target).abs().mean()\n")
    assert criterion(scaled, "bce").scale is None
    user = criterion(scaled, f"{tmp_path}/losses.py:mae")
    assert user.scale is None
    out = torch.randn(10, 2)
    torch.testing.assert_close(user.reported(out, scaled.y_val), (out - scaled.y_val).abs().mean())
    facts = describe(scaled, user)["standardize"]
    assert facts["features"] and not facts["targets"] and facts["target_mean"] is None


def test_a_metric_receives_the_prediction_in_the_targets_units(scaled, tmp_path):
    from torch import nn

    from nncmp.registry.losses import metric_value

    (tmp_path / "metrics.py").write_text("def rmse(output, target):\n"
                                         "    return ((output - target) ** 2).mean().sqrt()\n")
    crit = criterion(scaled, "mse", metric_fn=f"{tmp_path}/metrics.py:rmse")
    model = nn.Linear(3, 2)
    value = metric_value(model, crit, scaled.x_val, scaled.y_val)
    with torch.no_grad():
        mean, std = (torch.tensor(v) for v in crit.scale)
        by_hand = float(((model(scaled.x_val) * std + mean - scaled.y_val) ** 2).mean().sqrt())
    assert value == pytest.approx(by_hand, rel=8 * U)


def test_config_json_records_what_was_done(scaled):
    facts = describe(scaled, criterion(scaled, "mse"))
    record = facts["standardize"]
    assert record["mode"] == "auto" and record["features"] and record["targets"]
    np.testing.assert_allclose(record["target_mean"], scaled.scaling.target_mean)
    # R² is of the targets as given: their variance, in the units the loss is reported in
    y = scaled.y_val.double()
    assert facts["target_variance"] == pytest.approx(float(((y - y.mean(0)) ** 2).mean()))
