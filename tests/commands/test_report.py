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
