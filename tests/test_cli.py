"""The command line end to end: help, version, every command on small data, bad input, Ctrl-C."""

import json
import subprocess
import sys

import pandas as pd
import pytest

from nncmp import __version__
from nncmp.results.schema import RECORD_COLUMNS


def test_help_lists_commands_and_defaults(cli):
    code, out, _ = cli("--help")
    assert code == 0
    for command in ("train", "compare", "bench", "datasets"):
        assert command in out
    code, out, _ = cli("train", "--help")
    assert code == 0
    out = " ".join(out.split())  # help text wraps at the terminal width
    assert "[default: (256,128)]" in out and "[default: mnist5k]" in out and "[default: adam]" in out


def test_version(cli):
    code, out, _ = cli("--version")
    assert code == 0 and __version__ in out


@pytest.mark.slow
def test_help_does_not_import_torch():
    # --help and bad input must answer instantly: torch is imported only inside commands, after the checks.
    code = ("import sys\nfrom nncmp.cli.app import app\nfrom typer.testing import CliRunner\n"
            "for args in (['--help'], ['compare', '--help'], ['train', '--lr', 'inf'], ['compare', '--opts', 'x'],\n"
            "             ['train', '--opt', 'lino'], ['optimizers', '--help']):\n"
            "    result = CliRunner().invoke(app, args)\n"
            "    assert result.exit_code in (0, 2), (args, result.output)\n"
            "    heavy = [m for m in ('torch', 'pandas', 'matplotlib', 'ray') if m in sys.modules]\n"
            "    assert not heavy, (args, heavy)\n")
    subprocess.run([sys.executable, "-c", code], check=True)


@pytest.mark.slow
def test_python_m_nncmp():
    out = subprocess.run([sys.executable, "-m", "nncmp", "--version"], capture_output=True, text=True, check=True)
    assert __version__ in out.stdout


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


def test_compare_runs_grid_and_ranks(cli, tmp_path):
    code, out, _ = cli("compare", "--dataset", "digits", "--opts", "minibatch,adam", "--inits", "xavier,he",
                       "--seeds", "2", "--epochs", "2", "--out", tmp_path)
    assert code == 0, out
    metrics = pd.read_csv(tmp_path / "metrics.csv")
    assert metrics["run_id"].nunique() == 8
    summary = pd.read_csv(tmp_path / "summary.csv")
    assert len(summary) == 4 and (summary["n_seeds"] == 2).all()
    assert summary["rank"].tolist() == [1, 2, 3, 4]
    assert summary["final_val_acc_mean"].is_monotonic_decreasing
    assert "Summary" in out and "xavier-normal" in out and "[8/8]" in out


def test_compare_lr_and_batch_size_lists(cli, tmp_path):
    code, out, _ = cli("compare", "--dataset", "toy-regression", "--model", "linear", "--opts", "minibatch",
                       "--inits", "zeros", "--lrs", "0.01,0.001", "--batch-sizes", "1,5", "--seeds", "1",
                       "--epochs", "3", "--out", tmp_path, "--quiet")
    assert code == 0, out
    summary = pd.read_csv(tmp_path / "summary.csv")
    assert sorted(zip(summary["lr"], summary["batch_size"])) == [(0.001, 1), (0.001, 5), (0.01, 1), (0.01, 5)]
    # Regression: no accuracy, ranked by val loss.
    assert summary["final_val_acc_mean"].isna().all()
    assert summary["final_val_loss_mean"].is_monotonic_increasing


def test_compare_keeps_going_after_a_diverged_run(cli, tmp_path):
    code, out, _ = cli("compare", "--dataset", "toy-regression", "--model", "linear", "--opts", "gd",
                       "--inits", "zeros", "--lrs", "1,0.01", "--seeds", "1", "--epochs", "30", "--out", tmp_path)
    assert code == 0, out
    summary = pd.read_csv(tmp_path / "summary.csv")
    assert summary["status"].tolist() == ["ok", "diverged"]  # the diverged one ranks last
    assert summary["lr"].tolist() == [0.01, 1.0]


def test_datasets_command(cli, tmp_path):
    code, out, _ = cli("datasets", "--data-dir", tmp_path)
    assert code == 0, out
    for name in ("mnist5k", "digits", "mnist", "fashion-mnist", "cifar10", "synthetic", "toy-regression"):
        assert name in out
    assert "needs --download" in out


def test_bench_with_reference(cli, tmp_path):
    code, out, _ = cli("bench", "--opts", "minibatch,gd", "--dataset", "digits", "--reference", "--out", tmp_path)
    assert code == 0, out
    bench = pd.read_csv(tmp_path / "bench.csv")
    assert bench["optimizer"].tolist() == ["minibatch", "gd"]
    assert bench["batch_size"].tolist() == [64, 1437]
    for col in ("samples/s", "s/epoch", "peak MB", "ref samples/s", "speed-up"):
        assert (bench[col] > 0).all(), col
    assert "speed-up" in out


