import re

import pytest
from typer.testing import CliRunner

from nncmp.cli.app import app

ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


def run_cli(*args: str):
    """Invoke the CLI in-process; returns (exit code, output with ANSI codes stripped)."""
    result = CliRunner().invoke(app, [str(a) for a in args], env={"NO_COLOR": "1", "COLUMNS": "200"})
    return result.exit_code, ANSI.sub("", result.output), result


@pytest.fixture
def cli():
    return run_cli
