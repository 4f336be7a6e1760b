"""nncmp report on the shared comparison (tests/conftest.py): the same summary as compare, its formats,
pivots, and another metric and target."""

import json

import pandas as pd
import pytest


def test_report_reproduces_compare_byte_for_byte(compared, cli):
    out, _ = compared
    before = (out / "summary.csv").read_bytes()
    code, _, result = cli("report", out, "--format", "csv", "--no-plot")
    assert code == 0
    assert result.stdout.encode() == before
    code, _, _ = cli("report", out)  # re-renders table and plots; leaves summary.csv alone
    assert code == 0 and (out / "summary.csv").read_bytes() == before


def test_report_formats(compared, cli):
    out, _ = compared
    code, _, result = cli("report", out, "--json", "--no-plot")
    assert code == 0
    doc = json.loads(result.stdout)  # nothing but JSON on stdout
    assert doc["metric"] == "final_val_acc" and len(doc["summary"]) == 4
    assert doc["baseline"] == "minibatch/he-normal/lr=0.01/bs=64"
    code, text, _ = cli("report", out, "--format", "markdown", "--no-plot")
    lines = text.splitlines()
    assert lines[0].startswith("| # | optimizer") and lines[1].startswith("| --- ")
    assert len([line for line in lines if line.startswith("| ")]) == 2 + 4


def test_report_pivot_by_init(compared, cli):
    out, _ = compared
    code, _, result = cli("report", out, "--by", "init", "--format", "csv", "--no-plot")
    assert code == 0
    table = pd.read_csv(pd.io.common.StringIO(result.stdout))
    assert sorted(table["optimizer"]) == ["adam", "minibatch"] and len(table) == 2
    summary = pd.read_csv(out / "summary.csv").set_index("config")
    adam = table[table["optimizer"] == "adam"].iloc[0]
    assert adam["he-normal_mean"] == pytest.approx(summary.loc["adam/he-normal/lr=0.001/bs=64", "final_val_acc_mean"])
    assert adam["xavier-normal_ci95"] == pytest.approx(
        summary.loc["adam/xavier-normal/lr=0.001/bs=64", "final_val_acc_ci95"])
    code, text, _ = cli("report", out, "--by", "optimizer", "--no-plot")
    assert code == 0 and "by optimizer" in text and "±" in text


def test_report_other_metric_and_target(compared, cli):
    out, _ = compared
    code, _, result = cli("report", out, "--metric", "final_val_loss", "--target", "0.5", "--json", "--no-plot")
    assert code == 0
    rows = json.loads(result.stdout)["summary"]
    losses = [r["final_val_loss_mean"] for r in rows]
    assert losses == sorted(losses)
    assert all(r["target"] == 0.5 for r in rows)


@pytest.mark.parametrize("kind", ["paths", "inspect", "bench"])
def test_report_shows_every_kind_of_folder_in_the_terminal(cli, tmp_path, kind):
    make = {"paths": ["paths", "--fn", "saddle", "--steps", "20", "--lrs", "0.1", "--opts", "gd", "--no-plot"],
            "inspect": ["inspect", "--depth", "3", "--inits", "he", "--no-plot", "--dataset", "digits"],
            "bench": ["bench", "--opts", "adam", "--dataset", "digits"]}[kind]
    code, out, _ = cli(*make, "--quiet", "--out", tmp_path / kind)
    assert code == 0, out
    code, out, result = cli("report", tmp_path / kind, "--no-plot")
    assert code == 0, out
    title = {"paths": "Paths (paths)", "inspect": "Layers at initialisation (inspect)", "bench": "Speed per case"}
    assert title[kind] in out
    code, out, _ = cli("report", tmp_path / kind, "--json")
    assert code == 0 and json.loads(out)["kind"] == kind


def test_report_shows_a_landscape_beside_its_comparison(tracked, cli, tmp_path):
    import shutil

    folder = tmp_path / "tracked"
    shutil.copytree(tracked, folder)  # the shared folder stays as the other tests expect it
    code, out, _ = cli("landscape", folder, "--resolution", "3", "--points", "100", "--no-plot", "--quiet")
    assert code == 0, out
    code, out, _ = cli("report", folder, "--no-plot")
    assert code == 0 and "Summary" in out and "Landscape" in out and "barrier on the line" in out


def _report(*args, columns: int):
    """nncmp report in a terminal `columns` wide (COLUMNS, as a shell sets it)."""
    from typer.testing import CliRunner

    from nncmp.cli.app import app

    result = CliRunner().invoke(app, ["report", *map(str, args), "--no-plot"],
                                env={"NO_COLOR": "1", "COLUMNS": str(columns)})
    return result.exit_code, result.output


