"""What tests share: the CLI runner; the small datasets, run specs and results folders several test files
use, each made once per session (the tests only read them); and the fast tier's two rules.

The fast tier (`pytest -m fast`): torch-free tests of spec, config, schema, stats, plan and option parsing.
With -m fast only the test files that hold such tests are collected, since the others import torch at their
top; and with NNCMP_FORBID_TORCH=1 (tests/test_fast_tier.py sets it) the session fails if torch was imported.
"""

import functools
import os
import re
import sys
from pathlib import Path

import numpy as np
import pytest
import typer.testing
from typer.testing import CliRunner

from nncmp.cli.app import app

# Under pytest 9 here, child processes see COLUMNS=80 in their environment although os.environ has none (set
# below Python's os.environ), so a subprocess's piped output would wrap at 80 columns where a user's pipe gets
# nncmp's 240; the tests that read a child's messages would then read them broken across lines.
if "COLUMNS" not in os.environ:
    os.unsetenv("COLUMNS")

ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
# typer's CliRunner builds the click command from the app on every call (25 ms, most of a fast test's time):
# build it once. The app does not change while the tests run. (A private name of typer's: where a typer
# version lacks it, the tests just build the command each time.)
if hasattr(typer.testing, "_get_command"):
    typer.testing._get_command = functools.cache(typer.testing._get_command)


def run_cli(*args: str):
    """Invoke the CLI in-process; returns (exit code, output with ANSI codes stripped)."""
    result = CliRunner().invoke(app, [str(a) for a in args], env={"NO_COLOR": "1", "COLUMNS": "200"})
    return result.exit_code, ANSI.sub("", result.output), result


@pytest.fixture
def cli():
    return run_cli


def without_time(folder):
    """metrics.csv as text without its time column: what must match byte for byte."""
    import pandas as pd

    return pd.read_csv(folder / "metrics.csv").drop(columns=["seconds"]).to_csv(index=False)


PNG_MAGIC = b"\x89PNG\r\n\x1a\n"

# --- datasets and run specs ----------------------------------------------------------------------------

# The course's toy regression (dataset toy-regression): five points, y = Xw exactly for w = (-1, 3).
TOY_X = np.array([[1, 2], [2, 3], [3, 4], [4, 5], [5, 6]], dtype=np.float64)
TOY_Y = np.array([5, 7, 9, 11, 13], dtype=np.float64)

# A small MLP on digits for one epoch.
SMALL = {"dataset": "digits", "hidden": (32, 16), "epochs": 1}
# What `tiny` trains.
TINY = {"dataset": "digits", "hidden": (16, 12), "epochs": 1, "batch_size": 32}
# What `tiny_synthetic` trains, with every optimizer and every init.
TINY_SYNTHETIC = {"dataset": "synthetic", "n": 200, "hidden": (16,), "epochs": 2}


def data_like(n_train: int, task: str = "classification", name: str = "mnist5k", shape=(1, 28, 28), classes=10):
    """A Data with what the plan reads of it (name, task, shape, classes, size) and no tensors, for the
    torch-free tests of the plan."""
    from nncmp.registry.data import Data

    return Data(name, task, shape, classes, range(n_train), range(n_train), range(0), range(0))


@pytest.fixture(scope="session")
def digits():
    from nncmp.registry.datasets import load

    return load("digits")


@pytest.fixture(scope="session")
def tiny(digits):
    """160 digits, a small network: enough to run every optimizer for an epoch in a few seconds."""
    from dataclasses import replace

    return replace(digits, x_train=digits.x_train[:160], y_train=digits.y_train[:160],
                   x_val=digits.x_val[:80], y_val=digits.y_val[:80])


@pytest.fixture(scope="session")
def tiny_synthetic():
    """200 synthetic examples (160 to train on)."""
    from nncmp.registry.datasets import load

    return load("synthetic", n=TINY_SYNTHETIC["n"])


# --- results folders: a real run each, made once ----------------------------------------------------------

@pytest.fixture(scope="session")
def compared(tmp_path_factory):
    """One small real comparison shared by the tests of compare, report, plots and the HTML report: 2
    optimizers × 2 inits × 3 seeds on digits, with a baseline, layer statistics and report.html.
    Returns (folder, what compare printed)."""
    out = tmp_path_factory.mktemp("compare")
    code, text, _ = run_cli("compare", "--dataset", "digits", "--opts", "minibatch,adam", "--inits", "xavier,he",
                            "--seeds", "3", "--epochs", "3", "--baseline", "minibatch/he", "--track-layers", "--html",
                            "--out", out)
    assert code == 0, text
    return out, text


# The comparison `tracked` runs (with --track-weights): one thread, so a rerun gives the same numbers.
TRACKED = ["compare", "--dataset", "digits", "--opts", "sgd,adam", "--inits", "he", "--seeds", "2",
           "--epochs", "2", "--no-plot", "--quiet", "--threads", "1"]


@pytest.fixture(scope="session")
def tracked(tmp_path_factory):
    """TRACKED with --track-weights every 40 steps: the input of nncmp landscape."""
    folder = tmp_path_factory.mktemp("tracked") / "run"
    code, out, _ = run_cli(*TRACKED, "--track-weights", "--track-every", "40", "--out", folder)
    assert code == 0, out
    return folder


# --- the fast tier -----------------------------------------------------------------------------------------

def pytest_ignore_collect(collection_path: Path, config):
    """With -m fast, collect only the test files that mark tests fast."""
    if config.getoption("markexpr", "").strip() != "fast" or collection_path.suffix != ".py":
        return None
    if collection_path.name.startswith("test_") and "mark.fast" not in collection_path.read_text():
        return True
    return None


FIRST_TORCH = []  # where torch was first found imported, under NNCMP_FORBID_TORCH


def pytest_collection_finish(session):
    if os.environ.get("NNCMP_FORBID_TORCH") and "torch" in sys.modules and not FIRST_TORCH:
        FIRST_TORCH.append("while collecting")


def pytest_runtest_logfinish(nodeid, location):
    if os.environ.get("NNCMP_FORBID_TORCH") and "torch" in sys.modules and not FIRST_TORCH:
        FIRST_TORCH.append(f"by the time {nodeid} finished")


def pytest_sessionfinish(session, exitstatus):
    """Under NNCMP_FORBID_TORCH the session fails if torch was ever imported."""
    if os.environ.get("NNCMP_FORBID_TORCH") and "torch" in sys.modules:
        where = FIRST_TORCH[0] if FIRST_TORCH else "at the end"
        sys.stderr.write(f"\nNNCMP_FORBID_TORCH: torch was imported ({where})\n")
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


@pytest.fixture(scope="session")
def ray_session():
    """One local Ray instance for the whole session (starting it takes a few seconds)."""
    ray = pytest.importorskip("ray")
    if not ray.is_initialized():
        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield ray
