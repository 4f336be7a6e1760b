"""A comparison's options (config/comparison.py): how it runs is checked before anything trains."""

import pytest


@pytest.mark.fast
def test_backend_options_are_checked(cli):
    for args, message in ((["--backend", "slurm"], "--backend: unknown value 'slurm'"),
                          (["--backend", "processes", "--jobs", "0"], "--jobs must be >= 1"),
                          (["--retries", "-1"], "--retries must be >= 0"),
                          (["--address", "auto"], "--address applies only to --backend ray")):
        code, _, result = cli("compare", *args)
        assert code == 2 and message in result.stderr, result.stderr