@pytest.mark.parametrize("columns", [80, 100, 120])
def test_report_fits_the_terminal_and_wide_shows_every_column(compared, columns):
    from rich.cells import cell_len

    out, _ = compared
    code, text = _report(out, columns=columns)
    assert code == 0, text
    assert max(cell_len(line) for line in text.splitlines()) <= columns and "…" not in text
    flat = " ".join(text.split())
    assert "final val acc" in flat and "minibatch" in flat and "adam" in flat
    summary = pd.read_csv(out / "summary.csv")
    assert all(f"{v:.4f}" in flat for v in summary["final_val_acc_mean"])  # the ranked numbers, whole
    if columns < 120:
        assert f"Left out to fit {columns} columns (--wide shows every column):" in flat
    code, text = _report(out, "--wide", columns=columns)
    assert code == 0 and "…" not in text and "Left out" not in text
    assert all(h in text for h in ("final train loss", "best val acc", "Δ vs baseline", "std"))


@pytest.mark.parametrize("command", ["compare", "resume", "report"])
def test_wide_is_an_option_of_every_command_that_prints_the_summary(cli, command):
    code, out, _ = cli(command, "--help")
    assert code == 0 and "--wide" in out


NET = '''import math
from torch import nn


class Net(nn.Module):
    def __init__(self, input_shape, n_classes):
        super().__init__()
        self.body = nn.Sequential(nn.Flatten(), nn.Linear(math.prod(input_shape), 16), nn.ReLU(), nn.Dropout(0.25),
                                  nn.Linear(16, n_classes))

    def forward(self, x):
        return self.body(x)
'''


def test_a_users_model_has_no_architecture_columns(cli, tmp_path, monkeypatch):
    """Its hidden widths, activation, normalisation and dropout are its own code's (0.25 here): nncmp's
    columns describe its built-in models only, so they are empty, in every file and table."""
    from nncmp.config.run import RunSpec
    from nncmp.results import schema, store

    monkeypatch.chdir(tmp_path)
    (tmp_path / "net.py").write_text(NET)
    code, out, _ = cli("train", "--model", "net.py:Net", "--dataset", "digits", "--epochs", "1", "--out", "t",
                       "--no-plot", "--quiet")
    assert code == 0, out
    architecture = ["hidden", "act", "norm", "dropout"]
    for name in (schema.METRICS, schema.SUMMARY):
        raw = pd.read_csv(tmp_path / "t" / name, dtype=str, keep_default_na=False)
        assert (raw[architecture] == "").all().all(), name
    code, text, _ = cli("report", "t", "--format", "json", "--no-plot")
    assert code == 0 and all(json.loads(text)["summary"][0][c] == "" for c in architecture)
    # A folder of an older nncmp wrote dropout 0.0 for such a model: read, it is empty too.
    metrics = pd.read_csv(tmp_path / "t" / schema.METRICS, dtype=str, keep_default_na=False)
    metrics.assign(dropout="0.0").to_csv(tmp_path / "t" / schema.METRICS, index=False)
    runs = pd.read_csv(tmp_path / "t" / schema.RUNS)  # and runs.csv without the completion records it had not
    runs.drop(columns=schema.RUN_RECORD_COLUMNS).to_csv(tmp_path / "t" / schema.RUNS, index=False)
    assert (store.read_metrics(tmp_path / "t")["dropout"] == "").all()
    code, text, _ = cli("report", "t", "--format", "csv", "--no-plot")
    assert code == 0 and (pd.read_csv(pd.io.common.StringIO(text), keep_default_na=False)["dropout"] == "").all()
    tuning = pd.DataFrame([{**{k: "" for k in schema.TUNED_PER}, "optimizer": "adam", "init": "default",
                            "batch_size": 64, "dropout": 0.0, "lr": 0.001, "chosen": True, "at_edge": False,
                            "seconds": 1.0}])
    tuning.to_csv(tmp_path / "t" / schema.TUNING, index=False)
    assert (store.read_tuning(tmp_path / "t" / schema.TUNING)["dropout"] == "").all()  # keys as the records'
    # nncmp's own models keep theirs: a number where the model has dropout, nothing where it has none.
    assert RunSpec(dropout=0.25).columns()["dropout"] == 0.25 and RunSpec().columns()["dropout"] == 0.0
    assert RunSpec(model="logreg").columns()["dropout"] == ""