@pytest.mark.slow
def test_bench_suite_measures_every_figure_in_one_run(cli, tmp_path):
    code, out, _ = cli("bench", "--n", "256", "--n-bs1", "32", "--repeats", "1", "--json", "--out", tmp_path)
    assert code == 0, out
    doc = json.loads(out)
    assert set(doc["figures"]) - set(doc["targets"]) == {"processes_vs_local_runs"}
    assert set(doc["targets"]) == {
        "speedup_vs_reference_bs64", "speedup_vs_reference_bs1", "grid_vs_reference_bs64", "grid_vs_reference_bs1",
        "batched_vs_sequential_bs64", "batched_vs_sequential_bs1", "ceiling_fraction_bs64_batched"}
    assert all(v > 0 for v in doc["figures"].values()) and doc["ceiling_gflops"] > 0
    cases = {c["case"]: c for c in doc["cases"]}
    assert len(cases) == 8
    assert cases["grid_bs64_batched"]["models"] == 8 and cases["grid_bs1_sequential"]["batch"] == 1
    assert cases["single_bs64"]["examples"] == 256 and cases["reference_bs1"]["examples"] == 32
    # The figures are ratios of the cases' own rates.
    assert doc["figures"]["batched_vs_sequential_bs1"] == pytest.approx(
        cases["grid_bs1_batched"]["samples/s"] / cases["grid_bs1_sequential"]["samples/s"])
    assert doc["figures"]["ceiling_fraction_bs64_batched"] == pytest.approx(
        cases["grid_bs64_batched"]["GFLOP/s"] / doc["ceiling_gflops"])
    assert cases["single_bs64"]["GFLOP/s"] == pytest.approx(cases["single_bs64"]["samples/s"] * 1_007_104 / 1e9)
    assert all(c["peak RSS MB"] > 0 for c in cases.values())
    assert len(pd.read_csv(tmp_path / "bench.csv")) == 8 and len(pd.read_csv(tmp_path / "figures.csv")) == 8
    pool = doc["pool"]
    assert pool["processes_vs_local"] == pytest.approx(pool["local seconds"] / pool["processes seconds"])
    assert pool["driver ms per run"] > 0 and pool["jobs"] == 2
    assert json.loads((tmp_path / "bench.json").read_text())["figures"] == doc["figures"]


@pytest.mark.slow
def test_bench_suite_table(cli, tmp_path):
    code, out, _ = cli("bench", "--quick", "--n", "200", "--n-bs1", "20", "--repeats", "1", "--threads", "1",
                       "--out", tmp_path)
    assert code == 0, out
    for text in ("matmul ceiling", "Speed per case", "Figures", "grid_vs_reference_bs64", "1 threads"):
        assert text in out, text


def test_unwritable_out_is_a_clear_error(cli, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    code, out, _ = cli("train", "--dataset", "toy-regression", "--model", "linear", "--out", blocker / "sub")
    assert code == 2
    assert "cannot write results to" in out and "Traceback" not in out


def test_ctrl_c_keeps_finished_runs_and_exits_130(cli, tmp_path, monkeypatch):
    from nncmp.training import execute

    real_run_group = execute.run_group
    calls = []

    def interrupted_on_second_group(group, specs, data, on_epoch=None, probe=None):
        calls.append(group)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real_run_group(group, specs, data, on_epoch, probe)

    monkeypatch.setattr(execute, "run_group", interrupted_on_second_group)
    # Two groups of two runs (each optimizer's seeds train together): Ctrl-C in the second keeps the first.
    code, out, _ = cli("compare", "--dataset", "toy-regression", "--model", "linear", "--opts", "minibatch,adam",
                       "--inits", "zeros", "--seeds", "2", "--epochs", "2", "--out", tmp_path)
    assert code == 130
    assert "interrupted: 2 of 4 runs finished" in out and "Traceback" not in out
    assert pd.read_csv(tmp_path / "metrics.csv")["run_id"].nunique() == 2
    assert len(pd.read_csv(tmp_path / "summary.csv")) == 1


def test_ctrl_c_during_train_exits_130_without_traceback(cli, tmp_path, monkeypatch):
    from nncmp.training import execute

    def interrupted(group, specs, data, on_epoch=None, probe=None):
        raise KeyboardInterrupt

    monkeypatch.setattr(execute, "run_group", interrupted)
    code, out, _ = cli("train", "--dataset", "toy-regression", "--model", "linear", "--out", tmp_path)
    assert code == 130 and "interrupted" in out and "Traceback" not in out
    assert (tmp_path / "config.json").exists()
