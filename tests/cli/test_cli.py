"""The command line itself: help, version, start-up without torch, `python -m nncmp`, an unwritable --out,
Ctrl-C."""

import subprocess
import sys

import pandas as pd
import pytest

from nncmp import __version__


@pytest.mark.fast
def test_help_lists_commands_and_defaults(cli):
    code, out, _ = cli("--help")
    assert code == 0
    for command in ("train", "compare", "bench", "datasets"):
        assert command in out
    code, out, _ = cli("train", "--help")
    assert code == 0
    out = " ".join(out.split())  # help text wraps at the terminal width
    assert "[default: (256,128)]" in out and "[default: mnist5k]" in out and "[default: adam]" in out


@pytest.mark.fast
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
