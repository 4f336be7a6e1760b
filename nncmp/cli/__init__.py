"""The command line: Typer only. Each cli/<command>.py parses and checks its options into one request or
config object, calls commands/<command>.py, and maps the result and nncmp's errors to what is printed
and the exit code. Nothing here imports torch, pandas or matplotlib at import time."""


def main() -> None:
    """The `nncmp` console script."""
    from nncmp.cli.app import main as run

    run()
