"""--standardize end to end: the same data give the same comparison from an npz, a CSV and Python arrays; what was
done is in config.json's "data" and, when not auto, in the run ids; a regression's RMSE is of its val loss in the
targets' units; a bad value is one line and exit 2."""

import json
import math

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import load_breast_cancer, load_diabetes

import nncmp
from nncmp.results.verify import records_of
from tests.numerics import acc_tol, close, rtol, steps_of

RUN = dict(opts=["adam"], inits=["he"], seeds=1, epochs=2, hidden=(16,), batch_sizes=[32], progress=False,
           plot=False)


def metrics(folder):
    return pd.read_csv(folder / "metrics.csv")


def test_the_same_data_give_the_same_numbers_from_npz_csv_and_python(tmp_path):
    x, y = load_breast_cancer(return_X_y=True)
    np.savez(tmp_path / "bc.npz", x=x, y=y)
    pd.DataFrame(x).assign(target=y).to_csv(tmp_path / "bc.csv", index=False)
    runs = {"npz": nncmp.compare(**RUN, dataset=tmp_path / "bc.npz", out=tmp_path / "npz"),
            "csv": nncmp.compare(**RUN, dataset=tmp_path / "bc.csv", target_column="target", out=tmp_path / "csv"),
            "python": nncmp.compare(**RUN, data=(x, y), out=tmp_path / "python")}
    first = metrics(tmp_path / "npz")
    n_train, n_val = 455, 114
    # The sources' features agree to float32 rounding (tests/registry/test_standardize.py); over training that
    # is at most the rounding bound of this many steps.
    relative = rtol(steps_of(n_train, 32, 2), 32)
    for name in runs:
        got = metrics(tmp_path / name)
        assert len(got) == len(first) == 3
        for col in ("train_loss", "val_loss"):
            assert all(close(a, b, relative) for a, b in zip(first[col], got[col])), (name, col)
        assert (abs(first["val_acc"] - got["val_acc"]) <= acc_tol(n_val, relative)).all(), name
        facts = json.loads((tmp_path / name / "config.json").read_text())["data"]["standardize"]
        assert facts == {"mode": "auto", "features": True, "constant_features": 0, "targets": False,
                         "target_mean": None, "target_std": None}
    # and standardised they learn: an MLP on raw breast-cancer features (areas in the thousands) does not
    assert first["val_acc"].iloc[-1] > 0.9


def test_a_regression_reports_rmse_of_its_val_loss_in_the_targets_units(tmp_path):
    x, y = load_diabetes(return_X_y=True)
    np.savez(tmp_path / "d.npz", x=x, y=y)
    result = nncmp.compare(**RUN, dataset=tmp_path / "d.npz", out=tmp_path / "r")
    data = json.loads((tmp_path / "r" / "config.json").read_text())["data"]
    record = data["standardize"]
    assert record["targets"] and record["features"]
    y_train = y[np.random.RandomState(0).permutation(len(y))[math.ceil(len(y) * 0.2):]].astype(np.float32)
    assert record["target_mean"][0] == pytest.approx(float(y_train.astype(np.float64).mean()), rel=1e-6)
    row = result.summary.iloc[0]
    assert row["final_val_rmse_mean"] == pytest.approx(math.sqrt(row["final_val_loss_mean"]), rel=1e-12)
    # the targets' units: diabetes' progression scores have a standard deviation of about 77
    assert 30 < row["final_val_rmse_mean"] < 200


def test_off_is_in_the_run_id_and_config_json(cli, tmp_path):
    x, y = load_diabetes(return_X_y=True)
    np.savez(tmp_path / "d.npz", x=x, y=y)
    code, out, _ = cli("compare", "--dataset", tmp_path / "d.npz", "--opts", "adam", "--inits", "he", "--seeds", "1",
                       "--epochs", "1", "--hidden", "8", "--standardize", "off", "--no-plot", "--quiet",
                       "--out", tmp_path / "off")
    assert code == 0, out
    assert all("/standardize=off/" in r for r in metrics(tmp_path / "off")["run_id"])
    doc = json.loads((tmp_path / "off" / "config.json").read_text())
    assert doc["data"]["standardize"]["mode"] == "off" and not doc["data"]["standardize"]["targets"]
    assert doc["runs"][0]["standardize"] == "off"


