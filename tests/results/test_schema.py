"""Files from older versions: columns and config keys added since are filled in on reading."""

import json

import pandas as pd

from nncmp.results import store


def test_a_folder_from_before_act_norm_and_diverged_step_still_reports(cli, tmp_path):
    args = ["compare", "--dataset", "digits", "--opts", "adam", "--inits", "he", "--seeds", "2", "--epochs", "1",
            "--act", "tanh", "--no-plot", "--quiet", "--out", tmp_path]
    assert cli(*args)[0] == 0
    metrics = pd.read_csv(tmp_path / "metrics.csv")
    later = ["act", "norm", "diverged_step", "schedule", "opt_args", "lr_end"]
    metrics.drop(columns=later).to_csv(tmp_path / "metrics.csv", index=False)
    config = json.loads((tmp_path / "config.json").read_text())  # and a config.json from before schedules
    for key in ("opt_args", "schedules", "warmup"):
        del config["grid"][key]
    for key in ("opt_args", "schedule", "warmup"):
        del config["base"][key]
    (tmp_path / "config.json").write_text(json.dumps(config))
    before = pd.read_csv(tmp_path / "summary.csv")
    code, out, _ = cli("report", tmp_path, "--format", "csv", "--no-plot")
    assert code == 0, out
    read = store.read_metrics(tmp_path)
    assert set(read["act"]) == {"tanh"} and set(read["schedule"]) == {"constant"} and set(read["opt_args"]) == {""}
    assert (read["lr_end"] == read["lr"]).all()
    assert len(before) == 1 and "adam" in out
    code, out, _ = cli("resume", tmp_path)  # nothing left to train, but it reads and rewrites everything
    assert code == 0, out
    assert "resuming: 2 of 2 training runs already finished" in out
