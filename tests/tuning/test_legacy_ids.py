"""Folders written before hyperparameters were part of run ids resume under the current ids."""

import pandas as pd


def test_a_folder_with_the_older_ids_resumes_without_training_again(cli, tmp_path):
    out = tmp_path / "c"
    args = ["compare", "--dataset", "digits", "--opts", "momentum,adam", "--inits", "he", "--seeds", "1",
            "--epochs", "1", "--hidden", "16", "--momentum", "0.5", "--no-plot", "--out", out]
    code, text, _ = cli(*args)
    assert code == 0, text
    metrics = pd.read_csv(out / "metrics.csv")
    current = list(metrics["run_id"].unique())
    assert any("momentum=0.5" in r for r in current)
    old = metrics.copy()  # as an older nncmp wrote it: no hyperparameter in the ids
    old["run_id"] = old["run_id"].str.replace("/momentum=0.5", "")
    old["config"] = old["config"].str.replace("/momentum=0.5", "")
    old.to_csv(out / "metrics.csv", index=False)
    before = pd.read_csv(out / "metrics.csv")
    code, text, _ = cli("resume", out)
    assert code == 0, text
    after = pd.read_csv(out / "metrics.csv")
    assert list(after["run_id"].unique()) == current  # renamed, not trained again:
    assert after.drop(columns=["run_id", "config"]).equals(before.drop(columns=["run_id", "config"]))