def test_a_bad_value_is_one_line_and_exit_2(cli, tmp_path):
    code, out, _ = cli("compare", "--dataset", "digits", "--standardize", "yes", "--out", tmp_path / "x")
    assert code == 2 and "--standardize: unknown value 'yes'; choose from: auto, on, off" in out
    assert "Traceback" not in out and not (tmp_path / "x").exists()


def make_old_folder(cli, tmp_path, dataset, *args):
    """A two-seed comparison on `dataset` as nncmp wrote it before --standardize, its second run cut short: trained
    with the data as given (--standardize off), then the option's traces taken out the way the old version never
    wrote them — the key in config.json's base, runs and data, and its label in the run ids."""
    folder = tmp_path / "old"
    code, out, _ = cli("compare", "--dataset", dataset, *args, "--opts", "adam", "--inits", "he", "--seeds", "2",
                       "--epochs", "1", "--hidden", "8", "--standardize", "off", "--no-plot", "--quiet",
                       "--out", folder)
    assert code == 0, out
    doc = json.loads((folder / "config.json").read_text())
    for spec in [doc["base"], *doc["runs"]]:
        del spec["standardize"]
    del doc["data"]["standardize"]
    (folder / "config.json").write_text(json.dumps(doc))
    lines = (folder / "metrics.csv").read_text().replace("/standardize=off", "").splitlines(keepends=True)
    text = "".join(line for line in lines if "/seed=1," not in line)
    (folder / "metrics.csv").write_text(text)
    runs = pd.read_csv(folder / "runs.csv", dtype=str, keep_default_na=False)
    runs["run_id"] = runs["run_id"].str.replace("/standardize=off", "")
    runs = runs[runs["run_id"].str.endswith("seed=0")]
    runs["checksum"] = runs["run_id"].map(lambda run: records_of(text)[run][1])  # as the old version wrote them
    runs.to_csv(folder / "runs.csv", index=False)
    return folder


def test_an_old_folder_of_a_users_data_is_not_resumed_with_other_scaling(cli, tmp_path):
    # The old version used an npz's features as given; auto, what an old folder reads as, standardises them: the
    # cut-short run would train on other numbers than the finished one. Refused, nothing changed.
    x, y = load_breast_cancer(return_X_y=True)
    np.savez(tmp_path / "bc.npz", x=x, y=y)
    folder = make_old_folder(cli, tmp_path, tmp_path / "bc.npz")
    before = {p.name: p.read_bytes() for p in folder.iterdir()}
    code, out, result = cli("resume", folder)
    assert code != 0 and "was made before --standardize" in out, out
    assert {p.name: p.read_bytes() for p in folder.iterdir()} == before


def test_an_old_folder_of_a_built_in_dataset_resumes_as_it_began(cli, tmp_path):
    # auto leaves a built-in dataset as it was before --standardize: the finished run kept, the other trained.
    folder = make_old_folder(cli, tmp_path, "digits")
    kept = metrics(folder)
    code, out, _ = cli("resume", folder)
    assert code == 0, out
    got = metrics(folder)
    assert sorted(got["run_id"].unique()) == ["adam/he-normal/lr=0.001/bs=64/hidden=8/seed=0",
                                               "adam/he-normal/lr=0.001/bs=64/hidden=8/seed=1"]
    assert got[got["run_id"].str.endswith("seed=0")].reset_index(drop=True).equals(kept)
    assert json.loads((folder / "config.json").read_text())["data"]["standardize"]["features"] is False
