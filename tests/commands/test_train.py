"""nncmp train end to end: the files of one run."""

import json

import pandas as pd

from nncmp.results.schema import RECORD_COLUMNS


def test_train_writes_results(cli, tmp_path):
    code, out, _ = cli("train", "--dataset", "digits", "--opt", "adam", "--epochs", "2", "--out", tmp_path)
    assert code == 0, out
    assert "train_loss" in out and str(tmp_path) in out
    metrics = pd.read_csv(tmp_path / "metrics.csv")
    assert list(metrics.columns) == RECORD_COLUMNS
    assert metrics["epoch"].tolist() == [0, 1, 2]
    assert (metrics["status"] == "ok").all()
    config = json.loads((tmp_path / "config.json").read_text())
    assert config["spec"]["optimizer"] == "adam" and config["spec"]["lr"] == 0.001
    assert "torch" in config["environment"] and "python" in config["environment"]
    summary = pd.read_csv(tmp_path / "summary.csv")
    assert len(summary) == 1 and "Unnamed: 0" not in summary.columns
    assert (tmp_path / "curves_epochs.png").read_bytes()[:4] == b"\x89PNG"
    assert (tmp_path / "metrics.csv").stat().st_mode & 0o044  # readable by others, like any file the user makes
    code, _, result = cli("report", tmp_path, "--format", "csv", "--no-plot")
    assert code == 0 and result.stdout == (tmp_path / "summary.csv").read_text()
